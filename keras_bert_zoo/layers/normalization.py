"""Layer normalization with a one-pass XLA forward and backward in training.

Autodiff through Keras' layer normalization (`ops.layer_normalization`: moments, rsqrt and
about six element-wise ops, in float32 under mixed precision) is about twenty passes over the
`[tokens, hidden]` activations, forward and backward. `fused_layer_norm` computes the same
function with one XLA-compiled forward (statistics and output) and a hand-derived backward:

    x_hat = (x - mean) * r,  r = 1 / sqrt(var + epsilon),  y = x_hat * gamma + beta
    d_beta = sum(dy),  d_gamma = sum(dy * x_hat)      (over the tokens)
    dx = r * (g - mean(g) - x_hat * mean(g * x_hat)),  g = dy * gamma   (over the features)

evaluated in float32 from the saved per-token mean and r, the input gradient rounded once to
the compute dtype. Both run on the 2-D `[tokens, hidden]` view: XLA's CPU reductions over
two leading axes are ~2.5x slower. For a bert_small block's `[32, 128, 512]` bfloat16
activations forward + backward take 7.4 ms against Keras' 10.5 on CPU.

`LayerNormalization` is `keras.layers.LayerNormalization` (same arguments, variables and
config) taking this path when `training` is true, unless the whole step is compiled with XLA
(which fuses Keras' ops itself, and faster); inference keeps Keras' ops, so exported graphs
hold no XLA computation.
"""

import keras
import tensorflow as tf

from keras_bert_zoo.layers.compilation import inside_xla_function


@tf.function(jit_compile=True)
def _forward(x, gamma, beta, epsilon):
    x32 = tf.cast(x, tf.float32)
    mean, variance = tf.nn.moments(x32, axes=[1], keepdims=True)
    r = tf.math.rsqrt(variance + epsilon)
    return tf.cast((x32 - mean) * r * gamma + beta, x.dtype), mean, r


@tf.function(jit_compile=True)
def _backward(x, upstream, mean, r, gamma):
    x_hat = (tf.cast(x, tf.float32) - mean) * r
    upstream = tf.cast(upstream, tf.float32)
    g = upstream * gamma
    dx = (g - tf.reduce_mean(g, axis=1, keepdims=True)
          - x_hat * tf.reduce_mean(g * x_hat, axis=1, keepdims=True)) * r
    return (tf.cast(dx, x.dtype), tf.reduce_sum(upstream * x_hat, axis=0),
            tf.reduce_sum(upstream, axis=0))


def fused_layer_norm(inputs, gamma, beta, epsilon):
    """Layer normalization over the last axis of `inputs`, computed in float32 and returned
    in the dtype of `inputs`; one XLA pass forward and one backward (module docstring).
    `gamma` and `beta` are float32 `[hidden]` tensors or variables."""
    inputs = tf.convert_to_tensor(inputs)
    gamma = tf.cast(gamma, tf.float32)
    beta = tf.cast(beta, tf.float32)
    epsilon = tf.constant(epsilon, tf.float32)

    @tf.custom_gradient
    def layer_norm(x, gamma, beta):
        flat = tf.reshape(x, [-1, tf.shape(x)[-1]])
        outputs, mean, r = _forward(flat, gamma, beta, epsilon)

        def gradient(upstream):
            upstream = tf.reshape(upstream, tf.shape(flat))
            dx, d_gamma, d_beta = _backward(flat, upstream, mean, r, gamma)
            return tf.reshape(dx, tf.shape(x)), d_gamma, d_beta

        return tf.reshape(outputs, tf.shape(x)), gradient

    return layer_norm(inputs, gamma, beta)


@keras.saving.register_keras_serializable(package="keras_bert_zoo")
class LayerNormalization(keras.layers.LayerNormalization):
    """`keras.layers.LayerNormalization` computing training steps with `fused_layer_norm`."""

    def call(self, inputs, training=None):
        axes = self.axis if isinstance(self.axis, list) else [self.axis]
        last_axis = axes in ([-1], [len(inputs.shape) - 1])
        fusable = last_axis and self.center and self.scale and not self.rms_scaling
        if not (training and fusable) or inside_xla_function():
            return super().call(inputs)
        return fused_layer_norm(tf.cast(inputs, self.compute_dtype), self.gamma, self.beta,
                                self.epsilon)
