"""dvc.yaml must list, for every stage, the library folders (or files) the stage imports
from, or editing one of them would not rerun the stage; and none it does not use, or
editing it would rerun the stage for nothing."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from .conftest import ROOT

STAGES = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]

_IMPORTED = """
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("stage", sys.argv[1])
spec.loader.exec_module(importlib.util.module_from_spec(spec))
print(json.dumps(sorted(m.__file__ for name, m in sys.modules.items()
                        if name.split(".")[0] == "arith_seq2seq" and m.__file__)))
"""


@pytest.mark.parametrize("name", sorted(STAGES))
def test_stage_deps_are_the_library_files_it_imports(name):
    stage = STAGES[name]
    script = next(dep for dep in stage["deps"] if dep.startswith("stages/"))
    out = subprocess.run(
        [sys.executable, "-c", _IMPORTED, str(ROOT / script)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT / "src"), "PATH": ""},
    ).stdout
    imported = {str(Path(f).resolve().relative_to(ROOT)) for f in json.loads(out)}
    listed, unused = set(), []
    for dep in stage["deps"]:
        if dep.startswith("src/"):
            path = ROOT / dep
            # A folder dep stands for its Python files (.dvcignore hides the bytecode).
            files = {
                str(f.relative_to(ROOT)) for f in (path.rglob("*.py") if path.is_dir() else [path])
            }
            listed |= files
            if not files & imported:
                unused.append(dep)
    assert imported <= listed, f"missing: {sorted(imported - listed)}"
    assert not unused, f"listed but not imported: {unused}"
    assert f"python {script}" in stage["cmd"]


def _outputs():
    """(path, whether DVC caches it) for every output, metric and plot of every stage."""
    for stage in STAGES.values():
        for kind in ("outs", "metrics", "plots"):
            for out in stage.get(kind, []):
                path, options = (out, None) if isinstance(out, str) else next(iter(out.items()))
                yield path, (options or {}).get("cache", True)


@pytest.mark.parametrize("path, cached", list(_outputs()))
def test_git_ignores_what_dvc_caches_and_tracks_the_rest(path, cached):
    # A cached output that git tracks stops `dvc repro` in a fresh clone ("output ... is
    # already tracked by SCM"); an uncached one that git ignores is lost to everyone else.
    tracked = subprocess.run(
        ["git", "ls-files", "--", path], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    ignored = (
        subprocess.run(["git", "check-ignore", "-q", "--no-index", path], cwd=ROOT).returncode == 0
    )
    if cached:
        assert (tracked, ignored) == ([], True), f"{path}: cached by DVC, so git must ignore it"
    else:
        assert tracked and not ignored, f"{path}: not cached by DVC, so git must track it"
