"""Putting a stage's last good outputs back, first thing when DVC starts it.

DVC deletes a stage's outputs before running its command (unless they are `persist`,
which switches the stage's run-cache off). Then a typo in params.yaml, a syntax error in
the library, a bad input or a killed run would leave the user with no model, while
dvc.lock still describes the one they had. So every stage script calls restore() before
it imports anything else, its own library included: the outputs dvc.lock records for the
stage come back out of the DVC cache, as `dvc checkout` would put them, within a few
hundredths of a second of the stage's start. The stage then replaces each output only once
its new version is complete (src/arith_seq2seq/pipeline/files.py), so whatever happens to
the run, the workspace holds the outputs dvc.lock describes until DVC records new ones.

That is why this file lives beside the stages, not in src/: it must work when the library
does not even compile. It imports only the standard library and PyYAML, and reads DVC's own
files: dvc.lock, and the cache (`.dvc/cache`, or the `cache.dir` of `.dvc/config.local` or
`.dvc/config`; a queued or --temp experiment's copy names the workspace's cache there), in
DVC 3's layout (files/md5/ab/cdef..., a folder as its `.dir` listing). An output not found
there (a cache.dir set in DVC's global or system config) is asked of DVC itself, which
takes a second to import.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
from pathlib import Path

import yaml

# Set by DVC for every stage command it runs: the stage's name (dvc/stage/run.py).
STAGE_VAR = "DVC_STAGE"
INTERRUPTED = "interrupted; the outputs are as they were before this run"


def start() -> list[str]:
    """What every stage does before anything else: Ctrl-C gives one line and exit status
    130 instead of a traceback from whatever import it lands in (the library's
    pipeline/stage.py takes over once the stage runs), and restore()."""
    signal.signal(signal.SIGINT, _interrupted)
    return restore()


def _interrupted(signum, frame):
    print(INTERRUPTED, file=sys.stderr)
    raise SystemExit(130)


def restore() -> list[str]:
    """Put back the outputs dvc.lock records for the stage DVC is running, where they are
    missing and in the cache; return their paths. Outside DVC, and in the processes a
    distributed training starts, nothing is done. Never raises: a safety net must not be
    what stops the run."""
    name = os.environ.get(STAGE_VAR)
    # Only the process DVC started: the other DDP processes (LOCAL_RANK > 0) start later
    # and must not write outputs.
    if not name or os.environ.get("LOCAL_RANK", "0") != "0":
        return []
    try:
        missing = [out for out in _locked_outs(name) if not os.path.lexists(out["path"])]
        restored = [out["path"] for out in missing if _restore_from(_cache_dir(), out)]
        left = [out["path"] for out in missing if out["path"] not in restored]
        return restored + (_restore_with_dvc(name, left) if left else [])
    except Exception as exc:
        print(
            "note: the last good outputs could not be restored from the DVC cache "
            f"({type(exc).__name__}: {exc})",
            file=sys.stderr,
        )
        return []


def _locked_outs(name: str) -> list[dict]:
    """The outputs dvc.lock (beside dvc.yaml, in the folder DVC runs the stage in) records
    for stage `name`, with a hash: every output, metric and plot of DVC 3's lock file."""
    lock = Path("dvc.lock")
    if not lock.is_file():
        return []
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    stage = (yaml.load(lock.read_text(encoding="utf-8"), Loader=loader) or {}).get(
        "stages", {}
    ).get(name) or {}
    return [
        out
        for out in stage.get("outs", [])
        if isinstance(out, dict) and out.get("md5") and out.get("path")
    ]


def _cache_dir() -> Path:
    """The repository's DVC cache: `cache.dir` of .dvc/config.local, else of .dvc/config
    (relative to .dvc/), else .dvc/cache."""
    dvc_dir = Path(".dvc").resolve()
    for name in ("config.local", "config"):
        path = dvc_dir / name
        if not (path.is_file() and "[cache]" in path.read_text(encoding="utf-8")):
            continue
        import configparser

        config = configparser.ConfigParser(interpolation=None, strict=False)
        config.read(path, encoding="utf-8")
        if config.has_option("cache", "dir"):
            return dvc_dir / config.get("cache", "dir").strip().strip("'\"")
    return dvc_dir / "cache"


def _object(cache: Path, md5: str) -> Path:
    return cache / "files" / "md5" / md5[:2] / md5[2:]


def _restore_from(cache: Path, out: dict) -> bool:
    """Copy one output back from the cache, whole or not at all (into a temporary name
    beside it, then renamed); False where the cache lacks any of its objects."""
    target, md5 = Path(out["path"]), out["md5"]
    if md5.endswith(".dir"):
        listing = _object(cache, md5)
        if not listing.is_file():
            return False
        files = [
            (entry["relpath"], _object(cache, entry["md5"]))
            for entry in json.loads(listing.read_text())
        ]
        if not all(source.is_file() for _, source in files):
            return False
        tmp = _temporary(target)
        tmp.mkdir(parents=True)
        try:
            for relpath, source in files:
                (tmp / relpath).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, tmp / relpath)
            os.replace(tmp, target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return True
    source = _object(cache, md5)
    if not source.is_file():
        return False
    tmp = _temporary(target)
    tmp.parent.mkdir(parents=True, exist_ok=True)
    try:
        shutil.copyfile(source, tmp)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return True


def _temporary(target: Path) -> Path:
    """A name beside `target` for its copy in progress: hidden, this process's own, and
    left to nothing (a kill during the copy leaves only this name)."""
    return target.with_name(f".{target.name}.{os.getpid()}.restoring")


def _restore_with_dvc(name: str, paths: list[str]) -> list[str]:
    """The outputs `paths` of stage `name` checked out by DVC's own code, where its cache
    holds them: for a cache this file cannot find."""
    from dvc.repo import Repo
    from dvc_data.hashfile.tree import Tree

    restored = []
    # DVC releases its repository lock while a stage's command runs, for commands like
    # this one; the outputs' read-write lock stays with `dvc repro`, so the outputs are
    # checked out one by one (Output.checkout takes no lock) rather than by `dvc checkout`.
    with Repo() as repo:
        (stage,) = repo.stage.collect(name)
        for out in stage.outs:
            if out.def_path not in paths or out.exists or not out.hash_info:
                continue
            # DVC's run-cache keeps the uncached outputs (metrics, plots) in the cache too;
            # they come back as plain copies, like git-tracked files.
            uncached, out.use_cache = not out.use_cache, True
            obj = out.get_obj()
            hashes = [h for _, _, h in obj] if isinstance(obj, Tree) else []
            if obj is None or not all(out.cache.exists(h.value) for h in [obj.hash_info, *hashes]):
                continue
            caches = [repo.cache.local, repo.cache.legacy]
            saved = [cache.cache_types for cache in caches]
            if uncached:
                for cache in caches:
                    cache.cache_types = ["copy"]
            try:
                out.checkout()
            finally:
                for cache, types in zip(caches, saved):
                    cache.cache_types = types
            restored.append(out.def_path)
    return restored
