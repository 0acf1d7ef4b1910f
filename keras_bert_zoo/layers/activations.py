"""Activation names used across the zoo, with the variant each original code base used.

Both GELU forms compute their forward pass with `tf.nn.gelu` (so inference graphs and
SavedModels hold the plain ops) and their gradient with one XLA-compiled function: autodiff
through `tf.nn.gelu` is about twelve element-wise passes over the `[tokens, intermediate_dim]`
activations of every block, the fused derivative is one, which made a bert_small pretraining
step about 8% faster on CPU. The derivative is evaluated in float32 whatever the compute dtype.

`training_form` gives, for the same functions, the form a training step uses: the forward
pass is one XLA-compiled function too (evaluated in float32 and rounded once to the compute
dtype; `tf.nn.gelu` runs about seven passes, in bfloat16 under mixed precision), 3.2 ms
against 11 ms for a bert_small block's `[4096, 2048]` bfloat16 activations on CPU. Layers
call it only when `training` is true, so exported inference graphs stay free of XLA.
"""

import math

import keras
import tensorflow as tf

_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_SQRT_HALF = math.sqrt(0.5)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_CUBIC = 0.044715


@tf.function(jit_compile=True)
def _gelu_tanh_grad(x, upstream):
    x = tf.cast(x, "float32")
    squared = x * x
    t = tf.tanh(_SQRT_2_OVER_PI * x * (1.0 + _CUBIC * squared))
    derivative = 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * _SQRT_2_OVER_PI * (
        1.0 + 3.0 * _CUBIC * squared)
    return tf.cast(tf.cast(upstream, "float32") * derivative, upstream.dtype)


@tf.function(jit_compile=True)
def _gelu_erf_grad(x, upstream):
    x = tf.cast(x, "float32")
    derivative = 0.5 * (1.0 + tf.math.erf(x * _SQRT_HALF)) + x * _INV_SQRT_2PI * tf.exp(
        -0.5 * x * x)
    return tf.cast(tf.cast(upstream, "float32") * derivative, upstream.dtype)


def _with_derivative(forward, derivative):
    """`forward` with `derivative(x, upstream)` as its gradient."""

    @tf.custom_gradient
    def gelu(x):
        return forward(x), lambda upstream: derivative(x, upstream)

    return gelu


_gelu_tanh = _with_derivative(lambda x: tf.nn.gelu(x, approximate=True), _gelu_tanh_grad)
_gelu_erf = _with_derivative(lambda x: tf.nn.gelu(x, approximate=False), _gelu_erf_grad)


@tf.function(jit_compile=True)
def _gelu_tanh_forward(x):
    x32 = tf.cast(x, "float32")
    inner = _SQRT_2_OVER_PI * x32 * (1.0 + _CUBIC * x32 * x32)
    return tf.cast(0.5 * x32 * (1.0 + tf.tanh(inner)), x.dtype)


@tf.function(jit_compile=True)
def _gelu_erf_forward(x):
    x32 = tf.cast(x, "float32")
    return tf.cast(0.5 * x32 * (1.0 + tf.math.erf(x32 * _SQRT_HALF)), x.dtype)


_gelu_tanh_training = _with_derivative(_gelu_tanh_forward, _gelu_tanh_grad)
_gelu_erf_training = _with_derivative(_gelu_erf_forward, _gelu_erf_grad)


@keras.saving.register_keras_serializable(package="keras_bert_zoo")
def gelu_exact(x):
    """GELU with erf: fairseq RoBERTa/BART and Hugging Face BERT (`hidden_act="gelu"`)."""
    return _gelu_erf(tf.convert_to_tensor(x))


@keras.saving.register_keras_serializable(package="keras_bert_zoo")
def gelu_tanh(x):
    """GELU with the tanh approximation: google-research/bert and ALBERT (`"gelu_new"`)."""
    return _gelu_tanh(tf.convert_to_tensor(x))


_ACTIVATIONS = {
    "gelu": gelu_exact,
    "gelu_approximate": gelu_tanh,
    "relu": keras.activations.relu,
}


_TRAINING_FORMS = {
    gelu_exact: lambda x: _gelu_erf_training(tf.convert_to_tensor(x)),
    gelu_tanh: lambda x: _gelu_tanh_training(tf.convert_to_tensor(x)),
}


def training_form(activation):
    """The training-step form of `activation` (same function, forward and gradient each one
    XLA pass), or None when it has none (anything but the zoo's two GELUs)."""
    return _TRAINING_FORMS.get(activation)


def get_activation(name):
    """Returns the activation function for `name` ("gelu", "gelu_approximate" or "relu")."""
    if name not in _ACTIVATIONS:
        raise ValueError(
            f"activation={name!r} is not supported; choose one of {sorted(_ACTIVATIONS)}"
        )
    return _ACTIVATIONS[name]
