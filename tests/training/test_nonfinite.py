"""A loss that stops being finite stops training, names the step, and keeps the last good
checkpoint."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_bert_zoo.training.loop import fit_resumable


def _model():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(1e-2), loss="mse")
    return model


def _data(poison_from):
    """Finite batches, then NaN inputs from batch `poison_from` on."""
    def batch(index):
        x = tf.random.stateless_normal((8, 4), tf.stack([tf.cast(index, tf.int32), 1]))
        x = tf.where(index >= poison_from, x * np.nan, x)
        return x, tf.reduce_sum(x, axis=1, keepdims=True)

    return lambda skip: tf.data.Dataset.range(10**6).map(batch).skip(skip)


def test_nonfinite_loss_stops_with_the_step_and_keeps_the_good_checkpoint(tmp_path):
    model = _model()
    with pytest.raises(FloatingPointError, match=r"loss is nan at step \d+ for 3 logged steps"):
        fit_resumable(model, _data(poison_from=4), output_dir=str(tmp_path), max_steps=20,
                      checkpoint_every=2, log_every=1, verbose=0)
    latest = tf.train.latest_checkpoint(str(tmp_path / "checkpoints"))
    assert latest.endswith("ckpt-4")  # the last checkpoint saved before the loss went bad
    restored = _model()
    restored.optimizer.build(restored.trainable_variables)
    tf.train.Checkpoint(model=restored, optimizer=restored.optimizer).restore(latest)
    assert all(np.all(np.isfinite(w)) for w in restored.get_weights())
