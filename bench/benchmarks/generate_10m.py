"""generate-10m: our generator alone at 10,000,000 questions of 9 digits, time and peak
memory of a fresh process."""

from __future__ import annotations

from common import Bench
from generate_child import in_fresh_process


def run(b: Bench) -> dict:
    s = b.sizes
    r = in_fresh_process("ours", s.big_digits, s.big, 1)
    label = f"generate {s.big:,} questions, {s.big_digits} digits: ours"
    b.row(label, round(r["seconds"][0], 2), "s", "fresh process, one run")
    b.row(
        f"{label}, peak memory",
        round(r["peak_rss_kb"] / 1024),
        "MiB",
        f"peak RSS of that process; {r['baseline_rss_kb'] / 1024:.0f} MiB before generating, "
        f"{r['output_bytes'] / 2**20:.0f} MiB of output arrays",
    )
    return r
