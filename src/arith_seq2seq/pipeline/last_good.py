"""Putting a stage's last good outputs back before it runs.

DVC deletes a stage's outputs before running its command (unless they are `persist`,
which switches the stage's run-cache off). Then a typo in params.yaml, a bad input or a
killed run would leave the user with no model, while dvc.lock still describes the one
they had. So a stage run by DVC first checks the outputs dvc.lock records for it back out
of the DVC cache (as `dvc checkout` would), then works, and replaces each output only
once its new version is complete (files.py). Whatever happens to the run, the outputs in
the workspace are the ones dvc.lock describes until the new ones are written, and DVC then
records those.
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager, nullcontext
from typing import Iterator

# Set by DVC for every stage command it runs (dvc/stage/run.py). The command runs in the
# repository it belongs to (for a queued or --temp experiment, a copy under .dvc/tmp/exps,
# where DVC_ROOT still names the workspace's), so that is the one opened.
STAGE_VAR = "DVC_STAGE"


def restore() -> list[str]:
    """Check out the outputs dvc.lock records for the stage DVC is running, where they are
    missing and in the cache; return their paths. Outside DVC, and in the processes a
    distributed training starts, nothing is done."""
    name = os.environ.get(STAGE_VAR)
    # Only the process DVC started: the other DDP processes (LOCAL_RANK > 0) start later
    # and must not write outputs.
    if not name or os.environ.get("LOCAL_RANK", "0") != "0":
        return []
    from dvc.repo import Repo

    restored = []
    # DVC releases its repository lock while a stage's command runs, for commands like
    # this one; the outputs' read-write lock stays with `dvc repro`, so the outputs are
    # checked out one by one (Output.checkout takes no lock) rather than by `dvc checkout`.
    try:
        with Repo() as repo:
            (stage,) = repo.stage.collect(name)
            for out in stage.outs:
                if out.exists or not out.hash_info:
                    continue
                uncached = not out.use_cache
                # DVC's run-cache keeps the uncached outputs (metrics, plots) in the cache
                # too; they are checked out as plain copies, like git-tracked files.
                out.use_cache = True
                if not _in_cache(out):
                    continue
                with _copies(repo) if uncached else nullcontext():
                    out.checkout()
                restored.append(out.def_path)
    except Exception as exc:  # a safety net must not be what stops the run
        print(f"note: the last good outputs could not be restored from the DVC cache ({type(exc).__name__}: {exc})",
              file=sys.stderr)
    return restored


def _in_cache(out) -> bool:
    """Whether the cache holds every object of the output's recorded version (a folder's
    listing and each of its files): outputs saved before the run-cache was on may not be."""
    from dvc_data.hashfile.tree import Tree

    obj = out.get_obj()
    if obj is None:
        return False
    hashes = [hash_info for _, _, hash_info in obj] if isinstance(obj, Tree) else []
    return all(out.cache.exists(h.value) for h in [obj.hash_info, *hashes])


@contextmanager
def _copies(repo) -> Iterator[None]:
    caches = [repo.cache.local, repo.cache.legacy]
    saved = [cache.cache_types for cache in caches]
    for cache in caches:
        cache.cache_types = ["copy"]
    try:
        yield
    finally:
        for cache, types in zip(caches, saved):
            cache.cache_types = types
