"""Contextual token embeddings and sentence embeddings from any encoder of the zoo."""

import keras
from keras import ops

from keras_bert_zoo.models.bart.bart_backbone import BartBackbone
from keras_bert_zoo.tasks.task import Task

POOLINGS = ("mean", "cls")


@keras.saving.register_keras_serializable(package="keras_bert_zoo")
class SentencePooling(keras.layers.Layer):
    """Token vectors -> one float32 vector per sequence: masked mean or the first token.

    Args:
        pooling: "mean" averages the non-padding positions (special tokens included, as
            sentence-transformers does); "cls" takes position 0 ([CLS] / `<s>`).
        normalize: divide by the L2 norm, so a dot product is a cosine similarity.

    Example:
    >>> x = ops.convert_to_tensor([[[1.0, 0.0], [3.0, 4.0], [9.0, 9.0]]])
    >>> SentencePooling("mean", normalize=False)(x, ops.array([[1, 1, 0]])).numpy().tolist()
    [[2.0, 2.0]]
    """

    def __init__(self, pooling="mean", normalize=True, **kwargs):
        super().__init__(**kwargs)
        if pooling not in POOLINGS:
            raise ValueError(f"pooling={pooling!r}; expected one of {', '.join(POOLINGS)}")
        self.pooling = pooling
        self.normalize = normalize

    def call(self, sequence, padding_mask):
        sequence = ops.cast(sequence, "float32")
        if self.pooling == "cls":
            pooled = sequence[:, 0, :]
        else:
            mask = ops.cast(padding_mask, "float32")[:, :, None]
            count = ops.maximum(ops.sum(mask, axis=1), 1.0)  # an all-padding row gives zeros
            pooled = ops.sum(sequence * mask, axis=1) / count
        if self.normalize:
            pooled = l2_normalize(pooled)
        return pooled

    def compute_output_shape(self, sequence_shape, padding_mask_shape=None):
        return (sequence_shape[0], sequence_shape[-1])

    def get_config(self):
        config = super().get_config()
        config.update({"pooling": self.pooling, "normalize": self.normalize})
        return config


def l2_normalize(x, epsilon=1e-12):
    """Rows of `x` divided by their L2 norm (zero rows stay zero)."""
    x = ops.cast(x, "float32")
    norm = ops.sqrt(ops.sum(ops.square(x), axis=-1, keepdims=True))
    return x / ops.maximum(norm, epsilon)


def cosine_similarity(a, b):
    """Cosine similarities: two vectors -> scalar; (n, d) and (m, d) -> (n, m) matrix.

    Example:
    >>> float(cosine_similarity([1.0, 0.0], [1.0, 1.0]))  # doctest: +ELLIPSIS
    0.7071...
    >>> tuple(cosine_similarity(ops.ones((2, 3)), ops.ones((4, 3))).shape)
    (2, 4)
    """
    a, b = l2_normalize(a), l2_normalize(b)
    if len(a.shape) == 1 and len(b.shape) == 1:
        return ops.sum(a * b)
    a = a if len(a.shape) == 2 else a[None]
    b = b if len(b.shape) == 2 else b[None]
    return ops.matmul(a, ops.transpose(b))


@keras.saving.register_keras_serializable(package="keras_bert_zoo")
class TextEmbedder(Task):
    """Contextual token embeddings and pooled sentence embeddings from an encoder backbone.

    Outputs a dict of float32 `sequence_output` (batch, length, hidden), the last encoder
    layer, and `embedding` (batch, hidden), its masked mean or first-token vector, L2-normalised
    by default. Inputs are the backbone's (`token_ids`, `padding_mask`, and `segment_ids` for
    BERT and ALBERT); for BART they are `token_ids` and `padding_mask` of the encoder, which
    runs alone (the decoder is not used).

    Args:
        backbone: a `BertBackbone`, `AlbertBackbone`, `RobertaBackbone` or `BartBackbone`.
        pooling: "mean" (padding excluded) or "cls".
        normalize: L2-normalise the sentence embedding.

    Example:
    >>> from keras_bert_zoo.models import BertBackbone
    >>> backbone = BertBackbone(vocabulary_size=50, num_layers=1, num_heads=2, hidden_dim=8,
    ...                         intermediate_dim=16)
    >>> ones = keras.ops.ones((2, 6), "int32")
    >>> out = TextEmbedder(backbone)({"token_ids": ones, "segment_ids": 0 * ones,
    ...                               "padding_mask": ones})
    >>> tuple(out["embedding"].shape), tuple(out["sequence_output"].shape)
    ((2, 8), (2, 6, 8))
    """

    def __init__(self, backbone, pooling="mean", normalize=True, **kwargs):
        # === Layers ===
        self.backbone = backbone
        self.pooler = SentencePooling(pooling, normalize, dtype="float32", name="pooling")

        # === Wiring ===
        if isinstance(backbone, BartBackbone):
            inputs = {
                "token_ids": keras.Input(shape=(None,), dtype="int32", name="token_ids"),
                "padding_mask": keras.Input(shape=(None,), dtype="int32", name="padding_mask"),
            }
            x = backbone.encoder_embeddings({"token_ids": inputs["token_ids"]})
            for block in backbone.encoder_layers:
                x = block(x, padding_mask=inputs["padding_mask"])
        elif "sequence_output" in backbone.output:
            inputs = dict(backbone.input)
            x = backbone(inputs)["sequence_output"]
        else:
            raise ValueError(f"{type(backbone).__name__} has no sequence_output to embed")
        outputs = {
            "sequence_output": ops.cast(x, "float32"),
            "embedding": self.pooler(x, inputs["padding_mask"]),
        }
        super().__init__(inputs=inputs, outputs=outputs,
                         backbone_dtype=backbone.dtype_policy, **kwargs)

        # === Config ===
        self.pooling = pooling
        self.normalize = normalize

    def get_config(self):
        return {**self._base_config(), "pooling": self.pooling, "normalize": self.normalize}
