"""Stage evaluate: model + test .npz -> metrics JSON, breakdown CSVs, error-case CSV."""

import argparse
import json
from contextlib import ExitStack

from arith_seq2seq import checkpoint, datasets
from arith_seq2seq.config import load_params
from arith_seq2seq.entry import run
from arith_seq2seq.evaluation import check_compatible, evaluate, evaluate_longer
from arith_seq2seq.files import atomic_path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--model", required=True)
    parser.add_argument("--test", required=True)
    parser.add_argument("--longer-dir", required=True, help="held-out sets of longer questions")
    parser.add_argument("--metrics", required=True, help="metrics JSON to write")
    parser.add_argument("--by-carries", required=True, help="CSV: exact match by carries")
    parser.add_argument("--by-digits", required=True, help="CSV: exact match by operand digits")
    parser.add_argument("--errors", required=True, help="CSV: one row per wrong answer")
    args = parser.parse_args()

    cfg = load_params(args.params).evaluate
    trained = checkpoint.load(args.model)
    test = datasets.load(args.test)
    check_compatible(trained, test, args.model, args.test)
    result = evaluate(trained, test, cfg.batch_size)
    result.metrics["longer"] = evaluate_longer(trained, args.model, args.longer_dir, cfg.batch_size)

    # Everything is computed before the first write, and every output is written to a
    # temporary file before any replaces its old version, so an interrupted run leaves
    # the previous metrics, breakdowns and error cases together and unchanged.
    with ExitStack() as outputs:
        tmp = {
            name: outputs.enter_context(atomic_path(getattr(args, name)))
            for name in ("errors", "by_carries", "by_digits", "metrics")
        }
        result.errors.head(cfg.max_errors).to_csv(tmp["errors"], index=False)
        result.by_carries.to_csv(tmp["by_carries"], index=False)
        result.by_digits.to_csv(tmp["by_digits"], index=False)
        tmp["metrics"].write_text(json.dumps(result.metrics, indent=2) + "\n")
    test_metrics = result.metrics["test"]
    longer = ", ".join(f"{k}: {v}" for k, v in result.metrics["longer"].items())
    print(
        f"evaluate: test exact match {test_metrics['exact_match']:.4f}, "
        f"char accuracy {test_metrics['char_accuracy']:.4f} on {test_metrics['n_samples']:,} "
        f"questions; {test_metrics['n_errors']:,} errors -> {args.errors}; longer questions: "
        f"{longer or 'none'}"
    )


if __name__ == "__main__":
    run(main)
