import numpy as np
import pytest
import tensorflow as tf

import keras
from keras_bert_zoo.layers import Dropout
from keras_bert_zoo.layers.dropout import fused_dropout


def _kept(y):
    return np.asarray(tf.cast(y, tf.float32)) != 0


@pytest.mark.parametrize("rate", [0.1, 0.5])
def test_rate_and_scale(rate):
    x = tf.ones([500, 2000])
    y = np.asarray(fused_dropout(x, rate, tf.constant([3, 7])))
    expected = round(rate * 65536) / 65536
    dropped = (y == 0).mean()
    sigma = np.sqrt(expected * (1 - expected) / y.size)
    assert abs(dropped - expected) < 5 * sigma, (dropped, expected)
    # Both 16-bit halves of every random word are used: each half of the last axis drops at
    # the rate, and their drops are independent.
    left, right = y[:, :1000] == 0, y[:, 1000:] == 0
    for half in (left, right):
        assert abs(half.mean() - expected) < 6 * sigma * np.sqrt(2)
    assert abs((left & right).mean() - expected**2) < 0.01 * expected
    # The kept elements are scaled by the exact inverse keep probability: mean preserved.
    np.testing.assert_allclose(np.unique(y[y != 0]), [1 / (1 - expected)], rtol=1e-6)


def test_seed_determines_the_mask_and_gradient_uses_it():
    x = tf.random.normal([8, 16, 64])
    a = fused_dropout(x, 0.1, tf.constant([1, 2]))
    b = fused_dropout(x, 0.1, tf.constant([1, 2]))
    c = fused_dropout(x, 0.1, tf.constant([1, 3]))
    np.testing.assert_array_equal(a, b)
    assert (_kept(a) != _kept(c)).any()
    w = tf.random.normal(x.shape)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = fused_dropout(x, 0.1, tf.constant([1, 2]))
        loss = tf.reduce_sum(y * w)
    grad = tape.gradient(loss, x)
    scale = 65536 / (65536 - round(0.1 * 65536))
    np.testing.assert_allclose(grad, np.where(_kept(a), w * scale, 0.0), rtol=1e-6)


def test_layer_draws_from_its_seed_generator_and_falls_back_for_odd_widths():
    layer = Dropout(0.2, seed=5, dtype="mixed_bfloat16")
    x = tf.ones([4, 6, 32], tf.bfloat16)
    first, second = layer(x, training=True), layer(x, training=True)
    assert first.dtype == tf.bfloat16
    assert (_kept(first) != _kept(second)).any()  # the seed generator advanced
    np.testing.assert_array_equal(layer(x, training=False), x)
    fresh = Dropout(0.2, seed=5, dtype="mixed_bfloat16")
    np.testing.assert_array_equal(fresh(x, training=True), first)
    odd = layer(tf.ones([4, 6, 33]), training=True)  # keras.layers.Dropout's path
    assert 0 < (np.asarray(odd) == 0).mean() < 0.5
    assert keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(layer)).rate == 0.2


def test_rate_one_drops_everything():
    from keras_bert_zoo.layers import MultiHeadAttention

    x = tf.ones([2, 4, 8])
    np.testing.assert_array_equal(Dropout(1.0)(x, training=True), 0.0)
    attention = MultiHeadAttention(num_heads=2, key_dim=4, dropout=1.0)
    outputs = attention(x, x, training=True)  # every probability dropped: the bias alone
    np.testing.assert_allclose(outputs, attention(0 * x, 0 * x, training=True), atol=1e-6)
