"""dvc.lock must describe the committed code and params, or `dvc status` on a fresh clone
reports stale stages and the committed metrics belong to other code."""

import hashlib

import yaml

from .conftest import ROOT


def test_lock_matches_the_committed_sources_and_params():
    lock = yaml.safe_load((ROOT / "dvc.lock").read_text())
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    stale = []
    for name, stage in lock["stages"].items():
        for dep in stage.get("deps", []):
            path = ROOT / dep["path"]
            if dep["path"].startswith(("src/", "stages/")):
                if hashlib.md5(path.read_bytes()).hexdigest() != dep["md5"]:
                    stale.append(f"{name}: {dep['path']}")
        for key, value in stage.get("params", {}).get("params.yaml", {}).items():
            section, _, field = key.partition(".")
            current = params[section][field] if field else params[section]
            if current != value:
                stale.append(f"{name}: {key}")
    assert not stale, f"run `dvc repro` and commit dvc.lock; stale: {', '.join(stale)}"
