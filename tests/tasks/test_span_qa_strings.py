"""SpanQuestionAnswerer with a preprocessor: fit, evaluate and predict on (question, context)
strings and answer texts, the numbers of the `squad_features` array path."""

import keras
import numpy as np
import pytest

from keras_bert_zoo.data.formats import SquadExample
from keras_bert_zoo.models import BertBackbone
from keras_bert_zoo.tasks.span_qa import SpanQuestionAnswerer, decode_answers, squad_features
from keras_bert_zoo.tokenizers import Preprocessor, WordPieceTokenizer

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", "?", "johan", "##son", "lives",
         "in", "zurich", "maria", "works", "paris", "where", "does", "live", "who"]
CONTEXTS = ["Johanson lives in Zürich. Maria works in Paris.", "Maria lives in Paris.",
            "Johanson works in Zürich. " * 3, "Maria works."]
QUESTIONS = ["Where does Johanson live?", "Who lives in Paris?", "Where does Johanson work?",
             "Where does Maria live?"]
ANSWERS = ["Zürich", ("Maria", 0), "Zürich", ""]  # by text, (text, start), no answer


def _model(seed=0):
    keras.utils.set_random_seed(seed)
    # 16 tokens: the third context is split into windows (doc_stride 8).
    preprocessor = Preprocessor(WordPieceTokenizer(VOCAB), sequence_length=16,
                                pad_to_multiple_of=4)
    model = SpanQuestionAnswerer(BertBackbone(vocabulary_size=len(VOCAB), num_layers=1,
                                              num_heads=2, hidden_dim=16, intermediate_dim=32,
                                              max_sequence_length=16, dropout=0.0),
                                 dropout=0.0, preprocessor=preprocessor)
    model.compile(optimizer=keras.optimizers.SGD(0.5))
    return model


def _examples():
    spans = [[("Zürich", CONTEXTS[0].index("Zürich"))], [("Maria", 0)],
             [("Zürich", CONTEXTS[2].index("Zürich"))], []]
    return [SquadExample(str(i), q, c, s, is_impossible=not s)
            for i, (q, c, s) in enumerate(zip(QUESTIONS, CONTEXTS, spans))]


def test_fit_on_strings_follows_the_feature_path():
    strings = _model()
    by_strings = strings.fit((QUESTIONS, CONTEXTS), ANSWERS, batch_size=2, epochs=3,
                             shuffle=False, verbose=0).history["loss"]
    arrays = _model()
    features = squad_features(_examples(), arrays.preprocessor, doc_stride=8, training=True)
    assert len(features.example_index) > len(QUESTIONS)  # a context in several windows
    by_arrays = arrays.fit(features.inputs, features.labels, batch_size=2, epochs=3,
                           shuffle=False, verbose=0).history["loss"]
    np.testing.assert_allclose(by_strings, by_arrays, rtol=1e-5)
    assert by_strings[-1] < by_strings[0]
    metrics = strings.evaluate((QUESTIONS, CONTEXTS), ANSWERS, verbose=0, return_dict=True)
    assert np.isfinite(metrics["loss"]) and "start_accuracy" in metrics

    # Answers: those decoded from full-length logits of the same windows.
    features = squad_features(_examples(), strings.preprocessor, doc_stride=8)
    out = strings.predict(features.inputs, verbose=0)
    expected = decode_answers(features, out["start_logits"], out["end_logits"], _examples())
    answers = strings.answer(QUESTIONS, CONTEXTS)
    assert [(a.text, a.start_char, a.end_char) for a in answers] == \
        [(a.text, a.start_char, a.end_char) for a in expected]
    np.testing.assert_allclose([a.score for a in answers], [a.score for a in expected],
                               atol=1e-4)
    assert strings.predict((QUESTIONS, CONTEXTS)).tolist() == [a.text for a in expected]


def test_shuffled_fit_on_strings_is_seeded():
    losses = [_model(seed=2).fit((QUESTIONS * 3, CONTEXTS * 3), ANSWERS * 3, batch_size=4,
                                 epochs=2, verbose=0).history["loss"] for _ in range(2)]
    assert losses[0] == losses[1]


def test_bad_string_inputs_name_the_fix():
    model = _model()
    with pytest.raises(ValueError, match="answer 0 .'Berlin'. is not in its context"):
        model.fit((QUESTIONS[:1], CONTEXTS[:1]), ["Berlin"], verbose=0)
    with pytest.raises(ValueError, match=r"need the answers: fit\(\(questions, contexts\)"):
        model.fit((QUESTIONS, CONTEXTS), verbose=0)
    with pytest.raises(ValueError, match="got 4 questions but 3 contexts"):
        model.fit((QUESTIONS, CONTEXTS[:3]), ANSWERS, verbose=0)
    bare = SpanQuestionAnswerer(model.backbone)
    with pytest.raises(ValueError, match="has no preprocessor; pass preprocessor="):
        bare.predict((QUESTIONS, CONTEXTS))
