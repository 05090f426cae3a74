"""The README's set-up commands are what CI runs; keep them from drifting apart."""

import re

from .conftest import ROOT


def test_ci_runs_the_readme_test_command_verbatim():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    command = ci.split("# README test command (verbatim):\n", 1)[1].strip()
    assert f"```bash\n{command}\n```" in readme


def test_readme_pipeline_command_installs_then_runs_dvc_repro():
    readme = (ROOT / "README.md").read_text()
    commands = re.findall(r"```bash\n(python3 -m venv .*)\n```", readme)
    assert len(commands) == 2
    assert commands[0].endswith("&& dvc repro") and "pip install torch==2.13.0 &&" in commands[0]
