"""Contextual embeddings: how the vector of one word changes with its sentence.

A static embedding gives "apple" one vector; a contextual encoder gives it one per sentence.
Comparing those vectors across sentences (cosine similarity) shows whether the model separates
the senses: "apple" the fruit should sit closer to the other fruit sentences than to the
company sentences.
"""

import numpy as np

from keras_bert_zoo import models
from keras_bert_zoo.extras import require
from keras_bert_zoo.viz.attention import encoder_states

# Ten contexts of one word in two senses (five each), for the default picture and the tests.
APPLE_CONTEXTS = [
    ("fruit", "She sliced a ripe apple and added it to the salad."),
    ("fruit", "The apple tree in our garden is full of fruit this autumn."),
    ("fruit", "He ate a crisp green apple after lunch."),
    ("fruit", "Grandma baked an apple pie with cinnamon."),
    ("fruit", "Peel the apple, remove the core and cut it into small pieces."),
    ("company", "Apple released a new iPhone at its event in California."),
    ("company", "Shares of Apple rose after the company reported record profits."),
    ("company", "The developers wrote an app for the Apple App Store."),
    ("company", "Apple and Microsoft compete in the software market."),
    ("company", "The CEO of Apple announced a new laptop with a faster chip."),
]


def _find(sequence, pattern):
    for start in range(len(sequence) - len(pattern) + 1):
        if list(sequence[start:start + len(pattern)]) == list(pattern):
            return start
    return -1


def _word_patterns(tokenizer, word):
    """Token-id sequences the word can take inside a sentence (case, leading space for BPE)."""
    patterns = []
    for form in (word, " " + word, word.capitalize(), " " + word.capitalize(), word.lower(),
                 " " + word.lower()):
        ids = [int(i) for i in np.asarray(tokenizer.tokenize(form))]
        if ids and ids not in patterns:
            patterns.append(ids)
    return patterns


def word_embeddings(backbone, preprocessor, sentences, word, *, layer=-1):
    """The contextual vector of `word` in each sentence: the mean over its subword tokens.

    Args:
        backbone: any keras_bert_zoo backbone (BART: its encoder).
        preprocessor: the matching `Preprocessor`.
        sentences: texts that each contain `word`.
        word: the word to follow (its first occurrence in each sentence is used).
        layer: which hidden state: -1 = the last block, 0 = the embedding output.

    Returns:
        float32 `[len(sentences), hidden_dim]`.
    """
    import tensorflow as tf

    tokenizer = preprocessor.tokenizer
    patterns = _word_patterns(tokenizer, word)
    inputs = preprocessor(tf.constant(list(sentences)))
    if models.family_of(backbone) == "bart":
        inputs = {"encoder_token_ids": inputs["token_ids"],
                  "encoder_padding_mask": inputs["padding_mask"]}
        token_ids = np.asarray(inputs["encoder_token_ids"])
    else:
        token_ids = np.asarray(inputs["token_ids"])
    hidden = encoder_states(backbone, inputs)["hidden_states"][layer]  # (batch, length, hidden)
    vectors = []
    for row, sentence in enumerate(sentences):
        for pattern in patterns:
            start = _find(token_ids[row], pattern)
            if start >= 0:
                vectors.append(hidden[row, start:start + len(pattern)].mean(axis=0))
                break
        else:
            raise ValueError(
                f"{word!r} was not found in sentence {row} ({sentence!r}) after tokenization "
                f"(it is tokenized as {patterns}); is it in the sentence, within "
                f"sequence_length={preprocessor.sequence_length} tokens?"
            )
    return np.stack(vectors).astype("float32")


def cosine_similarity_matrix(vectors):
    """Cosine similarity of every pair of rows: symmetric, ones on the diagonal.

    Example:
    >>> cosine_similarity_matrix(np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 2.0]])).round(3)
    array([[1.   , 0.707, 0.   ],
           [0.707, 1.   , 0.707],
           [0.   , 0.707, 1.   ]], dtype=float32)
    """
    vectors = np.asarray(vectors, "float64")
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    if np.any(norms == 0):
        raise ValueError("a zero vector has no direction; cosine similarity is undefined")
    unit = vectors / norms
    matrix = np.clip(unit @ unit.T, -1.0, 1.0)
    matrix = (matrix + matrix.T) / 2  # exact symmetry despite rounding
    np.fill_diagonal(matrix, 1.0)
    return matrix.astype("float32")


def contextual_similarity(backbone, preprocessor, sentences, word, *, layer=-1):
    """`cosine_similarity_matrix(word_embeddings(...))`: `[n, n]` for `n` sentences."""
    return cosine_similarity_matrix(
        word_embeddings(backbone, preprocessor, sentences, word, layer=layer))


def sense_separation(matrix, senses):
    """Mean similarity within senses minus mean similarity across senses (off-diagonal).

    Positive when same-sense contexts are closer to each other than to the other sense.

    Example:
    >>> matrix = np.array([[1.0, 0.9, 0.2], [0.9, 1.0, 0.3], [0.2, 0.3, 1.0]])
    >>> round(sense_separation(matrix, ["a", "a", "b"]), 3)
    0.65
    """
    matrix = np.asarray(matrix, "float64")
    senses = np.asarray(senses)
    same = senses[:, None] == senses[None, :]
    off_diagonal = ~np.eye(len(senses), dtype=bool)
    return float(matrix[same & off_diagonal].mean() - matrix[~same].mean())


def plot_similarity(matrix, labels, *, title=None, annotate=True):
    """Heatmap of a similarity matrix with a label per row and column.

    Args:
        matrix: `[n, n]` similarities (from `contextual_similarity`).
        labels: `n` row/column labels (e.g. "fruit: She sliced a ripe apple...").
        title: figure title.
        annotate: write each value in its cell.

    Returns:
        A `matplotlib.figure.Figure`.
    """
    Figure = require("matplotlib.figure", "viz", "Plotting").Figure

    matrix = np.asarray(matrix, "float32")
    n = len(labels)
    if matrix.shape != (n, n):
        raise ValueError(f"matrix of shape {matrix.shape} does not match {n} labels")
    fig = Figure(figsize=(4.0 + 0.45 * n, 1.5 + 0.45 * n))
    ax = fig.add_subplot()
    image = ax.imshow(matrix, cmap="magma", vmin=min(0.0, float(matrix.min())), vmax=1.0)
    ax.set_xticks(range(n), [str(i) for i in range(n)], fontsize=8)
    ax.set_yticks(range(n), [f"{label} ({i})" for i, label in enumerate(labels)], fontsize=8)
    if annotate:
        for i in range(n):
            for j in range(n):
                value = matrix[i, j]
                ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=6,
                        color="black" if value > 0.6 else "white")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="cosine similarity")
    ax.set_title(title or "cosine similarity of contextual embeddings", fontsize=10)
    fig.tight_layout()
    return fig


def _shorten(text, width):
    return text if len(text) <= width else text[: width - 3] + "..."


def context_labels(contexts, width=38):
    """`"sense: sentence..."` labels for `(sense, sentence)` pairs such as `APPLE_CONTEXTS`."""
    return [f"{sense}: {_shorten(sentence, width)}" for sense, sentence in contexts]
