import os
import stat

import pytest

from arith_seq2seq.pipeline.files import atomic_path


def test_atomic_write_replaces_only_on_success(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("interrupted")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]
    with atomic_path(target) as tmp:
        tmp.write_text("new")
    assert target.read_text() == "new"


def test_atomic_write_gives_the_permissions_of_an_ordinary_file(tmp_path):
    # A temporary file is created private (0600); the finished output must not be, or
    # committed metrics files turn unreadable to everyone else.
    ordinary = tmp_path / "ordinary"
    ordinary.write_text("x")
    with atomic_path(tmp_path / "atomic") as tmp:
        tmp.write_text("x")
    mode = lambda p: stat.S_IMODE(os.stat(p).st_mode)  # noqa: E731
    assert mode(tmp_path / "atomic") == mode(ordinary)
