"""Training benchmarks: Lightning against a bare PyTorch loop, and time to 99% validation.

Only the project's public pieces are used (training.fit, QuestionDataModule,
Seq2SeqModule, model.build and ModelSpec, the metric functions). The
throughput Trainer is set up the way training.fit sets it up (CPU, one device,
deterministic, no sanity validation); what differs is said where it is.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import logging
import statistics
import time
import warnings
from pathlib import Path

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Callback
from torchmetrics import MeanMetric

from arith_seq2seq.data import question_set, splitting
from arith_seq2seq.data.config import DataConfig
from arith_seq2seq.data.questions import generate_questions
from arith_seq2seq.model import ModelSpec, NetConfig, build
from arith_seq2seq.model.metrics import char_correct, exact_match
from arith_seq2seq.pipeline.params import SplitConfig, TrainConfig
from arith_seq2seq.training.datamodule import QuestionDataModule, epoch_rows
from arith_seq2seq.training.fit import MONITOR, fit
from arith_seq2seq.training.fit import (
    _precision as resolve_precision,
)  # the train stage's own choice
from arith_seq2seq.training.module import Seq2SeqModule


def make_split(folder: Path, data: DataConfig, split: SplitConfig) -> dict[str, Path]:
    """generate + split in-process, as the pipeline's first two stages do."""
    qs = generate_questions(data)
    paths = {name: Path(folder) / f"{name}.npz" for name in ("train", "val", "test")}
    for part, path in zip(splitting.split(qs, split), paths.values()):
        question_set.save(part, path)
    return paths


@contextlib.contextmanager
def quiet():
    """Keep the benchmark's own table readable: the module prints a per-epoch report and
    Lightning logs its set-up; both go to a sink here."""
    loggers = [
        logging.getLogger(n) for n in ("pytorch_lightning", "lightning.pytorch", "lightning_fabric")
    ]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


class EpochTimer(Callback):
    """Wall time of each training epoch's batch loop: from on_train_epoch_start to the
    callbacks' on_train_epoch_end, which Lightning calls before the module's epoch-end
    hook (metric compute and the sample printout), so neither is in the figure."""

    def __init__(self):
        self.seconds: list[tuple[float, float]] = []  # (wall, CPU) per epoch
        self._start = (0.0, 0.0)

    def on_train_epoch_start(self, trainer, pl_module):
        self._start = (time.perf_counter(), time.process_time())

    def on_train_epoch_end(self, trainer, pl_module):
        self.seconds.append(
            (time.perf_counter() - self._start[0], time.process_time() - self._start[1])
        )


def lightning_epochs(
    paths, net_config: NetConfig, train_cfg: TrainConfig, epochs: int
) -> list[tuple[float, float]]:
    """(Wall, CPU) seconds per training epoch with Seq2SeqModule under a Trainer like training.fit's.

    Differences from training.fit, all per-epoch or one-off costs, none per step: no
    validation (limit_val_batches=0), so no checkpointing or early stopping either; no
    dvclive logger (it logs once per epoch); no progress bar (training.fit shows one only
    on a terminal); no model summary."""
    pl.seed_everything(train_cfg.seed, workers=True, verbose=False)
    data = QuestionDataModule(paths["train"], paths["val"], train_cfg)
    data.setup()
    cfg = dataclasses.replace(train_cfg, max_epochs=epochs, show_samples=0)
    module = Seq2SeqModule(build(ModelSpec(net_config, data.train_set.format)), cfg)
    timer = EpochTimer()
    with quiet():
        trainer = pl.Trainer(
            accelerator="cpu",
            devices=1,
            max_epochs=epochs,
            precision=train_cfg.precision,
            deterministic=True,
            logger=False,
            callbacks=[timer],
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            num_sanity_val_steps=0,
            limit_val_batches=0,
        )
        trainer.fit(module, datamodule=data)
    return timer.seconds


def bare_epochs(
    paths, net_config: NetConfig, train_cfg: TrainConfig, epochs: int
) -> list[tuple[float, float]]:
    """(Wall, CPU) seconds per training epoch of a plain PyTorch loop doing the module's per-step work.

    Same model (architectures.build), same batches (the datamodule's train_dataloader,
    same sampler seed), same optimiser and schedule (Adam foreach, OneCycleLR stepped
    every batch over the same total steps), same per-step metric bookkeeping as
    Seq2SeqModule's training step (three torchmetrics MeanMetric updates: loss,
    per-character accuracy, exact match), same precision (bf16-mixed is the bfloat16
    autocast Lightning applies), same deterministic-algorithms setting and the same torch
    threads (same process). Epoch-end work is outside the timing, as in lightning_epochs."""
    pl.seed_everything(train_cfg.seed, workers=True, verbose=False)
    torch.use_deterministic_algorithms(True)  # what Trainer(deterministic=True) sets
    autocast = train_cfg.precision == "bf16-mixed"
    data = QuestionDataModule(paths["train"], paths["val"], train_cfg)
    data.setup()
    model = build(ModelSpec(net_config, data.train_set.format))
    model.train()
    loader = data.train_dataloader()
    optimizer = torch.optim.Adam(
        model.parameters(), lr=train_cfg.lr, weight_decay=train_cfg.weight_decay, foreach=True
    )
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=train_cfg.lr, total_steps=epochs * len(loader)
    )
    metrics = {name: MeanMetric() for name in ("loss", "char_accuracy", "exact_match")}
    seconds = []
    for _ in range(epochs):
        start = (time.perf_counter(), time.process_time())
        for question, answer in loader:
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
                loss, pred = model.loss(question, answer)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            with torch.no_grad():
                n = answer.numel()
                metrics["loss"].update(loss.detach(), weight=n)
                metrics["char_accuracy"].update(char_correct(pred, answer).float().mean(), weight=n)
                metrics["exact_match"].update(
                    exact_match(pred, answer).float().mean(), weight=len(answer)
                )
        seconds.append((time.perf_counter() - start[0], time.process_time() - start[1]))
        for metric in metrics.values():
            metric.compute()
            metric.reset()
    return seconds


def with_precision(paths, net_config: NetConfig, train_cfg: TrainConfig) -> TrainConfig:
    """`train_cfg` with its precision as the train stage resolves it on this CPU (the same
    function: training.fit's), so that `auto` becomes bf16-mixed or 32-true, which both
    loops can pass on (Lightning does not know `auto`)."""
    data = QuestionDataModule(paths["train"], paths["val"], train_cfg)
    data.setup()
    model = build(ModelSpec(net_config, data.train_set.format))
    with quiet():
        chosen = resolve_precision(train_cfg, model, data, torch.device("cpu"))
    return dataclasses.replace(train_cfg, precision=chosen.name)


def throughput(paths, net_config, train_cfg, warmup: int, measured: int, rounds: int) -> dict:
    """Median samples/s per epoch of both loops, `rounds` alternating runs each (A B, B A,
    ...) so that drift in the machine's load hits both alike; the first `warmup` epochs of
    every run are dropped.

    Besides wall time, each epoch's CPU time (process_time: every thread of this process)
    gives a second overhead figure that other processes' load barely moves; with more
    than one torch thread it includes the threads' spin-waiting, though."""
    # Samples per epoch: the rows one epoch visits, rare strata repeated (datamodule.epoch_rows).
    n_train = len(epoch_rows(question_set.load(paths["train"]), train_cfg.min_stratum_share))
    train_cfg = with_precision(paths, net_config, train_cfg)
    runs = {"lightning": lightning_epochs, "bare": bare_epochs}
    wall = {name: [] for name in runs}
    cpu = {name: [] for name in runs}
    for r in range(rounds):
        order = list(runs) if r % 2 == 0 else list(runs)[::-1]
        for name in order:
            for w, c in runs[name](paths, net_config, train_cfg, warmup + measured)[warmup:]:
                wall[name].append(w)
                cpu[name].append(c)
    out = {
        "train_samples": n_train,
        "threads": torch.get_num_threads(),
        "precision": train_cfg.precision,
        "epoch_seconds": wall,
        "epoch_cpu_seconds": cpu,
    }
    for name in runs:
        out[f"{name}_samples_per_s"] = n_train / statistics.median(wall[name])
        out[f"{name}_samples_per_cpu_s"] = n_train / statistics.median(cpu[name])
    out["overhead"] = out["bare_samples_per_s"] / out["lightning_samples_per_s"] - 1
    out["cpu_overhead"] = out["bare_samples_per_cpu_s"] / out["lightning_samples_per_cpu_s"] - 1
    return out


class ValTimer(Callback):
    """perf_counter() and val/exact_match at the end of every validation; stops training
    at the first epoch reaching `target` when `stop_at_target`."""

    def __init__(self, target: float, stop_at_target: bool):
        self.target = target
        self.stop_at_target = stop_at_target
        self.records: list[tuple[int, float, float]] = []  # (epoch, time, exact match)

    def on_validation_end(self, trainer, pl_module):
        value = trainer.callback_metrics.get(MONITOR)
        if value is None:
            return
        self.records.append((trainer.current_epoch + 1, time.perf_counter(), float(value)))
        if self.stop_at_target and float(value) >= self.target:
            trainer.should_stop = True


def time_to_target(
    paths,
    net_config: NetConfig,
    train_cfg: TrainConfig,
    target: float,
    stop_at_target: bool = True,
):
    """Train with training.fit itself and return the wall time from its start to the end
    of the first validation with val/exact_match >= target, plus the model.

    Differences from the train stage: no dvclive logger and no state folder, and the
    per-epoch printout goes to a sink; training stops at the target epoch when
    `stop_at_target`, and the model returned is the best epoch up to then."""
    timer = ValTimer(target, stop_at_target)
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
