"""Fuzzing the raw-string classifier export: any batch of texts, or of bytes that are not
UTF-8, gives outputs of the documented shapes and types, and never an error."""

import numpy as np
import pytest
import tensorflow as tf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from keras_bert_zoo import models
from keras_bert_zoo.data.corpora import write_default_corpus
from keras_bert_zoo.export import export_saved_model
from keras_bert_zoo.tasks import TextClassifier
from keras_bert_zoo.tokenizers import Preprocessor, train_tokenizer

CLASS_NAMES = ["neg", "neu", "pos"]
FUZZ = settings(max_examples=40, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow, HealthCheck.data_too_large])

# Any code point but surrogates (which UTF-8 cannot encode): controls, NUL, combining marks,
# private use, unassigned, emoji, right-to-left text...
CHARACTERS = st.characters(exclude_categories=("Cs",))
TEXTS = st.one_of(
    st.text(CHARACTERS, max_size=60),
    st.sampled_from(["", " ", "\t\n\r \x0b\x0c", "\u3000\u00a0\u2028", "\x00", "\ufffd",
                     "[CLS] [SEP] [MASK] [PAD]", "##s ##ing", "café " * 300]),
    st.text(st.sampled_from(" \t\n\x00\x7f\u200b\u200d\ufeff"), min_size=1, max_size=20),
    # Thousands of characters, far beyond the sequence length.
    st.builds(lambda piece, times: piece * times, st.text(CHARACTERS, min_size=1, max_size=8),
              st.integers(500, 1500)),
)
# Bytes, mostly not UTF-8: lone continuation bytes, truncated sequences, overlong forms,
# encoded surrogates, 0xFF...
BYTES = st.one_of(
    st.binary(max_size=80),
    st.sampled_from([b"\xff", b"\xc3", b"caf\xe9", b"\xe2\x82", b"\xc0\xaf", b"\xed\xa0\x80",
                     b"\xf4\x90\x80\x80", b"ok \x80\x80\x80 ok"]),
    st.builds(lambda piece, times: piece * times, st.binary(min_size=1, max_size=4),
              st.integers(500, 1500)),
)


PRESETS = {"bert": "bert_tiny", "roberta": "roberta_base", "albert": "albert_base"}


@pytest.fixture(scope="module", params=["bert", "roberta", "albert"])
def serve(request, tmp_path_factory):
    """`serving_default` of a tiny classifier export (WordPiece, byte-level BPE or
    SentencePiece inside), loaded with tf.saved_model.load."""
    family = request.param
    root = tmp_path_factory.mktemp(f"fuzz_{family}")
    paths = write_default_corpus(str(root / "corpus"), num_files=1, max_documents=30)
    tokenizer = train_tokenizer(family, paths, 400)
    backbone = models.build(PRESETS[family], vocabulary_size=tokenizer.vocabulary_size,
                            num_layers=1, num_heads=2, hidden_dim=16, intermediate_dim=32,
                            max_sequence_length=32,
                            **({"embedding_dim": 8} if family == "albert" else {}))
    model = TextClassifier(backbone, num_classes=3, class_names=CLASS_NAMES)
    path = export_saved_model(model, Preprocessor(tokenizer, sequence_length=32),
                              str(root / "export"))
    return tf.saved_model.load(path).signatures["serving_default"]


def check_outputs(outputs, batch_size):
    probabilities = outputs["probabilities"]
    assert probabilities.dtype == tf.float32
    assert probabilities.shape == (batch_size, len(CLASS_NAMES))
    probabilities = probabilities.numpy()
    assert np.all(np.isfinite(probabilities)) and np.all(probabilities >= 0)
    np.testing.assert_allclose(probabilities.sum(-1), 1.0, atol=1e-5)
    label_id = outputs["label_id"]
    assert label_id.dtype == tf.int32 and label_id.shape == (batch_size,)
    label_id = label_id.numpy()
    assert np.all((0 <= label_id) & (label_id < len(CLASS_NAMES)))
    np.testing.assert_array_equal(label_id, probabilities.argmax(-1))
    label = outputs["label"]
    assert label.dtype == tf.string and label.shape == (batch_size,)
    assert [s.decode() for s in label.numpy()] == [CLASS_NAMES[i] for i in label_id]


@FUZZ
@given(texts=st.lists(TEXTS, max_size=6))  # the empty batch too
def test_any_unicode_text_batch(serve, texts):
    check_outputs(serve(text=tf.constant(texts, dtype=tf.string)), len(texts))


@FUZZ
@given(data=st.lists(BYTES, min_size=1, max_size=6))
def test_invalid_utf8_bytes_batch(serve, data):
    check_outputs(serve(text=tf.constant(data, dtype=tf.string)), len(data))


def test_a_row_does_not_depend_on_the_rest_of_the_batch(serve):
    texts = [b"the film was good", b"\x00" * 3000, b"caf\xe9 \xff", b"", "東京 🍣".encode()]
    batch = serve(text=tf.constant(texts))["probabilities"].numpy()
    for i, text in enumerate(texts):
        alone = serve(text=tf.constant([text]))["probabilities"].numpy()[0]
        np.testing.assert_allclose(batch[i], alone, atol=1e-5)
