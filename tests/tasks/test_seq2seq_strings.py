"""Seq2SeqGenerator with a preprocessor: fit and evaluate on (source, target) strings, the same
losses as `seq2seq_dataset`'s batches."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_bert_zoo.models import BartBackbone
from keras_bert_zoo.tasks.seq2seq import Seq2SeqGenerator, seq2seq_dataset
from keras_bert_zoo.tokenizers import Preprocessor
from tests.export.test_seq2seq_embedder_export import byte_level_tokenizer

# Short texts: every batch is cut to 8 tokens (of 24), one shape to trace.
SOURCES = ["the cat", "a cat", "the", "cat sat", "at the", "cats"]
TARGETS = ["cat the", "cat a", "the", "sat cat", "the at", "cats"]


def _generator():
    keras.utils.set_random_seed(0)
    tokenizer = byte_level_tokenizer()
    backbone = BartBackbone(vocabulary_size=tokenizer.vocabulary_size, num_layers=1,
                            num_heads=2, hidden_dim=16, intermediate_dim=32,
                            max_sequence_length=32, dropout=0.0)
    preprocessor = Preprocessor(tokenizer, sequence_length=24, pad_to_multiple_of=8)
    model = Seq2SeqGenerator(backbone, preprocessor=preprocessor)
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    return model


def _batches(ds):
    return [tf.nest.map_structure(lambda t: t.numpy(), element) for element in ds]


def test_fit_on_strings_follows_the_dataset_path():
    # With one global seed, fit draws the shuffle seed as the dataset path is given it here;
    # both cut each batch to its longest source and target (`trim_seq2seq`, whose loss equals
    # the fixed-length one: tests/tasks/test_seq2seq.py).
    model = _generator()
    keras.utils.set_random_seed(5)
    by_strings, *_ = model._convert(SOURCES, TARGETS, batch_size=3, shuffle=True)
    keras.utils.set_random_seed(5)
    seed = int(np.random.randint(2**31 - 1))
    by_dataset = seq2seq_dataset(model.preprocessor, SOURCES, TARGETS, source_length=24,
                                 target_length=24, batch_size=3, shuffle=True, seed=seed,
                                 pad_to_multiple_of=8)
    for _ in range(2):  # two epochs, reshuffled alike
        expected = _batches(by_dataset)
        tf.nest.map_structure(np.testing.assert_array_equal, _batches(by_strings), expected)
    assert {x["encoder_token_ids"].shape[1] for x, _ in expected} == {8}
    history = model.fit(SOURCES, TARGETS, batch_size=3, epochs=2, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    loss = model.evaluate(SOURCES, TARGETS, batch_size=4, verbose=0, return_dict=True)["loss"]
    assert np.isfinite(loss)


def test_bad_string_inputs_name_the_fix():
    model = _generator()
    with pytest.raises(ValueError, match=r"need the target texts: fit\(sources, targets\)"):
        model.fit(SOURCES, verbose=0)
    with pytest.raises(ValueError, match=r"model.generate\(texts\)"):
        model.predict(SOURCES)
    with pytest.raises(ValueError, match="6 sources but 5 targets"):
        model.fit(SOURCES, TARGETS[:5], verbose=0)
    bare = Seq2SeqGenerator(model.backbone)
    bare.compile(optimizer="sgd")
    with pytest.raises(ValueError, match="has no preprocessor; pass preprocessor="):
        bare.fit(SOURCES, TARGETS, verbose=0)
