"""`arith-seq2seq predict` reading standard input: line by line as bytes (invalid UTF-8 is
one bad line, not a traceback), answered in batches as the lines arrive (an interactive
line at once, a million lines in flat memory)."""

from __future__ import annotations

import io
import os
import queue
import random
import shutil
import signal
import subprocess
import sys
import threading

import pytest

from arith_seq2seq import cli

from .test_cli import rigged_model, run

EXE = shutil.which("arith-seq2seq")


@pytest.fixture(scope="module")
def sevens(tmp_path_factory):
    """A model that answers 777 to every question: a number, so every good line is answered."""
    return rigged_model(tmp_path_factory.mktemp("sevens") / "sevens.pt", "7")


def env(**extra: str) -> dict:
    return {**os.environ, "OMP_NUM_THREADS": "1", **extra}


def test_invalid_utf8_is_one_bad_line(sevens):
    # Before: with a strict decoder (this setting, which some locales give too) the
    # whole input raised UnicodeDecodeError: a traceback and no answers at all.
    data = b"1+2\n\xff\xfe+1\n3+4\r\n5+\xe9\n\xef\xbc\x91+2\n6+7"
    proc = subprocess.run(
        [EXE, "predict", "--model", str(sevens)],
        input=data,
        capture_output=True,
        env=env(PYTHONIOENCODING="utf-8:strict"),
        timeout=120,
    )
    assert proc.returncode == 1
    assert proc.stdout.decode().splitlines() == ["777", "777", "777"]
    assert proc.stderr.decode().splitlines() == [
        "error: line 2: not valid UTF-8 text",
        "error: line 4: not valid UTF-8 text",
        # Valid UTF-8 (a full-width 1), just not a question.
        "error: line 5: '１+2' is not a question like 12+34 (digits, +, digits)",
    ]


def test_an_interactive_line_is_answered_at_once_and_ctrl_c_ends_quietly(sevens):
    # Before: nothing was answered until standard input was closed.
    proc = subprocess.Popen(
        [EXE, "predict", "--model", str(sevens)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env(),
    )
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True).start()
    try:
        for question in (b"1+2\n", b"30+40\n"):
            proc.stdin.write(question)
            proc.stdin.flush()
            # Generous: the first answer waits for Python, torch and the model to load.
            assert lines.get(timeout=90) == b"777\n"
        proc.send_signal(signal.SIGINT)  # waiting for the next line, stdin still open
        assert proc.wait(timeout=30) == 130
        assert proc.stderr.read() == b""
    finally:
        proc.kill()
        proc.wait()
        proc.stdin.close()
        proc.stderr.close()


class Trickle(io.RawIOBase):
    """A standard input that gives `size` bytes per read, like a slow pipe or a terminal."""

    def __init__(self, data: bytes, size: int):
        self.data, self.size = data, size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        chunk, self.data = self.data[: self.size], self.data[self.size :]
        buffer[: len(chunk)] = chunk
        return len(chunk)


BAD_2 = "error: line 2: 'abc' is not a question like 12+34 (digits, +, digits)"
EMPTY_4 = "error: line 4: empty question; write one like 12+34"
BAD_5 = "error: line 5: '５+1' is not a question like 12+34 (digits, +, digits)"


@pytest.mark.parametrize(
    "size, batches",
    [
        # All at once: batches of BATCH_LINES (3) lines.
        (1 << 16, [[BAD_2, "777", "777"], [EMPTY_4, BAD_5, "777"], ["777", "777"]]),
        # Five bytes per read: whatever lines each read completes, at once.
        (5, [["777"], [BAD_2], [EMPTY_4, "777"], [BAD_5], ["777"], ["777"], ["777"]]),
        # One byte per read (a line, and '５''s three bytes, split over many reads).
        (1, [["777"], [BAD_2], ["777"], [EMPTY_4], [BAD_5], ["777"], ["777"], ["777"]]),
    ],
)
def test_lines_split_across_reads_keep_their_numbers(monkeypatch, sevens, size, batches):
    # Messages name the line of the whole input, answers come in input order, each
    # batch's messages and answers before the next batch's.
    monkeypatch.setattr(cli, "BATCH_LINES", 3)
    data = "1+2\nabc\n3+4\n\n５+1\n6+7\n8+9\n1+1".encode()  # the last line has no line end
    both = io.StringIO()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BufferedReader(Trickle(data, size))))
    monkeypatch.setattr(sys, "stdout", both)
    monkeypatch.setattr(sys, "stderr", both)
    assert cli.main(["predict", "--model", str(sevens)]) == 1
    assert both.getvalue().splitlines() == [line for batch in batches for line in batch]


def test_arguments_are_answered_as_before(capsys, monkeypatch, sevens):
    code, out, err = run(capsys, monkeypatch, "--model", sevens, "1+2", "x", "3+4")
    assert (code, out) == (1, ["777", "777"])
    assert err == ["error: question 2: 'x' is not a question like 12+34 (digits, +, digits)"]


def test_waiting_input_is_answered_in_full_batches(monkeypatch, tmp_path, sevens):
    # A file (or a pipe a fast program fills) has more lines waiting after each read: they
    # make full batches. A stream that has nothing more waiting is answered read by read.
    monkeypatch.setattr(cli, "BATCH_LINES", 4)
    monkeypatch.setattr(cli, "READ_BYTES", 5)
    sizes = []
    answer_numbered_lines = cli.answer_numbered_lines

    def spy(trained, lines, allow_longer=False):
        sizes.append(len(lines))
        return answer_numbered_lines(trained, lines, allow_longer)

    monkeypatch.setattr(cli, "answer_numbered_lines", spy)
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    data = b"1+2\n" * 10
    (tmp_path / "questions").write_bytes(data)
    with open(tmp_path / "questions", "rb") as questions:
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(questions))
        assert cli.main(["predict", "--model", str(sevens)]) == 0
    assert sizes == [4, 4, 2]
    sizes.clear()
    monkeypatch.setattr(
        sys, "stdin", io.TextIOWrapper(io.BufferedReader(Trickle(data, 4)))
    )  # a line a read
    assert cli.main(["predict", "--model", str(sevens)]) == 0
    assert sizes == [1] * 10


PEAK_RSS = """
import resource, subprocess, sys
code = subprocess.run(sys.argv[1:]).returncode
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, code, file=sys.stderr)
"""


@pytest.mark.slow
def test_memory_does_not_grow_with_the_number_of_lines(tmp_path):
    # The default model's size and question width (untrained, rigged to answer 777): its
    # batches allocate what the real one's do.
    model = rigged_model(tmp_path / "wide.pt", "7", digits=3, hidden_size=128)

    def peak_kb(count: int) -> int:
        # Lines of random lengths, so that reads hold varying numbers of lines.
        rng = random.Random(0)
        questions = tmp_path / f"{count}.txt"
        lines = (
            f"{rng.randrange(10 ** rng.randint(1, 3))}+{rng.randrange(1000)}\n"
            for _ in range(count)
        )
        questions.write_text("".join(lines))
        # RUSAGE_CHILDREN of a small wrapper process: the predict process alone. This
        # process's own children would report this (torch-sized) process's high-water mark,
        # which Linux carries into a child's ru_maxrss through fork and exec.
        with open(questions, "rb") as stdin:
            proc = subprocess.run(
                [sys.executable, "-c", PEAK_RSS, EXE, "predict", "--model", str(model)],
                stdin=stdin,
                capture_output=True,
                env=env(),
                timeout=600,
            )
        *errors, last = proc.stderr.decode().splitlines()
        peak, code = map(int, last.split())
        assert (code, errors) == (0, [])
        assert proc.stdout == b"7777\n" * count
        return peak

    # Both past the first full batch, whose working set is the same for any count.
    few, many = peak_kb(20_000), peak_kb(200_000)
    # Measured: 8 MB more. Before, every line was read, parsed and answered at once: 72 MB
    # more; and batches of whatever each read brought (every size) let the allocator's
    # memory creep up: 29 MB more.
    assert many - few < 25_000, f"peak RSS {few:,} kB for 20,000 lines, {many:,} kB for 200,000"
