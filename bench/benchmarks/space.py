"""space: the evaluate stage's whole-space scoring (questions/s) against asking the same
questions the plain way (answering.answer_questions batch by batch, what `predict` does),
and the time of its report (metrics, error rows, the map)."""

from __future__ import annotations

import time

import numpy as np
from common import Bench

from arith_seq2seq.data import question_set
from arith_seq2seq.data.questions import question_and_answer_ids
from arith_seq2seq.evaluation.scoring import evaluate
from arith_seq2seq.evaluation.space import error_cases, score_space, space_metrics, space_operands
from arith_seq2seq.evaluation.space_map import draw_space, save_png
from arith_seq2seq.model import answering, model_file


def run(b: Bench) -> dict:
    path = b.model_path()
    trained = model_file.load(path)
    p = b.params()
    sets = {name: question_set.load(f) for name, f in b.split().items()}
    fmt = trained.format
    if any(qs.format != fmt for qs in sets.values()):  # a --model of other data
        sets = {name: qs.take(np.zeros(0, dtype=np.int64)) for name, qs in sets.items()}
    limit, batch = p.evaluate.space_questions, p.evaluate.batch_size
    test = evaluate(trained, sets["test"], batch)  # the test split's errors, for error_cases

    start = time.perf_counter()
    score = score_space(trained, sets, limit, p.evaluate.seed, batch)
    t_score = time.perf_counter() - start
    start = time.perf_counter()
    metrics = space_metrics(score)
    errors = error_cases(score, fmt, sets["test"], test.errors, test.wrong)
    save_png(draw_space(score, fmt.symbol), b.workdir / "space.png")
    t_report = time.perf_counter() - start

    a, c = space_operands(fmt.operation, fmt.digits, limit, p.evaluate.seed)
    question, _ = question_and_answer_ids(a, c, fmt)
    start = time.perf_counter()
    answering.answer_questions(trained.model, question, fmt.answer_width, batch)
    t_plain = time.perf_counter() - start

    n = len(score.a)
    params = trained.model.config
    what = f"{params.arch} {params.cell} {params.hidden_size}, {fmt.digits} digits ({path.name})"
    b.row(
        f"whole-space scoring, {n:,} questions",
        round(n / t_score),
        "questions/s",
        "space.score_space: encode, shared-prefix predict, which split each is in; "
        f"{t_score:.2f} s; {what}",
    )
    b.row(
        "whole-space scoring, the plain way",
        round(n / t_plain),
        "questions/s",
        f"answering.answer_questions in batches of {batch}, as `predict` asks: {t_plain:.2f} s; "
        f"shared prefixes are {t_plain / t_score:.1f}x faster",
    )
    b.row(
        "whole-space report",
        round(t_report, 2),
        "s",
        f"metrics, {len(errors):,} error rows sorted by stratum, "
        f"the {score.digits}-digit map as PNG",
    )
    return {
        "questions": n,
        "score_s": t_score,
        "plain_s": t_plain,
        "report_s": t_report,
        "exact_match": metrics["exact_match"],
        "model": str(path),
    }
