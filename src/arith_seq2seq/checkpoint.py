"""The trained-model file: weights plus everything needed to rebuild and feed the model.

Loading needs nothing but this file: the model config, the vocabulary and the question
format (digits, reversal) travel with the weights.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from . import devices
from .architectures import ModelSpec, Seq2SeqModel, build
from .config import MAX_DIGITS, OPERATIONS
from .errors import DataFileError, UserError
from .files import atomic_path
from .questions import vocab_for
from .vocab import END, PAD, START

FORMAT = "arith-seq2seq/model/2"


@dataclass
class TrainedModel:
    model: Seq2SeqModel
    vocab: str
    digits: int
    reverse: bool
    operation: str
    info: dict

    @property
    def format(self) -> tuple:
        """What the model expects of its questions (compare QuestionSet.format)."""
        return (self.operation, self.vocab, self.reverse)


def save(path: str | Path, trained: TrainedModel) -> None:
    payload = {
        "format": FORMAT,
        "model_config": dataclasses.asdict(trained.model.spec),
        "vocab": trained.vocab,
        "digits": trained.digits,
        "reverse": trained.reverse,
        "operation": trained.operation,
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
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise DataFileError(
            f"{path}: not an arith-seq2seq model file (expected format {FORMAT!r}); "
            "retrain with `dvc repro`"
        )
    try:
        model = build(ModelSpec(**payload["model_config"]))
        model.load_state_dict(payload["state_dict"])
        trained = TrainedModel(
            model=model.eval(),
            vocab=str(payload["vocab"]),
            digits=int(payload["digits"]),
            reverse=bool(payload["reverse"]),
            operation=str(payload["operation"]),
            info=dict(payload.get("info", {})),
        )
    except (KeyError, TypeError, ValueError, RuntimeError, UserError) as exc:
        raise DataFileError(
            f"{path}: model file is incomplete or does not match its config "
            f"({type(exc).__name__}: {(str(exc).splitlines() or [''])[0]}); retrain with `dvc repro`"
        ) from None
    _check_question_format(payload, trained, path)
    return trained


def _check_question_format(payload: dict, trained: TrainedModel, path: Path) -> None:
    """The vocabulary and question format must be ones this code writes, and fit the
    model: with another vocabulary every question would be encoded into the wrong ids and
    answered with confident nonsense."""
    vocab, operation, digits = payload["vocab"], payload["operation"], payload["digits"]
    spec = trained.model.spec
    if operation not in OPERATIONS:
        problem = f"operation {operation!r}, not one of {', '.join(OPERATIONS)}"
    elif vocab != vocab_for(operation).chars:
        problem = f"vocabulary {vocab!r}, not the {operation} vocabulary {vocab_for(operation).chars!r}"
    elif (len(vocab), vocab.index(PAD), vocab.index(START), vocab.index(END)) != (
        spec.vocab_size, spec.pad_id, spec.start_id, spec.end_id
    ):
        problem = f"vocabulary {vocab!r}, which does not fit its model's {spec.vocab_size}-character input"
    elif type(digits) is not int or not 1 <= digits <= MAX_DIGITS or type(payload["reverse"]) is not bool:
        problem = f"digits {digits!r} and reverse {payload['reverse']!r}"
    else:
        return
    raise DataFileError(
        f"{path}: model file has {problem}; it was not written by this project's train stage; "
        "retrain with `dvc repro`"
    )


@torch.no_grad()
def predict(
    model: Seq2SeqModel, question, answer_len: int | None = None, batch_size: int = 4096, share_prefixes: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Answer ids (uint8, padded to `answer_len`) and confidences for question ids.

    With `share_prefixes` the rows are read in sorted order, each batch with
    `Seq2SeqModel.encode_shared`: the same answers, several times faster for many questions
    that begin alike (a whole question space). Raises NotApplicable where the
    architecture cannot give answers of that length."""
    answer_len = model.spec.answer_len if answer_len is None else answer_len
    question = np.asarray(question)
    # Lexicographic order: the rows sharing a prefix are contiguous (see encode_shared).
    order = np.lexsort(question.T[::-1]) if share_prefixes and len(question) else None
    # Wherever the model is (a GPU during training, or for evaluate): the questions go
    # there, the answers come back.
    device = devices.of(model)
    was_training = model.training
    model.eval()
    ids = np.empty((len(question), answer_len), dtype=np.uint8)
    confidence = np.empty(len(question), dtype=np.float32)
    try:
        for i in range(0, len(question), batch_size):
            rows = slice(i, i + batch_size) if order is None else order[i : i + batch_size]
            batch = torch.as_tensor(question[rows], device=device).long()
            if share_prefixes:
                batch_ids, batch_confidence = model.answer(*model.encode_shared(batch), batch, answer_len)
            else:
                batch_ids, batch_confidence = model.predict(batch, answer_len)
            ids[rows] = batch_ids.cpu().numpy()
            confidence[rows] = batch_confidence.float().cpu().numpy()
    finally:
        model.train(was_training)
    return ids, confidence
