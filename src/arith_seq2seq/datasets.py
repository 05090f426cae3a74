"""The on-disk question set: one .npz per split, validated when read, written atomically."""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .config import MAX_DIGITS, OPERATIONS, SplitConfig
from .errors import ConfigError, DataFileError
from .files import atomic_path

FORMAT_VERSION = 2
_ARRAYS = {"question": np.uint8, "answer": np.uint8, "a": np.int64, "b": np.int64}
# Bytes of rows copied at a time when writing a subset of a set's rows.
_WRITE_CHUNK = 16 << 20
_LONGER_NAME = re.compile(r"digits_(\d+)\.npz")


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


def save(qs: QuestionSet, path: str | Path, rows: np.ndarray | None = None) -> None:
    """Write atomically: a reader never sees a half-written file at `path`.

    With `rows`, write qs.take(rows) without building that copy in memory."""
    with atomic_path(path) as tmp:
        write(qs, tmp, rows)


def write(qs: QuestionSet, path: str | Path, rows: np.ndarray | None = None) -> None:
    """Write the .npz at `path` directly (callers make it atomic); see save.

    The file is byte for byte what np.savez writes for these arrays (tests check it): one
    stored (uncompressed) zip member per array, zip64 headers; only the rows are copied a
    chunk at a time."""
    meta = {
        "format_version": np.int64(FORMAT_VERSION),
        "digits": np.int64(qs.digits),
        "reverse": np.bool_(qs.reverse),
        "vocab": np.str_(qs.vocab),
        "operation": np.str_(qs.operation),
    }
    with open(path, "wb") as fh, zipfile.ZipFile(fh, mode="w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        for name in (*_ARRAYS, *meta):
            with zf.open(f"{name}.npy", "w", force_zip64=True) as member:
                if name in meta:
                    np.lib.format.write_array(member, np.asanyarray(meta[name]), allow_pickle=False)
                else:
                    _write_rows(member, np.asarray(getattr(qs, name)), rows)


def _write_rows(member, array: np.ndarray, rows: np.ndarray | None) -> None:
    if rows is None:
        np.lib.format.write_array(member, array, allow_pickle=False)
        return
    shape = (len(rows), *array.shape[1:])
    header = {"descr": np.lib.format.dtype_to_descr(array.dtype), "fortran_order": False, "shape": shape}
    np.lib.format.write_array_header_1_0(member, header)
    step = max(1, _WRITE_CHUNK // max(1, array[:1].nbytes))
    for start in range(0, len(rows), step):
        member.write(array[rows[start : start + step]])  # a C-ordered copy of those rows


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
    if version.shape != () or version.dtype.kind not in "iu" or int(version) != FORMAT_VERSION:
        raise DataFileError(
            f"{path}: format version {version.tolist()!r}, this code reads "
            f"{FORMAT_VERSION}; regenerate it with `dvc repro`"
        )
    for name, dtype in _ARRAYS.items():
        if content[name].dtype != dtype:
            raise DataFileError(
                f"{path}: array {name!r} has dtype {content[name].dtype}, expected "
                f"{np.dtype(dtype)}; regenerate it with `dvc repro`"
            )
    _check_metadata(content, path)
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


def _check_metadata(content: dict, path: Path) -> None:
    """The scalars describing the arrays: of the right kind, and values this code knows."""
    kinds = {
        "digits": ("i", "an integer"),
        "reverse": ("b", "a boolean"),
        "vocab": ("U", "a string"),
        "operation": ("U", "a string"),
    }
    for name, (kind, what) in kinds.items():
        value = content[name]
        if value.shape != () or value.dtype.kind != kind:
            raise DataFileError(
                f"{path}: {name!r} should be {what}, found {value.dtype} of shape {value.shape}; "
                "it was not written by this project's generate or split stage; regenerate it with `dvc repro`"
            )
    if not 1 <= int(content["digits"]) <= MAX_DIGITS:
        raise DataFileError(
            f"{path}: 'digits' is {int(content['digits'])}, outside 1..{MAX_DIGITS}; regenerate it with `dvc repro`"
        )
    if str(content["operation"]) not in OPERATIONS:
        raise DataFileError(
            f"{path}: 'operation' is {str(content['operation'])!r}, not one of {', '.join(OPERATIONS)}; "
            "regenerate it with `dvc repro`"
        )


def _check_shapes(qs: QuestionSet, path: Path) -> None:
    n = len(qs.a)
    want = {
        "a": (n,),
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
    """The sets save_longer wrote, by file (named like digits_4.npz), shortest first.

    Other names in the folder (a temporary file a killed process left, say) are ignored."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataFileError(
            f"{folder}: no such folder of longer held-out sets; run `dvc repro` (stage generate) to create it"
        )
    found = {}
    for path in folder.iterdir():
        match = _LONGER_NAME.fullmatch(path.name)
        if match:
            found[int(match.group(1))] = path
    return {found[digits]: load(found[digits]) for digits in sorted(found)}


def split(qs: QuestionSet, cfg: SplitConfig) -> tuple[QuestionSet, QuestionSet, QuestionSet]:
    """Disjoint train/val/test sets; the same seed always gives the same split."""
    train, val, test = split_rows(qs, cfg)
    return qs.take(train), qs.take(val), qs.take(test)


def split_rows(qs: QuestionSet, cfg: SplitConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The sorted row numbers of the train, val and test sets of split() (for save's `rows`).

    Each question gets a seeded pseudo-random number from its operands alone; the lowest
    numbers go to val, the next to test, the rest to train. A question's set therefore
    depends on the question and the seed, not on which other questions were drawn, and a
    question and its mirror (a+b and b+a, for add and mul: the same number) always land in
    the same set: otherwise a test question would be one the model trained on, written the
    other way. Sizes are exact but for such ties at the two cuts.

    Questions whose operands both have at most `cfg.always_train_digits` digits (and fewer
    than the data's longest) all go to train: users ask them first, and there are too
    few of them (10,000 of 1,000,000 at 3 digits) for a model to learn them from the rest."""
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
    rank = _question_hash(qs, cfg.seed, min(cfg.always_train_digits, qs.digits - 1))
    held = n - int(np.count_nonzero(rank == _TRAIN_ONLY))
    if held < n_val + n_test + 1:
        raise ConfigError(
            f"only {held} of the {n} questions may be held out (the others have operands of at most "
            f"split.always_train_digits = {cfg.always_train_digits} digits), too few for a validation "
            f"split of {n_val} and a test split of {n_test}; lower split.always_train_digits or raise data.count"
        )
    cuts = np.partition(rank, [n_val - 1, n_val + n_test - 1])
    last_val, last_test = cuts[n_val - 1], cuts[n_val + n_test - 1]
    del cuts
    # int32 row numbers where they fit: with the hashes, 8 bytes a question in all.
    index = np.int32 if n < 2**31 else np.int64
    parts = ([], [], [])
    for start in range(0, n, _SPLIT_CHUNK):
        r = rank[start : start + _SPLIT_CHUNK]
        for part, mask in zip(parts, (r > last_test, r <= last_val, (r > last_val) & (r <= last_test))):
            part.append((np.flatnonzero(mask) + start).astype(index))
    train, val, test = (np.concatenate(p) for p in parts)
    if not (len(train) and len(val) and len(test)):
        raise ConfigError(f"the split of {n} questions left a part empty; raise data.count")
    return train, val, test


# Rows hashed or masked at a time by the split: bounds its temporaries to a few MB.
_SPLIT_CHUNK = 1 << 18


# The rank of a question that must go to train: above every cut (hashes stop below it).
_TRAIN_ONLY = np.uint32(2**32 - 1)


def _question_hash(qs: QuestionSet, seed: int, train_only_digits: int = 0) -> np.ndarray:
    """A uint32 per row, pseudo-random but a pure function of (seed, question): splitmix64
    over the operands, ordered for sub and as the unordered pair for add and mul; rows
    whose operands both have at most `train_only_digits` digits get _TRAIN_ONLY."""
    out = np.empty(len(qs), dtype=np.uint32)
    base = _mix(np.array([seed], dtype=np.uint64))
    limit = 10**train_only_digits
    for start in range(0, len(qs), _SPLIT_CHUNK):
        a, b = qs.a[start : start + _SPLIT_CHUNK], qs.b[start : start + _SPLIT_CHUNK]
        lo, hi = (a, b) if qs.operation == "sub" else (np.minimum(a, b), np.maximum(a, b))
        h = _mix(_mix(base ^ lo.astype(np.uint64)) ^ hi.astype(np.uint64)) >> np.uint64(32)
        out[start : start + _SPLIT_CHUNK] = np.minimum(h, _TRAIN_ONLY - 1)
        if train_only_digits:
            out[start : start + _SPLIT_CHUNK][(a < limit) & (b < limit)] = _TRAIN_ONLY
    return out


def _mix(z: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: uint64 in, well-mixed uint64 out (arithmetic wraps)."""
    z = z + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))
