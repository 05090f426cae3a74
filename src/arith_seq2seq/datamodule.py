"""LightningDataModule over the split .npz files, held in memory as tensors.

The whole data set is a few MB, so batches are sliced straight out of tensors: a
BatchSampler hands the dataset a list of indices at once, which avoids per-sample
indexing and collation (the dominant cost for a model this small) and needs no workers.
"""

from __future__ import annotations

from pathlib import Path

import pytorch_lightning as pl
import torch
from torch.utils.data import BatchSampler, DataLoader, RandomSampler, SequentialSampler, TensorDataset

from . import datasets
from .errors import DataFileError


class QuestionDataModule(pl.LightningDataModule):
    def __init__(self, train_path: str | Path, val_path: str | Path, batch_size: int, seed: int):
        super().__init__()
        self.train_path = Path(train_path)
        self.val_path = Path(val_path)
        self.batch_size = batch_size
        self.seed = seed
        self.train_set: datasets.QuestionSet | None = None
        self.val_set: datasets.QuestionSet | None = None

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        train = datasets.load(self.train_path)
        val = datasets.load(self.val_path)
        if (train.format, train.digits) != (val.format, val.digits):
            raise DataFileError(
                f"{self.train_path} and {self.val_path} come from different generate runs "
                "(operation, vocabulary, digits or reversal differ); rerun `dvc repro`"
            )
        self.train_set, self.val_set = train, val

    def train_dataloader(self) -> DataLoader:
        generator = torch.Generator().manual_seed(self.seed)
        return _batched(self.train_set, RandomSampler(range(len(self.train_set)), generator=generator), self.batch_size)

    def val_dataloader(self) -> DataLoader:
        # Evaluation holds no activations for backward, so larger batches are cheap.
        return _batched(self.val_set, SequentialSampler(range(len(self.val_set))), 4 * self.batch_size)


def tensors(qs: datasets.QuestionSet) -> TensorDataset:
    return TensorDataset(torch.from_numpy(qs.question).long(), torch.from_numpy(qs.answer).long())


def _batched(qs: datasets.QuestionSet, sampler, batch_size: int) -> DataLoader:
    return DataLoader(
        tensors(qs),
        sampler=BatchSampler(sampler, batch_size=batch_size, drop_last=False),
        batch_size=None,
        num_workers=0,
    )
