from arith_seq2seq.data import question_set
from arith_seq2seq.model import model_file
from arith_seq2seq.training.console import epoch_report, format_sample


def test_sample_line_marks_right_and_wrong():
    assert format_sample("12+5", "17 ", "17 ", 7, color=False) == "Q 12+5    T 17  ☑ 17 "
    assert format_sample("12+5", "17 ", "18 ", 7, color=False).endswith("☒ 18 ")
    assert "\033[91m☒\033[0m" in format_sample("12+5", "17 ", "18 ", 7, color=True)
    assert "\033[92m☑\033[0m" in format_sample("12+5", "17 ", "17 ", 7, color=True)


def test_epoch_report_shows_metrics_and_reproducible_samples(tiny_model, tiny_split):
    model = model_file.load(tiny_model).model
    val = question_set.load(tiny_split["val"])
    metrics = {"train/loss": 1.5, "val/exact_match": 0.25}
    lines = epoch_report(3, 10, metrics, model, val, n=4, seed=1, color=False)
    assert lines[0] == "Epoch 3/10  train/loss 1.5000  val/exact_match 0.2500"
    assert len(lines) == 5 and all(line.startswith("Q ") for line in lines[1:])
    for line in lines[1:]:
        question, expected = line[2:].split(" T ")[0].strip(), line.split(" T ")[1].split()[0]
        a, b = question.split("+")
        assert int(a) + int(b) == int(expected)
    assert epoch_report(3, 10, metrics, model, val, n=4, seed=1, color=False) == lines
    assert epoch_report(4, 10, metrics, model, val, n=4, seed=1, color=False)[1:] != lines[1:]
    assert epoch_report(3, 10, {}, model, val, n=0, seed=1, color=False) == ["Epoch 3/10  "]
