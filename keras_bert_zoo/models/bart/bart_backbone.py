"""BART (Lewis et al., 2019): a denoising encoder-decoder with a shared token embedding."""

import keras
from keras_hub.layers import ReversibleEmbedding

from keras_bert_zoo.layers import (
    TextEmbeddings,
    TransformerDecoder,
    TransformerEncoder,
    get_activation,
    truncated_normal,
)
from keras_bert_zoo.models.backbone import Backbone, check_divisible, check_positive, check_rate


@keras.saving.register_keras_serializable(package="keras_bert_zoo")
class BartBackbone(Backbone):
    """The BART encoder-decoder network.

    Inputs `encoder_token_ids`, `encoder_padding_mask`, `decoder_token_ids`,
    `decoder_padding_mask`; outputs `encoder_sequence_output` and `decoder_sequence_output`.
    Encoder and decoder share one token table; each has its own learned position table with
    BART's offset of 2 (`max_sequence_length + 2` rows, 1026 for the released models) and a
    LayerNorm on the embeddings. Decoder blocks use causal self-attention and cross-attention
    over the encoder output; all blocks are post-LN.

    Args:
        vocabulary_size: byte-level BPE vocabulary size (50265 for the released models).
        num_layers: blocks in the encoder, and again in the decoder.
        num_heads: attention heads; must divide `hidden_dim`.
        hidden_dim: width of the hidden states.
        intermediate_dim: width of the feed-forward layers.
        dropout: dropout rate.
        max_sequence_length: longest encoder or decoder input (1024).
        activation: "gelu" (erf form, as fairseq) or "gelu_approximate".
        layer_norm_epsilon: 1e-5, as fairseq.

    Example:
    >>> backbone = BartBackbone(vocabulary_size=100, num_layers=1, num_heads=2, hidden_dim=16,
    ...                         intermediate_dim=32)
    >>> ones = keras.ops.ones((1, 8), "int32")
    >>> out = backbone({"encoder_token_ids": ones, "encoder_padding_mask": ones,
    ...                 "decoder_token_ids": ones, "decoder_padding_mask": ones})
    >>> tuple(out["decoder_sequence_output"].shape)
    (1, 8, 16)
    """

    position_offset = 2  # fairseq/HF BartLearnedPositionalEmbedding

    def __init__(
        self,
        vocabulary_size,
        num_layers,
        num_heads,
        hidden_dim,
        intermediate_dim,
        dropout=0.1,
        max_sequence_length=1024,
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
        self._token_embedding = ReversibleEmbedding(
            vocabulary_size,
            hidden_dim,
            embeddings_initializer=truncated_normal(),
            dtype=dtype,
            name="token_embedding",
        )

        def embeddings(name):
            return TextEmbeddings(
                vocabulary_size=vocabulary_size,
                embedding_dim=hidden_dim,
                max_sequence_length=max_sequence_length,
                position_offset=self.position_offset,
                layer_norm_epsilon=layer_norm_epsilon,
                dropout=dropout,
                token_embedding=self._token_embedding,  # shared by encoder and decoder
                dtype=dtype,
                name=name,
            )

        def block_args(i, kind):
            return dict(
                num_heads=num_heads,
                intermediate_dim=intermediate_dim,
                activation=get_activation(activation),
                dropout=dropout,
                layer_norm_epsilon=layer_norm_epsilon,
                kernel_initializer=truncated_normal(),
                dtype=dtype,
                name=f"{kind}_transformer_layer_{i}",
            )

        self.encoder_embeddings = embeddings("encoder_embeddings")
        self.decoder_embeddings = embeddings("decoder_embeddings")
        self.encoder_layers = [
            TransformerEncoder(**block_args(i, "encoder")) for i in range(num_layers)
        ]
        self.decoder_layers = [
            TransformerDecoder(**block_args(i, "decoder")) for i in range(num_layers)
        ]

        # === Wiring ===
        encoder_token_ids = keras.Input(shape=(None,), dtype="int32", name="encoder_token_ids")
        encoder_padding_mask = keras.Input(
            shape=(None,), dtype="int32", name="encoder_padding_mask"
        )
        decoder_token_ids = keras.Input(shape=(None,), dtype="int32", name="decoder_token_ids")
        decoder_padding_mask = keras.Input(
            shape=(None,), dtype="int32", name="decoder_padding_mask"
        )

        x = self.encoder_embeddings({"token_ids": encoder_token_ids})
        for block in self.encoder_layers:
            x = block(x, padding_mask=encoder_padding_mask)
        encoder_output = x

        y = self.decoder_embeddings({"token_ids": decoder_token_ids})
        for block in self.decoder_layers:
            y = block(
                decoder_sequence=y,
                encoder_sequence=encoder_output,
                decoder_padding_mask=decoder_padding_mask,
                encoder_padding_mask=encoder_padding_mask,
            )  # causal self-attention, then cross-attention
        super().__init__(
            inputs={
                "encoder_token_ids": encoder_token_ids,
                "encoder_padding_mask": encoder_padding_mask,
                "decoder_token_ids": decoder_token_ids,
                "decoder_padding_mask": decoder_padding_mask,
            },
            outputs={"encoder_sequence_output": encoder_output, "decoder_sequence_output": y},
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
