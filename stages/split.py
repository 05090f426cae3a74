"""Stage split: one .npz -> disjoint train / val / test .npz files (params `split`)."""

import argparse

from arith_seq2seq import datasets
from arith_seq2seq.config import load_params
from arith_seq2seq.entry import run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--questions", required=True, help="the generated .npz")
    parser.add_argument("--train", required=True)
    parser.add_argument("--val", required=True)
    parser.add_argument("--test", required=True)
    args = parser.parse_args()

    cfg = load_params(args.params).split
    parts = datasets.split(datasets.load(args.questions), cfg)
    for part, path in zip(parts, (args.train, args.val, args.test)):
        datasets.save(part, path)
    sizes = " / ".join(f"{len(p):,}" for p in parts)
    print(f"split: train / val / test = {sizes}")


if __name__ == "__main__":
    run(main)
