"""Stage check_params: params.yaml as a whole -> a stamp the first data stage depends on.

Every other stage lists only the params sections it reads, so DVC alone would accept an
unknown section, a misspelled key or a bad value in a section whose stage does not rerun
yet. This stage depends on the whole file and runs first: it refuses such a file with one
line before DVC touches any other stage. Its output never changes, so it reruns nothing
else. (A missing or misspelled section stops DVC even before this stage: each stage's
desc in dvc.yaml quotes a key of every section the stage reads.)
"""

import argparse
import sys
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

from arith_seq2seq.params import SECTIONS, load_params
from arith_seq2seq.pipeline.files import atomic_path
from arith_seq2seq.pipeline.stage import run

STAMP = "params.yaml: every section and key valid (stages/check_params.py)\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--out", required=True, help="the stamp to write once the params are valid")
    args = parser.parse_args()

    load_params(args.params)
    with atomic_path(args.out) as tmp:
        tmp.write_text(STAMP)
    print(f"check_params: {args.params} is valid ({', '.join(SECTIONS)})")


if __name__ == "__main__":
    run(main)
