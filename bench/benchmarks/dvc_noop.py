"""dvc-noop: `dvc repro` and `dvc status` on an up-to-date pipeline, in a clone of HEAD
where the pipeline has run once (that first run is timed too)."""

from __future__ import annotations

import statistics

from common import BIN, Bench, clone_head, git, pipeline_env, timed


def run(b: Bench) -> dict:
    s = b.sizes
    clone = clone_head(b.workdir / "clone")
    commit = git("rev-parse", "HEAD", cwd=clone).strip()
    if b.quick:
        # A tiny pipeline: the no-op check hashes file metadata, so its time barely
        # depends on data size; the first run must be short here.
        import yaml

        params = yaml.safe_load((clone / "params.yaml").read_text())
        params["data"].update(digits=2, count=2000, longer_count=200)
        params[params["model"]["arch"]].update(max_epochs=1)  # the recipe is the architecture's
        (clone / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    env = pipeline_env(clone)
    dvc = str(BIN / "dvc")
    first, proc = timed([dvc, "repro"], clone, env)
    if proc.returncode != 0:
        raise RuntimeError(
            f"dvc repro in the clone failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
        )
    noop, status = [], []
    for _ in range(s.dvc_runs):
        t, proc = timed([dvc, "repro"], clone, env)
        if proc.returncode != 0 or "up to date" not in proc.stdout + proc.stderr:
            raise RuntimeError(f"second dvc repro was not a no-op:\n{proc.stdout[-2000:]}")
        noop.append(t)
        t, proc = timed([dvc, "status"], clone, env)
        status.append(t)
    b.clone = clone
    size = "tiny params" if b.quick else "default params"
    b.row(
        "dvc repro, whole pipeline from scratch",
        round(first, 1),
        "s",
        f"clone of HEAD {commit[:8]}, {size}, one run (the set-up of the no-op timing)",
    )
    b.row(
        "dvc repro, no-op (pipeline up to date)",
        round(statistics.median(noop), 2),
        "s",
        f"median of {s.dvc_runs}, whole command",
    )
    b.row(
        "dvc status, up to date",
        round(statistics.median(status), 2),
        "s",
        f"median of {s.dvc_runs}",
    )
    return {"commit": commit, "first_repro_s": first, "noop_repro_s": noop, "status_s": status}
