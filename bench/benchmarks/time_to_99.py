"""time-to-99: time and epochs to 99% validation exact match under the default params,
through training.fit itself. The model it trains is the one predict and space time
(`Bench.model_path`), unless --model names one."""

from __future__ import annotations

import time

from common import Bench, quiet
from pytorch_lightning.callbacks import Callback

from arith_seq2seq.model import NetConfig, model_file
from arith_seq2seq.pipeline.params import TrainConfig
from arith_seq2seq.training.fit import MONITOR, fit


class ValTimer(Callback):
    """perf_counter() and val/exact_match at the end of every validation; stops training
    at the first epoch reaching `target`."""

    def __init__(self, target: float):
        self.target = target
        self.records: list[tuple[int, float, float]] = []  # (epoch, time, exact match)

    def on_validation_end(self, trainer, pl_module):
        value = trainer.callback_metrics.get(MONITOR)
        if value is None:
            return
        self.records.append((trainer.current_epoch + 1, time.perf_counter(), float(value)))
        if float(value) >= self.target:
            trainer.should_stop = True


def time_to_target(
    paths,
    net_config: NetConfig,
    train_cfg: TrainConfig,
    target: float,
):
    """Train with training.fit itself and return the wall time from its start to the end
    of the first validation with val/exact_match >= target, plus the model.

    Differences from the train stage: no dvclive logger and no state folder, and the
    per-epoch printout goes to a sink; training stops at the target epoch, and the model
    returned is the best epoch up to then."""
    timer = ValTimer(target)
    start = time.perf_counter()
    with quiet():
        trained = fit(
            net_config, train_cfg, paths["train"], paths["val"], progress=False, callbacks=[timer]
        )
    end = time.perf_counter()
    reached = next(((e, t, v) for e, t, v in timer.records if v >= target), None)
    return {
        "target": target,
        "reached": reached is not None,
        "epoch": reached[0] if reached else None,
        "seconds": reached[1] - start if reached else None,
        "val_exact_match": reached[2] if reached else None,
        "epochs_run": len(timer.records),
        "total_seconds": end - start,
        "curve": [
            {"epoch": e, "seconds": t - start, "val_exact_match": v} for e, t, v in timer.records
        ],
    }, trained


def run(b: Bench) -> dict:
    s = b.sizes
    p = b.params()
    r, trained = time_to_target(b.split(), p.net, p.train, s.target)
    what = f"val/exact_match >= {s.target:g}, default params" + (
        " (quick: small data, low target)" if b.quick else ""
    )
    if r["reached"]:
        b.row(
            f"time to {s.target:.0%} validation exact match",
            round(r["seconds"], 1),
            "s",
            f"{what}; training.fit, from its start to the end of that epoch's validation",
        )
        b.row(
            f"epochs to {s.target:.0%} validation exact match",
            r["epoch"],
            "epochs",
            f"val/exact_match {r['val_exact_match']:.4f} then",
        )
    else:
        best = max((c["val_exact_match"] for c in r["curve"]), default=0)
        b.row(
            f"time to {s.target:.0%} validation exact match",
            "not reached",
            "",
            f"{what}; best {best:.4f} in {r['epochs_run']} epochs",
        )
    if b.model is None:
        b.model = b.workdir / "model.pt"
        model_file.save(b.model, trained)
        r["model"] = str(b.model)
    return r
