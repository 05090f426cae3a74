"""The Keras addition-RNN example's data generation, re-implemented as it is written there.

This is the reference's algorithm (/work/shared/reference/keras-addition-rnn.md, cells
"training data set generated" and "Preprocessing"), kept deliberately as it is: a Python
while-loop over questions, a `seen` set of sorted operand pairs, a digit count drawn per
operand with `np.random.randint`, each digit drawn with `np.random.choice`, string padding
and reversal, then a per-row Python loop that encodes the strings into arrays. It is the
baseline for the generation benchmark, not code the project uses.

Only two things differ from the notebook, neither part of the algorithm:
- `digits` and `count` are arguments (the notebook's DIGITS and TRAINING_SIZE), and the
  global numpy RNG is seeded so runs repeat;
- `encoding="ids"` (the default) writes each character's index (CharacterTable's
  `char_indices`) into a uint8 array of shape (n, width), the same output our generator
  produces, instead of the one-hot bool array of shape (n, width, 12);
  `encoding="onehot"` does exactly what the notebook does (CharacterTable.encode per row).
"""

from __future__ import annotations

import numpy as np


class CharacterTable:
    """The notebook's CharacterTable (encode only; decode is not needed here)."""

    def __init__(self, chars):
        self.chars = sorted(set(chars))
        self.char_indices = dict((c, i) for i, c in enumerate(self.chars))
        self.indices_char = dict((i, c) for i, c in enumerate(self.chars))

    def encode(self, C, num_rows):
        x = np.zeros((num_rows, len(self.chars)))
        for i, c in enumerate(C):
            x[i, self.char_indices[c]] = 1
        return x


def generate(digits: int, count: int, invert: bool = True, seed: int = 1337):
    """The notebook's questions/expected lists: `count` distinct a+b questions."""
    np.random.seed(seed)
    maxlen = digits + 1 + digits
    questions = []
    expected = []
    seen = set()
    while len(questions) < count:
        # The notebook's own lambda, kept as written there (this file is its algorithm).
        f = lambda: int(  # noqa: E731
            "".join(
                np.random.choice(list("0123456789"))
                for i in range(np.random.randint(1, digits + 1))
            )
        )
        a, b = f(), f()
        # a+b and b+a are one question; the first drawn is kept.
        key = tuple(sorted((a, b)))
        if key in seen:
            continue
        seen.add(key)
        q = f"{a}+{b}"
        query = q + " " * (maxlen - len(q))
        ans = str(a + b)
        ans += " " * (digits + 1 - len(ans))
        if invert:
            query = query[::-1]
        questions.append(query)
        expected.append(ans)
    return questions, expected


def vectorize(questions, expected, digits: int, encoding: str = "ids"):
    """The notebook's "Vectorization" cell: one row at a time, in Python."""
    maxlen = digits + 1 + digits
    chars = "0123456789+ "
    ctable = CharacterTable(chars)
    if encoding == "onehot":
        x = np.zeros((len(questions), maxlen, len(chars)), dtype=bool)
        y = np.zeros((len(questions), digits + 1, len(chars)), dtype=bool)
        for i, sentence in enumerate(questions):
            x[i] = ctable.encode(sentence, maxlen)
        for i, sentence in enumerate(expected):
            y[i] = ctable.encode(sentence, digits + 1)
        return x, y
    if encoding != "ids":
        raise ValueError(f"encoding is {encoding!r}; choose ids or onehot")
    index = ctable.char_indices
    x = np.zeros((len(questions), maxlen), dtype=np.uint8)
    y = np.zeros((len(questions), digits + 1), dtype=np.uint8)
    for i, sentence in enumerate(questions):
        x[i] = [index[c] for c in sentence]
    for i, sentence in enumerate(expected):
        y[i] = [index[c] for c in sentence]
    return x, y


def generate_and_vectorize(digits: int, count: int, encoding: str = "ids", seed: int = 1337):
    questions, expected = generate(digits, count, seed=seed)
    return vectorize(questions, expected, digits, encoding)
