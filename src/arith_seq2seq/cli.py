"""The `arith-seq2seq` command: ask a trained model questions.

    arith-seq2seq predict "123+456"
    printf '1+2\\n40+2\\n' | arith-seq2seq predict --confidence
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import yaml

from .data.longer_sets import encode_questions
from .model import answering, devices, model_file
from .model.model_file import TrainedModel
from .pipeline.errors import UserError
from .pipeline.params import DEVICES

QUESTION = re.compile(r"^\s*(\d+)\s*([^\d\s])\s*(\d+)\s*$", re.ASCII)


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
            "status is 1 if any question failed, 2 if the command line was wrong or the "
            "model could not be loaded. Operands are whole numbers of at least 0; a "
            "question starting with '-' must follow '--'."
        ),
    )
    predict_parser.add_argument("questions", nargs="*", metavar="QUESTION", help='for example "123+456"')
    predict_parser.add_argument(
        "--model", type=Path,
        help="model file (default: the train stage's .pt output named in dvc.yaml, in this folder or the nearest one above)",
    )
    predict_parser.add_argument("--confidence", action="store_true", help="also print the probability the model gives its answer")
    predict_parser.add_argument(
        "--device", choices=DEVICES, default="auto",
        help="where to answer: auto (a CUDA GPU, else Apple's mps, else the CPU; the default) or one of those",
    )
    predict_parser.add_argument(
        "--allow-longer", action="store_true",
        help="accept operands longer than the training data (seq2seq and attention models; an aligned model takes any length without it)",
    )
    args = parser.parse_args(argv)
    try:
        return _predict(args)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader left (`| head`); say nothing more, like other Unix filters.
        sys.stderr.close()
        return 1


def _predict(args) -> int:
    model_path = args.model or default_model_path(Path.cwd())
    if model_path.is_dir():
        raise UserError(f"{model_path} is a folder; --model takes a model file such as data/model.pt")
    trained = model_file.load(model_path)
    trained.model.to(devices.resolve(args.device, "--device"))
    lines = args.questions if args.questions else [line.rstrip("\r\n") for line in sys.stdin]
    answers, problems = answer(trained, lines, args.allow_longer)
    for number, text in problems.items():
        where = f"line {number + 1}" if not args.questions else f"question {number + 1}"
        print(f"error: {where}: {text}", file=sys.stderr)
    for number in range(len(lines)):
        if number in answers:
            text, confidence = answers[number]
            print(f"{text}\t{confidence:.4f}" if args.confidence else text)
    sys.stdout.flush()
    return 1 if problems else 0


def default_model_path(start: Path) -> Path:
    """The train stage's .pt output, as dvc.yaml in `start` or a parent folder names it."""
    for folder in [start, *start.parents]:
        dvc_yaml = folder / "dvc.yaml"
        if dvc_yaml.is_file():
            try:
                outs = yaml.safe_load(dvc_yaml.read_text())["stages"]["train"]["outs"]
                paths = [out if isinstance(out, str) else next(iter(out)) for out in outs]
            except (yaml.YAMLError, TypeError, KeyError, StopIteration):
                paths = []
            for path in paths:
                if path.endswith(".pt"):
                    return folder / path
            raise UserError(f"{dvc_yaml} names no train stage with a .pt output; pass --model PATH")
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
    fmt = trained.format
    # One batch per question width, so a thousand questions cost one forward pass.
    widths = {number: max(fmt.digits, len(a), len(b)) for number, (a, b) in parsed.items()}
    for digits in sorted(set(widths.values())):
        numbers = [n for n, d in widths.items() if d == digits]
        asked = fmt.with_digits(digits)
        question = encode_questions([parsed[n][0] for n in numbers], [parsed[n][1] for n in numbers], asked)
        ids, confidence = answering.predict(trained.model, question, asked.answer_width)
        for n, text, c in zip(numbers, fmt.vocab.decode(ids), confidence):
            answers[n] = (text.strip(), float(c))
    return answers, problems


# Characters of a bad line quoted in its error message: a 100,000-digit line is not echoed.
QUOTE = 80


def quoted(line: str) -> str:
    """The line as its error message quotes it: repr of the stripped text, cut at QUOTE
    characters with the full length said."""
    text = line.strip()
    if len(text) <= QUOTE:
        return repr(text)
    return f"{text[:QUOTE]!r}... ({len(text):,} characters)"


def parse(line: str, trained: TrainedModel, allow_longer: bool) -> tuple[str, str]:
    """The operands as decimal strings without leading zeros (any length: nothing is
    computed here)."""
    fmt = trained.format
    symbol = fmt.symbol
    if not line.strip():
        raise ValueError(f"empty question; write one like 12{symbol}34")
    match = QUESTION.match(line)
    if not match:
        if line.strip().startswith("-"):
            raise ValueError(f"{quoted(line)}: negative operands are not supported")
        raise ValueError(f"{quoted(line)} is not a question like 12{symbol}34 (digits, {symbol}, digits)")
    left, operator, right = match.groups()
    if operator != symbol:
        raise ValueError(f"{quoted(line)}: this model answers {symbol} questions, not {operator}")
    left, right = left.lstrip("0") or "0", right.lstrip("0") or "0"
    longest = max(len(left), len(right))
    model = trained.model
    # The aligned architecture answers every length the way it answers the training one.
    if longest > fmt.digits and not model.any_length:
        too_long = f"{quoted(line)}: operands of {longest} digits, but this model was trained on at most {fmt.digits}"
        # --allow-longer is suggested only where it can help.
        if not model.reads_longer_input:
            raise ValueError(
                f"{too_long}, and the {model.params.arch} architecture cannot read longer ones "
                "(model.arch aligned can)"
            )
        # The character architectures are scored against int64 answers up to this
        # length; past it nothing would say whether they are right.
        if longest > fmt.max_digits:
            raise ValueError(
                f"{quoted(line)}: operands of {longest} digits; answers are exact up to {fmt.max_digits} digits"
            )
        if not allow_longer:
            raise ValueError(f"{too_long}; pass --allow-longer to try anyway")
    return left, right


if __name__ == "__main__":
    sys.exit(main())
