"""Dev evaluation during fine-tuning: dev_ lines at epoch ends and every `eval_every` steps, the
best model by `keep_best` (kept across a resume), and training untouched by either."""

import dataclasses
import importlib
import json
import math
import os

import keras
import numpy as np
import pytest

import keras_bert_zoo  # noqa: F401  (registers the classes stored in .keras files)
from keras_bert_zoo.training.finetune import FinetuneConfig, finetune
from tests.training.test_resume import (
    assert_bitwise_equal,
    crash_after,
    write_pretrained,
    write_table,
)

finetune_module = importlib.import_module("keras_bert_zoo.training.finetune")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """(pretrained dir, train CSV of 48 rows: 4 held out for dev)."""
    root = tmp_path_factory.mktemp("finetune_eval")
    (root / "pretrained").mkdir()
    pretrained = write_pretrained(root / "pretrained")
    write_table(root / "train.csv")
    return pretrained, str(root / "train.csv")


def make_config(data, output_dir, **changes):
    pretrained, train = data
    # 16 training examples in batches of 8: 2 steps per epoch (and per checkpoint).
    config = FinetuneConfig(task="classify", pretrained=pretrained, output_dir=str(output_dir),
                            train_file=train, max_train_examples=16, seq_len=16, batch_size=8,
                            epochs=2, learning_rate=1e-3, verbose=0)
    return dataclasses.replace(config, **changes)


def lines(run):
    with open(os.path.join(run, "metrics.jsonl")) as f:
        records = [json.loads(line) for line in f]
    dev = [r for r in records if any(k.startswith("dev_") for k in r)]
    return [r for r in records if "loss" in r], dev


class Evaluations(list):
    """`(weights, metrics)` per dev evaluation, and the task's own `evaluate`."""

    evaluate = None


def record_evaluations(monkeypatch, scripted=()):
    """Records the dev evaluations of the next runs; the i-th evaluation's accuracy is
    replaced by `scripted[i]` while there is one (to put the best model where a test wants it).
    """
    calls, original = Evaluations(), finetune_module._fit

    def _fit(model, config, strategy, total, steps_per_epoch, make_dataset, evaluate):
        def recorded(model):
            metrics = evaluate(model)
            if len(calls) < len(scripted):
                metrics["accuracy"] = scripted[len(calls)]
            calls.append((model.get_weights(), metrics))
            return metrics

        calls.evaluate = evaluate
        return original(model, config, strategy, total, steps_per_epoch, make_dataset, recorded)

    monkeypatch.setattr(finetune_module, "_fit", _fit)
    return calls


def weights_equal(a, b):
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))


@pytest.mark.slow
def test_dev_metrics_are_logged_at_epoch_ends_and_eval_every_without_changing_training(
        data, tmp_path, capsys):
    often = finetune(make_config(data, tmp_path / "often", epochs=3, eval_every=3, verbose=2))
    train, dev = lines(tmp_path / "often")
    assert [r["step"] for r in dev] == [2, 3, 4, 6]  # each epoch's end and every 3 steps
    assert all(set(r) == {"step", "dev_accuracy", "dev_macro_f1"} for r in dev)
    assert [r["step"] for r in train] == [2, 4, 6]  # the training lines are unchanged
    assert "dev @ step 3: accuracy " in capsys.readouterr().out
    assert any(name.startswith("events.out.tfevents")
               for name in os.listdir(tmp_path / "often" / "logs" / "dev"))
    metrics = json.load(open(tmp_path / "often" / "metrics.json"))
    assert metrics["step"] == 6 and "best_step" not in metrics  # the last model
    assert metrics["accuracy"] == dev[-1]["dev_accuracy"]
    assert not os.path.exists(tmp_path / "often" / "best.keras")

    # Evaluating draws no randomness and changes no state: the same weights as evaluating
    # only at the epoch ends.
    rarely = finetune(make_config(data, tmp_path / "rarely", epochs=3))
    assert [r["step"] for r in lines(tmp_path / "rarely")[1]] == [2, 4, 6]
    assert_bitwise_equal(often["model"], rarely["model"])


@pytest.mark.slow
def test_keep_best_keeps_the_best_model_across_a_resume(data, tmp_path, monkeypatch):
    out = tmp_path / "run"
    calls = record_evaluations(monkeypatch, scripted=[0.75, 0.25])
    first = make_config(data, out, epochs=1, eval_every=1, keep_best="accuracy")
    result = finetune(first)  # evaluates at steps 1 and 2: the best is step 1's
    assert json.load(open(out / "best.json")) == {"step": 1, "metric": "accuracy",
                                                   "value": 0.75}
    assert result["metrics"]["best_step"] == result["metrics"]["step"] == 1
    assert len(calls) == 2  # the best's metrics are not evaluated again
    best_weights = calls[0][0]
    assert not weights_equal(best_weights, calls[1][0])  # step 2's model is another one
    assert weights_equal(result["model"].get_weights(), best_weights)

    # A longer rerun resumes at step 2 and reads the best back: a tie (0.75 at step 4) keeps
    # the earlier model, which this process never trained.
    calls = record_evaluations(monkeypatch, scripted=[0.5, 0.75])
    result = finetune(dataclasses.replace(first, epochs=2))
    _, dev = lines(out)
    assert [r["step"] for r in dev] == [1, 2, 3, 4]  # none redone
    assert [r["dev_accuracy"] for r in dev] == [0.75, 0.25, 0.5, 0.75]
    assert json.load(open(out / "best.json"))["step"] == 1
    metrics = json.load(open(out / "metrics.json"))
    assert (metrics["step"], metrics["best_step"], metrics["keep_best"],
            metrics["best_value"], metrics["steps"]) == (1, 1, "accuracy", 0.75, 4)
    # metrics.json holds the dev metrics of the saved model: evaluated again (a 3rd time) on
    # the best weights, read back from best.keras.
    assert len(calls) == 3 and weights_equal(calls[2][0], best_weights)
    assert metrics["accuracy"] == calls[2][1]["accuracy"]
    saved = keras.saving.load_model(str(out / "model.keras"))
    assert weights_equal(saved.get_weights(), best_weights)


@pytest.mark.slow
def test_a_crash_before_an_evaluation_is_caught_up_and_the_saved_model_is_the_best(
        data, tmp_path, monkeypatch):
    out = tmp_path / "run"
    config = make_config(data, out, keep_best="macro_f1")
    restore = crash_after(monkeypatch, finetune_module, 2)  # after step 2's checkpoint
    with pytest.raises(RuntimeError, match="simulated crash"):
        finetune(config)
    restore()
    assert os.path.exists(out / "checkpoints" / "ckpt-2.index")
    assert not os.path.exists(out / "metrics.jsonl")  # nor logged, nor evaluated
    calls = record_evaluations(monkeypatch)
    result = finetune(config)
    _, dev = lines(out)
    assert [r["step"] for r in dev] == [2, 4]  # step 2 evaluated on resuming, once
    best = json.load(open(out / "best.json"))
    steps = [r["step"] for r in dev]
    values = [r["dev_macro_f1"] for r in dev]
    assert best["value"] == max(values) and best["step"] == steps[values.index(max(values))]
    metrics = result["metrics"]
    assert (metrics["step"], metrics["best_step"]) == (best["step"], best["step"])
    assert metrics["macro_f1"] == best["value"]
    # The saved model is the best one: its weights, and its own dev score.
    saved = keras.saving.load_model(str(out / "model.keras"))
    assert weights_equal(saved.get_weights(), calls[steps.index(best["step"])][0])
    assert calls.evaluate(saved)["macro_f1"] == best["value"]


@pytest.mark.parametrize("changes, names", [
    ({}, "accuracy, macro_f1"),
    ({"problem_type": "regression"}, "pearson, spearman, mse"),
    ({"task": "qa"}, "exact_match, f1"),
    ({"task": "seq2seq"}, "rouge1, rouge2, rougeL"),
])
def test_unknown_keep_best_fails_before_anything_is_written(data, tmp_path, changes, names):
    config = make_config(data, tmp_path / "run", keep_best="acc", **changes)
    with pytest.raises(ValueError) as error:
        finetune(config)
    message = str(error.value)
    assert "--keep_best='acc'" in message and f"choose one of {names}" in message
    assert "\n" not in message
    assert not os.path.exists(tmp_path / "run")


def test_which_way_is_better():
    improves = finetune_module._improves
    lower = finetune_module.lower_is_better
    assert not lower("accuracy") and lower("mse") and lower("dev_loss")
    assert improves(0.5, None, False)
    assert improves(0.6, {"value": 0.5}, False) and not improves(0.5, {"value": 0.5}, False)
    assert improves(0.4, {"value": 0.5}, True) and not improves(0.6, {"value": 0.5}, True)
    assert not improves(math.nan, {"value": 0.5}, False)  # NaN never beats a number
    assert improves(0.1, {"value": math.nan}, False)
