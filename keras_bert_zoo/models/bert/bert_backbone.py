"""BERT (Devlin et al., 2018): token + segment + position embeddings, post-LN encoder, pooler."""

import keras

from keras_bert_zoo.layers import (
    TextEmbeddings,
    TransformerEncoder,
    get_activation,
    truncated_normal,
)
from keras_bert_zoo.models.backbone import Backbone, check_divisible, check_positive, check_rate


@keras.saving.register_keras_serializable(package="keras_bert_zoo")
class BertBackbone(Backbone):
    """The BERT encoder network.

    Inputs `token_ids`, `segment_ids`, `padding_mask` (int, `[batch, length]`); outputs
    `sequence_output` (`[batch, length, hidden_dim]`) and `pooled_output` (tanh pooler over the
    [CLS] position, `[batch, hidden_dim]`).

    Args:
        vocabulary_size: number of WordPiece tokens (30522 for the original English vocab).
        num_layers: number of transformer blocks.
        num_heads: attention heads per block; must divide `hidden_dim`.
        hidden_dim: width of the hidden states.
        intermediate_dim: width of the feed-forward layer (4 * hidden_dim in the papers).
        dropout: dropout on embeddings, attention probabilities and block outputs.
        max_sequence_length: rows of the learned position table.
        num_segments: rows of the segment (token type) table.
        activation: "gelu_approximate" (tanh form, the original TF code) or "gelu" (erf form,
            Hugging Face `hidden_act="gelu"`).
        layer_norm_epsilon: 1e-12 in the original code.

    Example:
    >>> backbone = BertBackbone(vocabulary_size=100, num_layers=2, num_heads=2, hidden_dim=16,
    ...                         intermediate_dim=32)
    >>> ones = keras.ops.ones((1, 8), "int32")
    >>> out = backbone({"token_ids": ones, "segment_ids": 0 * ones, "padding_mask": ones})
    >>> tuple(out["pooled_output"].shape)
    (1, 16)
    """

    def __init__(
        self,
        vocabulary_size,
        num_layers,
        num_heads,
        hidden_dim,
        intermediate_dim,
        dropout=0.1,
        max_sequence_length=512,
        num_segments=2,
        activation="gelu_approximate",
        layer_norm_epsilon=1e-12,  # original BERT TF code
        dtype=None,
        **kwargs,
    ):
        check_positive(
            vocabulary_size=vocabulary_size,
            num_layers=num_layers,
            num_heads=num_heads,
            hidden_dim=hidden_dim,
            intermediate_dim=intermediate_dim,
            max_sequence_length=max_sequence_length,
            num_segments=num_segments,
        )
        check_rate(dropout=dropout)
        check_divisible(hidden_dim, num_heads)

        # === Layers ===
        self.embeddings = TextEmbeddings(
            vocabulary_size=vocabulary_size,
            embedding_dim=hidden_dim,
            max_sequence_length=max_sequence_length,
            num_segments=num_segments,
            layer_norm_epsilon=layer_norm_epsilon,
            dropout=dropout,
            dtype=dtype,
            name="embeddings",
        )
        self._token_embedding = self.embeddings.token_embedding
        self.transformer_layers = [
            TransformerEncoder(
                num_heads=num_heads,
                intermediate_dim=intermediate_dim,
                activation=get_activation(activation),
                dropout=dropout,
                layer_norm_epsilon=layer_norm_epsilon,
                kernel_initializer=truncated_normal(),
                normalize_first=False,  # post-LN, as in the paper
                dtype=dtype,
                name=f"transformer_layer_{i}",
            )
            for i in range(num_layers)
        ]
        self.pooler = keras.layers.Dense(
            hidden_dim,
            activation="tanh",
            kernel_initializer=truncated_normal(),
            dtype=dtype,
            name="pooler",
        )

        # === Wiring ===
        token_ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
        segment_ids = keras.Input(shape=(None,), dtype="int32", name="segment_ids")
        padding_mask = keras.Input(shape=(None,), dtype="int32", name="padding_mask")

        x = self.embeddings({"token_ids": token_ids, "segment_ids": segment_ids})
        for block in self.transformer_layers:
            x = block(x, padding_mask=padding_mask)
        pooled = self.pooler(x[:, 0, :])  # the [CLS] position
        super().__init__(
            inputs={
                "token_ids": token_ids,
                "segment_ids": segment_ids,
                "padding_mask": padding_mask,
            },
            outputs={"sequence_output": x, "pooled_output": pooled},
            dtype=dtype,
            **kwargs,
        )

        # === Config ===
        self.vocabulary_size = vocabulary_size
        self.num_layers = num_layers
        self.num_heads = num_heads
        self.hidden_dim = hidden_dim
        self.intermediate_dim = intermediate_dim
        self.dropout = dropout
        self.max_sequence_length = max_sequence_length
        self.num_segments = num_segments
        self.activation = activation
        self.layer_norm_epsilon = layer_norm_epsilon
