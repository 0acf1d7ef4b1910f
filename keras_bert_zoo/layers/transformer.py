"""keras-hub's transformer blocks with our faster layers.

`TransformerEncoder` is `keras_hub.layers.TransformerEncoder` unchanged (post- or pre-LN, the
same sublayers, variables, variable paths and config), except that its self-attention is
`keras_bert_zoo.layers.MultiHeadAttention`, which computes the same function with fewer and
larger matmuls, its dropouts are `keras_bert_zoo.layers.Dropout` (16-bit draws, one fused
pass), its dense layers are `keras_bert_zoo.layers.Dense` (bias gradients accumulated in
float32 under 16-bit compute), and in training the intermediate dense layer applies the
activation's `training_form` (the zoo's GELUs: one XLA pass forward and one backward).
`TransformerDecoder` does the same for keras-hub's decoder block, except its attention.
Both `build`s create the sublayers in keras-hub's order and with its names.
"""

import keras
import keras_hub

from keras_bert_zoo.layers.activations import training_form
from keras_bert_zoo.layers.attention import MultiHeadAttention
from keras_bert_zoo.layers.dense import Dense
from keras_bert_zoo.layers.dropout import Dropout
from keras_bert_zoo.layers.normalization import LayerNormalization


def _clone(initializer):
    return initializer.__class__.from_config(initializer.get_config())


class _IntermediateDense(Dense):
    """Our `Dense`, whose activation takes its `training_form` in training."""

    def call(self, inputs, training=None):
        activation = training_form(self.activation) if training else None
        if activation is None or self.quantization_mode is not None:
            return super().call(inputs, training=training)
        return activation(self._affine(inputs))


def _head_dim(hidden_dim, num_heads):
    head_dim = int(hidden_dim // num_heads)
    if head_dim == 0:
        raise ValueError(f"hidden_dim={hidden_dim} must be at least num_heads={num_heads}")
    return head_dim


def _build_feedforward_dense(block, inputs_shape):
    """The block's two feed-forward dense layers (keras-hub's names), built."""

    def common():
        # A clone per layer: an initializer draws from its own fixed seed, so one instance
        # shared by two layers would give them the same numbers.
        return dict(kernel_initializer=_clone(block.kernel_initializer),
                    bias_initializer=_clone(block.bias_initializer), dtype=block.dtype_policy)

    block._feedforward_intermediate_dense = _IntermediateDense(
        block.intermediate_dim, activation=block.activation,
        name="feedforward_intermediate_dense", **common())
    block._feedforward_intermediate_dense.build(inputs_shape)
    block._feedforward_output_dense = Dense(
        inputs_shape[-1], name="feedforward_output_dense", **common())
    block._feedforward_output_dense.build(tuple(inputs_shape[:-1]) + (block.intermediate_dim,))


@keras.saving.register_keras_serializable(package="keras_bert_zoo")
class TransformerEncoder(keras_hub.layers.TransformerEncoder):
    """`keras_hub.layers.TransformerEncoder` (same arguments and weights), faster attention."""

    def build(self, inputs_shape):
        hidden_dim = inputs_shape[-1]
        key_dim = _head_dim(hidden_dim, self.num_heads)
        common = dict(dtype=self.dtype_policy)
        self._self_attention_layer = MultiHeadAttention(
            num_heads=self.num_heads,
            key_dim=key_dim,
            dropout=self.dropout,
            kernel_initializer=_clone(self.kernel_initializer),
            bias_initializer=_clone(self.bias_initializer),
            name="self_attention_layer",
            **common,
        )
        self._self_attention_layer.build(query_shape=inputs_shape, value_shape=inputs_shape)
        self._self_attention_layer_norm = LayerNormalization(
            epsilon=self.layer_norm_epsilon, name="self_attention_layer_norm", **common)
        self._self_attention_layer_norm.build(inputs_shape)
        self._self_attention_dropout = Dropout(
            rate=self.dropout, name="self_attention_dropout", **common)
        self._feedforward_layer_norm = LayerNormalization(
            epsilon=self.layer_norm_epsilon, name="feedforward_layer_norm", **common)
        self._feedforward_layer_norm.build(inputs_shape)
        _build_feedforward_dense(self, inputs_shape)
        self._feedforward_dropout = Dropout(
            rate=self.dropout, name="feedforward_dropout", **common)
        self.built = True


@keras.saving.register_keras_serializable(package="keras_bert_zoo")
class TransformerDecoder(keras_hub.layers.TransformerDecoder):
    """`keras_hub.layers.TransformerDecoder` (same arguments, weights and generation cache)
    with our dense layers and dropouts.

    Its attention stays keras-hub's `CachedMultiHeadAttention` (the cache that generation
    needs); the feed-forward dense layers are `Dense` / the training-form GELU, as in
    `TransformerEncoder`, and the three dropouts `Dropout`. `build` creates the sublayers in
    keras-hub's order and with its names.
    """

    def build(self, decoder_sequence_shape, encoder_sequence_shape=None):
        self._decoder_sequence_shape = decoder_sequence_shape
        self._encoder_sequence_shape = encoder_sequence_shape
        hidden_dim = decoder_sequence_shape[-1]
        head_dim = _head_dim(hidden_dim, self.num_heads)
        common = dict(dtype=self.dtype_policy)

        def attention(name, **kwargs):
            return keras_hub.layers.CachedMultiHeadAttention(
                num_heads=self.num_heads, key_dim=head_dim, dropout=self.dropout,
                kernel_initializer=_clone(self.kernel_initializer),
                bias_initializer=_clone(self.bias_initializer), name=name, **kwargs, **common)

        def layer_norm(name):
            norm = LayerNormalization(
                epsilon=self.layer_norm_epsilon, name=name, **common)
            norm.build(decoder_sequence_shape)
            return norm

        self._self_attention_layer = attention("self_attention")
        self._self_attention_layer.build(
            query_shape=decoder_sequence_shape, value_shape=decoder_sequence_shape)
        self._self_attention_layer_norm = layer_norm("self_attention_layer_norm")
        self._self_attention_dropout = Dropout(
            rate=self.dropout, name="self_attention_dropout", **common)
        self._cross_attention_layer = None
        if encoder_sequence_shape:
            self._cross_attention_layer = attention("cross_attention", value_dim=head_dim)
            self._cross_attention_layer.build(
                query_shape=decoder_sequence_shape, value_shape=encoder_sequence_shape)
            self._cross_attention_layer_norm = layer_norm("cross_attention_layer_norm")
            self._cross_attention_dropout = Dropout(
                rate=self.dropout, name="cross_attention_dropout", **common)
        _build_feedforward_dense(self, decoder_sequence_shape)
        self._feedforward_layer_norm = layer_norm("feedforward_layer_norm")
        self._feedforward_dropout = Dropout(
            rate=self.dropout, name="feedforward_dropout", **common)
        self.built = True
