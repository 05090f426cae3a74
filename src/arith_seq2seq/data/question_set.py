"""Question sets: encoded questions and answers with their operands and format; one .npz
file per set, validated when read, written atomically."""

from __future__ import annotations

import math
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..pipeline.errors import DataFileError
from ..pipeline.files import atomic_path
from .operations import OPERATIONS, Operation, operation_named
from .question_format import LONGEST_DIGITS, QuestionFormat, vocab_for

# The layout of a data file (its stored key "format_version"), not its question format.
FILE_VERSION = 2
_ARRAYS = {"question": np.uint8, "answer": np.uint8, "a": np.int64, "b": np.int64}
# Bytes of rows copied at a time when writing a subset of a set's rows.
_WRITE_CHUNK = 16 << 20
# The kinds of longer set, in the order they are listed for one length.
_LONGER_ORDER = ("digits", "times1", "chains")
_LONGER_NAME = re.compile(rf"({'|'.join(_LONGER_ORDER)})_(\d+)\.npz")


@dataclass(frozen=True)
class QuestionSet:
    question: np.ndarray  # (n, format.question_width) character ids, reversed if format.reverse
    answer: np.ndarray  # (n, format.answer_width) character ids
    # (n,) the operands as asked: int64, or decimal strings where int64 cannot hold them
    # (format.digits above the operation's max_digits: the longer held-out sets)
    a: np.ndarray
    b: np.ndarray
    format: QuestionFormat

    def __len__(self) -> int:
        return len(self.a)

    def take(self, index: np.ndarray) -> QuestionSet:
        return QuestionSet(
            question=self.question[index],
            answer=self.answer[index],
            a=self.a[index],
            b=self.b[index],
            format=self.format,
        )


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
    fmt = qs.format
    meta = {
        "format_version": np.int64(FILE_VERSION),
        "digits": np.int64(fmt.digits),
        "reverse": np.bool_(fmt.reverse),
        "vocab": np.str_(fmt.vocab.chars),
        "operation": np.str_(fmt.operation.name),
    }
    with open(path, "wb") as fh:
        with zipfile.ZipFile(fh, mode="w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
            for name in (*_ARRAYS, *meta):
                with zf.open(_zip64_member(f"{name}.npy"), "w", force_zip64=True) as member:
                    if name in meta:
                        np.lib.format.write_array(
                            member, np.asanyarray(meta[name]), allow_pickle=False
                        )
                    else:
                        _write_rows(member, np.asarray(getattr(qs, name)), rows)
        for info in zf.infolist():
            fh.seek(info.header_offset + _LOCAL_SIZES)
            fh.write(b"\xff" * 8)


# The same bytes from every Python, so that DVC's hash of a data file is the same: before
# 3.11.4 (CPython gh-103861; every 3.10) zipfile writes a forced-zip64 member as version 20
# with its real sizes in the local header, later versions as version 45 with 0xFFFFFFFF
# there, as the zip64 format says and np.savez's files have. Both are set so here.
_ZIP64_VERSION = 45
_LOCAL_SIZES = 18  # offset of the compressed and uncompressed sizes in a local file header


def _zip64_member(name: str) -> zipfile.ZipInfo:
    """What ZipFile.open(name, "w") makes (1980-01-01, stored; zipfile sets mode 0600 as it
    opens the member), marked zip64."""
    info = zipfile.ZipInfo(name)
    info.create_version = info.extract_version = _ZIP64_VERSION
    return info


def _write_rows(member, array: np.ndarray, rows: np.ndarray | None) -> None:
    if rows is None:
        np.lib.format.write_array(member, array, allow_pickle=False)
        return
    shape = (len(rows), *array.shape[1:])
    descr = np.lib.format.dtype_to_descr(array.dtype)
    header = {"descr": descr, "fortran_order": False, "shape": shape}
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
            _check_members(npz.zip, path)
            content = {key: _read_array(npz, key, path) for key in npz.files}
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
    if version.shape != () or version.dtype.kind not in "iu" or int(version) != FILE_VERSION:
        raise DataFileError(
            f"{path}: format version {version.tolist()!r}, this code reads "
            f"{FILE_VERSION}; regenerate it with `dvc repro`"
        )
    fmt = QuestionFormat(
        _check_metadata(content, path), int(content["digits"]), bool(content["reverse"])
    )
    as_text = fmt.digits > fmt.max_digits
    for name, dtype in _ARRAYS.items():
        found = content[name].dtype
        text_operands = as_text and name in ("a", "b")
        if (found.kind != "U") if text_operands else (found != dtype):
            expected = "unicode strings" if text_operands else np.dtype(dtype)
            raise DataFileError(
                f"{path}: array {name!r} has dtype {found}, expected "
                f"{expected}; regenerate it with `dvc repro`"
            )
    qs = QuestionSet(
        question=content["question"],
        answer=content["answer"],
        a=content["a"],
        b=content["b"],
        format=fmt,
    )
    _check_shapes(qs, path)
    return qs


def _check_members(archive: zipfile.ZipFile, path: Path) -> None:
    """Every member an array of this project's, stored as save() stores it: uncompressed,
    and no larger than the file. A member's size in the zip directory is a claim too, and
    numpy allocates what the claims add up to before it reads (a deflate bomb, or a
    directory claiming terabytes, was a MemoryError traceback)."""
    known = set(_ARRAYS) | {"format_version", "digits", "reverse", "vocab", "operation"}
    size = path.stat().st_size
    for info in archive.infolist():
        name = info.filename
        if not name.endswith(".npy") or name[: -len(".npy")] not in known:
            raise DataFileError(
                f"{path}: holds {name[:60]!r}, which is not one of this project's arrays; "
                "it was not written by this project's generate or split stage; delete it and "
                "run `dvc repro`"
            )
        stored = info.compress_type == zipfile.ZIP_STORED and info.file_size == info.compress_size
        if not stored or info.file_size > size:
            raise DataFileError(
                f"{path}: array {name[:-4]!r} is compressed or claims {info.file_size:,} bytes "
                f"in a {size:,}-byte file; this project writes its .npz files uncompressed; "
                "delete it and run `dvc repro`"
            )


def _read_array(npz, key: str, path: Path) -> np.ndarray:
    """One array of the .npz, once its header is checked against the bytes stored: numpy
    allocates what the header claims before reading, so a damaged or hostile header would
    ask for terabytes (MemoryError) instead of being reported."""
    with npz.zip.open(f"{key}.npy") as member:
        version = np.lib.format.read_magic(member)
        read_header = {
            (1, 0): np.lib.format.read_array_header_1_0,
            (2, 0): np.lib.format.read_array_header_2_0,
        }
        if version not in read_header:
            raise ValueError(f"array {key!r} has .npy format version {version}, not 1.0 or 2.0")
        shape, _, dtype = read_header[version](member)
        if dtype.hasobject:  # pickled Python objects: never loaded (they could run code)
            raise ValueError(f"array {key!r} holds Python objects")
        claimed = math.prod(shape) * dtype.itemsize
        stored = npz.zip.getinfo(f"{key}.npy").file_size - member.tell()
    if claimed != stored:
        raise DataFileError(
            f"{path}: array {key!r} claims shape {shape} ({claimed:,} bytes) but {stored:,} "
            "bytes are stored; the file is damaged; delete it and run `dvc repro`"
        )
    return npz[key]


def _check_metadata(content: dict, path: Path) -> Operation:
    """The scalars describing the arrays: of the right kind, and values this code knows;
    the operation they name."""
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
                "it was not written by this project's generate or split stage; regenerate it "
                "with `dvc repro`"
            )
    name = str(content["operation"])
    try:
        operation = operation_named(name)
    except KeyError:
        raise DataFileError(
            f"{path}: 'operation' is {name!r}, not one of {', '.join(OPERATIONS)}; "
            "regenerate it with `dvc repro`"
        ) from None
    if not 1 <= int(content["digits"]) <= LONGEST_DIGITS:
        raise DataFileError(
            f"{path}: 'digits' is {int(content['digits'])}, outside 1..{LONGEST_DIGITS}; "
            "regenerate it with `dvc repro`"
        )
    # The ids are read with the vocabulary the format implies: another one would turn
    # every question into other characters.
    vocab = vocab_for(operation).chars
    if str(content["vocab"]) != vocab:
        raise DataFileError(
            f"{path}: 'vocab' is {str(content['vocab'])!r}, not the {operation} vocabulary "
            f"{vocab!r}; regenerate it with `dvc repro`"
        )
    return operation


def _check_shapes(qs: QuestionSet, path: Path) -> None:
    n, fmt = len(qs.a), qs.format
    want = {
        "a": (n,),
        "question": (n, fmt.question_width),
        "answer": (n, fmt.answer_width),
        "b": (n,),
    }
    for name, shape in want.items():
        if getattr(qs, name).shape != shape:
            raise DataFileError(
                f"{path}: array {name!r} has shape {getattr(qs, name).shape}, expected "
                f"{shape} for {fmt.digits}-digit questions; regenerate it with `dvc repro`"
            )
    for name in ("question", "answer"):
        arr = getattr(qs, name)
        if arr.size and arr.max() >= len(fmt.vocab):
            raise DataFileError(
                f"{path}: array {name!r} holds id {int(arr.max())}, outside the "
                f"{len(fmt.vocab)}-character vocabulary; regenerate it with `dvc repro`"
            )


def save_longer(sets: dict[str, QuestionSet], folder: Path) -> None:
    """Write held-out sets of longer questions, one file per name (digits_20, chains_20)."""
    for name, qs in sets.items():
        save(qs, Path(folder) / f"{name}.npz")


def load_longer(folder: str | Path) -> dict[Path, QuestionSet]:
    """The sets save_longer wrote, by file (digits_4.npz, times1_4.npz, chains_4.npz, ...),
    shortest first, random questions before chains.

    Other names in the folder (a temporary file a killed process left, say) are ignored."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataFileError(
            f"{folder}: no such folder of longer held-out sets; run `dvc repro` (stage "
            "generate) to create it"
        )
    found = {}
    for path in folder.iterdir():
        match = _LONGER_NAME.fullmatch(path.name)
        if match:
            found[int(match.group(2)), _LONGER_ORDER.index(match.group(1))] = path
    return {found[key]: load(found[key]) for key in sorted(found)}
