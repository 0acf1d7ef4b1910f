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
