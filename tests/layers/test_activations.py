import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_bert_zoo.layers import get_activation
from keras_bert_zoo.layers.activations import training_form


def _exact_derivative(x, approximate):
    x = np.asarray(x, np.float64)
    if approximate:
        c = math.sqrt(2 / math.pi)
        t = np.tanh(c * (x + 0.044715 * x**3))
        return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * c * (1 + 3 * 0.044715 * x * x)
    erf = np.vectorize(math.erf)
    return 0.5 * (1 + erf(x / math.sqrt(2))) + x * np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)


def _value_and_grad(fn, x, upstream):
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = fn(x)
    return y, tape.gradient(y, x, output_gradients=tf.cast(upstream, x.dtype))


@pytest.mark.parametrize("name, approximate", [("gelu", False), ("gelu_approximate", True)])
def test_fused_gelu_gradient_is_the_derivative(name, approximate):
    x = tf.constant(np.linspace(-6, 6, 4001), tf.float32)
    upstream = np.random.default_rng(0).normal(size=x.shape).astype("float32")
    activation = get_activation(name)
    reference = lambda t: tf.nn.gelu(t, approximate=approximate)  # noqa: E731

    y, grad = _value_and_grad(activation, x, upstream)
    y_ref, grad_ref = _value_and_grad(reference, x, upstream)
    np.testing.assert_array_equal(y, y_ref)  # the forward pass is tf.nn.gelu itself
    exact = upstream * _exact_derivative(x, approximate)
    ours_error = np.abs(np.asarray(grad) - exact)
    autodiff_error = np.abs(np.asarray(grad_ref) - exact)
    assert ours_error.max() < 1e-5 and autodiff_error.max() < 1e-5

    # bfloat16 in, bfloat16 out, but the derivative is evaluated in float32: at least as close
    # to the exact gradient as autodiff in bfloat16.
    x16 = tf.cast(x, tf.bfloat16)
    _, grad16 = _value_and_grad(activation, x16, upstream)
    _, grad16_ref = _value_and_grad(reference, x16, upstream)
    exact16 = upstream * _exact_derivative(tf.cast(x16, tf.float32), approximate)
    ours16 = np.abs(np.asarray(tf.cast(grad16, tf.float32)) - exact16).mean()
    autodiff16 = np.abs(np.asarray(tf.cast(grad16_ref, tf.float32)) - exact16).mean()
    assert grad16.dtype == tf.bfloat16 and ours16 <= autodiff16


@pytest.mark.parametrize("name, approximate", [("gelu", False), ("gelu_approximate", True)])
def test_training_form_is_the_same_function(name, approximate):
    """The training form (forward compiled with XLA in float32) computes tf.nn.gelu and the
    same gradient; in bfloat16 it is at least as close to the exact values."""
    activation = get_activation(name)
    fast = training_form(activation)
    x = tf.constant(np.linspace(-6, 6, 4001), tf.float32)
    upstream = np.random.default_rng(1).normal(size=x.shape).astype("float32")
    y, grad = _value_and_grad(fast, x, upstream)
    y_ref, grad_ref = _value_and_grad(activation, x, upstream)
    np.testing.assert_allclose(y, y_ref, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(grad, grad_ref, rtol=1e-6, atol=1e-6)

    x16 = tf.cast(tf.constant(np.linspace(-6, 6, 4001)), tf.bfloat16)
    exact = tf.nn.gelu(tf.cast(x16, tf.float64), approximate=approximate).numpy()
    y16, grad16 = _value_and_grad(fast, x16, upstream)
    y16_ref, grad16_ref = _value_and_grad(activation, x16, upstream)
    assert y16.dtype == tf.bfloat16
    ours = np.abs(tf.cast(y16, tf.float64).numpy() - exact).mean()
    theirs = np.abs(tf.cast(y16_ref, tf.float64).numpy() - exact).mean()
    assert ours <= theirs
    np.testing.assert_array_equal(tf.cast(grad16, tf.float32), tf.cast(grad16_ref, tf.float32))


def test_only_the_zoo_gelus_have_a_training_form():
    assert training_form(get_activation("relu")) is None
    assert training_form(keras.activations.gelu) is None
