"""The README's set-up commands are what CI runs; keep them from drifting apart."""

import re

from .conftest import ROOT


def test_ci_runs_the_readme_test_command_verbatim():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    command = ci.split("# README test command (verbatim):\n", 1)[1].splitlines()[0]
    assert f"```bash\n{command}\n```" in readme


def test_ci_runs_the_training_tests_again_as_on_a_cpu_without_avx512():
    # After the README's command, the last command: the tests marked `trains` again, with
    # oneDNN and MKL limited to AVX2 (tests/conftest.py's --trains-only).
    commands = [
        line
        for line in (ROOT / ".ci" / "run").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert (
        commands[-1]
        == "ONEDNN_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2 python -m pytest --trains-only"
    )
    assert commands[-2].endswith("&& python -m pytest")


def test_every_file_with_training_tests_has_its_bounds_measured_by_the_bench():
    # bench/test_thresholds.py reruns each `trains` test's training over seeds and CPU
    # settings; a file of such tests that it does not name has bounds nobody measured.
    bench = (ROOT / "bench" / "test_thresholds.py").read_text()
    mark = re.compile(r"^(@pytest\.mark\.trains$|pytestmark = .*\bpytest\.mark\.trains\b)", re.M)
    marked = sorted(
        p.name for p in (ROOT / "tests").glob("test_*.py") if mark.search(p.read_text())
    )
    assert len(marked) >= 10, marked
    assert [
        name for name in marked if f'"{name}::' not in bench and f'"{name} (' not in bench
    ] == []


def test_readme_pipeline_command_installs_then_runs_dvc_repro():
    readme = (ROOT / "README.md").read_text()
    commands = re.findall(r"```bash\n(python3 -m venv .*)\n```", readme)
    assert len(commands) == 2
    assert commands[0].endswith("&& dvc repro") and "pip install torch==2.13.0 &&" in commands[0]
