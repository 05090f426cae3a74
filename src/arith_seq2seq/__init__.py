"""Learn character-level arithmetic with RNN sequence-to-sequence models."""

__version__ = "0.1.0"
