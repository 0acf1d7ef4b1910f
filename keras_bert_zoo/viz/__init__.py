"""Pictures of models and runs: attention heatmaps, contextual similarity, training curves.

Figures are plain `matplotlib.figure.Figure` objects drawn without pyplot (no display, no
global state); `save_figure` writes them as PNG or SVG with the Agg/SVG renderers.

Example:
>>> import numpy as np
>>> fig = plot_similarity(np.eye(2), ["a", "b"])
>>> len(fig.axes)  # the heatmap and its colorbar
2
"""

import os

from keras_bert_zoo.extras import require
from keras_bert_zoo.viz.attention import (
    attention_scores,
    encoder_states,
    plot_attention,
    sentence_attention,
    token_strings,
)
from keras_bert_zoo.viz.curves import DEFAULT_CURVES, plot_training_curves, read_metrics
from keras_bert_zoo.viz.similarity import (
    APPLE_CONTEXTS,
    context_labels,
    contextual_similarity,
    cosine_similarity_matrix,
    plot_similarity,
    sense_separation,
    word_embeddings,
)


def save_figure(fig, path, *, dpi=100):
    """Writes `fig` to `path` (`.png` or `.svg`), creating the directory; returns `path`.

    Example:
    >>> import os, tempfile
    >>> from matplotlib.figure import Figure
    >>> path = save_figure(Figure(figsize=(1, 1)), os.path.join(tempfile.mkdtemp(), "a.png"))
    >>> os.path.getsize(path) > 0
    True
    """
    backend = require("matplotlib.backends.backend_agg", "viz", "Saving figures")

    extension = os.path.splitext(path)[1].lower()
    if extension not in (".png", ".svg"):
        raise ValueError(f"{path!r}: save figures as .png or .svg")
    if fig.canvas is None or type(fig.canvas).__name__ == "FigureCanvasBase":
        backend.FigureCanvasAgg(fig)  # render off-screen; .svg switches to the SVG renderer itself
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fig.savefig(path, dpi=dpi, bbox_inches="tight",
                metadata={"Software": None} if extension == ".png" else {"Date": None})
    return path


__all__ = [
    "APPLE_CONTEXTS",
    "DEFAULT_CURVES",
    "attention_scores",
    "context_labels",
    "contextual_similarity",
    "cosine_similarity_matrix",
    "encoder_states",
    "plot_attention",
    "plot_similarity",
    "plot_training_curves",
    "read_metrics",
    "save_figure",
    "sense_separation",
    "sentence_attention",
    "token_strings",
    "word_embeddings",
]
