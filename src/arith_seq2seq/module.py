"""LightningModule: one shared step for train/val/test, the optimiser and the logging."""

from __future__ import annotations

import pytorch_lightning as pl
import torch
import torch.nn.functional as F

from .config import TrainConfig
from .metrics import char_correct, exact_match
from .model import RepeatSeq2Seq, Seq2SeqConfig


class Seq2SeqModule(pl.LightningModule):
    def __init__(self, model_config: dict, train_config: dict):
        super().__init__()
        # Plain dicts, so Lightning can store them in its checkpoints; DVC already tracks
        # them in params.yaml, so they are not sent to the logger.
        self.save_hyperparameters(logger=False)
        self.model = RepeatSeq2Seq(Seq2SeqConfig(**model_config))
        self.train_cfg = TrainConfig(**train_config)

    def forward(self, question: torch.Tensor) -> torch.Tensor:
        return self.model(question)

    def _step(self, batch, stage: str) -> torch.Tensor:
        question, answer = batch
        logits = self.model(question)
        loss = F.cross_entropy(logits.flatten(0, 1), answer.flatten())
        pred = logits.argmax(-1)
        n = len(question)
        # on_epoch with batch_size: Lightning weights each batch by its size, so the
        # epoch value is the accuracy over every sample, not a mean of batch means.
        log = dict(on_step=False, on_epoch=True, batch_size=n)
        self.log(f"{stage}/loss", loss, prog_bar=stage == "val", **log)
        self.log(f"{stage}/char_accuracy", char_correct(pred, answer).float().mean(), **log)
        self.log(f"{stage}/exact_match", exact_match(pred, answer).float().mean(), prog_bar=True, **log)
        # Logged as "step", the epoch number becomes the x axis of dvclive's plots.
        self.log("step", float(self.current_epoch + 1), **log)
        return loss

    def training_step(self, batch, batch_idx):
        return self._step(batch, "train")

    def validation_step(self, batch, batch_idx):
        self._step(batch, "val")

    def test_step(self, batch, batch_idx):
        self._step(batch, "test")

    def configure_optimizers(self):
        cfg = self.train_cfg
        optimizer = torch.optim.Adam(self.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        # One-cycle: warm up to the peak rate, then anneal; it converges in a fraction of
        # the epochs a constant Adam rate needs and stops the late-epoch oscillation.
        scheduler = torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=cfg.lr, total_steps=self.trainer.estimated_stepping_batches
        )
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
