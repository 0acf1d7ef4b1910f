"""ALBERT (Lan et al., 2019): factorized embedding E < H and cross-layer parameter sharing."""

import keras

from keras_bert_zoo.layers import (
    TextEmbeddings,
    TransformerEncoder,
    get_activation,
    truncated_normal,
)
from keras_bert_zoo.models.backbone import Backbone, check_divisible, check_positive, check_rate


@keras.saving.register_keras_serializable(package="keras_bert_zoo")
class AlbertBackbone(Backbone):
    """The ALBERT encoder network.

    Same contract as `BertBackbone`. Embeddings are `embedding_dim` (E) wide and projected to
    `hidden_dim` (H). The `num_layers` calls go through `num_groups` groups of shared blocks:
    layer `i` uses group `i // (num_layers // num_groups)`; each group holds
    `num_inner_repetitions` blocks applied in order (ALBERT's `inner_group_num`). Shared block
    `j` of group `g` is named `transformer_layer_{g * num_inner_repetitions + j}`.

    Args:
        vocabulary_size: SentencePiece vocabulary size (30000 in the paper).
        num_layers: number of block applications (depth of the network).
        num_heads: attention heads; must divide `hidden_dim`.
        embedding_dim: E, width of the embedding tables; at most `hidden_dim`.
        hidden_dim: H, width of the hidden states.
        intermediate_dim: width of the feed-forward layer.
        num_groups: number of distinct parameter groups; must divide `num_layers`.
            1 (default) = all layers share one block.
        num_inner_repetitions: blocks per group.
        dropout: dropout rate (0 for ALBERT v2).
        max_sequence_length: rows of the position table.
        num_segments: rows of the segment table.
        activation: "gelu_approximate" (the original "gelu_new") or "gelu".
        layer_norm_epsilon: LayerNorm epsilon.

    Example:
    >>> backbone = AlbertBackbone(vocabulary_size=100, num_layers=4, num_heads=2,
    ...                           embedding_dim=8, hidden_dim=16, intermediate_dim=32)
    >>> len(backbone.shared_layers)  # four layers, one block of weights
    1
    """

    def __init__(
        self,
        vocabulary_size,
        num_layers,
        num_heads,
        embedding_dim,
        hidden_dim,
        intermediate_dim,
        num_groups=1,
        num_inner_repetitions=1,
        dropout=0.0,
        max_sequence_length=512,
        num_segments=2,
        activation="gelu_approximate",
        layer_norm_epsilon=1e-12,
        dtype=None,
        **kwargs,
    ):
        check_positive(
            vocabulary_size=vocabulary_size,
            num_layers=num_layers,
            num_heads=num_heads,
            embedding_dim=embedding_dim,
            hidden_dim=hidden_dim,
            intermediate_dim=intermediate_dim,
            num_groups=num_groups,
            num_inner_repetitions=num_inner_repetitions,
            max_sequence_length=max_sequence_length,
            num_segments=num_segments,
        )
        check_rate(dropout=dropout)
        check_divisible(hidden_dim, num_heads)
        if embedding_dim > hidden_dim:
            raise ValueError(
                f"embedding_dim={embedding_dim} is larger than hidden_dim={hidden_dim}; ALBERT's "
                "factorized embedding needs embedding_dim <= hidden_dim"
            )
        if num_layers % num_groups:
            raise ValueError(
                f"num_layers={num_layers} is not divisible by num_groups={num_groups}; every "
                "group of shared parameters must serve the same number of layers"
            )

        # === Layers ===
        self.embeddings = TextEmbeddings(
            vocabulary_size=vocabulary_size,
            embedding_dim=embedding_dim,
            max_sequence_length=max_sequence_length,
            num_segments=num_segments,
            projection_dim=hidden_dim,  # factorized: E -> H
            layer_norm_epsilon=layer_norm_epsilon,
            dropout=dropout,
            dtype=dtype,
            name="embeddings",
        )
        self._token_embedding = self.embeddings.token_embedding
        self.shared_layers = [
            TransformerEncoder(
                num_heads=num_heads,
                intermediate_dim=intermediate_dim,
                activation=get_activation(activation),
                dropout=dropout,
                layer_norm_epsilon=layer_norm_epsilon,
                kernel_initializer=truncated_normal(),
                dtype=dtype,
                name=f"transformer_layer_{i}",
            )
            for i in range(num_groups * num_inner_repetitions)
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

        x = self.embeddings({"token_ids": token_ids, "segment_ids": segment_ids})  # E -> H
        layers_per_group = num_layers // num_groups
        for i in range(num_layers):
            group = i // layers_per_group
            for j in range(num_inner_repetitions):
                block = self.shared_layers[group * num_inner_repetitions + j]
                x = block(x, padding_mask=padding_mask)
        pooled = self.pooler(x[:, 0, :])
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
        self.embedding_dim = embedding_dim
        self.hidden_dim = hidden_dim
        self.intermediate_dim = intermediate_dim
        self.num_groups = num_groups
        self.num_inner_repetitions = num_inner_repetitions
        self.dropout = dropout
        self.max_sequence_length = max_sequence_length
        self.num_segments = num_segments
        self.activation = activation
        self.layer_norm_epsilon = layer_norm_epsilon
