"""Stage train: train/val .npz + params `model`, `train` -> the trained model file."""

import argparse
import shutil
import sys
import tempfile
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

from arith_seq2seq.model import model_file
from arith_seq2seq.params import load_params
from arith_seq2seq.pipeline import files
from arith_seq2seq.pipeline.files import atomic_path
from arith_seq2seq.pipeline.stage import run
from arith_seq2seq.training import resume
from arith_seq2seq.training.curves import save_curves
from arith_seq2seq.training.fit import fit


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--train", required=True)
    parser.add_argument("--val", required=True)
    parser.add_argument("--model", required=True, help="the model file to write")
    parser.add_argument("--live-dir", required=True, help="dvclive's metrics and plots folder")
    parser.add_argument(
        "--state-dir",
        help="per-epoch training state for resuming; once trained, the finished model and "
        "curves, which a rerun with the same params, data and code takes instead of training "
        "again",
    )
    args = parser.parse_args()

    params = load_params(args.params)
    done = (
        resume.finished(args.state_dir, params.net, params.train, args.train, args.val)
        if args.state_dir
        else None
    )
    if done is not None:
        # Trained already, and killed before DVC recorded it: the same model, not a new run.
        print(
            f"train: {done} holds this training (same params, data and code), finished; not "
            "training again"
        )
        with atomic_path(args.model) as tmp:
            shutil.copyfile(done / "model.pt", tmp)
        _publish_live(args.live_dir, done / "live", copy=True)
        return _report(model_file.load(args.model).info, args.model)
    with ExitStack() as stack:
        # dvclive writes elsewhere, and its folder replaces --live-dir right after the model
        # file is written: until then the curves and summary there describe the model there.
        # In the state folder it survives a kill, beside --live-dir otherwise (one file system).
        if args.state_dir:
            live = Path(args.state_dir) / "live"
        else:
            Path(args.live_dir).parent.mkdir(parents=True, exist_ok=True)
            live = Path(
                stack.enter_context(
                    tempfile.TemporaryDirectory(prefix=".live.", dir=Path(args.live_dir).parent)
                )
            )
        # The progress bar only on a terminal: in a log file it is thousands of redraws.
        trained = fit(
            params.net,
            params.train,
            args.train,
            args.val,
            live_dir=live,
            progress=sys.stderr.isatty(),
            state_dir=args.state_dir,
        )
        if trained is None:  # another DDP process: the first one writes the outputs
            return
        model_file.save(args.model, trained)
        # The curves as a picture too: `dvc plots show` draws the others with Vega from the web.
        with atomic_path(Path(live) / CURVES) as tmp:
            save_curves(live, tmp)
        _publish_live(args.live_dir, live)
    if args.state_dir:
        key = resume.fingerprint(params.net, params.train, args.train, args.val)
        resume.keep_finished(args.state_dir, key, args.model, args.live_dir)
    _report(trained.info, args.model)


# The training curves' picture in --live-dir (dvc.yaml's plot metrics/train/curves.png).
CURVES = "curves.png"

# DVC's .gitignore in --live-dir (it lists the plots DVC caches): without it, a kill before
# DVC rewrites it shows them to git as untracked files.
KEEP = (".gitignore",)


def _publish_live(live_dir: str, new: Path, copy: bool = False) -> None:
    """dvclive's folder `new` (moved, or copied) in place of --live-dir."""
    if copy:
        with files.atomic_dir(live_dir, keep=KEEP) as tmp:
            shutil.copytree(new, tmp, dirs_exist_ok=True)
    else:
        files.replace_dir(live_dir, new, keep=KEEP)


def _report(info: dict, model: str) -> None:
    processes = f" ({info['processes']} processes)" if info["processes"] > 1 else ""
    print(
        f"train: best val exact match {info['best_val_exact_match']:.4f} at epoch "
        f"{info['best_epoch']} of {info['epochs']}{processes}, {info['precision']}; kept that "
        f"epoch -> {model}"
    )


if __name__ == "__main__":
    run(main)
