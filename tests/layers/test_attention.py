import keras
import keras_hub
import numpy as np
import pytest
import tensorflow as tf

from keras_bert_zoo.layers import (
    MultiHeadAttention,
    TransformerDecoder,
    TransformerEncoder,
    get_activation,
)


def _pair(**kwargs):
    """Keras' layer and ours with the same weights."""
    theirs = keras.layers.MultiHeadAttention(**kwargs)
    ours = MultiHeadAttention(**kwargs)
    return theirs, ours


def _build_same(theirs, ours, query, value):
    theirs(query, value)
    ours(query, value)
    ours.set_weights(theirs.get_weights())


@pytest.mark.parametrize("cross", [False, True])
def test_equals_keras_attention_with_masks_scores_and_gradients(cross):
    rng = np.random.default_rng(0)
    query = tf.constant(rng.normal(size=(2, 5, 16)), tf.float32)
    value = tf.constant(rng.normal(size=(2, 7, 16)), tf.float32) if cross else query
    mask = tf.constant(rng.integers(0, 2, (2, 5, value.shape[1])).astype(bool))
    theirs, ours = _pair(num_heads=4, key_dim=4, value_dim=6)
    _build_same(theirs, ours, query, value)
    out_t, scores_t = theirs(query, value, attention_mask=mask, return_attention_scores=True)
    out_o, scores_o = ours(query, value, attention_mask=mask, return_attention_scores=True)
    np.testing.assert_allclose(out_o, out_t, atol=1e-5)
    np.testing.assert_allclose(scores_o, scores_t, atol=1e-6)
    causal_t = theirs(query, value, use_causal_mask=True)
    np.testing.assert_allclose(ours(query, value, use_causal_mask=True), causal_t, atol=1e-5)

    def grads(layer):
        with tf.GradientTape() as tape:
            tape.watch(query)
            loss = tf.reduce_sum(layer(query, value, attention_mask=mask) ** 2)
        return tape.gradient(loss, [query] + layer.trainable_variables)

    for g_o, g_t in zip(grads(ours), grads(theirs)):
        np.testing.assert_allclose(g_o, g_t, atol=1e-4)


def test_cases_outside_the_fast_path_run_keras_code():
    query = tf.random.normal((2, 3, 4, 8))  # 2-D attention axes
    theirs, ours = _pair(num_heads=2, key_dim=4, attention_axes=(1, 2))
    _build_same(theirs, ours, query, query)
    np.testing.assert_allclose(ours(query, query), theirs(query, query), atol=1e-5)


def test_encoder_keeps_keras_hub_weights_names_and_outputs():
    x = tf.random.normal((2, 6, 16))
    padding = tf.constant([[1] * 6, [1] * 4 + [0] * 2])
    kwargs = dict(intermediate_dim=32, num_heads=4, dropout=0.1, activation="gelu")
    theirs = keras_hub.layers.TransformerEncoder(**kwargs)
    ours = TransformerEncoder(**kwargs)
    theirs(x, padding_mask=padding)
    ours(x, padding_mask=padding)
    assert [v.path for v in ours.weights] == [
        v.path.replace(theirs.name, ours.name, 1) for v in theirs.weights]
    ours.set_weights(theirs.get_weights())
    np.testing.assert_allclose(ours(x, padding_mask=padding), theirs(x, padding_mask=padding),
                               atol=1e-5)
    clone = TransformerEncoder.from_config(ours.get_config())
    assert clone.get_config() == ours.get_config()
    # Training mode drops: both dropouts and the attention dropout are active.
    assert not np.allclose(ours(x, padding_mask=padding, training=True),
                           ours(x, padding_mask=padding))


@pytest.mark.parametrize("cross", [False, True])
def test_decoder_keeps_keras_hub_weights_names_outputs_and_cache(cross):
    x = tf.random.normal((2, 5, 16))
    encoder = tf.random.normal((2, 7, 16)) if cross else None
    kwargs = dict(intermediate_dim=32, num_heads=4, dropout=0.1,
                  activation=get_activation("gelu"))
    theirs = keras_hub.layers.TransformerDecoder(**kwargs)
    ours = TransformerDecoder(**kwargs)
    theirs(x, encoder)
    ours(x, encoder)
    assert [v.path for v in ours.weights] == [
        v.path.replace(theirs.name, ours.name, 1) for v in theirs.weights]
    ours.set_weights(theirs.get_weights())
    np.testing.assert_allclose(ours(x, encoder), theirs(x, encoder), atol=1e-5)
    # The generation cache path: one step with a cache equals keras-hub's.
    cache = tf.zeros((2, 2, 5, 4, 4))
    cross_cache = None
    if cross:
        cross_cache = tf.zeros((2, 2, 7, 4, 4))
    step = dict(self_attention_cache=cache, self_attention_cache_update_index=0,
                use_causal_mask=True)
    if cross:
        step.update(cross_attention_cache=cross_cache, cross_attention_cache_update_index=0)
    for a, b in zip(tf.nest.flatten(ours(x[:, :1], encoder, **step)),
                    tf.nest.flatten(theirs(x[:, :1], encoder, **step))):
        np.testing.assert_allclose(a, b, atol=1e-5)
    clone = TransformerDecoder.from_config(ours.get_config())
    assert clone.get_config() == ours.get_config()
    assert not np.allclose(ours(x, encoder, training=True), ours(x, encoder))
    # Each dense layer initializes from its own initializer clone (a shared seeded instance
    # would repeat the same numbers in both feed-forward kernels).
    for block in (clone, TransformerEncoder(**kwargs)):
        block(x) if isinstance(block, TransformerEncoder) else block(x, encoder)
        first = block._feedforward_intermediate_dense.kernel.numpy().ravel()
        second = block._feedforward_output_dense.kernel.numpy().ravel()
        assert not np.allclose(first, second)


def test_encoder_training_uses_the_fused_gelu_and_matches_inference(monkeypatch):
    """Without dropout a training call computes the inference function (values and
    gradients), through the activation's training form."""
    from keras_bert_zoo.layers import activations

    calls = []
    fused = activations._gelu_erf_training
    monkeypatch.setattr(activations, "_gelu_erf_training",
                        lambda x: calls.append(x.shape) or fused(x))
    x = tf.random.normal((2, 6, 16))
    padding = tf.constant([[1] * 6, [1] * 4 + [0] * 2])
    layer = TransformerEncoder(intermediate_dim=32, num_heads=4, dropout=0.0,
                               activation=activations.get_activation("gelu"))
    layer(x, padding_mask=padding)

    def value_and_grads(training):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x, padding_mask=padding, training=training)
            loss = tf.reduce_sum(y * tf.sin(y))
        return [y, *tape.gradient(loss, [x, *layer.trainable_variables])]

    inference = value_and_grads(False)
    assert calls == []
    training = value_and_grads(True)
    assert calls == [(2, 6, 32)]
    for a, b in zip(training, inference):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


def test_training_softmax_dropout_equals_softmax_then_the_same_dropout():
    """In training the masked softmax and the attention dropout run as one fused pass: its
    output and gradients equal Keras' masked softmax followed by the same 16-bit mask."""
    from keras_bert_zoo.layers.attention import _training_softmax_dropout
    from keras_bert_zoo.layers.dropout import keep_mask

    rng = np.random.default_rng(0)
    scores = tf.constant(rng.normal(size=(2, 3, 4, 6)) * 3, tf.float32)
    mask = rng.integers(0, 2, (2, 4, 6)).astype(bool)
    mask[1, 2] = False  # a fully masked row: zeros, as keras.layers.Softmax gives
    mask = tf.constant(mask)
    layer = MultiHeadAttention(num_heads=3, key_dim=2, dropout=0.3, seed=4)
    layer(tf.zeros((2, 4, 6)), tf.zeros((2, 6, 6)))
    upstream = tf.constant(rng.normal(size=scores.shape), tf.float32)
    state = layer._dropout_layer.seed_generator.state.numpy()
    with tf.GradientTape() as tape:
        tape.watch(scores)
        fused = _training_softmax_dropout(scores, mask, layer._dropout_layer)
    fused_grad = tape.gradient(fused, scores, output_gradients=upstream)

    layer._dropout_layer.seed_generator.state.assign(state)  # the same draw again
    keep, scale = keep_mask(tf.shape(scores), 0.3, layer._dropout_layer.seed_generator.next())
    with tf.GradientTape() as tape:
        tape.watch(scores)
        probs = layer._masked_softmax(scores, mask)
        reference = tf.where(keep, probs * scale, 0.0)
    reference_grad = tape.gradient(reference, scores, output_gradients=upstream)
    np.testing.assert_allclose(fused, reference, atol=1e-6)
    np.testing.assert_allclose(fused_grad, reference_grad, atol=1e-5)
    assert np.all(np.asarray(fused)[1, :, 2] == 0)
    assert 0.15 < 1 - np.asarray(keep).mean() < 0.45
