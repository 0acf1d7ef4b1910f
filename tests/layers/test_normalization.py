import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_bert_zoo.layers import normalization
from keras_bert_zoo.layers.normalization import LayerNormalization, fused_layer_norm


def _exact(x, gamma, beta, upstream, epsilon):
    """Layer norm over the last axis and its gradients, in float64 NumPy."""
    x, gamma, beta, upstream = (np.asarray(t, np.float64) for t in (x, gamma, beta, upstream))
    mean = x.mean(-1, keepdims=True)
    r = 1 / np.sqrt(x.var(-1, keepdims=True) + epsilon)
    x_hat = (x - mean) * r
    g = upstream * gamma
    dx = r * (g - g.mean(-1, keepdims=True) - x_hat * (g * x_hat).mean(-1, keepdims=True))
    rows = tuple(range(x.ndim - 1))
    return x_hat * gamma + beta, dx, (upstream * x_hat).sum(rows), upstream.sum(rows)


def _value_and_grads(fn, x, gamma, beta, upstream):
    with tf.GradientTape() as tape:
        tape.watch([x, gamma, beta])
        y = fn(x, gamma, beta)
    return (y, *tape.gradient(y, [x, gamma, beta], output_gradients=upstream))


def _keras_layer_norm(epsilon):
    return lambda x, gamma, beta: keras.ops.cast(
        keras.ops.layer_normalization(x, gamma, beta, epsilon=epsilon), x.dtype)


@pytest.mark.parametrize("shape", [(3, 5, 16), (7, 32)])
def test_fused_layer_norm_matches_the_exact_values_and_gradients(shape):
    rng = np.random.default_rng(0)
    x = tf.constant(rng.normal(3.0, 2.0, shape), tf.float32)
    gamma = tf.constant(rng.normal(1.0, 0.2, shape[-1]), tf.float32)
    beta = tf.constant(rng.normal(0.0, 0.2, shape[-1]), tf.float32)
    upstream = tf.constant(rng.normal(size=shape), tf.float32)
    epsilon = 1e-5
    ours = _value_and_grads(lambda *a: fused_layer_norm(*a, epsilon), x, gamma, beta, upstream)
    exact = _exact(x, gamma, beta, upstream, epsilon)
    for got, want in zip(ours, exact):
        np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-5)
    keras_ones = _value_and_grads(_keras_layer_norm(epsilon), x, gamma, beta, upstream)
    for got, want in zip(ours, keras_ones):
        np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-5)


def test_fused_layer_norm_in_bfloat16_is_at_least_as_accurate_as_keras():
    """bfloat16 in and out, float32 inside (as Keras): errors against the exact values are no
    larger than Keras' autodiff, and the gamma/beta gradients stay float32."""
    rng = np.random.default_rng(1)
    shape = (4, 64, 128)
    x = tf.cast(rng.normal(size=shape), tf.bfloat16)
    gamma = tf.constant(rng.normal(1.0, 0.2, shape[-1]), tf.float32)
    beta = tf.constant(rng.normal(0.0, 0.2, shape[-1]), tf.float32)
    upstream = tf.cast(rng.normal(size=shape), tf.bfloat16)
    exact = _exact(tf.cast(x, tf.float32), gamma, beta, tf.cast(upstream, tf.float32), 1e-12)
    ours = _value_and_grads(lambda *a: fused_layer_norm(*a, 1e-12), x, gamma, beta, upstream)
    theirs = _value_and_grads(_keras_layer_norm(1e-12), x, gamma, beta, upstream)
    assert ours[0].dtype == ours[1].dtype == tf.bfloat16
    assert ours[2].dtype == ours[3].dtype == tf.float32
    for got, ref, want in zip(ours, theirs, exact):
        got_error = np.abs(tf.cast(got, tf.float64).numpy() - want).mean()
        ref_error = np.abs(tf.cast(ref, tf.float64).numpy() - want).mean()
        assert got_error <= ref_error * 1.01 + 1e-7


def test_layer_takes_the_fused_path_only_in_training(monkeypatch):
    calls = []

    def spy(*args):
        calls.append(args)
        return fused_layer_norm(*args)

    monkeypatch.setattr(normalization, "fused_layer_norm", spy)
    layer = LayerNormalization(epsilon=1e-6)
    x = tf.constant(np.random.default_rng(2).normal(size=(2, 3, 8)), tf.float32)
    layer.build(x.shape)
    layer.gamma.assign(tf.linspace(0.5, 1.5, 8))
    layer.beta.assign(tf.linspace(-1.0, 1.0, 8))
    reference = keras.layers.LayerNormalization(epsilon=1e-6)
    reference.build(x.shape)
    reference.set_weights(layer.get_weights())

    inference = layer(x)
    assert not calls
    np.testing.assert_array_equal(inference, reference(x))
    upstream = tf.constant(np.random.default_rng(3).normal(size=x.shape), tf.float32)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        training = layer(x, training=True)
        expected = reference(x, training=True)
    assert len(calls) == 1
    np.testing.assert_allclose(training, expected, rtol=1e-5, atol=1e-5)
    for ours, theirs in zip(
            tape.gradient(training, [x, *layer.trainable_variables], upstream),
            tape.gradient(expected, [x, *reference.trainable_variables], upstream)):
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-5)

    # Variants the fused function does not compute fall back to Keras' layer.
    for kwargs in (dict(scale=False), dict(center=False), dict(axis=1)):
        variant = LayerNormalization(**kwargs)
        expected = keras.layers.LayerNormalization(**kwargs)
        np.testing.assert_allclose(variant(x, training=True), expected(x, training=True),
                                   rtol=1e-6, atol=1e-6)
    assert len(calls) == 1

    # Inside a step XLA compiles whole, XLA fuses Keras' ops itself.
    compiled = tf.function(lambda t: layer(t, training=True), jit_compile=True)
    np.testing.assert_allclose(compiled(x), training, rtol=1e-5, atol=1e-5)
    assert len(calls) == 1


def test_layer_serializes_as_itself():
    layer = LayerNormalization(epsilon=1e-7, name="norm")
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert type(restored) is LayerNormalization and restored.epsilon == 1e-7
