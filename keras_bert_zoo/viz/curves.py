"""Training curves from a run's `metrics.jsonl` (one JSON object per logging step)."""

import json
import math
import os

import numpy as np

from keras_bert_zoo.extras import require

DEFAULT_CURVES = ("loss", "mlm_accuracy", "learning_rate")

_TITLES = {
    "loss": "training loss",
    "mlm_loss": "MLM loss",
    "mlm_accuracy": "MLM accuracy (masked tokens)",
    "sentence_accuracy": "NSP/SOP accuracy",
    "sentence_loss": "NSP/SOP loss",
    "learning_rate": "learning rate",
    "tokens_per_second": "tokens / second",
}


def read_metrics(path):
    """Reads `metrics.jsonl` (or a run directory holding one) into arrays.

    A resumed run logs some steps again; the last line for a step wins. Lines that are not
    JSON (a run killed mid-write) are skipped.

    Args:
        path: the file, or the run's output directory.

    Returns:
        Dict name -> float64 array over the logged steps, sorted by `step`; a metric missing
        from a line is NaN there.

    Example:
    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "metrics.jsonl")
    >>> with open(path, "w") as f:
    ...     _ = f.write('{"step": 20, "loss": 3.0}\\n{"step": 10, "loss": 4.0}\\n')
    >>> metrics = read_metrics(path)
    >>> metrics["step"].tolist(), metrics["loss"].tolist()
    ([10.0, 20.0], [4.0, 3.0])
    """
    if os.path.isdir(path):
        path = os.path.join(path, "metrics.jsonl")
    if not os.path.exists(path):
        raise FileNotFoundError(
            f"no metrics file at {path!r}; a training run writes OUTPUT_DIR/metrics.jsonl"
        )
    records = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(record, dict) and "step" in record:
                records[int(record["step"])] = record
    if not records:
        raise ValueError(f"{path!r} has no metrics lines yet")
    steps = sorted(records)
    names = sorted({name for record in records.values() for name in record})
    return {
        name: np.array([float(records[s].get(name, math.nan)) for s in steps], "float64")
        for name in names
    }


def plot_training_curves(metrics, *, keys=DEFAULT_CURVES, title=None):
    """One panel per metric against the step.

    Args:
        metrics: the dict of `read_metrics`, or a path for it.
        keys: the metrics to draw, in order; names missing from the run are left out.
        title: figure title.

    Returns:
        A `matplotlib.figure.Figure`.
    """
    Figure = require("matplotlib.figure", "viz", "Plotting").Figure

    if isinstance(metrics, (str, os.PathLike)):
        metrics = read_metrics(metrics)
    present = [key for key in keys if key in metrics and np.isfinite(metrics[key]).any()]
    if not present:
        raise ValueError(f"none of {list(keys)} is in the metrics ({sorted(metrics)})")
    fig = Figure(figsize=(3.6 * len(present), 3.0))
    axes = fig.subplots(1, len(present), squeeze=False)[0]
    step = metrics["step"]
    for ax, key in zip(axes, present):
        ax.plot(step, metrics[key], marker="o", markersize=2.5, linewidth=1.4)
        ax.set_title(_TITLES.get(key, key), fontsize=10)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        if key == "learning_rate":
            ax.ticklabel_format(axis="y", style="sci", scilimits=(-3, 3))
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
