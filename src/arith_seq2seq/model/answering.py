"""Answering many questions with a model: batched, on the model's device, optionally
sharing the work of common question prefixes."""

from __future__ import annotations

import numpy as np
import torch

from . import devices
from .base import Network


@torch.no_grad()
def answer_questions(
    model: Network,
    question,
    answer_width: int | None = None,
    batch_size: int = 4096,
    share_prefixes: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Answer ids (uint8, padded to `answer_width`) and confidences for question ids.

    With `share_prefixes` the rows are read in sorted order, each batch with
    `Network.read_shared`: the same answers, several times faster for many questions
    that begin alike (a whole question space). `answer_width` other than the model's own is
    for architectures that read longer questions."""
    answer_width = model.answer_width if answer_width is None else answer_width
    if answer_width != model.answer_width and not model.reads_longer_input:
        raise ValueError(
            f"the {model.config.arch} architecture answers with exactly {model.answer_width} "
            "characters"
        )
    question = np.asarray(question)
    # Lexicographic order: the rows sharing a prefix are contiguous (see read_shared).
    order = np.lexsort(question.T[::-1]) if share_prefixes and len(question) else None
    # Wherever the model is (a GPU during training, or for evaluate): the questions go
    # there, the answers come back.
    device = devices.of(model)
    was_training = model.training
    model.eval()
    ids = np.empty((len(question), answer_width), dtype=np.uint8)
    confidence = np.empty(len(question), dtype=np.float32)
    try:
        for i in range(0, len(question), batch_size):
            rows = slice(i, i + batch_size) if order is None else order[i : i + batch_size]
            batch = torch.as_tensor(question[rows], device=device).long()
            if share_prefixes:
                batch_ids, batch_confidence = model.write(
                    model.read_shared(batch), batch, answer_width
                )
            else:
                batch_ids, batch_confidence = model.predict(batch, answer_width)
            ids[rows] = batch_ids.cpu().numpy()
            confidence[rows] = batch_confidence.float().cpu().numpy()
    finally:
        model.train(was_training)
    return ids, confidence
