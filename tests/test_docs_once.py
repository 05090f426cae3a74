"""Each measured figure lives in one record (metrics/ or bench/*.json) and is quoted on one
page; other pages link there. A figure restated by hand on a second page goes stale on one
of them (the README and docs/results.md once gave two different timings for one setting).

The tables bench/frontier.py renders from a record are the record itself (tests/test_docs.py
and this file check them cell for cell), so a figure may recur in such a table; it is the
prose and hand-made tables around them that must not restate another page's figures.
"""

from __future__ import annotations

import json
import re

import pytest

from .conftest import ROOT
from .test_bench import bench_module
from .test_cpu_matrix_docs import matrix_module
from .test_docs import code_blocks, prose


def record(name: str) -> dict:
    return json.loads((ROOT / name).read_text())


def pages() -> dict[str, str]:
    return {
        str(path.relative_to(ROOT)): path.read_text()
        for path in [
            ROOT / "README.md",
            ROOT / "bench" / "README.md",
            *sorted((ROOT / "docs").glob("*.md")),
        ]
    }


def generated_tables() -> dict[str, list[str]]:
    """The tables bench/frontier.py renders from its records, by the page that shows them."""
    results = bench_module("benchmarks.results")
    rows = record("bench/results-table.json")["rows"]
    return {
        "docs/architectures.md": [
            bench_module("benchmarks.architectures").table(
                record("bench/architectures.json")["rows"]
            )
        ],
        "docs/calculator.md": [
            bench_module("benchmarks.frontier").table(record("bench/frontier.json")["rows"]),
            matrix_module().table(record("bench/cpu-matrix.json")["cells"]),
        ],
        "docs/length-generalisation.md": [results.aligned_table(rows)],
        "docs/results.md": [
            results.table(results.page_rows(rows)),
            results.commands(results.page_rows(rows)),
            results.cpu_table(rows, record("bench/results-avx2.json")["rows"]),
        ],
        "docs/multiplication.md": [results.multiplication_table(rows)],
    }


def stated() -> dict[str, str]:
    """Each page's prose and hand-made tables: without code blocks and generated tables."""
    tables = generated_tables()
    out = {}
    for name, text in pages().items():
        for table in tables.get(name, []):
            assert table in text, (
                f"{name} does not show what bench/frontier.py renders from its record"
            )
            text = text.replace(table, "")
        out[name] = prose(text)
    return out


def default_model() -> list[str]:
    """The committed model's whole-space figures."""
    space = record("metrics/evaluate.json")["space"]
    return [f"{space['exact_match']:.4%}", f"{space['errors']:,} wrong"]


def aligned() -> list[str]:
    """The digit-aligned architecture (bench/results-table.json): whole-space exact match of
    every row, and the shares of a longer set short of 100%."""
    rows = [
        r
        for r in record("bench/results-table.json")["rows"]
        if r["changes"].get("model.arch") == "aligned"
    ]
    figures = {f"{r['space_exact_match']:.4%}" for r in rows}
    figures |= {
        f"{v:.2%}"
        for r in rows
        for k, v in r["longer"].items()
        if k.startswith("digits_") and v < 1
    }
    return sorted(figures)


def columns() -> list[str]:
    """Multiplication with `columns` (bench/results-table.json): whole-space exact match of
    every row, the range of the default recipe's three seeds, and its data count."""
    results = bench_module("benchmarks.results")
    rows = [
        r
        for r in record("bench/results-table.json")["rows"]
        if r["changes"].get("model.arch") == "columns"
    ]
    figures = {f"{r['space_exact_match']:.4%}" for r in rows}
    default = [
        r["space_exact_match"] for r in rows if re.fullmatch(r"mul, columns, seed \d+", r["name"])
    ]
    assert len(default) == len(results.SEEDS)
    low, high = f"{min(default):.2%}", f"{max(default):.2%}"
    if low != high:
        figures.add(f"{low[:-1]}-{high}")
    return sorted(figures)


# (what, the page that quotes it, its figures)
FIGURES = [
    ("the committed model", "README.md", default_model),
    ("aligned", "docs/length-generalisation.md", aligned),
    ("columns", "docs/multiplication.md", columns),
]


@pytest.mark.parametrize("what, owner, figures", FIGURES, ids=[f[0] for f in FIGURES])
def test_each_figure_is_quoted_on_one_page(what, owner, figures):
    text = stated()
    for figure in figures():
        # The committed model's figures are the lead's to state (a range over CPUs and seeds
        # may replace them); elsewhere the owner page quotes each one.
        if owner != "README.md":
            assert figure in pages()[owner], f"{owner} does not quote {figure!r} from its record"
        others = [name for name, body in text.items() if name != owner and figure in body]
        assert not others, (
            f"{figure!r} ({what}) is stated on {others}; quote it on {owner} only and link there"
        )


def test_the_multiplication_recipe_is_given_on_its_page_only():
    found = [name for name, text in pages().items() if re.search(r"data\.count=800,?000", text)]
    assert found == ["docs/multiplication.md"]


def test_results_page_is_its_record_and_its_commands_are_self_contained():
    results = bench_module("benchmarks.results")
    rows = results.page_rows(record("bench/results-table.json")["rows"])
    assert rows, "docs/results.md shows rows"
    for r in rows:
        # The command on the page is the one that was measured.
        assert results.SETTINGS[r["name"]] == r["changes"], r["name"]
    blocks = [body for info, body in code_blocks(pages()["docs/results.md"]) if info == "bash"]
    assert blocks == [results.commands(rows)]
    lines = blocks[0].splitlines()
    assert lines[0].startswith("git show HEAD:params.yaml > params.yaml")
    runs = [line for line in lines if line.startswith("dvc exp run")]
    assert len(runs) == len(rows) and all(line.startswith("dvc exp run --temp ") for line in runs)
