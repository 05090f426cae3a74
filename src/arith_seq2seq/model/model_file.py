"""The trained-model file: weights plus everything needed to rebuild and feed the model.

Loading needs nothing but this file: the model params and the question format travel
with the weights.
"""

from __future__ import annotations

import collections
import math
import pickle
import zipfile
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch

from ..data.operations import OPERATIONS, operation_named
from ..data.question_format import QuestionFormat, vocab_for
from ..pipeline.config import build as build_config
from ..pipeline.errors import DataFileError, UserError
from ..pipeline.files import atomic_path
from . import ARCHITECTURES, ModelSpec, Network, build, check_learns

# The layout of a model file (its stored key "format"), not its question format.
FILE_VERSION = "arith-seq2seq/model/4"


@dataclass
class TrainedModel:
    model: Network
    info: dict

    @property
    def format(self) -> QuestionFormat:
        """The questions the model answers (compare a question set's `format`)."""
        return self.model.spec.questions


def _input_layer(fmt: QuestionFormat) -> dict:
    """What the format fixes of the model's input and output layers. The file stores these
    beside the model params and loading checks them. "answer_len" is the stored key of
    the format's answer_width (a model file's key, so it keeps its name)."""
    vocab = fmt.vocab
    return {
        "vocab_size": len(vocab),
        "answer_len": fmt.answer_width,
        "pad_id": vocab.pad_id,
        "start_id": vocab.start_id,
        "end_id": vocab.end_id,
    }


def save(path: str | Path, trained: TrainedModel) -> None:
    spec = trained.model.spec
    fmt = spec.questions
    payload = {
        "format": FILE_VERSION,
        "model_config": {**_input_layer(fmt), **asdict(spec.config)},
        "vocab": fmt.vocab.chars,
        "digits": fmt.digits,
        "reverse": fmt.reverse,
        "operation": fmt.operation.name,
        "info": trained.info,
        "state_dict": trained.model.state_dict(),
    }
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        # A file object, not the path: torch.save names the archive inside the file after
        # the path, and the temporary path is random, which would change the bytes.
        torch.save(payload, fh)


def load(path: str | Path) -> TrainedModel:
    path = Path(path)
    if not path.is_file():
        raise DataFileError(f"{path}: no such model file; run `dvc repro` to train one")
    try:
        # weights_only: a model file must never be able to run code on load.
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a damaged file
        # Not torch's message: it suggests weights_only=False, i.e. running the file's code.
        raise DataFileError(
            f"{path}: not a readable model file ({type(exc).__name__}: truncated, damaged "
            "or not written by torch.save); retrain with `dvc repro`"
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != FILE_VERSION:
        raise DataFileError(
            f"{path}: not an arith-seq2seq model file (expected format {FILE_VERSION!r}); "
            "retrain with `dvc repro`"
        )
    try:
        fmt = _question_format(payload, path)
        config = payload["model_config"]
        net_class = ARCHITECTURES[config["arch"]].config
        # The bounds params.yaml's values meet (a file's `layers: 10**8` spent 22 s and
        # 5.6 GB before failing), checked before anything is built.
        net = build_config(net_class, {f.name: config[f.name] for f in fields(net_class)})
        check_learns(net, fmt.operation.name)
        model = build(ModelSpec(net, fmt))
        model.load_state_dict(payload["state_dict"])
    except DataFileError:
        raise
    except (KeyError, TypeError, ValueError, RuntimeError, UserError) as exc:
        raise DataFileError(
            f"{path}: model file is incomplete or does not match its config "
            f"({type(exc).__name__}: {(str(exc).splitlines() or [''])[0]}); "
            "retrain with `dvc repro`"
        ) from None
    info = payload.get("info", {})
    if not isinstance(info, dict):
        raise DataFileError(
            f"{path}: model file's info is a {type(info).__name__}, not a mapping; it was not "
            "written by this project's train stage; retrain with `dvc repro`"
        )
    return TrainedModel(model=model.eval(), info=dict(info))


def _question_format(payload: dict, path: Path) -> QuestionFormat:
    """The file's question format, if it is one this code writes and fits the model: with
    another vocabulary every question would be encoded into the wrong ids and answered
    with confident nonsense."""
    vocab, name, digits, reverse = (
        payload["vocab"],
        payload["operation"],
        payload["digits"],
        payload["reverse"],
    )
    operation = operation_named(name) if name in OPERATIONS else None
    if operation is None:
        problem = f"operation {name!r}, not one of {', '.join(OPERATIONS)}"
    elif vocab != vocab_for(operation).chars:
        problem = f"vocabulary {vocab!r}, not the {name} vocabulary {vocab_for(operation).chars!r}"
    elif (
        type(digits) is not int
        or not 1 <= digits <= operation.max_digits
        or type(reverse) is not bool
    ):
        problem = f"digits {digits!r} and reverse {reverse!r}"
    else:
        fmt = QuestionFormat(operation, digits, reverse)
        layer = _input_layer(fmt)
        if {key: payload["model_config"][key] for key in layer} == layer:
            return fmt
        problem = (
            f"vocabulary {vocab!r}, which does not fit its model's "
            f"{payload['model_config']['vocab_size']}-character input"
        )
    raise DataFileError(
        f"{path}: model file has {problem}; it was not written by this project's train stage; "
        "retrain with `dvc repro`"
    )


# ------------------------------------------------------------------ reading without torch


class _Storage:
    """Where a tensor's bytes would be: read_info never reads them."""


class _Tensor:
    def __init__(self, shape):
        self.shape = tuple(shape)


def _rebuild_tensor(storage, offset, size, *rest):
    return _Tensor(size)


class _InfoUnpickler(pickle.Unpickler):
    """Unpickles a model file's record with nothing but plain values, ordered dicts and
    placeholders for the tensors: any other class or function the record names is refused
    before anything is called, and no tensor data is read."""

    def find_class(self, module: str, name: str):
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor
        if module == "torch" and name.endswith("Storage") and name.isidentifier():
            return _Storage
        raise pickle.UnpicklingError(f"it names {module}.{name}, which no model file holds")

    def persistent_load(self, pid):
        return _Storage()


# What `info` shows of a model file, by key: each must be there, of its type.
_INFO_KEYS = {"model_config": dict, "operation": str, "digits": int, "reverse": bool, "info": dict}


def read_info(path: str | Path) -> dict:
    """What a model file says about itself (format, question format, network, training
    info), read with zipfile and a restricted unpickler: no torch, no code from the file,
    no weights. Raises DataFileError, with one line, for anything but a model file."""
    path = Path(path)
    if not path.is_file():
        raise DataFileError(f"{path}: no such model file; run `dvc repro` to train one")
    try:
        with zipfile.ZipFile(path) as archive:
            records = [
                n for n in archive.namelist() if n.count("/") == 1 and n.endswith("/data.pkl")
            ]
            if len(records) != 1:
                raise ValueError("no data.pkl record")
            payload = _InfoUnpickler(archive.open(records[0])).load()
    except (
        zipfile.BadZipFile,
        ValueError,
        EOFError,
        OSError,
        pickle.UnpicklingError,
        AttributeError,
        IndexError,
        KeyError,
        TypeError,
        RecursionError,
    ) as exc:
        raise DataFileError(
            f"{path}: not a readable model file (truncated, damaged or not written by this "
            f"project: {(str(exc).splitlines() or [type(exc).__name__])[0]}); "
            "retrain with `dvc repro`"
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != FILE_VERSION:
        raise DataFileError(
            f"{path}: not an arith-seq2seq model file (expected format {FILE_VERSION!r}); "
            "retrain with `dvc repro`"
        )
    bad = [key for key, kind in _INFO_KEYS.items() if not isinstance(payload.get(key), kind)]
    if not bad and not isinstance(payload["model_config"].get("arch"), str):
        bad = ["model_config.arch"]
    if bad:
        raise DataFileError(
            f"{path}: model file is incomplete or damaged ({', '.join(bad)} missing or of the "
            "wrong type); retrain with `dvc repro`"
        )
    state = payload.get("state_dict")
    weights = (
        sum(math.prod(t.shape) for t in state.values() if isinstance(t, _Tensor))
        if isinstance(state, dict)
        else 0
    )
    return {key: value for key, value in payload.items() if key != "state_dict"} | {
        "weights": weights
    }
