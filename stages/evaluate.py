"""Stage evaluate: model + splits -> metrics JSON, breakdown CSVs, error-case CSV and a
map of the whole question space."""

import argparse
import json
import sys
from contextlib import ExitStack
from pathlib import Path

# This folder (last_good.py) and this repository's own library, whichever copy `pip install
# -e .` points at: a queued or --temp experiment runs in a copy of the repository, and
# dvc.lock records that copy's code.
sys.path[:0] = [
    str(Path(__file__).resolve().parent),
    str(Path(__file__).resolve().parents[1] / "src"),
]

# First of all, before the library: the last good outputs, which DVC deleted for this run,
# back in place (stages/last_good.py says why this cannot wait).
import last_good  # noqa: E402

last_good.start()

from arith_seq2seq.data import question_set
from arith_seq2seq.data.question_format import check_same
from arith_seq2seq.evaluation.metrics import METRICS
from arith_seq2seq.evaluation.scoring import NOT_APPLICABLE, evaluate, evaluate_longer
from arith_seq2seq.evaluation.space import error_cases, score_space, space_metrics
from arith_seq2seq.evaluation.space_map import draw_space, save_png
from arith_seq2seq.model import devices, model_file
from arith_seq2seq.pipeline.config import load_section
from arith_seq2seq.pipeline.files import atomic_path
from arith_seq2seq.pipeline.params import EvaluateConfig
from arith_seq2seq.pipeline.stage import run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--model", required=True)
    parser.add_argument(
        "--train", required=True, help="the train split: which questions the model trained on"
    )
    parser.add_argument("--val", required=True, help="the validation split")
    parser.add_argument("--test", required=True)
    parser.add_argument("--longer-dir", required=True, help="held-out sets of longer questions")
    parser.add_argument("--metrics", required=True, help="metrics JSON to write")
    parser.add_argument("--by-carries", required=True, help="CSV: test exact match by carries")
    parser.add_argument(
        "--by-digits", required=True, help="CSV: test exact match by operand digits"
    )
    parser.add_argument(
        "--errors",
        required=True,
        help="CSV: wrong answers in the question space and the test split",
    )
    parser.add_argument(
        "--space-map", required=True, help="PNG: the question space, wrong answers marked"
    )
    args = parser.parse_args()

    cfg = load_section(args.params, "evaluate", EvaluateConfig)
    trained = model_file.load(args.model)
    trained.model.to(devices.resolve(cfg.device, "evaluate.device"))
    sets = {name: question_set.load(getattr(args, name)) for name in ("train", "val", "test")}
    for name, qs in sets.items():
        check_same(trained.format, args.model, qs.format, getattr(args, name))
    test = sets["test"]
    score = score_space(trained, sets, cfg.space_questions, cfg.seed, cfg.batch_size)
    # The test split is part of a space scored whole: its answers are already there.
    result = evaluate(trained, test, cfg.batch_size, score.answers_to(test))
    result.metrics["longer"] = evaluate_longer(trained, args.model, args.longer_dir, cfg.batch_size)
    result.metrics["space"] = space_metrics(score)
    errors = error_cases(score, trained.format, test, result.errors, result.wrong)
    picture = draw_space(score, trained.format.symbol)

    # Everything is computed before the first write, and every output is written to a
    # temporary file before any replaces its old version, so an interrupted run leaves
    # the previous metrics, breakdowns, error cases and map together and unchanged.
    with ExitStack() as outputs:
        tmp = {
            name: outputs.enter_context(atomic_path(getattr(args, name)))
            for name in ("errors", "by_carries", "by_digits", "space_map", "metrics")
        }
        errors.head(cfg.max_errors).to_csv(tmp["errors"], index=False)
        result.by_carries.to_csv(tmp["by_carries"], index=False)
        result.by_digits.to_csv(tmp["by_digits"], index=False)
        save_png(picture, tmp["space_map"])
        tmp["metrics"].write_text(json.dumps(result.metrics, indent=2) + "\n")
    space, scores = result.metrics["space"], result.metrics["longer"]
    if scores and all(v == NOT_APPLICABLE for v in scores.values()):
        reads = f"{trained.model.config.arch} reads {trained.format.digits}-digit questions only"
        longer = f"{NOT_APPLICABLE} ({reads})"
    else:
        longer = ", ".join(f"{k}: {v}" for k, v in scores.items())
    scored = (
        "all" if space["scored"] == space["questions"] else f"a sample of {space['scored']:,} of"
    )
    print(
        f"evaluate: {_test_summary(result.metrics['test'])}; whole space ({scored} "
        f"{space['questions']:,} questions) {space['exact_match']:.6f} "
        f"({_errors(space['errors'])}), never trained on {space['unseen']['exact_match']:.6f}, "
        f"worst digits {space['worst']['digits']} {space['worst']['exact_match']:.4f}; "
        f"errors -> {args.errors}, map -> {args.space_map}; longer questions: {longer or 'none'}"
    )


def _test_summary(test: dict) -> str:
    """Every metric on the test split, the first (exact match) with its errors."""
    first, *others = (name for name in test if name in METRICS)
    errors = f"{_errors(test['n_errors'])} in {test['n_samples']:,}"
    return ", ".join(
        [f"test {_label(first)} {test[first]:.6f} ({errors})"]
        + [f"{_label(name)} {test[name]:.6f}" for name in others]
    )


def _label(metric: str) -> str:
    return metric.replace("_", " ")


def _errors(n: int) -> str:
    return f"{n:,} error{'s' * (n != 1)}"


if __name__ == "__main__":
    run(main)
