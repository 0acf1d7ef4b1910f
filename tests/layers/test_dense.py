import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_bert_zoo  # noqa: F401  (registers the serializable layers)
from keras_bert_zoo.layers import Dense, bias_add


def _grads(fn, inputs, bias, upstream):
    with tf.GradientTape() as tape:
        tape.watch([inputs, bias])
        outputs = fn(inputs, bias)
    return outputs, tape.gradient(outputs, [inputs, bias], output_gradients=upstream)


@pytest.mark.parametrize("dtype", ["bfloat16", "float16", "float32"])
def test_bias_add_is_bias_add_with_an_accurate_bias_gradient(dtype):
    rng = np.random.default_rng(0)
    inputs = tf.constant(rng.normal(size=(32, 128, 48)), dtype)
    bias = tf.constant(rng.normal(size=48), dtype)
    # A positive mean, as bias gradients often have: a 16-bit running sum stalls on it.
    upstream = tf.constant(rng.normal(size=(32, 128, 48)) * 0.5 + 0.5, dtype)
    outputs, (d_inputs, d_bias) = _grads(bias_add, inputs, bias, upstream)
    np.testing.assert_array_equal(outputs, tf.nn.bias_add(inputs, bias))
    np.testing.assert_array_equal(d_inputs, upstream)
    assert d_bias.dtype == dtype
    exact = tf.reduce_sum(tf.cast(upstream, tf.float64), axis=[0, 1]).numpy()
    # Rounded once to the dtype: within its relative precision of the exact sum.
    tolerance = {"bfloat16": 2.0**-8, "float16": 2.0**-11, "float32": 1e-5}[dtype]
    np.testing.assert_allclose(tf.cast(d_bias, tf.float64), exact, rtol=tolerance)


def test_dense_is_keras_dense_and_its_bias_gradient_is_accurate_in_bfloat16():
    rng = np.random.default_rng(1)
    x = tf.constant(rng.normal(size=(16, 256, 32)), "float32")
    upstream = tf.constant(rng.normal(size=(16, 256, 24)) + 1.0, "float32")
    kwargs = dict(units=24, activation="relu", name="proj")
    theirs, ours = keras.layers.Dense(**kwargs), Dense(**kwargs)
    theirs.build(x.shape)
    ours.build(x.shape)
    assert [v.path for v in ours.weights] == [v.path for v in theirs.weights]
    ours.set_weights(theirs.get_weights())
    np.testing.assert_allclose(ours(x), theirs(x), rtol=1e-6, atol=1e-6)
    clone = keras.layers.deserialize(keras.layers.serialize(ours))
    assert type(clone) is Dense and clone.get_config() == ours.get_config()

    def bias_gradient(layer, inputs):
        with tf.GradientTape() as tape:
            outputs = layer(inputs)
        return tape.gradient(outputs, layer.bias, output_gradients=tf.cast(upstream,
                                                                             outputs.dtype))

    exact = bias_gradient(theirs, x).numpy()  # float32 throughout
    half = Dense(dtype="mixed_bfloat16", **kwargs)
    half.build(x.shape)
    half.set_weights(theirs.get_weights())
    relative = np.abs(bias_gradient(half, x).numpy() - exact) / np.abs(exact)
    # bfloat16 activations, a float32-accumulated sum: errors of a few bfloat16 ulps at most.
    assert relative.max() < 0.02, relative.max()
