"""The on-disk question set: one .npz per split, validated when read, written atomically."""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .config import SplitConfig
from .errors import ConfigError, DataFileError
from .files import atomic_path

FORMAT_VERSION = 2
_ARRAYS = {"question": np.uint8, "answer": np.uint8, "a": np.int64, "b": np.int64}


@dataclass(frozen=True)
class QuestionSet:
    question: np.ndarray  # (n, 2*digits+1) character ids, reversed if `reverse`
    answer: np.ndarray  # (n, digits+1) character ids
    a: np.ndarray  # (n,) first operand as asked
    b: np.ndarray  # (n,) second operand
    digits: int
    reverse: bool
    vocab: str
    operation: str = "add"

    def __len__(self) -> int:
        return len(self.a)

    def take(self, index: np.ndarray) -> "QuestionSet":
        return QuestionSet(
            question=self.question[index],
            answer=self.answer[index],
            a=self.a[index],
            b=self.b[index],
            digits=self.digits,
            reverse=self.reverse,
            vocab=self.vocab,
            operation=self.operation,
        )

    @property
    def format(self) -> tuple:
        """What a model trained on this set expects of its questions."""
        return (self.operation, self.vocab, self.reverse)


def question_width(digits: int) -> int:
    return 2 * digits + 1


def answer_width(digits: int, operation: str = "add") -> int:
    """Characters of the longest possible answer: a sum carries, a difference has a sign."""
    return 2 * digits if operation == "mul" else digits + 1


def save(qs: QuestionSet, path: str | Path) -> None:
    """Write atomically: a reader never sees a half-written file at `path`."""
    arrays = {name: getattr(qs, name) for name in _ARRAYS}
    meta = {
        "format_version": np.int64(FORMAT_VERSION),
        "digits": np.int64(qs.digits),
        "reverse": np.bool_(qs.reverse),
        "vocab": np.str_(qs.vocab),
        "operation": np.str_(qs.operation),
    }
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays, **meta)


def load(path: str | Path) -> QuestionSet:
    path = Path(path)
    if not path.is_file():
        raise DataFileError(f"{path}: no such data file; run `dvc repro` to create it")
    try:
        with np.load(path, allow_pickle=False) as npz:
            content = {key: npz[key] for key in npz.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise DataFileError(
            f"{path}: not a readable .npz file ({exc}); delete it and run `dvc repro`"
        ) from None
    expected = set(_ARRAYS) | {"format_version", "digits", "reverse", "vocab", "operation"}
    missing = sorted(expected - set(content))
    if missing:
        raise DataFileError(
            f"{path}: missing arrays {', '.join(missing)}; it was not written by this "
            "project's generate or split stage; delete it and run `dvc repro`"
        )
    version = content["format_version"]
    if version.shape != () or int(version) != FORMAT_VERSION:
        raise DataFileError(
            f"{path}: format version {version.tolist()}, this code reads "
            f"{FORMAT_VERSION}; regenerate it with `dvc repro`"
        )
    for name, dtype in _ARRAYS.items():
        if content[name].dtype != dtype:
            raise DataFileError(
                f"{path}: array {name!r} has dtype {content[name].dtype}, expected "
                f"{np.dtype(dtype)}; regenerate it with `dvc repro`"
            )
    qs = QuestionSet(
        question=content["question"],
        answer=content["answer"],
        a=content["a"],
        b=content["b"],
        digits=int(content["digits"]),
        reverse=bool(content["reverse"]),
        vocab=str(content["vocab"]),
        operation=str(content["operation"]),
    )
    _check_shapes(qs, path)
    return qs


def _check_shapes(qs: QuestionSet, path: Path) -> None:
    n = len(qs.a)
    want = {
        "question": (n, question_width(qs.digits)),
        "answer": (n, answer_width(qs.digits, qs.operation)),
        "b": (n,),
    }
    for name, shape in want.items():
        if getattr(qs, name).shape != shape:
            raise DataFileError(
                f"{path}: array {name!r} has shape {getattr(qs, name).shape}, expected "
                f"{shape} for {qs.digits}-digit questions; regenerate it with `dvc repro`"
            )
    for name in ("question", "answer"):
        arr = getattr(qs, name)
        if arr.size and arr.max() >= len(qs.vocab):
            raise DataFileError(
                f"{path}: array {name!r} holds id {int(arr.max())}, outside the "
                f"{len(qs.vocab)}-character vocabulary; regenerate it with `dvc repro`"
            )


def save_longer(sets: dict[int, QuestionSet], folder: Path) -> None:
    """Write held-out sets of longer questions, one file per operand length."""
    for digits, qs in sets.items():
        save(qs, Path(folder) / f"digits_{digits}.npz")


def load_longer(folder: str | Path) -> dict[Path, QuestionSet]:
    """The sets save_longer wrote, by file (named like digits_4.npz), shortest first."""
    paths = sorted(Path(folder).glob("digits_*.npz"), key=lambda p: int(p.stem.split("_")[1]))
    return {path: load(path) for path in paths}


def split(qs: QuestionSet, cfg: SplitConfig) -> tuple[QuestionSet, QuestionSet, QuestionSet]:
    """Disjoint train/val/test sets; the same seed always gives the same split."""
    n = len(qs)
    n_val = int(round(n * cfg.val_fraction))
    n_test = int(round(n * cfg.test_fraction))
    n_train = n - n_val - n_test
    for name, size in (("validation", n_val), ("test", n_test), ("training", n_train)):
        if size < 1:
            raise ConfigError(
                f"the {name} split of {n} questions would be empty with "
                f"split.val_fraction={cfg.val_fraction} and "
                f"split.test_fraction={cfg.test_fraction}; raise data.count or adjust "
                "the fractions"
            )
    order = np.random.default_rng(cfg.seed).permutation(n)
    return (
        qs.take(np.sort(order[:n_train])),
        qs.take(np.sort(order[n_train : n_train + n_val])),
        qs.take(np.sort(order[n_train + n_val :])),
    )
