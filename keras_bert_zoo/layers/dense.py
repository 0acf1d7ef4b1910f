"""Bias addition whose gradient keeps its precision in 16-bit compute dtypes.

Keras adds a Dense layer's bias with `tf.nn.bias_add`, whose gradient is TensorFlow's
`BiasAddGrad`. On CPU that kernel accumulates bfloat16 inputs in bfloat16 (tensorflow issue
86378): summed over the thousands of tokens of a batch, bias gradients come out with errors of
10-50% of their size under `mixed_bfloat16`, in every dense layer of a transformer. A
bfloat16 matmul with a ones vector is no cure either: it accumulates in float32 only on CPUs
with bfloat16 dot instructions. `bias_add` computes the same forward pass and sums the bias
gradient in float32 by construction: the upstream gradient is cast to float32, summed over the
tokens as a float32 `[1, tokens] x [tokens, units]` matmul with a ones vector (faster on CPU
than a float32 column `reduce_sum`), and the sum is rounded once to the compute dtype. float32
inputs take `tf.nn.bias_add` unchanged.

`Dense` is `keras.layers.Dense` (same arguments, variables and config) adding its bias this
way; the encoder and decoder blocks, attention projections and the masked-LM head use it.
"""

import keras
import tensorflow as tf
from keras import ops

_SIXTEEN_BIT = (tf.bfloat16, tf.float16)


def _column_sum(upstream):
    """The sum over all but the last axis, accumulated in float32, in the dtype of `upstream`."""
    flat = tf.cast(tf.reshape(upstream, [-1, tf.shape(upstream)[-1]]), tf.float32)
    ones = tf.ones([1, tf.shape(flat)[0]], tf.float32)
    return tf.cast(tf.reshape(tf.matmul(ones, flat), [-1]), upstream.dtype)


@tf.custom_gradient
def _bias_add_16(inputs, bias):
    return tf.nn.bias_add(inputs, bias), lambda upstream: (upstream, _column_sum(upstream))


def bias_add(inputs, bias):
    """`inputs + bias` over the last axis, `bias` cast to the dtype of `inputs`; in 16-bit
    dtypes the bias gradient is accumulated in float32 (see the module docstring)."""
    inputs = tf.convert_to_tensor(inputs)
    bias = tf.cast(bias, inputs.dtype)
    if inputs.dtype in _SIXTEEN_BIT:
        return _bias_add_16(inputs, bias)
    return tf.nn.bias_add(inputs, bias)


@keras.saving.register_keras_serializable(package="keras_bert_zoo")
class Dense(keras.layers.Dense):
    """`keras.layers.Dense` whose bias gradient is accurate in 16-bit compute dtypes."""

    def call(self, inputs, training=None):
        if self.quantization_mode is not None:
            return super().call(inputs, training=training)
        outputs = self._affine(inputs)
        return outputs if self.activation is None else self.activation(outputs)

    def _affine(self, inputs):
        outputs = ops.matmul(inputs, self.kernel)
        return outputs if self.bias is None else bias_add(outputs, self.bias)
