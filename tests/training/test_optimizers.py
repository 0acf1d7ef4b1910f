import keras
import numpy as np
import pytest

from keras_bert_zoo.training.optimizers import WarmupPolynomialDecay, create_optimizer


def test_warmup_then_linear_decay():
    schedule = WarmupPolynomialDecay(1e-3, warmup_steps=10, total_steps=110)
    values = [float(schedule(s)) for s in (0, 5, 10, 60, 110, 200)]
    np.testing.assert_allclose(values, [0, 5e-4, 1e-3, 5e-4, 0, 0], atol=1e-9)


def test_polynomial_power():
    schedule = WarmupPolynomialDecay(1.0, 0, 100, end_learning_rate=0.1, power=2.0)
    assert float(schedule(50)) == pytest.approx(0.9 * 0.25 + 0.1)


def test_weight_decay_skips_layer_norm_and_bias():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(4),
                              keras.layers.LayerNormalization()])
    optimizer = create_optimizer(learning_rate=0.0 + 1e-9, total_steps=10, weight_decay=0.5)
    # With a vanishing learning rate, only decay can move weights (lr * wd * w): compare which
    # variables the optimizer decays.
    decayed = {v.name: optimizer._use_weight_decay(v) for v in model.trainable_variables}
    assert decayed == {"kernel": True, "bias": False, "gamma": False, "beta": False}


def test_gradient_clipping_by_global_norm():
    optimizer = create_optimizer(learning_rate=1.0, total_steps=10, weight_decay=0.0,
                                 clipnorm=1.0)
    assert optimizer.global_clipnorm == 1.0


def test_lamb_and_unknown_name():
    assert type(create_optimizer("lamb", learning_rate=1e-3, total_steps=5)).__name__ == "Lamb"
    with pytest.raises(ValueError, match="'sgdx' is not supported"):
        create_optimizer("sgdx", learning_rate=1e-3, total_steps=5)


@pytest.mark.parametrize("amsgrad", [False, True])
def test_fused_adamw_follows_keras_adamw(amsgrad):
    """Our AdamW (decay + moments + step fused per variable) takes Keras' AdamW steps: decayed
    and excluded variables, a sparse (embedding) gradient, clipping, warmup and decay."""
    import tensorflow as tf

    def model():
        keras.utils.set_random_seed(0)
        return keras.Sequential([
            keras.Input((3,), dtype="int32"), keras.layers.Embedding(11, 4),
            keras.layers.Flatten(), keras.layers.Dense(5), keras.layers.LayerNormalization()])

    kwargs = dict(learning_rate=WarmupPolynomialDecay(0.05, 2, 6), weight_decay=0.1,
                  epsilon=1e-6, global_clipnorm=0.1, amsgrad=amsgrad)
    ours = create_optimizer(learning_rate=0.05, warmup_steps=2, total_steps=6,
                            weight_decay=0.1, clipnorm=0.1)
    ours.amsgrad = amsgrad
    theirs = keras.optimizers.AdamW(**kwargs)
    theirs.exclude_from_weight_decay(var_names=["gamma", "beta", "bias"])
    models = {"ours": model(), "theirs": model()}
    rng = np.random.default_rng(1)
    for step in range(6):
        ids = rng.integers(0, 11, (8, 3))
        target = rng.normal(size=(8, 5)).astype("float32")
        for name, optimizer in (("ours", ours), ("theirs", theirs)):
            net = models[name]
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean((net(ids) - target) ** 2)
            grads = tape.gradient(loss, net.trainable_variables)
            assert isinstance(grads[0], tf.IndexedSlices)
            squares = [tf.reduce_sum(g.values ** 2 if isinstance(g, tf.IndexedSlices) else g ** 2)
                       for g in grads]
            assert float(tf.sqrt(tf.add_n(squares))) > 0.1  # clipping is active
            optimizer.apply(grads, net.trainable_variables)
    assert type(ours).__module__ == "keras_bert_zoo.training.optimizers"
    for a, b in zip(models["ours"].trainable_variables, models["theirs"].trainable_variables):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6, err_msg=a.path)
    moved = [np.abs(np.asarray(a) - np.asarray(b)).max() for a, b in
             zip(models["ours"].trainable_variables, model().trainable_variables)]
    assert min(moved) > 1e-3  # every variable was updated
