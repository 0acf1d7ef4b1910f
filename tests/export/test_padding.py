"""Every raw-string export pads a request to its longest text, with the outputs of fixed padding.

The signatures are called in process (the same graphs a SavedModel holds); the SavedModel
round trips are tested in the other export tests. Requests are short, so "longest" padding
really cuts the sequences (asserted), and mix in empty strings and a batch of one. Exports run
a request in length-sorted groups (`length_group_size`, default 4): the mixed batches below
span several groups whose order differs from the request's.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_bert_zoo.export import (build_classifier_module, build_embedder_module,
                                   build_seq2seq_module)
from keras_bert_zoo.export.qa_export import build_qa_module
from keras_bert_zoo.export.tagger_export import build_tagger_module
from keras_bert_zoo.models import BertBackbone
from keras_bert_zoo.tasks import SpanQuestionAnswerer, TextClassifier, TokenTagger
from keras_bert_zoo.tokenizers import Preprocessor, WordPieceTokenizer
from tests.export.test_seq2seq_embedder_export import bert_embedder, seq2seq_model
from tests.export.test_tagger_qa_export import VOCAB

LENGTH = 32
SHORT = ["Johanson lives in Zürich.", "", "who?", "Dr. O'Neil, the CAFÉ!"]
MIXED = ["zurich " * n + "lives" for n in (9, 1, 30, 0, 4, 17, 2, 25, 6)]
BATCHES = [SHORT, SHORT[:1], [""], SHORT + ["zurich " * 40], MIXED]  # the 4th reaches LENGTH


def _both(preprocessor, texts=SHORT):
    """The preprocessor padding to the longest text, and its fixed-length twin."""
    longest = Preprocessor(preprocessor.tokenizer, sequence_length=preprocessor.sequence_length,
                           family=preprocessor.family)
    fixed = Preprocessor(preprocessor.tokenizer, sequence_length=preprocessor.sequence_length,
                         family=preprocessor.family, padding="fixed")
    assert longest(tf.constant(texts))["token_ids"].shape[1] < preprocessor.sequence_length
    return longest, fixed


def _serve(signatures, **inputs):
    out = signatures["serving_default"](**{k: tf.constant(v) for k, v in inputs.items()})
    return {k: v.numpy() for k, v in out.items()}


def _assert_same(got, expected):
    assert sorted(got) == sorted(expected)
    for key, value in expected.items():
        if value.dtype.kind in "fc":
            np.testing.assert_allclose(got[key], value, atol=1e-5, err_msg=key)
        else:
            np.testing.assert_array_equal(got[key], value, err_msg=key)


def _backbone(length=LENGTH, seed=0):
    keras.utils.set_random_seed(seed)
    return BertBackbone(vocabulary_size=len(VOCAB), num_layers=1, num_heads=2, hidden_dim=16,
                        intermediate_dim=32, max_sequence_length=length)


def _grouping(length_group_size):
    return {} if length_group_size is None else {"length_group_size": length_group_size}


# None: the default grouping; 0: one model call on the whole request cut to its longest text.
@pytest.mark.parametrize("pair, length_group_size", [(False, None), (False, 0), (True, None)])
def test_classifier(pair, length_group_size):
    model = TextClassifier(_backbone(), num_classes=3, class_names=["a", "b", "c"])
    longest, fixed = _both(Preprocessor(WordPieceTokenizer(VOCAB), sequence_length=LENGTH))
    _, dynamic = build_classifier_module(model, longest, pair=pair,
                                         **_grouping(length_group_size))
    _, static = build_classifier_module(model, fixed, pair=pair)
    for batch in BATCHES:
        inputs = {"text": batch, "text_pair": batch[::-1]} if pair else {"text": batch}
        _assert_same(_serve(dynamic, **inputs), _serve(static, **inputs))


def test_tagger():
    model = TokenTagger(_backbone(seed=1), num_tags=3, tag_names=["O", "B-LOC", "B-PER"])
    longest, fixed = _both(Preprocessor(WordPieceTokenizer(VOCAB), sequence_length=LENGTH))
    _, dynamic = build_tagger_module(model, longest)
    _, static = build_tagger_module(model, fixed)
    for batch in BATCHES:
        _assert_same(_serve(dynamic, text=batch), _serve(static, text=batch))


def test_question_answering():
    model = SpanQuestionAnswerer(_backbone(seed=2))
    longest, fixed = _both(Preprocessor(WordPieceTokenizer(VOCAB), sequence_length=LENGTH))
    options = dict(doc_stride=8, max_answer_length=4, max_question_length=8)
    _, dynamic = build_qa_module(model, longest, **options)
    _, static = build_qa_module(model, fixed, **options)
    questions = ["Where does Johanson live?", "who?", "", "where"]
    for contexts in BATCHES:
        inputs = {"question": (questions * 3)[:len(contexts)], "context": contexts}
        got, expected = _serve(dynamic, **inputs), _serve(static, **inputs)
        assert got["answer"].tolist() == expected["answer"].tolist()
        _assert_same(got, expected)


def test_embedder_and_seq2seq():
    model, preprocessor = bert_embedder()
    texts = ["the cat sat", "", "then the end"]
    longest, fixed = _both(preprocessor, texts)
    _, dynamic = build_embedder_module(model, longest)
    _, static = build_embedder_module(model, fixed)
    for batch in (texts, texts[:1], texts * 3):
        _assert_same(_serve(dynamic, text=batch), _serve(static, text=batch))

    generator = seq2seq_model()
    longest, fixed = _both(Preprocessor(generator.preprocessor.tokenizer, sequence_length=12),
                           ["a b", "", "then"])
    _, dynamic = build_seq2seq_module(generator, longest, max_length=6)
    _, static = build_seq2seq_module(generator, fixed, max_length=6)
    for batch in (["a b", "", "then"], ["cat"]):
        _assert_same(_serve(dynamic, text=batch), _serve(static, text=batch))


def test_bad_length_group_size():
    model = TextClassifier(_backbone(), num_classes=2)
    preprocessor = Preprocessor(WordPieceTokenizer(VOCAB), sequence_length=LENGTH)
    for bad in (-1, 2.5, "4", True):
        with pytest.raises(ValueError, match="length_group_size must be an int >= 0"):
            build_classifier_module(model, preprocessor, length_group_size=bad)
