"""The results table: every architecture with every operation it learns, each setting the
`dvc exp run -S ...` a user types, in one clone (`python bench/frontier.py --results`).

One run, several pages: docs/results.md shows the character architectures' rows, the
commands that reproduce them and, from a second run with oneDNN and MKL limited to AVX2
(bench/results-avx2.json), those rows beside their native figures; docs/multiplication.md
shows the `columns` rows and docs/length-generalisation.md the `aligned` rows.
"""

from __future__ import annotations

from common import exp_run_command

OUT = "results-table.json"
EXP = True  # each setting as `dvc exp run -S ...`: unchanged stages come from the run-cache

# Three seeds wherever the table makes a claim (add and sub of every architecture, mul of
# columns), one for multiplication by the character architectures (the baseline).
SEEDS = (1337, 1, 2)


def seeded(seed: int) -> dict:
    """The flag for train.seed, none for the committed 1337."""
    return {} if seed == 1337 else {"train.seed": seed}


# `aligned` answers any length: its rows also score a held-out set of 1,000-digit questions.
LONGEST = [4, 5, 10, 20, 50, 100, 1000]
LENGTHS = [4, 5, 10, 20, 50, 100]

# One flag for the architecture: its params section holds its recipe.
SETTINGS: dict[str, dict] = {
    **{
        f"mul, columns, seed {seed}": {
            "data.operation": "mul",
            "model.arch": "columns",
            **seeded(seed),
        }
        for seed in SEEDS
    },
    **{
        f"{operation}, {arch}, seed {seed}": {
            "data.operation": operation,
            "model.arch": arch,
            **seeded(seed),
        }
        for arch in ("repeat", "seq2seq", "attention")
        for operation in ("add", "sub")
        for seed in SEEDS
    },
    **{
        f"{operation}, aligned, seed {seed}": {
            "data.operation": operation,
            "model.arch": "aligned",
            "data.longer_digits": LONGEST,
            **seeded(seed),
        }
        for operation in ("add", "sub")
        for seed in SEEDS
    },
    **{
        f"mul, {arch}, seed 1337": {"data.operation": "mul", "model.arch": arch}
        for arch in ("repeat", "seq2seq", "attention")
    },
}

# docs/results.md shows the character architectures; the digit-column ones have their own
# page, which quotes their rows (a figure is quoted on one page).
ELSEWHERE = {"aligned": "length-generalisation.md", "columns": "multiplication.md"}


def arch_of(row: dict) -> str | None:
    """The architecture a row ran (today's setting of that name, else its record)."""
    return SETTINGS.get(row["name"], row["changes"]).get("model.arch")


def page_rows(rows: list[dict]) -> list[dict]:
    """The rows docs/results.md shows: those of the architectures without a page of their
    own."""
    return [r for r in rows if arch_of(r) not in ELSEWHERE]


def _share(value) -> str:
    return "-" if value is None else "n/a" if isinstance(value, str) else f"{value:.2%}"


def _longer_cells(longer: dict) -> tuple[list[str], str]:
    """Exact match on the N x N digit sets of each length, and the lengths whose carry
    chains were all right."""
    return [_share(longer.get(f"digits_{n}")) for n in LENGTHS], _chains_right(longer)


def _chains_right(longer: dict) -> str:
    """The lengths whose carry chains were all right, of those scored ("n/a": not
    applicable to the architecture)."""
    chains = [v for k, v in longer.items() if k.startswith("chains_")]
    if any(isinstance(v, str) for v in chains):
        return "n/a"
    return f"{sum(v == 1.0 for v in chains)} of {len(chains)} lengths"


def _failed(r: dict, columns: int) -> str:
    return f"| {r['name']} | failed | " + " | " * columns + f"{r['seconds']:.0f} |"


def table(rows: list[dict]) -> str:
    """docs/results.md's table: each row's whole-space and short-question errors, the
    longer sets and, for mul, N x 1 digits (times1_N)."""
    lines = [
        "| operation, architecture, seed | whole 3-digit space: errors (exact match) "
        "| operands <= 2 digits: errors | "
        + " | ".join(f"{n} digits" for n in LENGTHS)
        + " | N x 1 digits: 20 / 50 / 100 | carry chains right | `dvc exp run` s | commit |",
        "| --- | --- | --- | " + " | ".join("---" for _ in LENGTHS) + " | --- | --- | --- | --- |",
    ]
    for r in rows:
        if "failed" in r:
            lines.append(_failed(r, len(LENGTHS) + 3) + f" {(r.get('commit') or '')[:7]} |")
            continue
        cells, chains = _longer_cells(r["longer"])
        times1 = [r["longer"].get(f"times1_{n}") for n in (20, 50, 100)]
        times1 = "-" if all(v is None for v in times1) else " / ".join(_share(v) for v in times1)
        lines.append(
            f"| {r['name']} | {r['space_errors']:,} ({r['space_exact_match']:.4%}) "
            f"| {r['short_errors']} | "
            + " | ".join(cells)
            + f" | {times1} | {chains} | {r['seconds']:.0f} | {(r.get('commit') or '')[:7]} |"
        )
    return "\n".join(lines)


def _exp_name(name: str) -> str:
    """A setting's name as an experiment name (a git ref):
    "add, repeat, seed 1337" -> add-repeat-seed-1337."""
    return "-".join("".join(c if c.isalnum() or c == "." else " " for c in name.lower()).split())


def commands(rows: list[dict]) -> str:
    """The rows' `dvc exp run`s, each self-contained: from the committed params.yaml, every
    changed key (today's settings) on its line, and --temp, so no line leaves its values in
    params.yaml for the next."""
    lines = [
        "git show HEAD:params.yaml > params.yaml    "
        "# the committed params: every line below starts from them"
    ]
    for r in rows:
        changes = SETTINGS.get(r["name"], r["changes"])
        lines.append(
            " ".join(
                ["dvc exp run --temp", "-n", _exp_name(r["name"]), *exp_run_command(changes)[3:]]
            )
        )
    lines.append(
        "dvc exp show --drop '.*' --keep "
        "'Experiment|data.operation|model.arch|train.seed|space.errors|space.exact_match'"
    )
    return "\n".join(lines)


def cpu_table(native: list[dict], avx2: list[dict]) -> str:
    """docs/results.md's second table: the rows rerun with oneDNN and MKL limited to AVX2
    (as on a CPU without AVX-512), beside the same rows natively."""
    lines = [
        "| operation, architecture, seed | whole 3-digit space: wrong, native / AVX2 "
        "| operands <= 2 digits: wrong, native / AVX2 "
        "| held-out sets all right, native / AVX2 | `dvc exp run` s, AVX2 |",
        "| --- | --- | --- | --- | --- |",
    ]
    by_name = {r["name"]: r for r in native}
    for r in avx2:
        n = by_name[r["name"]]
        right = [
            "n/a"
            if any(isinstance(v, str) for v in x["longer"].values())
            else f"{sum(v == 1.0 for v in x['longer'].values())} of {len(x['longer'])}"
            for x in (n, r)
        ]
        lines.append(
            f"| {r['name']} | {n['space_errors']:,} / {r['space_errors']:,} "
            f"| {n['short_errors']} / {r['short_errors']} "
            f"| {right[0]} / {right[1]} | {r['seconds']:.0f} |"
        )
    return "\n".join(lines)


def multiplication_table(rows: list[dict]) -> str:
    """docs/multiplication.md's table: the `columns` rows, one per seed."""
    lines = [
        "| seed | `dvc exp run` s | whole 3x3 space: wrong (exact) "
        "| operands <= 2 digits: wrong of 10,000 "
        "| N x N at 4 / 5 / 10 / 20 / 50 / 100 digits | N x 1 at 20 / 50 / 100 digits "
        "| carry chains right | commit |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in (r for r in rows if arch_of(r) == "columns"):
        longer = r["longer"]
        square = " / ".join(_share(longer.get(f"digits_{n}")) for n in LENGTHS)
        times1 = " / ".join(_share(longer.get(f"times1_{n}")) for n in (20, 50, 100))
        lines.append(
            f"| {r['name'].rsplit('seed ', 1)[1]} | {r['seconds']:.0f} "
            f"| {r['space_errors']:,} ({r['space_exact_match']:.4%}) "
            f"| {r['short_errors']} | {square} | {times1} | {_chains_right(longer)} "
            f"| {r['commit'][:7]} |"
        )
    return "\n".join(lines)


def aligned_table(rows: list[dict]) -> str:
    """docs/length-generalisation.md's table: the `aligned` rows."""
    lines = [
        "| operation, seed | `dvc exp run` s | whole 3-digit space: wrong (exact) "
        "| operands <= 2 digits: wrong | "
        + " / ".join(str(n) for n in LONGEST)
        + " digits | carry chains right | commit |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in (r for r in rows if arch_of(r) == "aligned"):
        longer = r["longer"]
        operation, seed = r["name"].split(", aligned, ")[0], r["name"].rsplit("seed ", 1)[1]
        lines.append(
            f"| {operation}, {seed} | {r['seconds']:.0f} "
            f"| {r['space_errors']:,} ({r['space_exact_match']:.4%}) | {r['short_errors']} | "
            + " / ".join(_share(longer.get(f"digits_{n}")) for n in LONGEST)
            + f" | {_chains_right(longer)} | {r['commit'][:7]} |"
        )
    return "\n".join(lines)


def report(rows: list[dict]) -> str:
    """What `python bench/frontier.py --results` prints: docs/results.md's table and its
    commands, then the tables of docs/multiplication.md and docs/length-generalisation.md."""
    shown = page_rows(rows)
    return (
        table(shown)
        + "\n\n```bash\n"
        + commands(shown)
        + "\n```\n\n"
        + multiplication_table(rows)
        + "\n\n"
        + aligned_table(rows)
    )
