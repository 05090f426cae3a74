import json

import pytest
import torch

from arith_seq2seq.data import question_set
from arith_seq2seq.evaluation.metrics import exact_match
from arith_seq2seq.model.answering import answer_questions
from arith_seq2seq.training.fit import fit

from .conftest import config
from .test_precision import requires_bf16

# The floor of the two tests below: bench/test_thresholds.py (settings one_digit,
# one_digit_bf16) reruns this training over 5 seeds x 2 CPU settings into
# bench/test-thresholds.json (fp32: seeds 1337, 1 to 4, both CPU settings: every question right).
ONE_DIGIT_AT_LEAST = 0.98
ONE_DIGIT_SEED = config("train").seed


def learn_one_digit(
    paths: dict, precision: str = "32-true", seed: int = ONE_DIGIT_SEED, live_dir=None
):
    """A repeat model of 64 trained 8 epochs on the 55 one-digit sums; with its exact
    match on them, rescored here."""
    trained = fit(
        config("model", hidden_size=64),
        config(
            "train",
            batch_size=64,
            max_epochs=8,
            lr=0.02,
            show_samples=0,
            precision=precision,
            seed=seed,
        ),
        paths["train"],
        paths["val"],
        live_dir=live_dir,
        progress=False,
    )
    val = question_set.load(paths["val"])
    return trained, float(
        exact_match(answer_questions(trained.model, val.question)[0], val.answer).mean()
    )


@pytest.mark.slow
@pytest.mark.trains
def test_small_model_learns_one_digit_addition(one_digit, tmp_path):
    trained, accuracy = learn_one_digit(one_digit, live_dir=tmp_path / "live")
    assert accuracy >= ONE_DIGIT_AT_LEAST
    assert trained.info["best_val_exact_match"] == pytest.approx(accuracy)
    assert 1 <= trained.info["best_epoch"] <= trained.info["epochs"]
    summary = json.loads((tmp_path / "live" / "metrics.json").read_text())
    assert summary["val"]["best_exact_match"] == pytest.approx(accuracy)
    # dvclive wrote the per-epoch curves and the summary dvc.yaml points at.
    assert (tmp_path / "live" / "metrics.json").is_file()
    rows = (
        (tmp_path / "live" / "plots" / "metrics" / "val" / "exact_match.tsv")
        .read_text()
        .splitlines()
    )
    assert rows[0].split("\t") == ["step", "exact_match"]
    assert [r.split("\t")[0] for r in rows[1:]] == [
        str(e) for e in range(1, trained.info["epochs"] + 1)
    ]


@pytest.mark.slow
@pytest.mark.parametrize("precision", ["32-true", pytest.param("bf16-mixed", marks=requires_bf16)])
def test_training_is_deterministic(tiny_split, precision):
    def run():
        return fit(
            config("model", hidden_size=32),
            config(
                "train",
                batch_size=64,
                max_epochs=1,
                show_samples=0,
                precision=precision,
                min_stratum_share=0.05,
            ),
            tiny_split["train"],
            tiny_split["val"],
            progress=False,
        )

    first, second = run(), run()
    assert first.info == second.info
    for key, value in first.model.state_dict().items():
        assert torch.equal(value, second.model.state_dict()[key]), key


@pytest.mark.slow
@pytest.mark.trains
@requires_bf16
def test_bfloat16_training_learns_like_float32(one_digit):
    # bf16-mixed runs the forward pass in bfloat16; the model it returns is float32 and
    # is scored in float32, like every model.
    trained, accuracy = learn_one_digit(one_digit, "bf16-mixed")
    assert all(p.dtype == torch.float32 for p in trained.model.parameters())
    assert accuracy >= ONE_DIGIT_AT_LEAST


@pytest.mark.parametrize("grad_clip", [0.0, 0.05])
def test_grad_clip_clips_every_steps_gradient_norm_and_0_clips_none(
    tiny_split, tmp_path, monkeypatch, grad_clip
):
    # The recipe key (`attention.grad_clip: 0.5` and others): every optimizer step's
    # gradient is scaled to at most this norm; 0 leaves the gradients alone.
    from .conftest import train_tiny

    calls = []
    original = torch.nn.utils.clip_grad_norm_

    def recording(parameters, max_norm, *args, **kwargs):
        parameters = list(parameters)
        total = original(parameters, max_norm, *args, **kwargs)
        after = torch.linalg.vector_norm(
            torch.stack([torch.linalg.vector_norm(p.grad) for p in parameters])
        )
        calls.append((max_norm, float(total), float(after)))
        return total

    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", recording)
    train = {"max_epochs": 1, "batch_size": 256, "grad_clip": grad_clip}
    train_tiny(tiny_split, tmp_path, {"arch": "repeat", "hidden_size": 16}, train)
    steps = -(-len(question_set.load(tiny_split["train"]).question) // 256)
    if grad_clip == 0:
        assert calls == []
        return
    assert len(calls) == steps
    assert all(
        max_norm == grad_clip and after <= grad_clip * (1 + 1e-4) for max_norm, _, after in calls
    )
    # The gradients it met were larger than the bound, so the clipping did something.
    assert max(total for _, total, _ in calls) > grad_clip
