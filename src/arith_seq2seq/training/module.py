"""LightningModule: one shared step for training and validation, the optimiser, the
logging and the per-epoch printout."""

from __future__ import annotations

import pytorch_lightning as pl
import torch
from pytorch_lightning.trainer.states import TrainerFn
from torch import nn
from torchmetrics import MeanMetric

from ..evaluation.metrics import HEADLINE, METRICS
from ..model import Network
from ..pipeline.params import TrainConfig
from .console import epoch_report

STAGES = ("train", "val")


def update_means(means, loss, pred, answer, scores=METRICS, prefix: str = "") -> None:
    """One batch into the running means `means[prefix + name]` (MeanMetric): the loss and
    every metric of `scores`, each weighted by the items it scored (characters or
    answers), so that an epoch's value is their mean whatever the batch sizes."""
    means[f"{prefix}loss"].update(loss.detach(), weight=answer.numel())
    for name, score in scores.items():
        items = score(pred, answer)
        means[f"{prefix}{name}"].update(items.float().mean(), weight=items.numel())


class TrainingModule(pl.LightningModule):
    """Trains any architecture's network: the loss it defines, the metrics of
    evaluation/metrics.py per epoch."""

    def __init__(self, model: Network, cfg: TrainConfig, color: bool = False):
        super().__init__()
        # The built network comes in, as in Lightning's examples; no hyperparameters are
        # saved: a resumed run rebuilds everything from params.yaml, which DVC tracks.
        self.model = model
        self.cfg = cfg
        self.color = color
        # Every registered metric, as the module starts; logged after the loss, in order.
        self.scores = dict(METRICS)
        self.names = ("loss", *self.scores)
        # Epoch metrics are sample-weighted means accumulated per stage; torchmetrics
        # reduces them across processes, so a metric is over every sample, never a mean
        # of per-batch or per-rank means.
        self.epoch_metrics = nn.ModuleDict(
            {f"{stage}_{name}": MeanMetric() for stage in STAGES for name in self.names}
        )
        # One dict of epoch metrics per finished epoch, train and val.
        self.history: list[dict[str, float]] = []

    def _step(self, batch, stage: str) -> torch.Tensor:
        question, answer = batch
        loss, pred = self.model.loss(question, answer)
        with torch.no_grad():
            if stage != "train" and self.model.teacher_forced:
                # Scored as the model will be used: decoding its own output, not reading
                # the true previous character (teacher forcing, which training reports).
                pred, _ = self.model.predict(question, answer.shape[1])
            update_means(self.epoch_metrics, loss, pred, answer, self.scores, f"{stage}_")
        return loss

    def _compute_epoch(self, stage: str) -> dict[str, float]:
        values = {}
        for name in self.names:
            metric = self.epoch_metrics[f"{stage}_{name}"]
            values[f"{stage}/{name}"] = float(metric.compute())
            metric.reset()
        return values

    def on_validation_epoch_end(self) -> None:
        values = self._compute_epoch("val")
        if self.trainer.state.fn == TrainerFn.FITTING:
            # The training batches of this epoch are all done (validation runs at its
            # end), so the epoch's record is complete here, before the checkpoint
            # callbacks save it at the end of the training epoch. (`Trainer.validate`
            # scores a model without training it.)
            values.update(self._compute_epoch("train"))
            # The summary dvclive writes holds the last epoch; the model kept is the best.
            best = max(
                [values[f"val/{HEADLINE}"]] + [e[f"val/best_{HEADLINE}"] for e in self.history]
            )
            values[f"val/best_{HEADLINE}"] = best
            self.history.append(values)
        for name, value in values.items():
            self.log(name, value, prog_bar=name.endswith(f"/{HEADLINE}"))
        # Logged as "step", the epoch number becomes the x axis of dvclive's plots.
        self.log("step", float(self.current_epoch + 1))

    def on_train_epoch_end(self) -> None:
        # Only the first process prints: samples from every process would repeat it.
        if not self.trainer.is_global_zero:
            return
        lines = epoch_report(
            self.current_epoch + 1,
            self.trainer.max_epochs,
            self.trainer.callback_metrics,
            self.model,
            self.trainer.datamodule.val_set,
            self.cfg.show_samples,
            self.cfg.seed,
            self.color,
        )
        self.print("\n" + "\n".join(lines))

    # The per-epoch metrics travel in the checkpoint, so a resumed run rewrites the
    # logger's history from it and ends with the curves of an uninterrupted run, whatever
    # the interrupted run had managed to write.
    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["history"] = self.history

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        self.history = list(checkpoint.get("history", []))

    def on_fit_start(self) -> None:
        if self.logger:
            for epoch, values in enumerate(self.history, start=1):
                self.logger.log_metrics(values, step=epoch)

    def training_step(self, batch, batch_idx):
        return self._step(batch, "train")

    def validation_step(self, batch, batch_idx):
        self._step(batch, "val")

    def configure_optimizers(self):
        cfg = self.cfg
        optimizer = torch.optim.Adam(
            self.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, foreach=True
        )
        # One-cycle: warm up to the peak rate, then anneal; it converges in a fraction of
        # the epochs a constant Adam rate needs and stops the late-epoch oscillation.
        scheduler = torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=cfg.lr, total_steps=self.trainer.estimated_stepping_batches
        )
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": "step"},
        }
