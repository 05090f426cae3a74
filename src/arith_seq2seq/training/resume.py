"""The training-state folder that lets an interrupted training resume.

Training saves `last.ckpt` (weights, optimiser, schedule, callbacks, loop counters and the
metric history) at the end of every epoch and `best.ckpt` (the best epoch's weights) into
this folder. It is not a DVC output, so DVC leaves it alone when a stage fails; the next
run resumes from `last.ckpt` if it was written for the same params, data and code, which
it checks by a fingerprint stored in the checkpoint. Otherwise it starts over. Once the model
file is written, the train stage replaces the checkpoints by the finished training
(`keep_finished`), for a rerun after a kill before DVC records the outputs.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from pytorch_lightning.plugins import TorchCheckpointIO

from ..model import NetConfig
from ..pipeline.files import atomic_dir, atomic_path
from ..pipeline.params import TrainConfig
from .console import say

LAST = "last"
BEST = "best"
KEY = "arith_seq2seq_resume_key"
# The library whose code a training's result depends on: this whole package.
PACKAGE = Path(__file__).resolve().parents[1]


@dataclass
class StateFolder:
    """Where a training keeps its checkpoints, and whether it continues an earlier run."""

    path: Path
    resume_from: Path | None = None  # the checkpoint to continue from
    plugins: list = field(default_factory=list)  # Lightning plugins that write the checkpoints
    kept: bool = False  # outlives the run (a state folder to resume from), or temporary


def open_state(
    stack: ExitStack,
    state_dir: str | Path | None,
    net_config: NetConfig,
    train_cfg: TrainConfig,
    *data_files,
) -> StateFolder:
    """The state folder for a training on `data_files` with these params: `state_dir`,
    continuing from its last checkpoint if that was written for the same params, data and
    code; or, without `state_dir`, a temporary folder that `stack` removes."""
    if state_dir is None:
        return StateFolder(
            Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="arith-seq2seq-ckpt-")))
        )
    key = fingerprint(net_config, train_cfg, *data_files)
    return StateFolder(
        Path(state_dir), resume_point(state_dir, key), [StateCheckpointIO(key)], kept=True
    )


def fingerprint(
    net_config: NetConfig, train_cfg: TrainConfig, *data_files: str | Path, package: Path = PACKAGE
) -> str:
    """What a training's result depends on: params, data and the library's code."""
    digest = hashlib.sha256()
    digest.update(json.dumps([asdict(net_config), asdict(train_cfg)], sort_keys=True).encode())
    for path in data_files:
        digest.update(Path(path).read_bytes())
    for source in sorted(package.rglob("*.py")):
        digest.update(source.relative_to(package).as_posix().encode())
        digest.update(source.read_bytes())
    return digest.hexdigest()


def resume_point(folder: str | Path, key: str) -> Path | None:
    """The checkpoint to resume from, or None (after emptying the folder) to start over."""
    folder = Path(folder)
    last = folder / f"{LAST}.ckpt"
    if not last.is_file():
        clear(folder)
        return None
    try:
        # weights_only: whoever can write into the folder must not be able to run code
        # (Lightning's checkpoints need nothing more; `_run` resumes the same way).
        state = torch.load(last, map_location="cpu", weights_only=True)
        found, epoch = state[KEY], int(state["epoch"]) + 1
    except Exception:  # torch raises many types for a damaged file
        say(f"train: {last} is damaged or not a checkpoint of this project; starting over")
        clear(folder)
        return None
    if found != key:
        say(f"train: {folder} holds a training with other params, data or code; starting over")
        clear(folder)
        return None
    # Lightning's checkpoint callbacks name their files by absolute path: after a move
    # (a renamed repository, say) they would look for the best epoch where it no longer is.
    written_in = {
        os.path.realpath(callback["dirpath"])
        for callback in state.get("callbacks", {}).values()
        if isinstance(callback, dict) and callback.get("dirpath")
    }
    if written_in - {os.path.realpath(folder)}:
        say(
            f"train: {last} was written in another folder ({', '.join(sorted(written_in))}); "
            "starting over"
        )
        clear(folder)
        return None
    say(f"train: resuming after epoch {epoch} from {last}")
    return last


# A finished training, kept in the state folder once its outputs are written: DVC records
# them only after the stage exits, and a kill in between leaves the new model beside the
# old dvc.lock. The rerun that follows then takes this instead of training again.
FINISHED = "finished"


def keep_finished(folder: str | Path, key: str, model: str | Path, live: str | Path) -> None:
    """Replace the folder's checkpoints by the finished training's model file and curves."""
    folder = Path(folder)
    with atomic_dir(folder / FINISHED) as tmp:
        shutil.copy2(model, tmp / "model.pt")
        shutil.copytree(live, tmp / "live", ignore=shutil.ignore_patterns(".gitignore"))
        (tmp / "key").write_text(key)
    for entry in folder.iterdir():
        if entry.name != FINISHED:
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()


def finished(
    folder: str | Path, net_config: NetConfig, train_cfg: TrainConfig, *data_files
) -> Path | None:
    """The finished training kept for these params, data and code (its folder holds
    model.pt and live/), or None; also None where a data file is missing, which the
    training then reports."""
    done = Path(folder) / FINISHED
    try:
        key = (done / "key").read_text()
        return done if key == fingerprint(net_config, train_cfg, *data_files) else None
    except OSError:
        return None


def clear(folder: str | Path) -> None:
    """Delete the folder: once the trained model is saved (the state has served its
    purpose), and before starting over."""
    shutil.rmtree(folder, ignore_errors=True)


def interrupted(folder: str | Path) -> None:
    last = Path(folder) / f"{LAST}.ckpt"
    if last.is_file():
        say(
            f"train: interrupted; the finished epochs are saved in {folder}: "
            "run `dvc repro` to resume"
        )
    else:
        say("train: interrupted before the first epoch ended; nothing to resume from")


class StateCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint writer, made atomic and stamped with the fingerprint.

    Atomic, because a kill mid-write must leave the previous epoch's checkpoint, not a
    truncated one; stamped, so that `resume_point` can tell whose state it is.
    """

    def __init__(self, key: str):
        super().__init__()
        self.key = key

    def save_checkpoint(self, checkpoint: dict, path, storage_options=None) -> None:
        with atomic_path(path) as tmp:
            super().save_checkpoint({**checkpoint, KEY: self.key}, tmp, storage_options)
