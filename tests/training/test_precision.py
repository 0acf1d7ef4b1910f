"""Mixed precision: float16 needs dynamic loss scaling, and the tasks get it automatically."""

import keras
import numpy as np
import pytest

from keras_bert_zoo.models import BertBackbone
from keras_bert_zoo.tasks import Pretrainer
from keras_bert_zoo.training.precision import dtype_policy
from tests.tasks.test_pretraining import SMALL, mlm_batch


class TinyLossPretrainer(Pretrainer):
    """A loss so small that its float16 gradients underflow to zero unless scaled."""

    def compute_loss(self, *args, **kwargs):
        return super().compute_loss(*args, **kwargs) * 1e-7


def _embedding_change(model, x, y, steps=3):
    before = np.asarray(model.backbone.token_embedding.embeddings).copy()
    model.fit(x, y, epochs=steps, batch_size=8, verbose=0)
    after = np.asarray(model.backbone.token_embedding.embeddings)
    return np.abs(after - before).max(), after


def test_float16_compile_adds_dynamic_loss_scaling():
    model = Pretrainer(BertBackbone(**SMALL, dtype=dtype_policy("float16")))
    model.compile(keras.optimizers.SGD(1.0))
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    model.optimizer.build(model.trainable_variables)
    assert float(model.optimizer.dynamic_scale) == 2.0**15  # dynamic, from its default


def test_loss_scaling_rescues_underflowing_gradients():
    x, y = mlm_batch()
    keras.utils.set_random_seed(0)
    unscaled = TinyLossPretrainer(BertBackbone(**SMALL, dtype="mixed_float16"))
    unscaled.compile(keras.optimizers.SGD(1e4), auto_scale_loss=False)
    keras.utils.set_random_seed(0)
    scaled = TinyLossPretrainer(BertBackbone(**SMALL, dtype="mixed_float16"))
    scaled.compile(keras.optimizers.SGD(1e4))
    change_unscaled, _ = _embedding_change(unscaled, x, y)
    change_scaled, weights = _embedding_change(scaled, x, y)
    # Without scaling the float16 backward pass flushes the embedding gradient to zero.
    assert change_unscaled < 1e-9
    assert change_scaled > 1e-4 and np.all(np.isfinite(weights))


def test_overflowing_loss_scale_is_lowered_and_steps_are_skipped():
    x, y = mlm_batch()
    model = Pretrainer(BertBackbone(**SMALL, dtype="mixed_float16"))
    optimizer = keras.optimizers.LossScaleOptimizer(keras.optimizers.SGD(1e-2),
                                                    initial_scale=2.0**40)
    model.compile(optimizer)
    _, weights = _embedding_change(model, x, y, steps=6)
    assert float(optimizer.dynamic_scale) < 2.0**40  # overflow detected and scale lowered
    assert np.all(np.isfinite(weights))
    assert all(np.all(np.isfinite(np.asarray(v))) for v in model.trainable_variables)


def test_unknown_precision_is_named():
    with pytest.raises(ValueError, match="mixed_precision='fp8'"):
        dtype_policy("fp8")


@pytest.mark.parametrize("policy", ["none", "bfloat16"])
def test_jit_compile_auto_follows_the_device(policy):
    """`--jit_compile=auto` leaves XLA off on CPU (where the step is faster without it) and
    compiles float32 steps on GPUs; `true` and `false` are obeyed as given."""
    import tensorflow as tf

    from keras_bert_zoo.training.pretrain import PretrainConfig, build_pretrainer

    tiny = {"num_layers": 1, "hidden_dim": 16, "num_heads": 2, "intermediate_dim": 32}
    strategy = tf.distribute.get_strategy()
    on_gpu = bool(tf.config.list_logical_devices("GPU"))
    for flag, expected in [("auto", on_gpu and policy == "none"), ("true", True),
                           ("false", False)]:
        config = PretrainConfig(mixed_precision=policy, jit_compile=flag, model_overrides=tiny,
                                seq_len=16, max_predictions_per_seq=2)
        _, task = build_pretrainer(config, vocabulary_size=50, strategy=strategy)
        assert task.jit_compile is expected, flag
