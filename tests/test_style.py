"""One style everywhere: ruff's formatter and linter (settings in pyproject.toml) over
src/, stages/, tests/ and bench/. A test, so that the README's test command, and so CI,
checks it."""

import subprocess
import sys

import pytest

from .conftest import ROOT


@pytest.mark.parametrize(
    "command", [["format", "--check", "--quiet"], ["check", "--quiet"]], ids=["format", "lint"]
)
def test_ruff_passes(command):
    run = subprocess.run(
        [sys.executable, "-m", "ruff", *command, "src", "stages", "tests", "bench"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, (
        f"`ruff {' '.join(command)}` found problems (`ruff format` and `ruff check --fix` "
        f"mend most):\n{run.stdout}{run.stderr}"
    )
