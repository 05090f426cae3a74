"""The architectures and operations table (docs/architectures.md): every character
architecture and cell, and the other operations, all with the default training, each a
`dvc repro -f` in a fresh clone (`python bench/frontier.py --architectures`)."""

from __future__ import annotations

OUT = "architectures.json"
EXP = False  # `dvc repro -f` after editing params.yaml, not `dvc exp run -S`

SETTINGS: dict[str, dict] = {
    **{
        f"add, {arch} {cell}": {"model.arch": arch, f"{arch}.cell": cell}
        for arch in ("repeat", "seq2seq", "attention")
        for cell in ("lstm", "gru", "rnn")
    },
    # The encoder-decoders learn slower under the defaults chosen for repeat (bfloat16,
    # batches of 512, 3 epochs): the same two in float32 with batches of 256.
    "add, seq2seq lstm, float32, batch 256": {
        "model.arch": "seq2seq",
        "seq2seq.precision": "32-true",
        "seq2seq.batch_size": 256,
    },
    "add, attention lstm, float32, batch 256": {
        "model.arch": "attention",
        "attention.precision": "32-true",
        "attention.batch_size": 256,
    },
    "sub, repeat lstm": {"data.operation": "sub"},
    "mul, repeat lstm": {"data.operation": "mul"},
    "mul, attention lstm": {"data.operation": "mul", "model.arch": "attention"},
}


def table(rows: list[dict]) -> str:
    """docs/architectures.md's table."""
    lines = [
        "| setting | whole space: errors (exact match) | never trained on "
        "| operands <= 2 digits: errors | test exact match | longer: 4 / 5 digits "
        "| `dvc repro` s |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        if "failed" in r:
            lines.append(f"| {r['name']} | failed | | | | | {r['seconds']:.0f} |")
            continue
        longer = " / ".join(v if isinstance(v, str) else f"{v:.4f}" for v in r["longer"].values())
        lines.append(
            f"| {r['name']} | {r['space_errors']:,} ({r['space_exact_match']:.4%}) "
            f"| {r['unseen_exact_match']:.4%} | {r['short_errors']} "
            f"| {r['test_exact_match']:.4%} | {longer} | {r['seconds']:.0f} |"
        )
    return "\n".join(lines)


report = table  # what `python bench/frontier.py --architectures` prints
