"""keras-hub preset directories as model handles: `from_preset` reads the backbone and the
tokenizer with keras-hub's own loaders and converts them, outputs and ids equal keras-hub's."""

import json

import keras
import keras_hub
import numpy as np
import pytest
import tensorflow as tf

from keras_bert_zoo.models import Backbone
from keras_bert_zoo.tasks import TextClassifier
from keras_bert_zoo.tasks.seq2seq import Seq2SeqGenerator
from keras_bert_zoo.tokenizers import Preprocessor, train_sentencepiece
from keras_bert_zoo.tokenizers.byte_pair_tokenizer import bytes_to_unicode

WORDS = ["the", "cat", "sat", "on", "mat", "a", "dog", "ran"]
TEXTS = ["the cat sat on the mat", "a dog ran", "the"]
SIZE = dict(num_layers=1, num_heads=2, hidden_dim=8, intermediate_dim=16,
            max_sequence_length=32)


def _bert_preset(directory):
    vocabulary = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + WORDS + ["##s"]
    keras.utils.set_random_seed(0)
    tokenizer = keras_hub.models.BertTokenizer(vocabulary=vocabulary, lowercase=True)
    backbone = keras_hub.models.BertBackbone(vocabulary_size=len(vocabulary), **SIZE)
    preprocessor = keras_hub.models.BertTextClassifierPreprocessor(tokenizer,
                                                                   sequence_length=16)
    return backbone, tokenizer, preprocessor


def _roberta_preset(directory):
    # Every byte is a token, plus a few merges (so merges are exercised).
    tokens = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"] + bytes_to_unicode()
    merges = ["t h", "th e", "\u0120 th", "\u0120th e", "a t", "c at", "\u0120 cat"]
    tokens += ["th", "the", "\u0120th", "\u0120the", "at", "cat", "\u0120cat"]
    vocabulary = {t: i for i, t in enumerate(tokens)}
    tokenizer = keras_hub.models.RobertaTokenizer(vocabulary=vocabulary, merges=merges)
    keras.utils.set_random_seed(0)
    backbone = keras_hub.models.RobertaBackbone(vocabulary_size=len(vocabulary), **SIZE)
    preprocessor = keras_hub.models.RobertaTextClassifierPreprocessor(tokenizer,
                                                                      sequence_length=16)
    return backbone, tokenizer, preprocessor


def _albert_preset(directory):
    (directory / "corpus.txt").write_text("\n".join(TEXTS * 30), "utf-8")
    proto = train_sentencepiece(str(directory / "corpus.txt"), 20)._proto
    tokenizer = keras_hub.models.AlbertTokenizer(proto=proto)
    keras.utils.set_random_seed(0)
    backbone = keras_hub.models.AlbertBackbone(
        vocabulary_size=tokenizer.vocabulary_size(), embedding_dim=8, num_groups=1,
        num_inner_repetitions=1, **SIZE)
    preprocessor = keras_hub.models.AlbertTextClassifierPreprocessor(tokenizer,
                                                                     sequence_length=16)
    return backbone, tokenizer, preprocessor


@pytest.mark.parametrize("make", [_bert_preset, _roberta_preset, _albert_preset],
                         ids=["bert", "roberta", "albert"])
def test_keras_hub_preset_loads_with_its_weights_and_tokenizer(make, tmp_path):
    hub_backbone, hub_tokenizer, hub_preprocessor = make(tmp_path)
    preset = tmp_path / "preset"
    hub_backbone.save_to_preset(str(preset))
    hub_preprocessor.save_to_preset(str(preset))

    preprocessor = Preprocessor.from_preset(str(preset))
    assert preprocessor.sequence_length == 16  # the preset's preprocessor.json
    ours = preprocessor(np.array(TEXTS))
    theirs = hub_preprocessor(tf.constant(TEXTS))
    length = ours["token_ids"].shape[1]
    np.testing.assert_array_equal(ours["token_ids"], theirs["token_ids"][:, :length])
    assert not np.asarray(theirs["padding_mask"])[:, length:].any()  # ours: cut to the longest

    backbone = Backbone.from_preset(str(preset))
    inputs = {k: np.asarray(v) for k, v in theirs.items()}
    expected = hub_backbone(inputs)
    expected = np.asarray(expected["sequence_output"] if isinstance(expected, dict) else expected)
    got = np.asarray(backbone({k: v for k, v in inputs.items() if k in backbone.input})
                     ["sequence_output"])
    mask = inputs["padding_mask"].astype(bool)
    np.testing.assert_allclose(got[mask], expected[mask], atol=1e-5)

    classifier = TextClassifier.from_preset(str(preset), num_classes=2)
    assert classifier.preprocessor.sequence_length == 16
    assert classifier.predict(TEXTS, verbose=0).shape == (3, 2)


def test_unsupported_keras_hub_class_names_the_supported_ones(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(
        {"module": "keras_hub.src.models.gpt2.gpt2_backbone", "class_name": "GPT2Backbone",
         "config": {}}))
    with pytest.raises(ValueError, match="holds a keras-hub GPT2Backbone; supported: "
                                         "AlbertBackbone, BartBackbone"):
        Backbone.from_preset(str(tmp_path))


def test_keras_hub_bart_preset(tmp_path):
    tokens = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"] + bytes_to_unicode()
    merges = ["t h", "th e", "\u0120 th", "\u0120th e", "a t", "c at", "\u0120 cat"]
    tokens += ["th", "the", "\u0120th", "\u0120the", "at", "cat", "\u0120cat"]
    tokenizer = keras_hub.models.BartTokenizer(
        vocabulary={t: i for i, t in enumerate(tokens)}, merges=merges)
    keras.utils.set_random_seed(0)
    hub = keras_hub.models.BartBackbone(vocabulary_size=len(tokens), **SIZE)
    hub.save_to_preset(str(tmp_path))
    tokenizer.save_to_preset(str(tmp_path))

    preprocessor = Preprocessor.from_preset(str(tmp_path), sequence_length=16)
    expected_ids = [list(map(int, row)) for row in tokenizer(TEXTS)]
    assert preprocessor.tokenizer.tokenize(tf.constant(TEXTS)).to_list() == expected_ids
    backbone = Backbone.from_preset(str(tmp_path))
    ids = np.array([[0, 260, 261, 2, 1], [0, 262, 2, 1, 1]], "int32")
    inputs = {"encoder_token_ids": ids, "encoder_padding_mask": ids != 1,
              "decoder_token_ids": ids, "decoder_padding_mask": ids != 1}
    expected = hub(inputs)
    got = backbone(inputs)
    mask = ids != 1
    for name in ("encoder_sequence_output", "decoder_sequence_output"):
        np.testing.assert_allclose(np.asarray(got[name])[mask], np.asarray(expected[name])[mask],
                                   atol=1e-5, err_msg=name)
    generator = Seq2SeqGenerator.from_preset(str(tmp_path), sequence_length=16)
    assert generator.preprocessor.sequence_length == 16
    for ours, theirs in zip(generator.backbone.get_weights(), backbone.get_weights()):
        np.testing.assert_array_equal(ours, theirs)
