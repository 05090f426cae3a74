import numpy as np
import pytest
import torch
from torch.utils.data import BatchSampler, RandomSampler

from arith_seq2seq.pipeline.errors import ConfigError
from arith_seq2seq.training.datamodule import EpochBatches, QuestionDataModule

from .conftest import config


def epochs(sampler, count):
    out = []
    for epoch in range(count):
        if hasattr(sampler, "set_epoch"):
            sampler.set_epoch(epoch)
        out.append(list(sampler))
    return out


def test_batches_are_those_of_a_seeded_random_sampler_so_old_runs_reproduce():
    old = BatchSampler(
        RandomSampler(range(103), generator=torch.Generator().manual_seed(5)), 10, drop_last=False
    )
    assert epochs(EpochBatches(103, 10, seed=5), 4) == epochs(old, 4)


def test_an_epoch_is_the_same_whether_or_not_earlier_epochs_ran():
    resumed = EpochBatches(103, 10, seed=5)
    resumed.set_epoch(3)
    assert list(resumed) == epochs(EpochBatches(103, 10, seed=5), 4)[3]


def test_processes_share_each_batch_and_take_the_same_number_of_steps():
    one = list(EpochBatches(103, 10, seed=5))
    ranks = [list(EpochBatches(103, 10, seed=5, rank=r, world=3)) for r in range(3)]
    assert len({len(r) for r in ranks}) == 1
    # The last batch holds 3 samples: enough for one each.
    for step, batch in enumerate(one):
        assert sorted(sum((r[step] for r in ranks), [])) == sorted(batch)
    # A last batch too small to share is dropped, in every process alike.
    ranks = [list(EpochBatches(102, 10, seed=5, rank=r, world=3)) for r in range(3)]
    assert [len(r) for r in ranks] == [10, 10, 10]


def test_more_processes_than_validation_questions_is_refused(tiny_split):
    QuestionDataModule(
        tiny_split["train"], tiny_split["val"], config("train", batch_size=300, devices=300)
    ).setup()
    with pytest.raises(
        ConfigError, match=r"val\.npz has 300 questions, fewer than the 301 training processes"
    ):
        QuestionDataModule(
            tiny_split["train"], tiny_split["val"], config("train", batch_size=301, devices=301)
        ).setup()


def test_rare_strata_are_repeated_to_their_minimum_share():
    from collections import Counter

    from arith_seq2seq.data.questions import generate_questions, num_digits
    from arith_seq2seq.training.datamodule import epoch_rows

    qs = generate_questions(config("data", digits=3, count=60_000, seed=2, sampling="balanced"))
    np.testing.assert_array_equal(epoch_rows(qs, 0.0), np.arange(len(qs)))
    rows = epoch_rows(qs, 0.02)
    assert set(rows.tolist()) == set(range(len(qs)))  # every row at least once
    strata = Counter(zip(num_digits(qs.a[rows]).tolist(), num_digits(qs.b[rows]).tolist()))
    once = Counter(zip(num_digits(qs.a).tolist(), num_digits(qs.b).tolist()))
    for stratum, n in once.items():
        if n >= 0.02 * len(qs):
            assert strata[stratum] == n  # common strata: each row once
        else:
            assert strata[stratum] >= 0.02 * len(qs) and strata[stratum] % n == 0  # whole copies
    assert strata[(1, 1)] == 100 * 12  # 1,200 rows is 2% of 60,000
