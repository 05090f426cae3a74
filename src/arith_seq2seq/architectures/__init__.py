"""The model architectures, by the name `model.arch` uses.

An architecture is one module with a `Seq2SeqModel` subclass; naming it here is all it
takes for training, evaluation, checkpoints and predict to use it.
"""

from __future__ import annotations

from ..errors import ConfigError
from .attention import AttentionSeq2Seq
from .base import ModelSpec, NotApplicable, Seq2SeqModel
from .repeat import RepeatSeq2Seq
from .seq2seq import EncoderDecoder

ARCHITECTURES: dict[str, type[Seq2SeqModel]] = {
    "repeat": RepeatSeq2Seq,
    "seq2seq": EncoderDecoder,
    "attention": AttentionSeq2Seq,
}


def build(spec: ModelSpec) -> Seq2SeqModel:
    if spec.arch not in ARCHITECTURES:
        raise ConfigError(f"model.arch is {spec.arch!r}; choose one of {', '.join(ARCHITECTURES)}")
    return ARCHITECTURES[spec.arch](spec)


__all__ = ["ARCHITECTURES", "ModelSpec", "NotApplicable", "Seq2SeqModel", "build"]
