"""Atomic file writes: an interrupted stage never leaves a half-written output behind."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; it replaces `path` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        # mkstemp makes the file private (0600); give it the mode open() would have.
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@contextmanager
def atomic_dir(path: str | Path, keep: tuple[str, ...] = ()) -> Iterator[Path]:
    """Yield a temporary folder beside `path`; it replaces the folder `path` (stale files
    and all, but those named in `keep`: see replace_dir) only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        yield tmp
        replace_dir(path, tmp, keep)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def replace_dir(path: str | Path, new: str | Path, keep: tuple[str, ...] = ()) -> None:
    """Put the complete folder `new` (on the same file system) where the folder `path` is:
    two renames, so `path` is never a mixture of old and new files. The files named in
    `keep` (not written by whoever made `new`, such as DVC's .gitignore) move across."""
    path, new = Path(path), Path(new)
    path.parent.mkdir(parents=True, exist_ok=True)
    for name in keep:
        if (path / name).is_file() and not (new / name).exists():
            shutil.copy2(path / name, new / name)
    os.chmod(new, 0o777 & ~_umask())
    old = path.with_name(f".{path.name}.old.tmp")
    shutil.rmtree(old, ignore_errors=True)
    if path.exists():
        os.replace(path, old)
    os.replace(new, path)
    shutil.rmtree(old, ignore_errors=True)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
