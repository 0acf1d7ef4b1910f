"""Resumable training: a run interrupted after a checkpoint ends with the same weights."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_bert_zoo.models import BertBackbone
from keras_bert_zoo.tasks import Pretrainer
from keras_bert_zoo.training.loop import fit_resumable
from keras_bert_zoo.training.optimizers import create_optimizer
from tests.tasks.test_pretraining import SMALL


def _batch(index):
    seed = tf.stack([tf.cast(index, tf.int32), 7])
    ids = tf.random.stateless_uniform((4, 12), seed, 5, 60, tf.int32)
    positions = tf.sort(tf.random.stateless_uniform((4, 3), seed + 1, 1, 12, tf.int32), axis=1)
    x = {"token_ids": ids, "segment_ids": tf.zeros_like(ids), "padding_mask": tf.ones_like(ids),
         "mask_positions": positions}
    y = {"mask_ids": tf.gather(ids, positions, batch_dims=1),
         "mask_weights": tf.ones((4, 3)),
         "sentence_label": tf.random.stateless_uniform((4,), seed + 2, 0, 2, tf.int32)}
    return x, y


def make_dataset(crash_at=None):
    def element(index):
        if crash_at is not None:  # the "crash": reading batch `crash_at` fails
            tf.debugging.assert_less(index, tf.constant(crash_at, tf.int64), "simulated crash")
        return _batch(index)

    def make(skip):
        return tf.data.Dataset.range(10**6).map(element).skip(skip)
    return make


def _model(max_steps):
    keras.utils.set_random_seed(3)
    model = Pretrainer(BertBackbone(**SMALL))
    model.compile(create_optimizer(learning_rate=1e-3, total_steps=max_steps, warmup_steps=2))
    return model


class _BatchLogs(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.losses = []

    def on_train_batch_end(self, batch, logs=None):
        self.losses.append(float(logs["loss"]))


def test_interrupted_run_resumes_to_identical_weights(tmp_path):
    full = _model(8)
    batch_logs = _BatchLogs()
    assert fit_resumable(full, make_dataset(), output_dir=str(tmp_path / "a"), max_steps=8,
                         checkpoint_every=3, log_every=2, tokens_per_step=4 * 16, verbose=0,
                         callbacks=[batch_logs]) == 8

    crashed = _model(8)
    with pytest.raises(tf.errors.InvalidArgumentError, match="simulated crash"):
        fit_resumable(crashed, make_dataset(crash_at=5), output_dir=str(tmp_path / "b"),
                      max_steps=8, checkpoint_every=3, log_every=2, verbose=0)
    assert tf.train.latest_checkpoint(str(tmp_path / "b" / "checkpoints")).endswith("ckpt-3")
    resumed = _model(8)  # a fresh process: new model, same command
    assert fit_resumable(resumed, make_dataset(), output_dir=str(tmp_path / "b"), max_steps=8,
                         checkpoint_every=3, log_every=2, verbose=0) == 8
    for a, b in zip(full.get_weights(), resumed.get_weights()):
        np.testing.assert_array_equal(a, b)

    lines = [json.loads(line) for line in open(tmp_path / "a" / "metrics.jsonl")]
    assert [r["step"] for r in lines] == [2, 4, 6, 8]
    assert {"loss", "mlm_accuracy", "sentence_accuracy", "learning_rate",
            "tokens_per_second", "steps_per_second"} <= set(lines[0])
    # Callbacks see each batch's own loss, and metrics.jsonl the mean of the last `log_every`
    # batches, across the checkpoint interval at step 3 (no running mean that restarts there).
    per_step = batch_logs.losses
    assert len(per_step) == 8 and len(set(per_step)) == 8
    for record in lines:
        window = per_step[record["step"] - 2:record["step"]]
        assert record["loss"] == pytest.approx(np.mean(window), rel=1e-6)
    assert (tmp_path / "a" / "logs").is_dir()


def test_finished_run_is_not_trained_again(tmp_path):
    model = _model(4)
    fit_resumable(model, make_dataset(), output_dir=str(tmp_path), max_steps=4,
                  checkpoint_every=2, verbose=0)
    again = _model(4)
    assert fit_resumable(again, make_dataset(), output_dir=str(tmp_path), max_steps=4,
                         checkpoint_every=2, verbose=0) == 4
    for a, b in zip(model.get_weights(), again.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_corrupted_latest_checkpoint_falls_back_to_previous(tmp_path, capsys):
    model = _model(6)
    fit_resumable(model, make_dataset(), output_dir=str(tmp_path), max_steps=4,
                  checkpoint_every=2, verbose=0)
    ckpt = tmp_path / "checkpoints"
    for data in ckpt.glob("ckpt-4.data-*"):
        data.write_bytes(b"garbage")
    from keras_bert_zoo.training.loop import restore_latest
    fresh = _model(6)
    assert restore_latest(fresh, str(ckpt)) == 2
    assert "ckpt-4" in capsys.readouterr().out


class _GradientBlowup(keras.layers.Layer):
    """Identity whose gradient is multiplied by 2**20 (inf in float16) on flagged batches."""

    def call(self, x, flag):
        @tf.custom_gradient
        def identity(x):
            def grad(upstream):
                factor = 1.0 + tf.cast(flag[0], tf.float32) * 2.0**20
                return upstream * tf.cast(factor, upstream.dtype)
            return tf.identity(x), grad
        return identity(x)


def _float16_model():
    keras.utils.set_random_seed(5)
    keras.mixed_precision.set_dtype_policy("mixed_float16")
    try:
        x, flag = keras.Input((4,)), keras.Input((1,))
        hidden = _GradientBlowup()(keras.layers.Dense(8)(x), flag)
        model = keras.Model([x, flag], keras.layers.Dense(1, dtype="float32")(hidden))
    finally:
        keras.mixed_precision.set_dtype_policy("float32")
    # A small initial scale: the float16 gradients overflow only on the flagged batch.
    model.compile(keras.optimizers.LossScaleOptimizer(keras.optimizers.Adam(1e-2),
                                                      initial_scale=2.0**8), loss="mse")
    return model


def _overflow_data(overflow_at, crash_at=None):
    def element(index):
        if crash_at is not None:
            tf.debugging.assert_less(index, tf.constant(crash_at, tf.int64), "simulated crash")
        seed = tf.stack([tf.cast(index, tf.int32), 11])
        x = tf.random.stateless_normal((4, 4), seed)
        flag = tf.fill((4, 1), tf.cast(tf.equal(index, overflow_at), tf.float32))
        return (x, flag), tf.reduce_sum(x, axis=1, keepdims=True)

    return lambda skip: tf.data.Dataset.range(10**6).map(element).skip(skip)


def test_skipped_float16_step_still_counts_as_a_step_and_resumes_exactly(tmp_path):
    # A mixed_float16 step whose gradients overflow is skipped by the loss-scale optimizer:
    # it uses a batch without advancing `optimizer.iterations`. The run's step (and its data
    # position) is the number of batches, so the run ends, checkpoints and resumes on time.
    full = _float16_model()
    assert isinstance(full.optimizer, keras.optimizers.LossScaleOptimizer)
    assert fit_resumable(full, _overflow_data(1), output_dir=str(tmp_path / "a"), max_steps=6,
                         checkpoint_every=3, log_every=1, verbose=0) == 6
    assert int(full.optimizer.iterations.numpy()) == 5  # one step skipped
    assert float(full.optimizer.dynamic_scale.numpy()) == 2.0**7  # halved once
    assert sorted(p.name for p in (tmp_path / "a" / "checkpoints").glob("ckpt-*.index")) == [
        "ckpt-3.index", "ckpt-6.index"]
    steps = [json.loads(line)["step"] for line in open(tmp_path / "a" / "metrics.jsonl")]
    assert steps == [1, 2, 3, 4, 5, 6]

    crashed = _float16_model()
    with pytest.raises(tf.errors.InvalidArgumentError, match="simulated crash"):
        fit_resumable(crashed, _overflow_data(1, crash_at=5), output_dir=str(tmp_path / "b"),
                      max_steps=6, checkpoint_every=3, verbose=0)
    resumed = _float16_model()
    assert fit_resumable(resumed, _overflow_data(1), output_dir=str(tmp_path / "b"),
                         max_steps=6, checkpoint_every=3, verbose=0) == 6
    assert int(resumed.optimizer.iterations.numpy()) == 5
    for a, b in zip(full.get_weights(), resumed.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_console_shows_one_progress_line_per_logging_step_with_time_left(tmp_path, capsys):
    model = _model(6)
    fit_resumable(model, make_dataset(), output_dir=str(tmp_path), max_steps=6,
                  checkpoint_every=3, log_every=2, tokens_per_step=64, verbose=2)
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split(" | ")[0] for line in lines] == [
        "step 2/6  33%", "step 4/6  66%", "step 6/6 100%"]
    assert all("tokens/s" in line and "elapsed" in line and "loss " in line for line in lines)
    assert all("left" in line for line in lines[:-1]) and "left" not in lines[-1]
    assert "Epoch" not in "\n".join(lines)


def test_format_duration():
    from keras_bert_zoo.training.loop import format_duration

    assert [format_duration(s) for s in (0, 75, 3725)] == ["0:00", "1:15", "1:02:05"]
