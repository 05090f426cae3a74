"""The `arith-seq2seq` command: ask a trained model questions.

arith-seq2seq predict "123+456"
printf '1+2\\n40+2\\n' | arith-seq2seq predict --confidence
arith-seq2seq info [--model PATH] [--json]
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import re
import select
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import yaml

from .data.longer_sets import question_ids
from .data.operations import OPERATIONS, operation_named
from .data.question_format import LONGEST_DIGITS
from .data.vocab import PAD
from .pipeline.errors import UserError
from .pipeline.params import DEVICES

# The model modules import torch (a second or two): main() imports them inside its
# handling of Ctrl-C, so that an interrupt while the command starts is exit status 130 and
# not a traceback.
if TYPE_CHECKING:
    from .model.model_file import TrainedModel

QUESTION = re.compile(r"^\s*(\d+)\s*([^\d\s])\s*(\d+)\s*$", re.ASCII)
# An answer predict prints: what the evaluate stage's expected answers look like, so that
# nothing it would print is a form the pipeline never scores right ("-0", "007", "").
NUMBER = re.compile(r"0|-?[1-9][0-9]*", re.ASCII)
# Standard input is answered at most this many lines at a time: enough for one forward
# pass to serve thousands of questions, few enough that memory stays flat.
BATCH_LINES = 4096
# Bytes asked of standard input per read; a read returns whatever has arrived.
READ_BYTES = 1 << 16
# The longest question predict reads: operands of up to LONGEST_DIGITS digits (the longest
# any held-out set has), an operator and some spaces. A longer line is refused as it is
# read, without being held (`predict < /dev/zero` grew to 2.5 GB), and so is an argument.
MAX_QUESTION_CHARS = 2 * LONGEST_DIGITS + 64
# The longest line of standard input held: such a question and a \r\n line end.
MAX_LINE_BYTES = MAX_QUESTION_CHARS + 2


class Overlong(int):
    """A line of standard input longer than MAX_QUESTION_CHARS, by its length in bytes:
    what stdin_batches yields in its place."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="arith-seq2seq", description="Ask a trained arith-seq2seq model questions."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    predict_parser = commands.add_parser(
        "predict",
        help="answer questions such as 123+456",
        description=(
            "Answer arithmetic questions with a trained model: the questions given as "
            "arguments, or else one per line from standard input (UTF-8, answered in "
            "batches as the lines arrive). Prints one answer per answered question. A "
            "question the model cannot take (letters, another operator than the model was "
            "trained on, more digits than it reads, an empty line, a line that is not "
            "UTF-8), or whose answer from the model is not a number, gets a message on "
            "stderr and the rest are still answered; the exit status is 1 if any question "
            "failed, 2 if the command line was wrong or the model could not be loaded. "
            "Operands are whole numbers of at least 0; a question starting with '-' must "
            "follow '--'."
        ),
    )
    predict_parser.add_argument(
        "questions", nargs="*", metavar="QUESTION", help='for example "123+456"'
    )
    predict_parser.add_argument(
        "--model",
        type=Path,
        help=(
            "model file (default: the train stage's .pt output named in dvc.yaml, in this "
            "folder or the nearest one above)"
        ),
    )
    predict_parser.add_argument(
        "--confidence",
        action="store_true",
        help="also print the probability the model gives its answer",
    )
    predict_parser.add_argument(
        "--device",
        choices=DEVICES,
        default="auto",
        help=(
            "where to answer: auto (a CUDA GPU, else Apple's mps, else the CPU; the default) "
            "or one of those"
        ),
    )
    predict_parser.add_argument(
        "--allow-longer",
        action="store_true",
        help=(
            "accept operands longer than the training data, for a model whose architecture "
            "reads them (docs/architectures.md); one that answers any length takes them "
            "without it"
        ),
    )
    info_parser = commands.add_parser(
        "info",
        help="what a model file is: architecture, operation, precision, scores",
        description=(
            "Print what a model file says about itself (its architecture and network, the "
            "questions it answers, the precision it trained in, its validation score) and, "
            "for the pipeline's own model as dvc.lock records it, the evaluate stage's "
            "scores. Reads the file without torch.load: nothing in it is run. Exit status 2 "
            "if it is not a model file."
        ),
    )
    info_parser.add_argument(
        "--model",
        type=Path,
        help=(
            "model file (default: the train stage's .pt output named in dvc.yaml, in this "
            "folder or the nearest one above)"
        ),
    )
    info_parser.add_argument("--json", action="store_true", help="print it all as one JSON object")
    args = parser.parse_args(argv)
    try:
        if sys.stdout is None or (
            args.command == "predict" and not args.questions and sys.stdin is None
        ):
            raise UserError(
                "standard output or input is closed; predict reads questions from standard input "
                "(or its arguments) and writes answers to standard output"
            )
        return _info(args) if args.command == "info" else _predict(args)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader left (`| head`); say nothing more, like other Unix filters.
        sys.stderr.close()
        return 1
    except OSError as exc:  # /dev/full, a disk that fails a read
        print(f"error: {os_error(exc)}", file=sys.stderr)
        return 1


@contextlib.contextmanager
def interrupt_after():
    """Ctrl-C held until the block is done. Importing torch runs C++ code that calls back
    into Python; a KeyboardInterrupt raised in such a callback is a C++ exception nothing
    catches, and the process aborts ("terminate called after throwing an instance of
    'pybind11::error_already_set'", status -6). Held, it is exit status 130 a moment later."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending = []
    previous = signal.signal(signal.SIGINT, lambda *_: pending.append(True))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if pending:
        raise KeyboardInterrupt


def _info(args) -> int:
    with interrupt_after():
        from .model import model_file

    model_path = args.model or default_model_path(Path.cwd())
    if model_path.is_dir():
        raise UserError(
            f"{model_path} is a folder; --model takes a model file such as data/model.pt"
        )
    info = model_file.read_info(model_path)
    scores = pipeline_scores(model_path)
    if args.json:
        print(json.dumps({**info, "scores": scores}, indent=2, default=str))
        return 0
    config, trained = info["model_config"], info.get("info", {})
    network = ", ".join(
        f"{key} {value}"
        for key, value in config.items()
        if key not in ("arch", "vocab_size", "answer_len", "pad_id", "start_id", "end_id")
    )
    name = info["operation"]
    symbol = operation_named(name).symbol if name in OPERATIONS else name
    lines = [
        ("model file", str(model_path)),
        ("architecture", f"{config['arch']} ({network}; {info['weights']:,} weights)"),
        (
            "operation",
            f"{info['operation']}: a{symbol}b, operands of up to {info['digits']} digits"
            f"{', read reversed' if info['reverse'] else ''}",
        ),
        ("precision", str(trained.get("precision", "not recorded"))),
    ]
    if "best_val_exact_match" in trained:
        processes = trained.get("processes", 1)
        lines.append(
            (
                "validation",
                f"exact match {trained['best_val_exact_match']:.4f} at epoch "
                f"{trained.get('best_epoch')} of {trained.get('epochs')}"
                f"{f', {processes} processes' if processes > 1 else ''}",
            )
        )
    if scores is None:
        lines.append(
            (
                "scores",
                "none recorded for this file (dvc.lock's evaluate stage scored another model, "
                "or none)",
            )
        )
    else:
        space, test = scores.get("space", {}), scores.get("test", {})
        if space:
            lines.append(
                (
                    "whole space",
                    f"{space['errors']:,} wrong of {space['questions']:,} "
                    f"({100 * space['exact_match']:.4f}% right)",
                )
            )
        if test:
            lines.append(
                (
                    "test split",
                    f"{test['n_errors']:,} wrong of {test['n_samples']:,} "
                    f"({100 * test['exact_match']:.4f}% right)",
                )
            )
    width = max(len(name) for name, _ in lines)
    for name, value in lines:
        print(f"{name:<{width}}  {value}")
    return 0


def pipeline_scores(model_path: Path) -> dict | None:
    """The evaluate stage's metrics for `model_path`, if dvc.lock (beside the nearest
    dvc.yaml above the current folder) records scoring this very file (its md5) and the
    metrics file is the one it wrote; else None."""
    folder = pipeline_folder(Path.cwd())
    if folder is None:
        return None
    try:
        stage = yaml.safe_load((folder / "dvc.lock").read_text())["stages"]["evaluate"]
        md5 = {entry["path"]: entry["md5"] for entry in stage["deps"] + stage["outs"]}
        model_md5 = hashlib.md5(model_path.read_bytes()).hexdigest()
        scored = [path for path in md5 if (folder / path).resolve() == model_path.resolve()]
        metrics = [path for path in md5 if path.endswith(".json")]
        if not scored or md5[scored[0]] != model_md5 or len(metrics) != 1:
            return None
        text = (folder / metrics[0]).read_bytes()
        if hashlib.md5(text).hexdigest() != md5[metrics[0]]:
            return None
        return json.loads(text)
    except (OSError, yaml.YAMLError, TypeError, KeyError, ValueError):
        return None


def _predict(args) -> int:
    model_path = args.model or default_model_path(Path.cwd())
    if model_path.is_dir():
        raise UserError(
            f"{model_path} is a folder; --model takes a model file such as data/model.pt"
        )
    with interrupt_after():
        from .model import devices, model_file

    trained = model_file.load(model_path)
    trained.model.to(devices.resolve(args.device, "--device"))
    if args.model is None and sys.stderr.isatty():
        # Only to a person at a terminal (a script's output stays the answers): the file
        # dvc.yaml led to, so that nobody is answered by a model they did not expect.
        print(f"answering with {which_model(model_path, trained)}", file=sys.stderr)
    if args.questions:
        answers, problems = answer_lines(trained, args.questions, args.allow_longer)
        report(answers, problems, range(len(args.questions)), "question", args.confidence)
        return 1 if problems else 0
    failed = False
    # Batch by batch as the lines arrive: a user typing gets each answer at once, and a
    # million piped lines never sit in memory together.
    for first, raw in stdin_batches(sys.stdin.buffer):
        numbered, problems = utf8_lines(raw, first)
        answers, refused = answer_numbered_lines(trained, numbered, args.allow_longer)
        problems.update(refused)
        report(answers, problems, range(first, first + len(raw)), "line", args.confidence)
        failed = failed or bool(problems)
    return 1 if failed else 0


def which_model(path: Path, trained: TrainedModel) -> str:
    """The model file and what it answers, in a few words."""
    fmt, arch = trained.format, trained.model.spec.config.arch
    return f"{path} ({arch}; a{fmt.symbol}b, operands of up to {fmt.digits} digits)"


def report(answers: dict, problems: dict, numbers: range, where: str, confidence: bool) -> None:
    """Print one batch: its messages on stderr, then its answers in order on stdout, flushed
    so that a reader sees them before the next batch is read."""
    for number in sorted(problems):
        print(f"error: {where} {number + 1}: {problems[number]}", file=sys.stderr)
    for number in numbers:
        if number in answers:
            text, probability = answers[number]
            print(f"{text}\t{probability:.4f}" if confidence else text)
    sys.stdout.flush()


def stdin_batches(stream: BinaryIO) -> Iterator[tuple[int, list[bytes]]]:
    """(number of the first line, up to BATCH_LINES lines without their line ends), as the
    lines arrive. `read1` returns what has arrived and waits only when nothing has."""
    first, lines, partial = (
        0,
        [],
        [],
    )  # lines: complete, not yet answered; partial: pieces of the next
    partial_bytes = (
        0  # the length of the next line so far; its pieces are dropped once it is too long
    )

    def line() -> bytes | Overlong:
        return b"".join(partial) if partial_bytes <= MAX_LINE_BYTES else Overlong(partial_bytes)

    while chunk := stream.read1(READ_BYTES):
        pieces = chunk.split(b"\n")
        for end, piece in enumerate(pieces):
            partial_bytes += len(piece)
            if partial_bytes <= MAX_LINE_BYTES:
                partial.append(piece)
            if end < len(pieces) - 1:
                lines.append(line())
                partial, partial_bytes = [], 0
        # A part batch only when nothing more has arrived: a line typed at a terminal is
        # answered at once, and piped input in batches of one size, whose memory the
        # allocator then reuses (batches of every size let it creep up: 110 MB more over
        # a million lines).
        while len(lines) >= BATCH_LINES or (lines and not more_waiting(stream)):
            batch, lines = lines[:BATCH_LINES], lines[BATCH_LINES:]
            yield first, [_without_cr(line) for line in batch]
            first += len(batch)
    if partial_bytes:  # a final line without a line end is a line
        lines.append(line())
    if lines:
        yield first, [_without_cr(line) for line in lines]


def _without_cr(line: bytes | Overlong) -> bytes | Overlong:
    return line if isinstance(line, Overlong) else line.rstrip(b"\r")


def more_waiting(stream: BinaryIO) -> bool:
    """Whether a read of `stream` would return at once."""
    try:
        return bool(select.select([stream.fileno()], [], [], 0)[0])
    except (AttributeError, OSError, ValueError):
        # No file descriptor, or one select cannot watch (a pipe on Windows): answer what
        # has arrived rather than risk keeping a typed line waiting.
        return False


def utf8_lines(raw: list[bytes], first: int) -> tuple[dict[int, str], dict[int, str]]:
    """{line number: text} of the lines that are UTF-8, and {line number: message} of the rest."""
    lines, problems = {}, {}
    for number, line in enumerate(raw, first):
        if isinstance(line, Overlong):
            problems[number] = overlong(line)
            continue
        try:
            lines[number] = line.decode("utf-8")
        except UnicodeDecodeError:
            problems[number] = "not valid UTF-8 text"
    return lines, problems


def pipeline_folder(start: Path) -> Path | None:
    """The nearest folder, `start` or above it, that holds a dvc.yaml, within the DVC
    repository `start` is in (up to the folder holding `.dvc`); None outside one. A
    dvc.yaml above the repository is someone else's pipeline (a planted one there changed
    `999+1` to 1111)."""
    folders = [start, *start.parents]
    root = next((i for i, folder in enumerate(folders) if (folder / ".dvc").is_dir()), None)
    if root is None:
        return None
    return next((folder for folder in folders[: root + 1] if (folder / "dvc.yaml").is_file()), None)


def default_model_path(start: Path) -> Path:
    """The train stage's .pt output, as dvc.yaml in `start` or a parent folder names it."""
    folder = pipeline_folder(start)
    if folder is None:
        raise UserError(
            "no --model given and no dvc.yaml in this DVC repository (this folder or above it, "
            "up to the folder holding .dvc); pass --model PATH"
        )
    dvc_yaml = folder / "dvc.yaml"
    try:
        outs = yaml.safe_load(dvc_yaml.read_text())["stages"]["train"]["outs"]
        paths = [out if isinstance(out, str) else next(iter(out)) for out in outs]
    except (yaml.YAMLError, TypeError, KeyError, StopIteration):
        paths = []
    for path in paths:
        if path.endswith(".pt"):
            return folder / path
    raise UserError(f"{dvc_yaml} names no train stage with a .pt output; pass --model PATH")


def answer_lines(trained: TrainedModel, lines: list[str], allow_longer: bool = False):
    """Answers {line number: (answer, confidence)} and problems {line number: message}."""
    return answer_numbered_lines(trained, dict(enumerate(lines)), allow_longer)


def answer_numbered_lines(trained: TrainedModel, lines: dict[int, str], allow_longer: bool = False):
    """`answer` for lines given by their number: a batch of standard input keeps the line
    numbers of the whole input."""
    parsed, problems = {}, {}
    for number, line in lines.items():
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
        question = question_ids(
            [parsed[n][0] for n in numbers], [parsed[n][1] for n in numbers], asked
        )
        from .model import answering

        ids, confidence = answering.answer_questions(trained.model, question, asked.answer_width)
        for n, text, c in zip(numbers, fmt.vocab.texts(ids), confidence):
            # Only the padding after the answer is dropped: padding before or inside it
            # makes it no number, as the evaluate stage scores it.
            text = text.rstrip(PAD)
            if NUMBER.fullmatch(text):
                answers[n] = (text, float(c))
            else:
                problems[n] = f"the model's answer {cut(text)} is not a number"
    return answers, problems


# Characters of a bad line quoted in its error message: a 100,000-digit line is not echoed.
QUOTE = 80


def quoted(line: str) -> str:
    """The line as its error message quotes it: the stripped text, `cut`."""
    return cut(line.strip())


def cut(text: str) -> str:
    """repr of `text`, cut at QUOTE characters with the full length said."""
    if len(text) <= QUOTE:
        return repr(text)
    return f"{text[:QUOTE]!r}... ({len(text):,} characters)"


def os_error(exc: OSError) -> str:
    """One line for an input or output the system refused: the file, and why."""
    where = f"{exc.filename}: " if exc.filename else ""
    return f"{where}{exc.strerror or exc}"


def overlong(length: int) -> str:
    return (
        f"{length:,} characters; a question is at most {MAX_QUESTION_CHARS:,} "
        f"(operands of up to {LONGEST_DIGITS:,} digits)"
    )


def _able_archs(operation: str) -> str:
    """A clause naming the architectures that would answer `operation` at any length."""
    from .model import answering_any_length

    able = answering_any_length(operation)
    return f" (model.arch {' | '.join(able)} can)" if able else ""


def parse(line: str, trained: TrainedModel, allow_longer: bool) -> tuple[str, str]:
    """The operands as decimal strings without leading zeros (any length: nothing is
    computed here)."""
    if len(line) > MAX_QUESTION_CHARS:
        raise ValueError(overlong(len(line)))
    fmt = trained.format
    symbol = fmt.symbol
    if not line.strip():
        raise ValueError(f"empty question; write one like 12{symbol}34")
    match = QUESTION.match(line)
    if not match:
        if line.strip().startswith("-"):
            raise ValueError(f"{quoted(line)}: negative operands are not supported")
        raise ValueError(
            f"{quoted(line)} is not a question like 12{symbol}34 (digits, {symbol}, digits)"
        )
    left, operator, right = match.groups()
    if operator != symbol:
        raise ValueError(f"{quoted(line)}: this model answers {symbol} questions, not {operator}")
    left, right = left.lstrip("0") or "0", right.lstrip("0") or "0"
    longest = max(len(left), len(right))
    if longest > LONGEST_DIGITS:
        raise ValueError(
            f"{quoted(line)}: operands of {longest:,} digits; predict takes at most "
            f"{LONGEST_DIGITS:,}"
        )
    model = trained.model
    # Some architectures answer every length the way they answer the training one.
    if longest > fmt.digits and not model.any_length:
        too_long = (
            f"{quoted(line)}: operands of {longest} digits, but this model was trained on at "
            f"most {fmt.digits}"
        )
        # --allow-longer is suggested only where it can help.
        if not model.reads_longer_input:
            raise ValueError(
                f"{too_long}, and the {model.config.arch} architecture cannot read longer ones"
                + _able_archs(fmt.operation.name)
            )
        # The character architectures are scored against int64 answers up to this
        # length; past it nothing would say whether they are right.
        if longest > fmt.max_digits:
            raise ValueError(
                f"{quoted(line)}: operands of {longest} digits; answers are exact up to "
                f"{fmt.max_digits} digits"
            )
        if not allow_longer:
            raise ValueError(f"{too_long}; pass --allow-longer to try anyway")
    refused = model.refuses(len(left), len(right))
    if refused:
        raise ValueError(f"{quoted(line)}: {refused}")
    op = fmt.operation
    if op.domain is not None:
        import numpy as np  # only here: an operation with a domain is rare, start-up is not

        operands = (np.array([int(x)], dtype=object) for x in (left, right))
        if not op.allows(*operands)[0]:
            raise ValueError(f"{quoted(line)}: {op} is not defined for these operands")
    return left, right


if __name__ == "__main__":
    sys.exit(main())
