"""LightningDataModule over the split .npz files, held in memory as tensors.

The whole data set is a few MB, so batches are sliced straight out of tensors: the
samplers below hand the dataset a list of indices at once, which avoids per-sample
indexing and collation (the dominant cost for a model this small) and needs no workers.

Under DDP each process reads its own share: every step's batch is split across the
processes, and the validation set is cut into one contiguous part per process (the parts
may differ in size by one; the metrics weigh every sample, see module.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Sampler, TensorDataset

from ..data import question_set
from ..data.question_format import check_same
from ..data.question_set import QuestionSet
from ..data.questions import num_digits
from ..pipeline.errors import ConfigError
from ..pipeline.params import TrainConfig


class QuestionDataModule(pl.LightningDataModule):
    def __init__(self, train_path: str | Path, val_path: str | Path, cfg: TrainConfig):
        super().__init__()
        self.train_path = Path(train_path)
        self.val_path = Path(val_path)
        self.cfg = cfg
        self.train_set: QuestionSet | None = None
        self.val_set: QuestionSet | None = None
        self.train_rows: np.ndarray | None = None  # the rows of train_set one epoch visits

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        train = question_set.load(self.train_path)
        val = question_set.load(self.val_path)
        check_same(train.format, self.train_path, val.format, self.val_path)
        # Every process needs validation questions (an empty share would stall the others
        # at the metric reduction).
        if len(val) < self.cfg.world_size:
            raise ConfigError(
                f"{self.val_path} has {len(val)} questions, fewer than the "
                f"{self.cfg.world_size} training "
                "processes; raise split.val_fraction or lower train.devices / train.num_nodes"
            )
        self.train_set, self.val_set = train, val
        self.train_rows = epoch_rows(train, self.cfg.min_stratum_share)

    def _rank(self) -> tuple[int, int]:
        trainer = self.trainer
        return (trainer.global_rank, trainer.world_size) if trainer is not None else (0, 1)

    def train_dataloader(self) -> DataLoader:
        rank, world = self._rank()
        sampler = EpochBatches(
            len(self.train_rows), self.cfg.batch_size, self.cfg.seed, rank, world
        )
        return _loader(self.train_set.take(self.train_rows), sampler)

    def val_dataloader(self) -> DataLoader:
        rank, world = self._rank()
        part = np.array_split(np.arange(len(self.val_set)), world)[rank]
        # Evaluation holds no activations for backward, so larger batches are cheap.
        size = 4 * self.cfg.batch_size
        return _loader(
            self.val_set, [part[i : i + size].tolist() for i in range(0, len(part), size)]
        )


def epoch_rows(qs: QuestionSet, min_share: float) -> np.ndarray:
    """The rows one training epoch visits: every row once, and those of each operand
    digit-count stratum (1+1, 1+2, ...) holding less than `min_share` of them repeated,
    whole copies, until it holds at least that share.

    The few questions of the short strata (100 of 1+1 at any digits) are otherwise seen
    a handful of times in a whole training, and are the ones users ask first."""
    rows = np.arange(len(qs))
    if min_share <= 0 or not len(qs):
        return rows
    stratum = num_digits(qs.a) * 100 + num_digits(qs.b)
    repeats = [rows]
    for value in np.unique(stratum):
        members = np.flatnonzero(stratum == value)
        copies = int(np.ceil(min_share * len(qs) / len(members))) - 1
        if copies > 0:
            repeats.append(np.tile(members, copies))
    return np.concatenate(repeats)


class EpochBatches(Sampler):
    """Shuffled batches of indices, a pure function of (seed, epoch).

    Resuming at epoch e therefore sees the batches an uninterrupted run would have seen.
    The permutations are those a RandomSampler with a generator seeded `seed` draws (it
    draws two per epoch, one for the remainder), so runs made before resume support
    reproduce exactly. Each global batch of `batch_size` is split across `world`
    processes; a last batch too small to give every process a sample is dropped, since
    DDP needs every process to take the same number of steps.
    """

    def __init__(self, n: int, batch_size: int, seed: int, rank: int = 0, world: int = 1):
        self.n, self.batch_size, self.seed, self.rank, self.world = n, batch_size, seed, rank, world
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        # Lightning calls this at the start of every epoch, resumed runs included.
        self.epoch = epoch

    def _permutation(self) -> torch.Tensor:
        generator = torch.Generator().manual_seed(self.seed)
        for _ in range(2 * self.epoch):
            torch.randperm(self.n, generator=generator)
        return torch.randperm(self.n, generator=generator)

    def __iter__(self) -> Iterator[list[int]]:
        order = self._permutation()
        for start in range(0, len(self) * self.batch_size, self.batch_size):
            batch = order[start : start + self.batch_size]
            yield batch[self.rank :: self.world].tolist()

    def __len__(self) -> int:
        full, rest = divmod(self.n, self.batch_size)
        return full + (rest >= self.world)


def tensors(qs: QuestionSet) -> TensorDataset:
    return TensorDataset(torch.from_numpy(qs.question).long(), torch.from_numpy(qs.answer).long())


def _loader(qs: QuestionSet, batches) -> DataLoader:
    # batch_size=None: the sampler yields whole batches of indices, which TensorDataset
    # slices in one go.
    return DataLoader(tensors(qs), sampler=batches, batch_size=None, num_workers=0)
