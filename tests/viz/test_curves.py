"""Training curves from metrics.jsonl: resumed runs, torn lines, missing metrics."""

import json

import numpy as np
import pytest

from keras_bert_zoo import viz


def _write(path, records, tail=""):
    with open(path, "w") as f:
        for record in records:
            f.write(json.dumps(record) + "\n")
        f.write(tail)


def test_read_metrics_sorts_dedupes_and_skips_torn_lines(tmp_path):
    _write(tmp_path / "metrics.jsonl", [
        {"step": 10, "loss": 5.0, "mlm_accuracy": 0.1, "learning_rate": 1e-4},
        {"step": 20, "loss": 4.0, "mlm_accuracy": 0.2, "learning_rate": 2e-4},
        {"step": 20, "loss": 3.5, "mlm_accuracy": 0.25, "learning_rate": 2e-4},  # resumed
        {"step": 30, "loss": 3.0, "learning_rate": 1e-4},  # no accuracy logged
    ], tail='{"step": 40, "lo')  # killed mid-write
    metrics = viz.read_metrics(str(tmp_path))  # the directory works too
    assert metrics["step"].tolist() == [10, 20, 30]
    assert metrics["loss"].tolist() == [5.0, 3.5, 3.0]
    assert np.isnan(metrics["mlm_accuracy"][2])


def test_plot_training_curves_draws_one_panel_per_present_metric(tmp_path):
    path = tmp_path / "metrics.jsonl"
    _write(path, [{"step": s, "loss": 10.0 / s, "mlm_accuracy": s / 100, "learning_rate": 1e-3,
                   "tokens_per_second": 1000.0} for s in range(5, 55, 5)])
    fig = viz.plot_training_curves(str(path))
    assert [ax.get_title() for ax in fig.axes] == [
        "training loss", "MLM accuracy (masked tokens)", "learning rate"]
    x, y = fig.axes[0].lines[0].get_data()
    assert list(x) == list(range(5, 55, 5)) and y[0] == 2.0

    only = viz.plot_training_curves(viz.read_metrics(str(path)),
                                    keys=("loss", "sentence_accuracy", "tokens_per_second"))
    assert len(only.axes) == 2  # no sentence_accuracy in this run
    out = viz.save_figure(fig, str(tmp_path / "curves.png"))
    assert (tmp_path / "curves.png").stat().st_size > 1000 and out.endswith("curves.png")


def test_errors_name_the_problem(tmp_path):
    with pytest.raises(FileNotFoundError, match="metrics.jsonl"):
        viz.read_metrics(str(tmp_path))
    _write(tmp_path / "metrics.jsonl", [])
    with pytest.raises(ValueError, match="no metrics lines"):
        viz.read_metrics(str(tmp_path))
    _write(tmp_path / "metrics.jsonl", [{"step": 1, "loss": 1.0}])
    with pytest.raises(ValueError, match="none of"):
        viz.plot_training_curves(str(tmp_path), keys=("mlm_accuracy",))
