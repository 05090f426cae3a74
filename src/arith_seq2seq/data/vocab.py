"""Characters <-> integer ids (the reference's CharacterTable, without one-hot storage)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from ..pipeline.errors import DataFileError

PAD = " "
# Sequence markers for the encoder-decoder architectures; never typed by a user.
START = "^"
END = "$"


@dataclass(frozen=True)
class Vocab:
    # Sorted like the reference, so ids are stable across runs and machines.
    chars: str

    @classmethod
    def from_chars(cls, chars: Iterable[str]) -> Vocab:
        return cls("".join(sorted(set(chars))))

    def __len__(self) -> int:
        return len(self.chars)

    @property
    def pad_id(self) -> int:
        return self.chars.index(PAD)

    @property
    def start_id(self) -> int:
        return self.chars.index(START)

    @property
    def end_id(self) -> int:
        return self.chars.index(END)

    def ids(self, chars: str) -> np.ndarray:
        """Ids of each character of `chars`, in order."""
        missing = sorted(set(chars) - set(self.chars))
        if missing:
            raise ValueError(
                f"characters {''.join(missing)!r} are not in the vocabulary {self.chars!r}"
            )
        return np.array([self.chars.index(c) for c in chars], dtype=np.uint8)

    def encode(self, texts: Iterable[str], width: int) -> np.ndarray:
        """Encode strings into a (n, width) uint8 array, right-padded with PAD."""
        texts = list(texts)
        too_long = [t for t in texts if len(t) > width]
        if too_long:
            raise ValueError(f"{too_long[0]!r} is longer than {width} characters")
        if not texts:
            return np.full((0, width), self.pad_id, dtype=np.uint8)
        self.ids("".join(sorted(set("".join(texts)))))  # refuses characters outside the vocabulary
        # One table lookup over the bytes of all rows (the characters are ASCII): long
        # held-out questions are thousands of rows of hundreds of characters.
        table = np.zeros(128, dtype=np.uint8)
        codes = np.frombuffer(self.chars.encode("ascii"), dtype=np.uint8)
        table[codes] = np.arange(len(self), dtype=np.uint8)
        padded = np.array([t.ljust(width, PAD) for t in texts], dtype=f"S{width}")
        return table[padded.view(np.uint8).reshape(len(texts), width)]

    def texts(self, ids: np.ndarray) -> list[str]:
        """The strings a (n, width) array of ids spells (padding kept): encode's inverse."""
        ids = np.asarray(ids)
        if ids.ndim == 1:
            ids = ids[None, :]
        if ids.size and ids.max() >= len(self.chars):
            raise DataFileError(
                f"id {int(ids.max())} is outside the vocabulary of {len(self.chars)} characters"
            )
        table = np.array(list(self.chars))
        return ["".join(row) for row in table[ids]]
