"""The `arith-seq2seq` command: ask a trained model questions.

    arith-seq2seq predict "123+456"
    printf '1+2\\n40+2\\n' | arith-seq2seq predict --confidence
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import numpy as np
import yaml

from . import checkpoint
from .checkpoint import TrainedModel
from .datasets import answer_width
from .errors import UserError
from .questions import SYMBOLS, encode
from .vocab import Vocab

QUESTION = re.compile(r"^\s*(\d+)\s*([^\d\s])\s*(\d+)\s*$")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="arith-seq2seq", description="Ask a trained arith-seq2seq model questions.")
    commands = parser.add_subparsers(dest="command", required=True)
    predict_parser = commands.add_parser(
        "predict",
        help="answer questions such as 123+456",
        description=(
            "Answer arithmetic questions with a trained model: the questions given as "
            "arguments, or else one per line from standard input. Prints one answer per "
            "answered question. A question the model cannot take (letters, another "
            "operator than the model was trained on, more digits than it reads, an empty "
            "line) gets a message on stderr and the rest are still answered; the exit "
            "status is 1 if any question failed, 2 if the model could not be loaded."
        ),
    )
    predict_parser.add_argument("questions", nargs="*", metavar="QUESTION", help='for example "123+456"')
    predict_parser.add_argument(
        "--model", type=Path, help="model file (default: the train stage's output named in ./dvc.yaml)"
    )
    predict_parser.add_argument("--confidence", action="store_true", help="also print the probability the model gives its answer")
    predict_parser.add_argument(
        "--allow-longer", action="store_true",
        help="accept operands longer than the training data (seq2seq and attention models only)",
    )
    args = parser.parse_args(argv)
    try:
        trained = checkpoint.load(args.model or default_model_path(Path.cwd()))
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    lines = args.questions if args.questions else [line.rstrip("\n") for line in sys.stdin]
    answers, problems = answer(trained, lines, args.allow_longer)
    for number, text in problems.items():
        where = f"line {number + 1}" if not args.questions else f"question {number + 1}"
        print(f"error: {where}: {text}", file=sys.stderr)
    for number in range(len(lines)):
        if number in answers:
            text, confidence = answers[number]
            print(f"{text}\t{confidence:.4f}" if args.confidence else text)
    return 1 if problems else 0


def default_model_path(start: Path) -> Path:
    """The train stage's .pt output, as dvc.yaml in `start` or a parent folder names it."""
    for folder in [start, *start.parents]:
        dvc_yaml = folder / "dvc.yaml"
        if dvc_yaml.is_file():
            outs = yaml.safe_load(dvc_yaml.read_text())["stages"]["train"]["outs"]
            for out in outs:
                path = out if isinstance(out, str) else next(iter(out))
                if path.endswith(".pt"):
                    return folder / path
    raise UserError("no --model given and no dvc.yaml in this folder or above it; pass --model PATH")


def answer(trained: TrainedModel, lines: list[str], allow_longer: bool = False):
    """Answers {line number: (answer, confidence)} and problems {line number: message}."""
    parsed, problems = {}, {}
    for number, line in enumerate(lines):
        try:
            parsed[number] = parse(line, trained, allow_longer)
        except ValueError as exc:
            problems[number] = str(exc)
    answers = {}
    vocab = Vocab(trained.vocab)
    # One batch per question width, so a thousand questions cost one forward pass.
    widths = {number: max(trained.digits, _digits(a, b)) for number, (a, b) in parsed.items()}
    for digits in sorted(set(widths.values())):
        numbers = [n for n, d in widths.items() if d == digits]
        a = np.array([parsed[n][0] for n in numbers], dtype=np.int64)
        b = np.array([parsed[n][1] for n in numbers], dtype=np.int64)
        question, _ = encode(a, b, digits, trained.reverse, vocab, trained.operation)
        ids, confidence = checkpoint.predict(trained.model, question, answer_width(digits, trained.operation))
        for n, text, c in zip(numbers, vocab.decode(ids), confidence):
            answers[n] = (text.strip(), float(c))
    return answers, problems


def _digits(a: int, b: int) -> int:
    """Digits of the longer operand; Python ints, since a typed number may not fit int64."""
    return max(len(str(a)), len(str(b)))


def parse(line: str, trained: TrainedModel, allow_longer: bool) -> tuple[int, int]:
    symbol = SYMBOLS[trained.operation]
    if not line.strip():
        raise ValueError(f"empty question; write one like 12{symbol}34")
    match = QUESTION.match(line)
    if not match:
        raise ValueError(f"{line.strip()!r} is not a question like 12{symbol}34 (digits, {symbol}, digits)")
    left, operator, right = match.groups()
    if operator != symbol:
        raise ValueError(f"{line.strip()!r}: this model answers {symbol} questions, not {operator}")
    a, b = int(left), int(right)
    longest = _digits(a, b)
    if longest > trained.digits:
        if not allow_longer:
            raise ValueError(
                f"{line.strip()!r}: operands of {longest} digits, but this model was trained on "
                f"at most {trained.digits}; pass --allow-longer to try anyway"
            )
        if not trained.model.reads_longer_input:
            raise ValueError(
                f"{line.strip()!r}: the {trained.model.spec.arch} architecture cannot read operands "
                f"longer than {trained.digits} digits"
            )
        if (trained.operation == "mul" and 2 * longest > 18) or longest > 17:
            raise ValueError(f"{line.strip()!r}: operands too long to compute exactly")
    return a, b


if __name__ == "__main__":
    sys.exit(main())
