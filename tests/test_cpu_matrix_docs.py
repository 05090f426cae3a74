"""The default's promise is the range over the CPU matrix (bench/cpu-matrix.json, written by
bench/cpu_matrix.py): the README states that range once, docs/calculator.md shows every
cell as the script printed it, and the committed run is the matrix's own native cell."""

from __future__ import annotations

import json

from .conftest import ROOT
from .test_bench import bench_script

RECORD = json.loads((ROOT / "bench" / "cpu-matrix.json").read_text())


def matrix_module():
    return bench_script("cpu_matrix")


def flat(name: str) -> str:
    return " ".join((ROOT / name).read_text().split())


def span(low, high, fmt="{}") -> str:
    return fmt.format(low) if low == high else f"{fmt.format(low)}-{fmt.format(high)}"


def test_the_record_is_what_the_script_makes_of_its_cells():
    matrix = matrix_module()
    assert matrix.summary(RECORD["cells"]) == RECORD["summary"]
    assert all(
        cell["broken"] == matrix.verdict(cell) for cell in RECORD["cells"] if "failed" not in cell
    )
    # At least four CPU settings x three seeds, as the promise is made over.
    assert (
        len({c["cpu"] for c in RECORD["cells"]}) >= 4
        and len({c["seed"] for c in RECORD["cells"]}) >= 3
    )


def test_the_readme_states_the_matrix_range_and_the_committed_run():
    summary, readme = RECORD["summary"], flat("README.md")
    assert (
        f"**{span(*summary['errors'])} wrong** of the 1,000,000 in every one of the "
        f"{summary['cells']} runs" in readme
    )
    for precision, (low, high) in summary["seconds"].items():
        assert f"{span(low, high, '{:.0f}')} s in {precision}" in readme, precision
    assert RECORD["machine"]["cpu"] in readme
    # The committed dvc.lock is the matrix's native default cell, made on that machine.
    metrics = json.loads((ROOT / "metrics" / "evaluate.json").read_text())
    native = next(c for c in RECORD["cells"] if c["cpu"] == "native" and c["seed"] == 1337)
    assert metrics["space"]["errors"] == native["errors"]
    assert f"in {native['precision']}, seed 1337: {native['errors']} wrong" in readme


def test_the_calculator_page_shows_every_cell():
    page = flat("docs/calculator.md")
    assert " ".join(matrix_module().table(RECORD["cells"]).split()) in page
    assert f"commit {RECORD['commit'][:7]}" in page
