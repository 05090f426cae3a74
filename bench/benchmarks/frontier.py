"""The calculator frontier (docs/calculator.md): whole-space quality against pipeline
seconds, the committed params with a few keys changed, each setting a `dvc repro -f` in a
fresh clone (`python bench/frontier.py`)."""

from __future__ import annotations

OUT = "frontier.json"
EXP = False  # `dvc repro -f` after editing params.yaml, not `dvc exp run -S`

# name -> params changed from the committed defaults (section.key: value).
SETTINGS: dict[str, dict] = {
    "default": {},
    "seed 2": {"train.seed": 2},
    "seed 3": {"train.seed": 3},
    "reference (the old default)": {
        "data.sampling": "reference",
        "data.count": 50_000,
        "split.always_train_digits": 0,
        "repeat.batch_size": 256,
        "repeat.max_epochs": 20,
        "repeat.precision": "32-true",
        "train.min_stratum_share": 0.0,
    },
    "balanced sampling, old budget": {
        "data.count": 50_000,
        "repeat.batch_size": 256,
        "repeat.max_epochs": 20,
        "repeat.precision": "32-true",
    },
    "reference sampling": {
        "data.sampling": "reference",
        "split.always_train_digits": 0,
        "train.min_stratum_share": 0.0,
    },
    "no oversampling, no always-train": {
        "split.always_train_digits": 0,
        "train.min_stratum_share": 0.0,
    },
    "300,000 questions": {"data.count": 300_000},
    "500,000 questions, 2 epochs": {"data.count": 500_000, "repeat.max_epochs": 2},
    "4 epochs": {"repeat.max_epochs": 4},
    "2 epochs": {"repeat.max_epochs": 2},
    "batch 256": {"repeat.batch_size": 256},
    "float32": {"repeat.precision": "32-true"},
    "hidden 96": {"repeat.hidden_size": 96},
    "hidden 96, 4 epochs": {"repeat.hidden_size": 96, "repeat.max_epochs": 4},
    "hidden 96, 500,000 questions": {"repeat.hidden_size": 96, "data.count": 500_000},
    "hidden 64": {"repeat.hidden_size": 64},
}


def table(rows: list[dict]) -> str:
    """docs/calculator.md's table."""
    lines = [
        "| setting | changed from the default | `dvc repro` s "
        "| whole space: errors (exact match) | never trained on: errors (exact match) "
        "| operands <= 2 digits: errors | worst stratum |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        changes = ", ".join(f"`{k}={v}`" for k, v in r["changes"].items()) or "-"
        if "failed" in r:
            lines.append(f"| {r['name']} | {changes} | {r['seconds']:.0f} | failed | | | |")
            continue
        lines.append(
            f"| {r['name']} | {changes} | {r['seconds']:.0f} "
            f"| {r['space_errors']:,} ({r['space_exact_match']:.4%}) "
            f"| {r['unseen_errors']:,} of {r['unseen_scored']:,} ({r['unseen_exact_match']:.4%}) "
            f"| {r['short_errors']} | {r['worst']['digits']} {r['worst']['exact_match']:.4%} |"
        )
    return "\n".join(lines)


report = table  # what `python bench/frontier.py` prints
