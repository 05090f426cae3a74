"""train-throughput: samples/s of TrainingModule under Lightning against a bare PyTorch loop
doing the same per-step work.

Only the project's public pieces are used (QuestionDataModule, TrainingModule, model.build
and ModelSpec, the metric functions, training.fit's precision choice). The Trainer is set
up the way training.fit sets it up (CPU, one device, deterministic, no sanity
validation); what differs is said where it is.
"""

from __future__ import annotations

import dataclasses
import statistics
import time

import pytorch_lightning as pl
import torch
from common import Bench, quiet
from pytorch_lightning.callbacks import Callback
from torchmetrics import MeanMetric

from arith_seq2seq.data import question_set
from arith_seq2seq.evaluation.metrics import METRICS
from arith_seq2seq.model import ModelSpec, NetConfig, build
from arith_seq2seq.pipeline.params import TrainConfig
from arith_seq2seq.training.datamodule import QuestionDataModule, epoch_rows

# The train stage's own choice of precision.
from arith_seq2seq.training.fit import _precision as resolve_precision
from arith_seq2seq.training.module import TrainingModule, update_means


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
    """(Wall, CPU) seconds per training epoch with TrainingModule under a Trainer like
    training.fit's.

    Differences from training.fit, all per-epoch or one-off costs, none per step: no
    validation (limit_val_batches=0), so no checkpointing or early stopping either; no
    dvclive logger (it logs once per epoch); no progress bar (training.fit shows one only
    on a terminal); no model summary."""
    pl.seed_everything(train_cfg.seed, workers=True, verbose=False)
    data = QuestionDataModule(paths["train"], paths["val"], train_cfg)
    data.setup()
    cfg = dataclasses.replace(train_cfg, max_epochs=epochs, show_samples=0)
    module = TrainingModule(build(ModelSpec(net_config, data.train_set.format)), cfg)
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
    """(Wall, CPU) seconds per training epoch of a plain PyTorch loop doing the module's
    per-step work.

    Same model (architectures.build), same batches (the datamodule's train_dataloader,
    same sampler seed), same optimiser and schedule (Adam foreach, OneCycleLR stepped
    every batch over the same total steps), same per-step metric bookkeeping as
    TrainingModule's training step (a torchmetrics MeanMetric update for the loss and for
    each metric of evaluation/metrics.py), same precision (bf16-mixed is the bfloat16
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
    metrics = {name: MeanMetric() for name in ("loss", *METRICS)}
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
                update_means(metrics, loss, pred, answer)
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


def run(b: Bench) -> dict:
    s = b.sizes
    p = b.params()
    r = throughput(b.split(), p.net, p.train, s.warmup_epochs, s.measured_epochs, s.rounds)
    how = (
        f"{r['train_samples']:,} training questions, batch {p.train.batch_size}, "
        f"{r['threads']} torch threads; median of {s.measured_epochs * s.rounds} epochs "
        f"after {s.warmup_epochs} warm-up, validation excluded"
    )

    def spread(name):  # a wide range means the machine was busy: trust no figure then
        seconds = r["epoch_seconds"][name]
        return f"epochs took {min(seconds):.2f}-{max(seconds):.2f} s"

    b.row(
        "training throughput: Lightning",
        round(r["lightning_samples_per_s"]),
        "samples/s",
        f"{how}; {spread('lightning')}",
    )
    b.row(
        "training throughput: bare PyTorch loop",
        round(r["bare_samples_per_s"]),
        "samples/s",
        f"same model, batches, optimiser, schedule and per-step metrics; {spread('bare')}",
    )
    b.row(
        "Lightning overhead",
        round(100 * r["overhead"], 1),
        "%",
        "bare samples/s / Lightning samples/s - 1; goal < 10%",
    )
    b.row(
        "Lightning overhead, CPU time",
        round(100 * r["cpu_overhead"], 1),
        "%",
        "the same from CPU seconds per epoch (process_time): less sensitive to other "
        "processes' load",
    )
    return r
