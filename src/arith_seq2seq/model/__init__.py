"""The models: plain nn.Modules, one module per architecture, by the name `model.arch` uses.

An architecture is one module here: its `Network` subclass, the config of its params
section and the operations it learns, declared as its `ARCHITECTURE` record. Registering
the record below is all it takes for params.yaml's loading, training, evaluation, the
model file and predict to use it.
"""

from __future__ import annotations

from ..pipeline.config import check_choice
from ..pipeline.errors import ConfigError
from . import aligned, attention, columns, repeat, seq2seq
from .architecture import Architecture, NetConfig
from .base import ModelSpec, Network

# In params.yaml's order of their sections.
ARCHITECTURES: dict[str, Architecture] = {
    module.ARCHITECTURE.name: module.ARCHITECTURE
    for module in (repeat, seq2seq, attention, aligned, columns)
}


def check_learns(
    net: NetConfig, operation: str, architectures: dict[str, Architecture] = ARCHITECTURES
) -> None:
    """Refuse an architecture that cannot learn data.operation `operation`."""
    chosen = architectures[net.arch]
    if not chosen.learns(operation):
        able = [name for name, arch in architectures.items() if arch.learns(operation)]
        raise ConfigError(
            f"model.arch is {net.arch}, which learns {' and '.join(chosen.operations)}, not "
            f"{operation} (data.operation); for {operation} choose model.arch {' | '.join(able)}"
        )


def answering_any_length(operation: str) -> list[str]:
    """The architectures that learn `operation` and answer questions of any length."""
    return [
        name
        for name, arch in ARCHITECTURES.items()
        if arch.learns(operation) and arch.network.any_length
    ]


def build(spec: ModelSpec) -> Network:
    """The untrained network `spec` describes (its config checked for the operation by
    whoever read it: params loading, or the model file)."""
    arch = spec.config.arch
    check_choice("model.arch", arch, tuple(ARCHITECTURES))
    return ARCHITECTURES[arch].network(spec)


__all__ = [
    "ARCHITECTURES",
    "Architecture",
    "ModelSpec",
    "NetConfig",
    "Network",
    "answering_any_length",
    "build",
    "check_learns",
]
