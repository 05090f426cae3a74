"""dvc.lock must describe the committed code and params, or `dvc status` on a fresh clone
reports stale stages and the committed metrics belong to other code."""

import json
import subprocess

from .conftest import ROOT


def test_lock_matches_the_committed_sources_and_params():
    # On a fresh clone the data are missing (DVC reports them as deleted); what must not
    # show is a changed source file, folder or parameter.
    status = json.loads(
        subprocess.run(
            ["dvc", "status", "--json"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout
    )
    stale = [
        f"{stage}: {path}"
        for stage, changes in status.items()
        for change in changes
        if isinstance(change, dict)
        for path in change.get("changed deps", {})
        if path.startswith(("src/", "stages/")) or path == "params.yaml"
    ] + [f"{stage}: command" for stage, changes in status.items() if "changed command" in changes]
    assert not stale, f"run `dvc repro` and commit dvc.lock; stale: {', '.join(stale)}"
