"""Input embeddings shared by every family: token + segment + position -> LayerNorm -> dropout."""

import keras
from keras import ops
from keras_hub.layers import PositionEmbedding, ReversibleEmbedding

from keras_bert_zoo.layers.dropout import Dropout
from keras_bert_zoo.layers.normalization import LayerNormalization


def truncated_normal(stddev=0.02):
    """The initializer of the original BERT, ALBERT, RoBERTa and BART code."""
    return keras.initializers.TruncatedNormal(stddev=stddev)


@keras.saving.register_keras_serializable(package="keras_bert_zoo")
class TextEmbeddings(keras.layers.Layer):
    """Sum of token, segment and position embeddings, LayerNorm, dropout, optional E->H projection.

    Covers the four families with three switches:
    - `num_segments=0` drops segment embeddings (RoBERTa, BART);
    - `position_offset` reserves rows before the first position (RoBERTa and BART use 2, so a
      converted position table lines up row for row with the original);
    - `padding_aware_positions=True` numbers positions like fairseq/HF RoBERTa:
      `cumsum(mask) * mask + position_offset - 1`, so padding tokens sit at the padding index
      and left-padded inputs get the same positions as unpadded ones.
    - `projection_dim` adds ALBERT's factorized projection from E=embedding_dim to H.

    Args:
        vocabulary_size: number of tokens.
        embedding_dim: width of the embedding tables (E).
        max_sequence_length: longest sequence the position table supports.
        num_segments: rows of the segment table, 0 for none.
        position_offset: rows reserved before position 0.
        padding_aware_positions: number positions from the padding mask (RoBERTa).
        projection_dim: if set, project the normalized embeddings to this width (ALBERT).
        layer_norm_epsilon: LayerNorm epsilon.
        dropout: dropout rate after the LayerNorm.
        token_embedding: an existing `ReversibleEmbedding` to share (BART's encoder and decoder
            share one table). It is not part of the config; the owner rebuilds it.

    Example:
    >>> layer = TextEmbeddings(vocabulary_size=10, embedding_dim=4, max_sequence_length=8)
    >>> tuple(layer({"token_ids": ops.ones((2, 3), "int32")}).shape)
    (2, 3, 4)
    """

    def __init__(
        self,
        vocabulary_size,
        embedding_dim,
        max_sequence_length,
        num_segments=0,
        position_offset=0,
        padding_aware_positions=False,
        projection_dim=None,
        layer_norm_epsilon=1e-12,
        dropout=0.0,
        token_embedding=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if padding_aware_positions and position_offset < 1:
            raise ValueError(
                "padding_aware_positions=True needs position_offset >= 1 (the padding index is "
                f"position_offset - 1); got position_offset={position_offset}"
            )
        self.vocabulary_size = vocabulary_size
        self.embedding_dim = embedding_dim
        self.max_sequence_length = max_sequence_length
        self.num_segments = num_segments
        self.position_offset = position_offset
        self.padding_aware_positions = padding_aware_positions
        self.projection_dim = projection_dim
        self.layer_norm_epsilon = layer_norm_epsilon
        self.dropout = dropout

        if token_embedding is None:
            token_embedding = ReversibleEmbedding(
                vocabulary_size,
                embedding_dim,
                embeddings_initializer=truncated_normal(),
                dtype=self.dtype_policy,
                name="token_embedding",
            )
        self.token_embedding = token_embedding
        self.position_embedding = PositionEmbedding(
            sequence_length=max_sequence_length + position_offset,
            initializer=truncated_normal(),
            dtype=self.dtype_policy,
            name="position_embedding",
        )
        self.segment_embedding = None
        if num_segments:
            self.segment_embedding = keras.layers.Embedding(
                num_segments,
                embedding_dim,
                embeddings_initializer=truncated_normal(),
                dtype=self.dtype_policy,
                name="segment_embedding",
            )
        self.layer_norm = LayerNormalization(
            epsilon=layer_norm_epsilon, dtype=self.dtype_policy, name="layer_norm"
        )
        self.dropout_layer = Dropout(
            dropout, dtype=self.dtype_policy, name="dropout"
        )
        self.projection = None
        if projection_dim is not None:
            self.projection = keras.layers.Dense(
                projection_dim,
                kernel_initializer=truncated_normal(),
                dtype=self.dtype_policy,
                name="projection",
            )

    def build(self, input_shape):
        token_shape = tuple(input_shape["token_ids"])
        if not self.token_embedding.built:
            self.token_embedding.build(token_shape)
        self.position_embedding.build(token_shape + (self.embedding_dim,))
        if self.segment_embedding is not None:
            self.segment_embedding.build(token_shape)
        self.layer_norm.build(token_shape + (self.embedding_dim,))
        if self.projection is not None:
            self.projection.build(token_shape + (self.embedding_dim,))
        self.built = True

    def _positions(self, token_ids, padding_mask):
        if self.padding_aware_positions:
            if padding_mask is None:
                padding_mask = ops.ones_like(token_ids)
            mask = ops.cast(padding_mask, "int32")
            # fairseq `make_positions`: padding at padding_idx, real tokens from padding_idx + 1.
            return ops.cumsum(mask, axis=1) * mask + (self.position_offset - 1)
        length = ops.shape(token_ids)[1]
        return ops.arange(length, dtype="int32")[None, :] + self.position_offset

    def call(self, inputs, training=None):
        token_ids = inputs["token_ids"]
        x = self.token_embedding(token_ids)
        positions = self._positions(token_ids, inputs.get("padding_mask"))
        x = x + self.position_embedding(x, positions=positions)
        if self.segment_embedding is not None:
            segment_ids = inputs.get("segment_ids")
            if segment_ids is None:
                segment_ids = ops.zeros_like(token_ids)
            x = x + self.segment_embedding(segment_ids)
        x = self.layer_norm(x)
        x = self.dropout_layer(x, training=training)
        if self.projection is not None:
            x = self.projection(x)
        return x

    def compute_output_shape(self, input_shape):
        width = self.projection_dim or self.embedding_dim
        return tuple(input_shape["token_ids"]) + (width,)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "vocabulary_size": self.vocabulary_size,
                "embedding_dim": self.embedding_dim,
                "max_sequence_length": self.max_sequence_length,
                "num_segments": self.num_segments,
                "position_offset": self.position_offset,
                "padding_aware_positions": self.padding_aware_positions,
                "projection_dim": self.projection_dim,
                "layer_norm_epsilon": self.layer_norm_epsilon,
                "dropout": self.dropout,
            }
        )
        return config
