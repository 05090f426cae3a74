"""generate: our generator against the Keras example's per-question loop
(bench/reference_generate.py), each in a fresh process, at two sizes."""

from __future__ import annotations

import statistics

from common import Bench
from generate_child import in_fresh_process


def run(b: Bench) -> dict:
    s = b.sizes
    details = {}
    for (digits, count), ref_repeats in zip(
        ((3, s.ref_small), (s.ref_large_digits, s.ref_large)), s.ref_repeats
    ):
        ref = in_fresh_process("reference", digits, count, ref_repeats)
        ours = in_fresh_process("ours", digits, count, s.ours_repeats)
        t_ref, t_ours = statistics.median(ref["seconds"]), statistics.median(ours["seconds"])
        label = f"generate {count:,} questions, {digits} digits"
        b.row(
            f"{label}: reference loop",
            round(t_ref, 3),
            "s",
            "Keras example's while-loop (bench/reference_generate.py), "
            f"median of {ref_repeats}; peak RSS {ref['peak_rss_kb'] / 1024:.0f} MiB",
        )
        b.row(
            f"{label}: ours",
            round(t_ours, 4),
            "s",
            f"generate_questions, median of {s.ours_repeats}; "
            f"peak RSS {ours['peak_rss_kb'] / 1024:.0f} MiB",
        )
        b.row(f"{label}: speed-up", round(t_ref / t_ours, 1), "x", "reference time / our time")
        details[f"{count}x{digits}"] = {"reference": ref, "ours": ours, "speedup": t_ref / t_ours}
    details["digits_note"] = (
        f"{s.ref_large:,} questions at {s.ref_large_digits} digits: only 500,500 distinct "
        "3-digit additions exist, so the reference would loop forever at 3 digits"
    )
    return details
