"""keras-hub's `TransformerEncoder` with our faster attention.

The block is `keras_hub.layers.TransformerEncoder` unchanged (post- or pre-LN, the same
sublayers, variables, variable paths and config), except that its self-attention is
`keras_bert_zoo.layers.MultiHeadAttention`, which computes the same function with fewer and
larger matmuls, its dropouts are `keras_bert_zoo.layers.Dropout` (16-bit draws, one fused
pass), its dense layers are `keras_bert_zoo.layers.Dense` (bias gradients accumulated in
float32 under 16-bit compute), and in training the intermediate dense layer applies the
activation's `training_form` (the zoo's GELUs: one XLA pass forward and one backward). `build` below
creates the sublayers in keras-hub's order and with its names.
"""

import keras
import keras_hub

from keras_bert_zoo.layers.activations import training_form
from keras_bert_zoo.layers.attention import MultiHeadAttention
from keras_bert_zoo.layers.dense import Dense
from keras_bert_zoo.layers.dropout import Dropout


def _clone(initializer):
    return initializer.__class__.from_config(initializer.get_config())


class _IntermediateDense(Dense):
    """Our `Dense`, whose activation takes its `training_form` in training."""

    def call(self, inputs, training=None):
        activation = training_form(self.activation) if training else None
        if activation is None or self.quantization_mode is not None:
            return super().call(inputs, training=training)
        return activation(self._affine(inputs))


@keras.saving.register_keras_serializable(package="keras_bert_zoo")
class TransformerEncoder(keras_hub.layers.TransformerEncoder):
    """`keras_hub.layers.TransformerEncoder` (same arguments and weights), faster attention."""

    def build(self, inputs_shape):
        hidden_dim = inputs_shape[-1]
        key_dim = int(hidden_dim // self.num_heads)
        if key_dim == 0:
            raise ValueError(
                f"hidden_dim={hidden_dim} must be at least num_heads={self.num_heads}"
            )
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
        self._self_attention_layer_norm = keras.layers.LayerNormalization(
            epsilon=self.layer_norm_epsilon, name="self_attention_layer_norm", **common)
        self._self_attention_layer_norm.build(inputs_shape)
        self._self_attention_dropout = Dropout(
            rate=self.dropout, name="self_attention_dropout", **common)
        self._feedforward_layer_norm = keras.layers.LayerNormalization(
            epsilon=self.layer_norm_epsilon, name="feedforward_layer_norm", **common)
        self._feedforward_layer_norm.build(inputs_shape)
        self._feedforward_intermediate_dense = _IntermediateDense(
            self.intermediate_dim,
            activation=self.activation,
            kernel_initializer=_clone(self.kernel_initializer),
            bias_initializer=_clone(self.bias_initializer),
            name="feedforward_intermediate_dense",
            **common,
        )
        self._feedforward_intermediate_dense.build(inputs_shape)
        self._feedforward_output_dense = Dense(
            hidden_dim,
            kernel_initializer=_clone(self.kernel_initializer),
            bias_initializer=_clone(self.bias_initializer),
            name="feedforward_output_dense",
            **common,
        )
        self._feedforward_output_dense.build(tuple(inputs_shape[:-1]) + (self.intermediate_dim,))
        self._feedforward_dropout = Dropout(
            rate=self.dropout, name="feedforward_dropout", **common)
        self.built = True
