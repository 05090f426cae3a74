"""The models: plain nn.Modules, one module per architecture, by the name `model.arch` uses.

An architecture is one module here with a `Seq2SeqModel` subclass; naming it below is all
it takes for training, evaluation, the model file and predict to use it.
"""

from __future__ import annotations

from ..pipeline.errors import ConfigError
from ..pipeline.params import NETS, check_learns
from .aligned import AlignedColumns
from .attention import AttentionSeq2Seq
from .base import ModelSpec, Seq2SeqModel
from .columns import ProductColumns
from .repeat import RepeatSeq2Seq
from .seq2seq import EncoderDecoder

ARCHITECTURES: dict[str, type[Seq2SeqModel]] = {
    "repeat": RepeatSeq2Seq,
    "seq2seq": EncoderDecoder,
    "attention": AttentionSeq2Seq,
    "aligned": AlignedColumns,
    "columns": ProductColumns,
}


assert set(ARCHITECTURES) == set(NETS), (
    "every architecture has a params section (pipeline/params.py NETS)"
)


def build(spec: ModelSpec) -> Seq2SeqModel:
    arch = spec.config.arch
    if arch not in ARCHITECTURES:
        raise ConfigError(f"model.arch is {arch!r}; choose one of {', '.join(ARCHITECTURES)}")
    check_learns(spec.config, spec.questions.operation.name)
    return ARCHITECTURES[arch](spec)


__all__ = ["ARCHITECTURES", "ModelSpec", "Seq2SeqModel", "build"]
