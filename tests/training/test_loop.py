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


def test_interrupted_run_resumes_to_identical_weights(tmp_path):
    full = _model(8)
    assert fit_resumable(full, make_dataset(), output_dir=str(tmp_path / "a"), max_steps=8,
                         checkpoint_every=3, log_every=2, verbose=0) == 8

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
            "tokens_per_second"} <= set(lines[0])
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
