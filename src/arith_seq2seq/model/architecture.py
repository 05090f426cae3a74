"""What an architecture declares, once, in its own module: its record (`Architecture`) and
its config, the keys of its params.yaml section (a `NetConfig`)."""

from __future__ import annotations

from dataclasses import dataclass

from ..pipeline.errors import ConfigError

# Upper bounds on a network's size: past them the weights alone need gigabytes, and the
# allocation would fail with a MemoryError deep in torch instead of naming the key.
MAX_WIDTH = 4096  # hidden_size, embedding_dim, pair_dim
MAX_LAYERS = 16  # layers
# Upper bound on a network's weights (about 400 MB in float32, 1.6 GB with Adam's state):
# hidden_size and layers each within their bounds can still multiply past any memory.
MAX_WEIGHTS = 100_000_000


@dataclass(frozen=True)
class NetConfig:
    """A network's own settings: its architecture's params section without the recipe
    keys (pipeline/params.py RECIPE_KEYS, which go to TrainConfig). The model file stores
    its fields, `arch` first, and rebuilds the network from them."""

    arch: str  # the architecture, whose params section this is

    def validate(self) -> None:
        """Refuse a value out of its bounds with a ConfigError naming the key."""
        raise NotImplementedError


@dataclass(frozen=True)
class Architecture:
    """One architecture, as `model.arch` names it: the network it builds (a `Network`
    subclass, taking a ModelSpec), the config of its params section of the same name, and
    the data.operation values it learns (None: every operation, one defined at run time
    included)."""

    name: str
    network: type
    config: type[NetConfig]
    operations: tuple[str, ...] | None

    def learns(self, operation: str) -> bool:
        return self.operations is None or operation in self.operations


def check_weights(arch: str, weights: int) -> None:
    if weights > MAX_WEIGHTS:
        raise ConfigError(
            f"{arch}'s network would have about {weights:,} weights, more than {MAX_WEIGHTS:,}; "
            f"make {arch}.hidden_size or {arch}.layers smaller"
        )
