"""The docs' commands, walked on a clone of the tiny pipeline as a user follows them.

Every ```bash block of README.md, docs/*.md and bench/README.md is classified in WALK, by
its page and first line: run as written, run with sizes shrunk to the tiny pipeline's, or
skipped for a stated reason (another test runs it, or it needs what CI has not: several
machines, an S3 server, minutes). A new or changed block fails
test_every_bash_block_is_classified until it is classified here, and the walk fails on a
command that no longer works (a removed key, a renamed option, a file that moved), in CI
rather than on a user's machine.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass

import pytest

from .conftest import ROOT
from .dvc_repo import Repo
from .test_docs import code_blocks

PAGES = [
    "README.md",
    *sorted(f"docs/{p.name}" for p in (ROOT / "docs").glob("*.md")),
    "bench/README.md",
]


@dataclass(frozen=True)
class Run:
    """Run the block line by line in the walk's repository, each line as bash runs it."""

    replace: tuple[tuple[str, str], ...] = ()  # (text, its stand-in): shrunken sizes, folders
    skip_lines: tuple[str, ...] = ()  # lines left out (each with its reason in a comment)
    before: tuple[str, ...] = ()  # commands that make what the block assumes


@dataclass(frozen=True)
class Skip:
    reason: str


# The tiny pipeline trains 2 epochs; the walk's experiments train one.
ONE_EPOCH = ("repeat.hidden_size=96", "repeat.hidden_size=96 -S repeat.max_epochs=1")

# In the order the walk runs them: the state each block assumes is the one the blocks
# before it leave (the README's first command, then an experiment, ...).
WALK: dict[tuple[str, str], Run | Skip] = {
    (
        "README.md",
        "python3 -m venv .venv && . .venv/bin/activate && pip install torch==2.13.0 && pip install "
        "-e . && dvc repro",
    ): Skip(
        "the install is CI's own (.ci/run); the walk's repository is this command's `dvc repro` on "
        "the tiny params (tests/dvc_repo.py's reproduce)"
    ),
    (
        "README.md",
        "python3 -m venv .venv && . .venv/bin/activate && pip install torch==2.13.0 && pip install "
        '-e ".[dev]" && python -m pytest',
    ): Skip("the test command: CI runs exactly it (.ci/run)"),
    ("README.md", "dvc exp run -S repeat.hidden_size=96     # reruns train and evaluate only"): Run(
        replace=(ONE_EPOCH,)
    ),
    (
        "docs/experiments.md",
        "dvc exp run -S repeat.hidden_size=96    # reruns train and evaluate only",
    ): Run(replace=(ONE_EPOCH,)),  # the run-cache's, from the README's
    (
        "docs/experiments.md",
        "dvc params diff        # what changed, against the last commit",
    ): Run(),
    ("docs/reliability.md", "git show HEAD:params.yaml > params.yaml"): Run(),
    (
        "docs/experiments.md",
        "dvc exp remove hidden-96 epochs-4      # these; --queue: every queued one; -A: every "
        "experiment of every commit",
    ): Run(
        replace=(("hidden-96 epochs-4", "hidden-96"), ONE_EPOCH),
        before=(
            "dvc exp run -n hidden-96 -S repeat.hidden_size=96",  # the run-cache's, from above
            "git show HEAD:params.yaml > params.yaml",
        ),
    ),
    ("docs/multiplication.md", "dvc exp run -S data.operation=mul -S model.arch=columns"): Run(
        replace=(
            ("model.arch=columns", "model.arch=columns -S data.count=1000 -S columns.max_epochs=1"),
        ),
        before=("git show HEAD:params.yaml > params.yaml",),
    ),
    (
        "docs/architectures.md",
        "git show HEAD:params.yaml > params.yaml   # the committed params: each experiment below "
        "starts from them",
    ): Run(
        skip_lines=("dvc queue start",)
    ),  # queued, not run: the queue itself is tests/test_experiments.py's
    ("docs/length-generalisation.md", "git show HEAD:params.yaml > params.yaml"): Run(
        skip_lines=("dvc queue start",)
    ),
    (
        "docs/results.md",
        "git show HEAD:params.yaml > params.yaml    # the committed params: every line below "
        "starts from them",
    ): Skip(
        "nine whole experiments, minutes each: `python bench/frontier.py --results` runs them; the "
        "same "
        "`git show HEAD:params.yaml > params.yaml` then `dvc exp run -S ...` walk is "
        "architectures.md's"
    ),
    ("docs/distributed.md", "dvc exp run -S train.devices=2"): Skip(
        "two training processes: tests/test_ddp.py and tests/test_ddp_matches_one_process.py run "
        "the train stage so"
    ),
    (
        "docs/distributed.md",
        "export MASTER_ADDR=10.0.0.1   # the first machine (node rank 0)",
    ): Skip("several machines"),
    (
        "docs/remotes.md",
        "dvc remote add -d shared /path/to/shared/folder   # or an S3 bucket: see below",
    ): Skip(
        "two clones and a remote: "
        "tests/test_workflow.py::test_sharing_through_a_remote_when_the_committed_"
        "results_were_made_elsewhere runs it line by line"
    ),
    ("docs/remotes.md", "dvc remote add -d shared s3://bucket/path"): Skip(
        "an S3 server: tests/test_pipeline.py configures a remote this way against moto's"
    ),
    ("bench/README.md", ". .venv/bin/activate"): Skip(
        "benchmarks take minutes; tests/test_bench.py runs their pieces at tiny sizes"
    ),
}


def bash_blocks() -> list[tuple[str, str, str]]:
    """(page, first line, body) of every ```bash block of PAGES."""
    return [
        (page, body.splitlines()[0], body)
        for page in PAGES
        for info, body in code_blocks((ROOT / page).read_text())
        if info in ("bash", "sh", "shell") and body.strip()
    ]


def test_every_bash_block_is_classified():
    found = {(page, first) for page, first, _ in bash_blocks()}
    assert len(found) == len(bash_blocks()), (
        "two blocks of a page start alike: make their first lines differ"
    )
    unclassified = sorted(found - WALK.keys())
    assert not unclassified, (
        f"bash blocks the docs walk does not know: classify them in WALK: {unclassified}"
    )
    stale = sorted(WALK.keys() - found)
    assert not stale, f"WALK names blocks no page has (changed or removed): {stale}"
    for key, how in WALK.items():
        if isinstance(how, Run):
            body = next(body for page, first, body in bash_blocks() if (page, first) == key)
            for text, _ in how.replace:
                assert text in body or any(text in line for line in how.before), (key, text)
            for text in how.skip_lines:
                assert text in body, (key, text)


def command(line: str) -> str:
    """A block's line without its trailing comment."""
    return line.split("  #")[0].strip() if not line.lstrip().startswith("#") else ""


def sh(repo: Repo, line: str) -> subprocess.CompletedProcess:
    # "y" for a command that asks (`dvc gc` without -f); nothing else reads standard input.
    return subprocess.run(
        ["bash", "-c", line],
        cwd=repo.path,
        env=repo.env,
        input="y\n",
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.slow
def test_the_docs_commands_work_on_a_clone(repo):
    """`repo`: a copy of the reproduced tiny pipeline, as after the README's first command."""
    bodies = {(page, first): body for page, first, body in bash_blocks()}
    ran = []
    for key, how in WALK.items():
        if isinstance(how, Skip) or key not in bodies:
            continue
        lines = [
            *how.before,
            *(
                command(line)
                for line in bodies[key].splitlines()
                if not any(text in line for text in how.skip_lines)
            ),
        ]
        for line in filter(None, lines):
            for text, stand_in in how.replace:
                line = line.replace(text, stand_in)
            result = sh(repo, line)
            assert result.returncode == 0, (
                f"{key[0]}: `{line}` failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
            )
            ran.append(line)
    assert ran
    # Back where the walk started: the committed params (the queued experiments aside).
    assert (repo.path / "params.yaml").read_bytes() == subprocess.run(
        ["git", "show", "HEAD:params.yaml"], cwd=repo.path, capture_output=True, check=True
    ).stdout
