"""Fit the model on the train split, select it on the validation split, return the best.

`fit` reads top to bottom: the data, the model, the state folder, the callbacks, the
Trainer, the run, the best epoch's model.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Callback, EarlyStopping, ModelCheckpoint, TQDMProgressBar
from pytorch_lightning.strategies import DDPStrategy

from ..evaluation.metrics import HEADLINE
from ..model import ModelSpec, NetConfig, build, devices
from ..model.model_file import TrainedModel
from ..pipeline.params import TrainConfig
from . import precision, resume
from .console import say, use_color
from .datamodule import QuestionDataModule, tensors
from .module import TrainingModule

# The metric that chooses the epoch kept and stops training early.
MONITOR = f"val/{HEADLINE}"


def fit(
    net_config: NetConfig,
    train_cfg: TrainConfig,
    train_path: str | Path,
    val_path: str | Path,
    live_dir: str | Path | None = None,
    progress: bool = True,
    state_dir: str | Path | None = None,
    callbacks: Sequence[Callback] = (),
) -> TrainedModel | None:
    """Train; return the best epoch's model, or None in every DDP process but the first.

    With `state_dir`, every epoch's state is kept there and a rerun with the same params,
    data and code resumes after the last finished epoch (see resume.py); without it the
    checkpoints go to a temporary folder. `callbacks` are added to Lightning's (bench/
    times epochs with one).
    """
    device = devices.resolve(train_cfg.accelerator, "train.accelerator")
    pl.seed_everything(train_cfg.seed, workers=True, verbose=False)
    data = QuestionDataModule(train_path, val_path, train_cfg)
    data.setup()
    # The data fix the rest of the model's spec: its vocabulary and answer width.
    model = build(ModelSpec(net_config, data.train_set.format))
    chosen = _precision(train_cfg, model, data, device)
    module = TrainingModule(model, train_cfg, color=use_color())
    with ExitStack() as stack:
        state = resume.open_state(stack, state_dir, net_config, train_cfg, train_path, val_path)
        best = _LaterTiesCheckpoint(
            dirpath=state.path,
            filename=resume.BEST,
            monitor=MONITOR,
            mode="max",
            save_top_k=1,
            save_weights_only=True,
            enable_version_counter=False,
        )
        callbacks = [
            best,
            *_callbacks(train_cfg, state),
            *callbacks,
            *([_ProgressBar()] if progress else []),
        ]
        trainer = _trainer(train_cfg, chosen.name, device, state, live_dir, callbacks, progress)
        _run(trainer, module, data, state)
        if not trainer.is_global_zero:
            return None
        trained = _best_model(module, best, trainer)
        trained.info["precision"] = chosen.name
        return trained


def _precision(
    cfg: TrainConfig, model, data: QuestionDataModule, device: torch.device
) -> precision.Precision:
    """The recipe's precision on this machine (`auto`: bf16 where a trial step works), said once."""
    question, answer = tensors(data.train_set.take(slice(0, precision.CHECK_ROWS))).tensors
    chosen = precision.choose(
        cfg.precision,
        lambda: precision.bf16_problem(model, question, answer, device),
        precision.device_name(device),
        cfg.key("precision"),
        lambda: precision.cpu_bf16_slow(device),
    )
    say(f"train: precision {chosen.name} ({chosen.why})")
    return chosen


class _LaterTiesCheckpoint(ModelCheckpoint):
    """The best epoch's checkpoint, where of epochs with equal val/exact_match the later is
    kept (Lightning keeps the earlier). A model that reaches 100% on validation early
    (`aligned`: 3-digit questions) keeps training at a falling learning rate, and the later
    epoch is the better one on what validation cannot see (100-digit questions). Early
    stopping still counts a tie as no improvement."""

    def check_monitor_top_k(self, trainer: pl.Trainer, current: torch.Tensor | None = None) -> bool:
        if current is None or not self.best_k_models:
            return super().check_monitor_top_k(trainer, current)
        tie_or_better = bool(current >= self.best_k_models[self.kth_best_model_path])
        return trainer.strategy.reduce_boolean_decision(tie_or_better)


def _callbacks(cfg: TrainConfig, state: resume.StateFolder) -> list[Callback]:
    """Early stopping, then the every-epoch checkpoint: after the best-epoch checkpoint and
    early stopping have updated their state, so a resumed run carries on exactly where
    this one stopped."""
    last = ModelCheckpoint(
        dirpath=state.path,
        filename=resume.LAST,
        save_top_k=1,
        enable_version_counter=False,
        save_on_train_epoch_end=True,
    )
    return [EarlyStopping(monitor=MONITOR, mode="max", patience=cfg.patience), last]


def _trainer(
    cfg: TrainConfig,
    precision_name: str,
    device: torch.device,
    state: resume.StateFolder,
    live_dir,
    callbacks: list[Callback],
    progress: bool,
) -> pl.Trainer:
    with _quiet_lightning():
        return pl.Trainer(
            # Resolved by us, not by Lightning, so that `auto` on a machine without a GPU
            # is exactly `cpu` (the same model, byte for byte) and says nothing about it.
            accelerator=device.type,
            devices=cfg.devices,
            num_nodes=cfg.num_nodes,
            strategy=_strategy(cfg, device),
            # The data module shards the data itself (see datamodule.py).
            use_distributed_sampler=False,
            plugins=state.plugins,
            max_epochs=cfg.max_epochs,
            # A rare large step (a batch of the hardest questions early on, rounding that
            # differs between CPUs) is what makes one run of a short recipe end far worse
            # than another; clipping the gradient's norm bounds it.
            gradient_clip_val=cfg.grad_clip or None,
            precision=precision_name,
            # On the CPU every operation has a deterministic implementation; on a GPU some
            # have none (torch would stop the run), so there it is best effort.
            deterministic=True if device.type == "cpu" else "warn",
            logger=_logger(live_dir),
            callbacks=callbacks,
            enable_progress_bar=progress,
            enable_model_summary=True,
            num_sanity_val_steps=0,
            default_root_dir=state.path,
        )


def _run(
    trainer: pl.Trainer, module: TrainingModule, data: QuestionDataModule, state: resume.StateFolder
) -> None:
    if trainer.num_nodes > 1:
        # Otherwise a machine whose partners never come looks hung.
        address = os.environ.get("MASTER_ADDR", "127.0.0.1 (MASTER_ADDR is not set)")
        port = os.environ.get("MASTER_PORT", "?")
        say(
            f"train: waiting for all {trainer.world_size} processes on {trainer.num_nodes} "
            f"machines to join at {address}:{port}"
        )
    with _quiet_lightning():
        try:
            trainer.fit(module, datamodule=data, ckpt_path=state.resume_from, weights_only=True)
        except SystemExit:
            # Lightning turns Ctrl-C into a clean shutdown and exit status 1.
            if trainer.interrupted and state.kept:
                resume.interrupted(state.path)
            raise


def _best_model(module: TrainingModule, best: ModelCheckpoint, trainer: pl.Trainer) -> TrainedModel:
    """The module's model with the best epoch's weights, and how it was chosen."""
    best_ckpt = torch.load(best.best_model_path, map_location="cpu", weights_only=True)
    module.load_state_dict(best_ckpt["state_dict"])
    return TrainedModel(
        # The model file holds CPU tensors whatever trained it, so that it loads anywhere.
        model=module.model.cpu().eval(),
        info={
            "best_val_exact_match": float(best.best_model_score),
            "best_epoch": int(best_ckpt["epoch"]) + 1,
            "epochs": int(trainer.current_epoch),
            "processes": int(trainer.world_size),
        },
    )


def _strategy(cfg: TrainConfig, device: torch.device):
    if cfg.strategy == "auto" and cfg.world_size == 1:
        return "auto"
    # Lightning starts the other local processes by rerunning this script, or leaves that
    # to a launcher (torchrun, SLURM) when it detects one.
    return DDPStrategy(process_group_backend=process_group_backend(device))


def process_group_backend(device: torch.device) -> str:
    """DDP's communication backend: nccl between CUDA GPUs, gloo between CPU processes."""
    return "nccl" if device.type == "cuda" else "gloo"


def _logger(live_dir: str | Path | None):
    if live_dir is None:
        return False
    from dvclive.lightning import DVCLiveLogger

    # dvc.yaml declares the metrics and plots; dvclive must not write its own dvc.yaml
    # or create experiments, or `dvc repro` would see files it does not own.
    return DVCLiveLogger(dir=str(live_dir), dvcyaml=False, save_dvc_exp=False)


class _ProgressBar(TQDMProgressBar):
    """Epochs counted from 1 like the printout, and no logger version number (meaningless
    here) in the bar."""

    def on_train_epoch_start(self, trainer, *args) -> None:
        super().on_train_epoch_start(trainer, *args)
        self.train_progress_bar.set_description(
            f"Epoch {trainer.current_epoch + 1}/{trainer.max_epochs}"
        )

    def get_metrics(self, trainer, pl_module):
        items = super().get_metrics(trainer, pl_module)
        items.pop("v_num", None)
        return items


@contextmanager
def _quiet_lightning():
    """Hide Lightning's start-up chatter (GPU/TPU availability, tips) and a deprecation
    warning from inside Lightning itself: none of it is actionable here."""
    log = logging.getLogger("pytorch_lightning.utilities.rank_zero")
    level = log.level
    log.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)")
            # We log per epoch only, so the per-step logging interval does not matter.
            warnings.filterwarnings("ignore", message=r"The number of training batches")
            # Under DDP: our epoch metrics are torchmetrics, already reduced over every
            # process before they are logged, so Lightning must not average them again.
            warnings.filterwarnings(
                "ignore", message=r"It is recommended to use `self.log\(.*sync_dist=True\)"
            )
            # The summary's size estimate under bf16-mixed: the weights are float32 anyway.
            warnings.filterwarnings(
                "ignore", message=r"Precision bf16-mixed is not supported by the model summary"
            )
            # Expected when resuming: the state folder holds the checkpoints to resume from.
            warnings.filterwarnings(
                "ignore", message=r"Checkpoint directory .* exists and is not empty"
            )
            yield
    finally:
        log.setLevel(level)
