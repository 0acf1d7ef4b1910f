"""RoBERTa (Liu et al., 2019): BERT's encoder without segment embeddings or pooler."""

import keras

from keras_bert_zoo.layers import (
    TextEmbeddings,
    TransformerEncoder,
    get_activation,
    truncated_normal,
)
from keras_bert_zoo.models.backbone import Backbone, check_divisible, check_positive, check_rate


@keras.saving.register_keras_serializable(package="keras_bert_zoo")
class RobertaBackbone(Backbone):
    """The RoBERTa encoder network.

    Inputs `token_ids`, `padding_mask`; output `sequence_output`. There is no segment table and
    no pooler: RoBERTa's classification head (dense + tanh over `<s>`) belongs to the task.
    Positions are numbered exactly as fairseq and Hugging Face do: real tokens from
    `padding_idx + 1 = 2`, padding tokens at `padding_idx = 1`, so the position table has
    `max_sequence_length + 2` rows (514 for the released models) and converted weights line up.

    Args:
        vocabulary_size: byte-level BPE vocabulary size (50265 for the released models).
        num_layers: number of transformer blocks.
        num_heads: attention heads; must divide `hidden_dim`.
        hidden_dim: width of the hidden states.
        intermediate_dim: width of the feed-forward layer.
        dropout: dropout rate.
        max_sequence_length: longest input (512).
        activation: "gelu" (erf form, as fairseq) or "gelu_approximate".
        layer_norm_epsilon: 1e-5, as fairseq.

    Example:
    >>> backbone = RobertaBackbone(vocabulary_size=100, num_layers=2, num_heads=2,
    ...                            hidden_dim=16, intermediate_dim=32)
    >>> ones = keras.ops.ones((1, 8), "int32")
    >>> tuple(backbone({"token_ids": ones, "padding_mask": ones})["sequence_output"].shape)
    (1, 8, 16)
    """

    padding_index = 1  # fairseq's `<pad>` id, which also anchors the position numbering

    def __init__(
        self,
        vocabulary_size,
        num_layers,
        num_heads,
        hidden_dim,
        intermediate_dim,
        dropout=0.1,
        max_sequence_length=512,
        activation="gelu",
        layer_norm_epsilon=1e-5,
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
        )
        check_rate(dropout=dropout)
        check_divisible(hidden_dim, num_heads)

        # === Layers ===
        self.embeddings = TextEmbeddings(
            vocabulary_size=vocabulary_size,
            embedding_dim=hidden_dim,
            max_sequence_length=max_sequence_length,
            num_segments=0,
            position_offset=self.padding_index + 1,
            padding_aware_positions=True,
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
                dtype=dtype,
                name=f"transformer_layer_{i}",
            )
            for i in range(num_layers)
        ]

        # === Wiring ===
        token_ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
        padding_mask = keras.Input(shape=(None,), dtype="int32", name="padding_mask")

        x = self.embeddings({"token_ids": token_ids, "padding_mask": padding_mask})
        for block in self.transformer_layers:
            x = block(x, padding_mask=padding_mask)
        super().__init__(
            inputs={"token_ids": token_ids, "padding_mask": padding_mask},
            outputs={"sequence_output": x},
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
        self.activation = activation
        self.layer_norm_epsilon = layer_norm_epsilon
