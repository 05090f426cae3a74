"""The docs quote what the code prints, and show what the committed records hold.

Each message test feeds the documented input to the entry point a user runs (a stage as
dvc.yaml calls it, the `arith-seq2seq` command, the training the train stage runs) and
asserts that every quoted line is both on the page and in the output, so a change to
either side fails here. The figure tests compare the README's and the docs' tables with
metrics/evaluate.json, params.yaml and bench/'s records; the link tests keep every page
reachable from the README and every link working.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
import yaml

# The package's own modules, named here only, so that moving them is one edit.
from arith_seq2seq.data.operations import operation_named
from arith_seq2seq.data.question_format import QuestionFormat
from arith_seq2seq.model import ModelSpec, build, model_file
from arith_seq2seq.model.model_file import TrainedModel
from arith_seq2seq.params import load_params
from arith_seq2seq.training.fit import fit

from .conftest import ROOT, config, run_stage_in_process, write_params
from .test_bench import bench_module

DVC_YAML = yaml.safe_load((ROOT / "dvc.yaml").read_text())
# The installed command, as a user runs it.
BIN = Path(sys.executable).parent
# Small enough for seconds: a 3-digit add model (the default's question format) trained one epoch.
TINY = {
    "data": {"digits": 3, "count": 2000, "longer_digits": [4]},
    "repeat": {"hidden_size": 16, "max_epochs": 1},
    "train": {"show_samples": 0},
}


def page(name: str) -> str:
    return (ROOT / name).read_text()


def code_blocks(text: str) -> list[tuple[str, str]]:
    """The fenced code blocks of a markdown text: (info string, body)."""
    blocks, info, body = [], None, []
    for line in text.splitlines():
        if line.startswith("```"):
            if info is None:
                info, body = line[3:].strip(), []
            else:
                blocks.append((info, "\n".join(body)))
                info = None
        elif info is not None:
            body.append(line)
    return blocks


def prose(text: str) -> str:
    """The text without its code blocks."""
    return re.sub(r"^```.*?^```[^\n]*$", "", text, flags=re.S | re.M)


def assert_quoted(name: str, line: str, output: str) -> None:
    """`line` is a whole line of the page `name` and of the code's `output`."""
    assert line in page(name).splitlines(), f"{name} does not quote this line:\n{line}"
    assert line in output.splitlines(), (
        f"the code does not print this line:\n{line}\nIt printed:\n{output}"
    )


def stage_args(name: str) -> list[str]:
    """The stage's arguments, as dvc.yaml runs it."""
    command = DVC_YAML["stages"][name]["cmd"].split()
    assert command[:2] == ["python", f"stages/{name}.py"]
    return command[2:]


def run_dvc_yaml_stage(
    name: str, folder: Path, env: dict | None = None, **popen
) -> subprocess.CompletedProcess:
    """The stage's command from dvc.yaml, run in `folder` with this interpreter."""
    command = [sys.executable, str(ROOT / "stages" / f"{name}.py"), *stage_args(name)]
    return subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True, **popen)


def quiet_env(**extra: str) -> dict:
    return {
        **os.environ,
        "NO_COLOR": "1",
        "OMP_NUM_THREADS": "1",
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
        **extra,
    }


@pytest.fixture(scope="module")
def tiny_project(tmp_path_factory) -> Path:
    """A folder with dvc.yaml, a tiny params.yaml and the outputs of generate, split and
    train, run as dvc.yaml says: `arith-seq2seq predict` there finds data/model.pt."""
    folder = tmp_path_factory.mktemp("project")
    (folder / ".dvc").mkdir()  # a DVC repository: predict takes the default model only in one
    shutil.copy(ROOT / "dvc.yaml", folder / "dvc.yaml")
    write_params(folder / "params.yaml", TINY)
    for name in ("generate", "split", "train"):
        proc = run_dvc_yaml_stage(name, folder, quiet_env())
        assert proc.returncode == 0, proc.stderr
    assert (folder / "data" / "model.pt").is_file()
    return folder


# -- bad parameters (docs/reliability.md) -------------------------------------------------


def updated(**sections):
    """A change to params.yaml: these keys of these sections set."""
    return lambda params: {
        name: {**values, **sections.get(name, {})} for name, values in params.items()
    }


# (the stage dvc repro runs first for that change, the change to the committed params.yaml, the
# quoted line)
BAD_PARAMS = [
    (
        "generate",
        updated(data={"count": 1_200_000}),
        "error: data.count is 1,200,000, but only 1,000,000 distinct ordered add questions with up "
        "to 3 digit(s) "
        "exist; lower data.count or raise data.digits",
    ),
    (
        "check_params",
        updated(repeat={"hiden_size": 64}),
        "error: params.yaml: unknown key repeat.hiden_size; repeat takes batch_size, cell, "
        "embedding_dim, grad_clip, "
        "hidden_size, layers, lr, max_epochs, patience, precision, reverse_answer",
    ),
    (
        "check_params",
        updated(aligned={"embedding_dim": 8}),
        "error: params.yaml: unknown key aligned.embedding_dim (aligned does not use it; repeat, "
        "seq2seq, attention use it); "
        "aligned takes batch_size, grad_clip, hidden_size, layers, lr, max_epochs, pair_dim, "
        "patience, precision",
    ),
    (
        "check_params",
        updated(repeat={"cell": "transformer"}),
        "error: repeat.cell is 'transformer'; choose one of lstm, gru, rnn",
    ),
    (
        "check_params",
        updated(split={"val_fraction": 0.5, "test_fraction": 0.5}),
        "error: split.val_fraction + split.test_fraction = 1 leaves no training data; make their "
        "sum smaller than 1 "
        "(for example 0.1 and 0.1)",
    ),
    (
        "check_params",
        lambda params: {("trian" if name == "train" else name): v for name, v in params.items()},
        "error: params.yaml: unknown section 'trian' (did you mean 'train'?); known sections are "
        "data, split, model, repeat, "
        "seq2seq, attention, aligned, columns, train, evaluate",
    ),
    (
        "check_params",
        lambda params: {name: v for name, v in params.items() if name != "train"},
        "error: params.yaml: missing or empty section 'train'; every section must be set (the "
        "project's params.yaml has "
        "each one, with its meaning)",
    ),
    (
        "check_params",
        lambda params: None,
        "error: params.yaml: missing or empty section 'data', 'split', 'model', 'repeat', "
        "'seq2seq', 'attention', 'aligned', "
        "'columns', 'train', 'evaluate'; every section must be set (the project's params.yaml has "
        "each one, with its meaning)",
    ),
    (
        "check_params",
        updated(repeat={"lr": float("inf")}),
        "error: repeat.lr must be a finite number, got inf",
    ),
    (
        "check_params",
        updated(train={"weight_decay": float("nan")}),
        "error: train.weight_decay must be a finite number, got nan",
    ),
    (
        "check_params",
        updated(repeat={"hidden_size": 100_000}),
        "error: repeat.hidden_size must be at most 4096, got 100000",
    ),
]


@pytest.mark.parametrize(
    "stage, change, line",
    BAD_PARAMS,
    ids=[
        "count",
        "unknown-key",
        "unused-key",
        "cell",
        "fractions",
        "misspelled-section",
        "missing-section",
        "empty",
        "inf",
        "nan",
        "huge",
    ],
)
def test_bad_params_messages_are_what_the_stages_print(tmp_path, monkeypatch, stage, change, line):
    params = change(yaml.safe_load((ROOT / "params.yaml").read_text()))
    (tmp_path / "params.yaml").write_text(
        "" if params is None else yaml.safe_dump(params, sort_keys=False)
    )
    monkeypatch.chdir(tmp_path)
    proc = run_stage_in_process(stage, *stage_args(stage))
    assert proc.returncode == 2
    assert_quoted("docs/reliability.md", line, proc.stderr)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["params.yaml"], "nothing written"


def test_the_dvc_repro_transcript_runs_the_dvc_yaml_command():
    # The page's `dvc repro` transcript (run for real in a fresh clone) shows dvc.yaml's command.
    command = DVC_YAML["stages"]["generate"]["cmd"]
    text = page("docs/reliability.md").splitlines()
    assert f"> {DVC_YAML['stages']['check_params']['cmd']}" in text
    assert f"> {command}" in text
    assert f"ERROR: failed to reproduce 'generate': failed to run: {command}, exited with 2" in text


# -- arith-seq2seq predict (README.md, docs/predict.md) ------------------------------------


def predict_transcripts(name: str) -> list[list[tuple[str, list[str]]]]:
    """The page's code blocks that are transcripts of `arith-seq2seq predict` (and `echo
    $?`): each a list of (command, its output lines)."""
    found = []
    for info, block in code_blocks(page(name)):
        if info:
            continue
        steps: list[tuple[str, list[str]]] = []
        for line in block.splitlines():
            if line.startswith("$ "):
                steps.append((line[2:], []))
            elif steps:
                steps[-1][1].append(line)
        if steps and all("arith-seq2seq predict" in c or c == "echo $?" for c, _ in steps):
            found.append(steps)
    return found


def run_transcript(steps, folder: Path) -> list[list[str]]:
    """Run the commands in one shell, in `folder`; each one's output lines (stderr and
    stdout as a terminal shows them)."""
    script = "\n".join(
        f"__status=$?; echo '@@@'; (exit $__status)\n{command}" for command, _ in steps
    )
    proc = subprocess.run(
        ["bash", "-c", script],
        cwd=folder,
        env=quiet_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=300,
    )
    return [part.splitlines() for part in proc.stdout.split("@@@\n")[1:]]


PREDICT_PAGES = ["README.md", "docs/predict.md"]


def test_the_pages_have_predict_transcripts():
    assert [len(predict_transcripts(name)) for name in PREDICT_PAGES] == [1, 3]


def committed_model() -> Path | None:
    """data/model.pt if it is the model dvc.lock records (the README's first command made it)."""
    model = ROOT / "data" / "model.pt"
    lock = yaml.safe_load((ROOT / "dvc.lock").read_text())
    recorded = {out["path"]: out.get("md5") for out in lock["stages"]["train"]["outs"]}
    if not model.is_file() or hashlib.md5(model.read_bytes()).hexdigest() != recorded.get(
        "data/model.pt"
    ):
        return None
    return model


@pytest.mark.slow
@pytest.mark.parametrize("name", PREDICT_PAGES)
def test_predict_transcripts_are_what_the_committed_model_prints(name):
    # Every line, answers and confidences included: only the committed run's model gives them.
    if committed_model() is None:
        pytest.skip(
            "data/model.pt is not the model dvc.lock records: run the README's first command "
            "(`dvc repro`) to check the predict transcripts' answers exactly"
        )
    for steps in predict_transcripts(name):
        assert run_transcript(steps, ROOT) == [expected for _, expected in steps]


@pytest.fixture(scope="module")
def sevens_project(tmp_path_factory) -> Path:
    """A folder with dvc.yaml and, as data/model.pt, a 3-digit add model of the repeat
    architecture (the default's) that answers 7777 to every question: untrained, its output
    layer always picks 7. Every answer a number, as the committed model's are; a tiny
    training's are not (blanks, which predict reports as errors)."""
    folder = tmp_path_factory.mktemp("sevens")
    (folder / ".dvc").mkdir()  # a DVC repository: predict takes the default model only in one
    shutil.copy(ROOT / "dvc.yaml", folder / "dvc.yaml")
    (folder / "data").mkdir()
    fmt = QuestionFormat(operation_named("add"), 3, True)
    model = build(ModelSpec(config("model", arch="repeat", hidden_size=8), fmt))
    with torch.no_grad():
        model.head.weight.zero_()
        model.head.bias.fill_(-10.0)
        model.head.bias[fmt.vocab.chars.index("7")] = 10.0
    model_file.save(folder / "data" / "model.pt", TrainedModel(model=model.eval(), info={}))
    return folder


@pytest.mark.parametrize("name", PREDICT_PAGES)
def test_predict_transcripts_messages_statuses_and_counts(sevens_project, name):
    # Any 3-digit add model that answers numbers gives the transcripts' messages, exit
    # statuses and number of answers (so this runs in a fresh clone too); the answers differ.
    for steps in predict_transcripts(name):
        actual = run_transcript(steps, sevens_project)
        for (command, expected), got in zip(steps, actual, strict=True):
            errors = [line for line in expected if line.startswith("error:")]
            for line in errors:
                assert_quoted(name, line, "\n".join(got))
            assert [line for line in got if line.startswith("error:")] == errors, command
            assert len(got) == len(expected), (command, got)
            if command == "echo $?":
                assert got == expected


# -- training (docs/resume.md, docs/distributed.md) ----------------------------------------


class CtrlC(pl.Callback):
    """Ctrl-C (what SIGINT's default handler raises) at the start of an epoch (0-based)."""

    def __init__(self, epoch: int):
        self.epoch = epoch

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        if trainer.current_epoch == self.epoch:
            raise KeyboardInterrupt


@pytest.mark.slow
def test_resume_messages_are_what_training_prints(tiny_project, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    split = tiny_project / "data" / "split"
    first = load_params(
        write_params(tmp_path / "a.yaml", {**TINY, "repeat": {**TINY["repeat"], "max_epochs": 2}})
    )
    other = load_params(
        write_params(
            tmp_path / "b.yaml",
            {**TINY, "repeat": {**TINY["repeat"], "max_epochs": 2, "lr": 0.005}},
        )
    )

    def train(params, stop_at: int) -> None:
        with pytest.raises(SystemExit):
            fit(
                params.net,
                params.train,
                split / "train.npz",
                split / "val.npz",
                progress=False,
                state_dir="data/train-state",
                callbacks=[CtrlC(stop_at)],
            )

    handler = signal.getsignal(signal.SIGINT)  # Lightning ignores SIGINT once interrupted
    try:
        train(first, 1)  # Ctrl-C in the second epoch: the first is saved
        train(first, 1)  # resumes after it (and is stopped again at once)
        train(other, 0)  # other params: starts over; Ctrl-C before an epoch ends
    finally:
        signal.signal(signal.SIGINT, handler)
    out = capsys.readouterr().out
    for line in [
        "train: interrupted; the finished epochs are saved in data/train-state: run `dvc repro` to "
        "resume",
        "train: resuming after epoch 1 from data/train-state/last.ckpt",
        "train: data/train-state holds a training with other params, data or code; starting over",
        "train: interrupted before the first epoch ended; nothing to resume from",
    ]:
        assert_quoted("docs/resume.md", line, out)


@pytest.mark.slow
def test_the_waiting_message_of_a_multi_machine_run(tiny_project, tmp_path):
    # The first machine of docs/distributed.md's example: 2 machines x 2 processes. It
    # waits for the others, so it is stopped once it has said so.
    folder = tmp_path / "first"
    shutil.copytree(tiny_project, folder, ignore=shutil.ignore_patterns("model.pt", "train-state"))
    write_params(
        folder / "params.yaml", {**TINY, "train": {**TINY["train"], "devices": 2, "num_nodes": 2}}
    )
    env = quiet_env(MASTER_ADDR="10.0.0.1", MASTER_PORT="29500", NODE_RANK="0", WORLD_SIZE="4")
    command = [sys.executable, str(ROOT / "stages" / "train.py"), *stage_args("train")]
    proc = subprocess.Popen(
        command,
        cwd=folder,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    seen = []
    try:
        for line in proc.stdout:
            seen.append(line.rstrip("\n"))
            if line.startswith("train: waiting"):
                break
    finally:
        try:
            os.killpg(
                proc.pid, signal.SIGKILL
            )  # its own session: the stage and anything it started
        except ProcessLookupError:
            pass
        proc.wait()
        proc.stdout.close()
    assert_quoted(
        "docs/distributed.md",
        "train: waiting for all 4 processes on 2 machines to join at 10.0.0.1:29500",
        "\n".join(seen),
    )


def test_a_missing_gpu_message(tmp_path, monkeypatch):
    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU")
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["train"]["accelerator"] = "gpu"
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    monkeypatch.chdir(tmp_path)
    proc = run_stage_in_process("train", *stage_args("train"))
    assert proc.returncode == 2
    # The page shows the torch the README installs; the message names the one installed.
    quoted = [
        line
        for line in page("docs/distributed.md").splitlines()
        if line.startswith("error: train.accelerator is 'gpu'")
    ]
    assert (
        len(quoted) == 1
        and "torch 2.13.0+cpu " in quoted[0]
        and "pip install torch==2.13.0 " in page("README.md")
    )
    installed = quoted[0].replace("torch 2.13.0+cpu ", f"torch {torch.__version__} ")
    assert installed in proc.stderr.splitlines(), proc.stderr


# -- figures -------------------------------------------------------------------------------


def percent(shown: str, value: float) -> bool:
    """`shown` ("99.9983%", "**100%**") is `value` rounded to as many decimals as it shows."""
    digits = shown.strip("*%")
    decimals = len(digits.split(".")[1]) if "." in digits else 0
    return f"{100 * value:.{decimals}f}" == digits


@pytest.mark.parametrize(
    "name, record, benchmark",
    [
        ("docs/architectures.md", "bench/architectures.json", "architectures"),
        ("docs/calculator.md", "bench/frontier.json", "frontier"),
    ],
)
def test_tables_are_bench_records(name, record, benchmark):
    # Exactly what `python bench/frontier.py` printed for the recorded runs, at the commit they
    # name.
    recorded = json.loads((ROOT / record).read_text())
    assert bench_module(f"benchmarks.{benchmark}").table(recorded["rows"]) in page(name)
    assert f"commit {recorded['commit'][:7]}" in " ".join(page(name).split())


def test_parameter_table_defaults_are_params_yaml():
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    rows = re.findall(r"^\| `(\w+)\.(\w+)` \| ([^|]*) \|", page("docs/pipeline.md"), re.M)
    table = {(section, key): yaml.safe_load(default) for section, key, default in rows}
    assert table == {(s, k): v for s, values in params.items() for k, v in values.items()}


# -- pages and links -----------------------------------------------------------------------


def pages() -> list[Path]:
    return [ROOT / "README.md", ROOT / "bench" / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_every_relative_link_and_anchor_resolves():
    for source in pages():
        text = prose(source.read_text())
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+:", target):
                continue
            path, _, anchor = target.partition("#")
            file = (source.parent / path).resolve() if path else source
            assert file.exists(), f"{source.relative_to(ROOT)}: {target}"
            if anchor:
                headings = re.findall(r"^#+ (.*)$", prose(file.read_text()), re.M)
                assert anchor in map(slug, headings), f"{source.relative_to(ROOT)}: {target}"


def test_the_readme_is_a_front_door_to_every_page():
    readme = page("README.md")
    assert len(readme.splitlines()) <= 200
    for doc in sorted((ROOT / "docs").glob("*.md")):
        assert f"](docs/{doc.name})" in readme, f"README.md links no docs/{doc.name}"
    # No dumps: every code block short.
    assert max(len(body.splitlines()) for _, body in code_blocks(readme)) <= 10


def test_experiments_shown_in_sequence_do_not_carry_values_over():
    # `dvc exp run -S` in the workspace leaves its values in params.yaml for the next one:
    # a block that shows several must queue them or use --temp.
    for source in pages():
        for _, block in code_blocks(source.read_text()):
            runs = [line for line in block.splitlines() if re.search(r"dvc exp run .*-S ", line)]
            if len(runs) > 1:
                for line in runs:
                    assert "--queue" in line or "--temp" in line, (
                        f"{source.relative_to(ROOT)}: {line}"
                    )
