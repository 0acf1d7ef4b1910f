"""Attention maps of any backbone: run the encoder block by block and keep the scores.

The backbones are functional models that return only their last hidden states, so the maps
are read by replaying the backbone's own wiring (embeddings, then each
`transformer_layer_{i}` with `return_attention_scores=True`) on the same weights. The replay
ends in exactly the backbone's `sequence_output` (BART: `encoder_sequence_output`), which the
tests check.
"""

import numpy as np

from keras_bert_zoo import models
from keras_bert_zoo.extras import require


def _as_numpy(x):
    return np.asarray(x).astype("float32")


def _encoder_blocks(backbone):
    """The encoder blocks in the order they are applied (ALBERT repeats its shared blocks)."""
    family = models.family_of(backbone)
    if family == "bart":
        return [backbone.get_layer(f"encoder_transformer_layer_{i}")
                for i in range(backbone.num_layers)]
    if family == "albert":
        layers_per_group = backbone.num_layers // backbone.num_groups
        reps = backbone.num_inner_repetitions
        return [
            backbone.get_layer(f"transformer_layer_{(i // layers_per_group) * reps + j}")
            for i in range(backbone.num_layers)
            for j in range(reps)
        ]
    return [backbone.get_layer(f"transformer_layer_{i}") for i in range(backbone.num_layers)]


def _embed(backbone, inputs):
    """The embedding output and the padding mask, from the backbone's usual input dict."""
    family = models.family_of(backbone)
    if family == "bart":
        token_ids = inputs.get("encoder_token_ids", inputs.get("token_ids"))
        padding_mask = inputs.get("encoder_padding_mask", inputs.get("padding_mask"))
        x = backbone.get_layer("encoder_embeddings")({"token_ids": token_ids}, training=False)
        return x, padding_mask
    padding_mask = inputs["padding_mask"]
    features = {"token_ids": inputs["token_ids"]}
    if family == "roberta":
        features["padding_mask"] = padding_mask  # positions are numbered from the mask
    else:
        features["segment_ids"] = inputs.get("segment_ids", np.zeros_like(inputs["token_ids"]))
    return backbone.get_layer("embeddings")(features, training=False), padding_mask


def encoder_states(backbone, inputs):
    """Hidden states and attention probabilities of every encoder block, as NumPy arrays.

    Args:
        backbone: any keras_bert_zoo backbone (BART: its encoder).
        inputs: the backbone's input dict (`token_ids`, `padding_mask`, `segment_ids` where
            the family has them), e.g. the output of a `Preprocessor`.

    Returns:
        A dict with `hidden_states` (`[num_blocks + 1, batch, length, hidden_dim]`: the
        embedding output, then each block's output) and `attention_scores`
        (`[num_blocks, batch, num_heads, length, length]`, softmax over keys, so every query
        row sums to 1 over the unpadded keys).

    Example:
    >>> from keras_bert_zoo.models import BertBackbone
    >>> backbone = BertBackbone(vocabulary_size=50, num_layers=2, num_heads=2, hidden_dim=8,
    ...                         intermediate_dim=16)
    >>> ids = np.array([[2, 7, 9, 3, 0]], "int32")
    >>> states = encoder_states(backbone, {"token_ids": ids, "padding_mask": ids > 0,
    ...                                    "segment_ids": 0 * ids})
    >>> states["hidden_states"].shape, states["attention_scores"].shape
    ((3, 1, 5, 8), (2, 1, 2, 5, 5))
    """
    inputs = {k: np.asarray(v) for k, v in dict(inputs).items()}
    x, padding_mask = _embed(backbone, inputs)
    padding_mask = np.asarray(padding_mask).astype("int32")
    hidden, scores = [_as_numpy(x)], []
    for block in _encoder_blocks(backbone):
        x, attention = block(x, padding_mask=padding_mask, training=False,
                             return_attention_scores=True)
        hidden.append(_as_numpy(x))
        scores.append(_as_numpy(attention))
    return {"hidden_states": np.stack(hidden), "attention_scores": np.stack(scores)}


def attention_scores(backbone, inputs):
    """Attention probabilities `[num_blocks, batch, num_heads, length, length]` (query, key).

    Args:
        backbone: any keras_bert_zoo backbone (BART: encoder self-attention).
        inputs: the backbone's input dict.
    """
    return encoder_states(backbone, inputs)["attention_scores"]


def token_strings(preprocessor, token_ids, padding_mask=None):
    """The token strings of one row of ids, cut at the padding.

    Example:
    >>> from keras_bert_zoo.tokenizers import Preprocessor, WordPieceTokenizer
    >>> specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    >>> preprocessor = Preprocessor(WordPieceTokenizer(specials + ["a", "man", "plays"]),
    ...                             sequence_length=6)
    >>> inputs = preprocessor(["A man plays."])
    >>> token_strings(preprocessor, inputs["token_ids"][0], inputs["padding_mask"][0])
    ['[CLS]', 'a', 'man', 'plays', '[UNK]', '[SEP]']
    """
    tokenizer = getattr(preprocessor, "tokenizer", preprocessor)
    ids = np.asarray(token_ids).reshape(-1)
    if padding_mask is not None:
        ids = ids[: int(np.asarray(padding_mask).astype(bool).sum())]
    return [tokenizer.id_to_token(int(i)) for i in ids]


def sentence_attention(backbone, preprocessor, text):
    """Attention of one sentence, cut to its real tokens.

    Args:
        backbone: any keras_bert_zoo backbone.
        preprocessor: the matching `Preprocessor` (strings -> inputs).
        text: one sentence, or a pair `(text_a, text_b)`.

    Returns:
        `(scores, tokens)`: scores `[num_blocks, num_heads, n, n]` over the `n` real tokens,
        and their `n` token strings.
    """
    import tensorflow as tf

    if isinstance(text, tuple):
        inputs = preprocessor((tf.constant([text[0]]), tf.constant([text[1]])))
    else:
        inputs = preprocessor(tf.constant([text]))
    if models.family_of(backbone) == "bart":
        inputs = {"encoder_token_ids": inputs["token_ids"],
                  "encoder_padding_mask": inputs["padding_mask"]}
        mask = inputs["encoder_padding_mask"][0]
        ids = inputs["encoder_token_ids"][0]
    else:
        mask, ids = inputs["padding_mask"][0], inputs["token_ids"][0]
    n = int(np.asarray(mask).sum())
    scores = attention_scores(backbone, inputs)[:, 0, :, :n, :n]
    return scores, token_strings(preprocessor, ids, mask)


def _heatmap(ax, matrix, tokens=None, *, cmap="viridis", vmin=0.0, vmax=None):
    image = ax.imshow(matrix, cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
    if tokens is None:
        ax.set_xticks([])
        ax.set_yticks([])
    else:
        ax.set_xticks(range(len(tokens)), tokens, rotation=90, fontsize=8)
        ax.set_yticks(range(len(tokens)), tokens, fontsize=8)
    return image


def plot_attention(scores, tokens, *, layer=None, head=None, title=None, cell_size=None):
    """Token-to-token attention heatmaps of one sentence.

    Rows are queries, columns keys; each row sums to 1.

    Args:
        scores: `[num_blocks, num_heads, n, n]` (from `sentence_attention`).
        tokens: the `n` token strings.
        layer: one block index (negative counts from the end), or None for all.
        head: one head index, None for all, or "mean" for the average over heads.
        title: figure title.
        cell_size: inches per subplot in a grid (default: fits about 14 inches of width).

    Returns:
        A `matplotlib.figure.Figure`: one labelled heatmap when `layer` and `head` are both
        given (or `head="mean"`), else a grid of layers (rows) by heads (columns).
    """
    Figure = require("matplotlib.figure", "viz", "Plotting").Figure

    scores = np.asarray(scores, "float32")
    if scores.ndim != 4 or scores.shape[-2:] != (len(tokens), len(tokens)):
        raise ValueError(
            f"scores of shape {scores.shape} do not match {len(tokens)} tokens; expected "
            "[num_blocks, num_heads, n, n] as returned by sentence_attention"
        )
    if head == "mean":
        scores = scores.mean(axis=1, keepdims=True)
        head = 0
        head_label = "mean of heads"
    else:
        head_label = None
    layers = range(scores.shape[0]) if layer is None else [range(scores.shape[0])[layer]]
    heads = range(scores.shape[1]) if head is None else [range(scores.shape[1])[head]]
    if len(layers) == 1 and len(heads) == 1:
        (i,), (h,) = layers, heads
        size = max(3.5, 0.28 * len(tokens) + 1.5)
        fig = Figure(figsize=(size + 0.8, size))
        ax = fig.add_subplot()
        image = _heatmap(ax, scores[i, h], tokens)
        ax.set_xlabel("key")
        ax.set_ylabel("query")
        fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
        ax.set_title(title or f"layer {i}, {head_label or f'head {h}'}", fontsize=10)
        fig.tight_layout()
        return fig
    if cell_size is None:
        cell_size = min(2.0, max(0.9, 14.0 / len(heads)))
    fig = Figure(figsize=(cell_size * len(heads) + 0.5, cell_size * len(layers) + 0.6))
    axes = fig.subplots(len(layers), len(heads), squeeze=False)
    for r, i in enumerate(layers):
        for c, h in enumerate(heads):
            _heatmap(axes[r][c], scores[i, h], vmax=1.0)
            if r == 0:
                axes[r][c].set_title(head_label or f"head {h}", fontsize=7)
            if c == 0:
                axes[r][c].set_ylabel(f"layer {i}", fontsize=7)
    fig.suptitle(title or f"attention, {len(tokens)} tokens (rows: queries, columns: keys)",
                 fontsize=9)
    fig.tight_layout()
    return fig
