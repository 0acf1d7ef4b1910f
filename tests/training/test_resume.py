"""`pretrain()` (BART) and `finetune()` interrupted after a checkpoint and rerun end with the
same weights, bit for bit, as an uninterrupted run."""

import csv
import importlib

import keras
import numpy as np
import pytest

import keras_bert_zoo  # noqa: F401  (registers the classes stored in .keras files)
from keras_bert_zoo.data.corpora import write_default_corpus
from keras_bert_zoo.training.finetune import FinetuneConfig, finetune
from keras_bert_zoo.training.pretrain import PretrainConfig, pretrain

# The modules (the package re-exports functions of the same names).
pretrain_module = importlib.import_module("keras_bert_zoo.training.pretrain")
finetune_module = importlib.import_module("keras_bert_zoo.training.finetune")

TINY_BART = {"num_layers": 1, "hidden_dim": 32, "num_heads": 2, "intermediate_dim": 64}


class Crash(keras.callbacks.Callback):
    """Raises after optimizer step `at` (the checkpoint of that step is already written)."""

    def __init__(self, at):
        super().__init__()
        self.at = at

    def on_train_batch_end(self, batch, logs=None):
        if int(self.model.optimizer.iterations.numpy()) >= self.at:
            raise RuntimeError(f"simulated crash after step {self.at}")


def crash_after(monkeypatch, module, step):
    """Makes the next `module.fit_resumable` call crash after `step`."""
    original = module.fit_resumable

    def fit_resumable(*args, **kwargs):
        kwargs["callbacks"] = [*kwargs.get("callbacks", ()), Crash(step)]
        return original(*args, **kwargs)

    monkeypatch.setattr(module, "fit_resumable", fit_resumable)
    return lambda: monkeypatch.setattr(module, "fit_resumable", original)


def assert_bitwise_equal(a, b):
    a, b = a.get_weights(), b.get_weights()
    assert len(a) == len(b)
    for i, (x, y) in enumerate(zip(a, b)):
        assert x.dtype == y.dtype and np.array_equal(x, y), f"weight {i} differs"


def bart_config(tmp_path, name):
    # Dropout on (its seeds must resume too); XLA off only to save compile time.
    write_default_corpus(str(tmp_path / "corpus"), num_files=2, max_documents=40)
    return PretrainConfig(
        model="bart_base", output_dir=str(tmp_path / name), corpus=str(tmp_path / "corpus/*.txt"),
        vocabulary_size=300, seq_len=32, batch_size=4, max_steps=6, warmup_steps=2,
        learning_rate=1e-3, checkpoint_every=2, log_every=2, max_predictions_per_seq=5,
        dropout=0.1, jit_compile="false", model_overrides=TINY_BART, verbose=0,
    )


def run_pretrain(config):
    keras.utils.set_random_seed(config.seed)  # as recipes/pretrain.py does
    return pretrain(config)


def test_interrupted_bart_pretraining_resumes_bitwise(tmp_path, monkeypatch):
    full = run_pretrain(bart_config(tmp_path, "full"))
    assert full["step"] == 6 and full["objective"] == "denoising"

    config = bart_config(tmp_path, "crashed")
    restore = crash_after(monkeypatch, pretrain_module, 3)  # checkpoint at 2, crash at 3
    with pytest.raises(RuntimeError, match="simulated crash"):
        run_pretrain(config)
    restore()
    resumed = run_pretrain(config)  # the same command again: resumes from step 2
    assert resumed["step"] == 6
    assert_bitwise_equal(full["task"], resumed["task"])


WORDS = {"pos": ["good", "great", "fine", "happy"], "neg": ["bad", "awful", "sad", "poor"]}


def write_table(path):
    rng = np.random.default_rng(0)
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "label"])
        for i in range(48):
            label = ["pos", "neg"][i % 2]
            writer.writerow([" ".join(rng.choice(WORDS[label], 2 + i % 7)) + " film", label])


def write_pretrained(directory):
    """A fresh tiny BERT saved as a pretrain output dir (backbone.keras + tokenizer/)."""
    from keras_bert_zoo.models import build
    from keras_bert_zoo.tokenizers import train_tokenizer

    (directory / "text.txt").write_text(" ".join(WORDS["pos"] + WORDS["neg"] + ["film"]) + "\n")
    tokenizer = train_tokenizer("bert", str(directory / "text.txt"), 120,
                                output_dir=str(directory / "tokenizer"))
    keras.utils.set_random_seed(0)
    backbone = build("bert_tiny", vocabulary_size=tokenizer.vocabulary_size, num_layers=1,
                     hidden_dim=16, num_heads=2, intermediate_dim=32, max_sequence_length=16)
    backbone.save(str(directory / "backbone.keras"))
    return str(directory)


def test_interrupted_finetuning_resumes_bitwise(tmp_path, monkeypatch):
    (tmp_path / "pretrained").mkdir()
    pretrained = write_pretrained(tmp_path / "pretrained")
    write_table(tmp_path / "train.csv")

    def config(name):
        # 44 train examples / batch 8 = 5 steps per epoch, 2 epochs; checkpoints every 2 steps.
        # Batches are grouped by length and padded to their longest (rounded to 4 tokens).
        return FinetuneConfig(
            task="classify", pretrained=pretrained, output_dir=str(tmp_path / name),
            train_file=str(tmp_path / "train.csv"), seq_len=16, batch_size=8, epochs=2,
            learning_rate=1e-3, dropout=0.1, checkpoint_every=2, verbose=0,
            padding="longest", pad_to_multiple_of=4,
        )

    full = finetune(config("full"))
    assert full["metrics"]["steps"] == 10

    restore = crash_after(monkeypatch, finetune_module, 7)  # last checkpoint: step 6
    with pytest.raises(RuntimeError, match="simulated crash"):
        finetune(config("crashed"))
    restore()
    resumed = finetune(config("crashed"))
    assert_bitwise_equal(full["model"], resumed["model"])


def test_checkpoints_of_older_versions_still_resume(tmp_path):
    """A checkpoint written with only model + optimizer (no step counter, no dropout seed
    states) resumes at the optimizer's step; new checkpoints hold both."""
    import tensorflow as tf

    from keras_bert_zoo.training.loop import fit_resumable

    def model():
        keras.utils.set_random_seed(0)
        net = keras.Sequential([keras.Input((4,)), keras.layers.Dropout(0.5),
                                keras.layers.Dense(1)])
        net.compile(optimizer="adam", loss="mse")
        return net

    def make_dataset(skip):
        x = np.random.default_rng(0).normal(size=(64, 4)).astype("float32")
        ds = tf.data.Dataset.from_tensor_slices((x, x.sum(1, keepdims=True)))
        return ds.batch(8).repeat().skip(skip)

    old = model()
    old.fit(make_dataset(0), steps_per_epoch=2, verbose=0)
    tf.train.CheckpointManager(tf.train.Checkpoint(model=old, optimizer=old.optimizer),
                               str(tmp_path / "checkpoints"), max_to_keep=3).save(2)
    resumed = model()
    assert fit_resumable(resumed, make_dataset, output_dir=str(tmp_path), max_steps=4,
                         checkpoint_every=2, verbose=0) == 4
    assert int(resumed.optimizer.iterations.numpy()) == 4  # two more steps, not four
    names = [name for name, _ in tf.train.list_variables(str(tmp_path / "checkpoints"))]
    assert any(name.startswith("step/") for name in names)
    assert sum(name.startswith("random_state/seed_states/") for name in names) == 1
