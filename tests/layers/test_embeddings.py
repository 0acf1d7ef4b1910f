import numpy as np
import pytest

from keras_bert_zoo.layers import TextEmbeddings


def _table(layer):
    return np.asarray(layer.position_embedding.position_embeddings)


def test_sum_of_tables_then_layer_norm():
    layer = TextEmbeddings(vocabulary_size=10, embedding_dim=4, max_sequence_length=6,
                           num_segments=2, layer_norm_epsilon=1e-12)
    ids = np.array([[3, 1, 2]], "int32")
    segments = np.array([[0, 1, 1]], "int32")
    out = np.asarray(layer({"token_ids": ids, "segment_ids": segments}))
    tokens = np.asarray(layer.token_embedding.embeddings)[ids[0]]
    seg = np.asarray(layer.segment_embedding.embeddings)[segments[0]]
    x = tokens + seg + _table(layer)[:3]
    x = (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + 1e-12)
    np.testing.assert_allclose(out[0], x, atol=1e-5)


def test_padding_aware_positions_follow_fairseq():
    layer = TextEmbeddings(vocabulary_size=10, embedding_dim=4, max_sequence_length=6,
                           position_offset=2, padding_aware_positions=True)
    mask = np.array([[1, 1, 1, 0], [0, 1, 1, 1]], "int32")
    positions = np.asarray(layer._positions(np.zeros_like(mask), mask))
    np.testing.assert_array_equal(positions, [[2, 3, 4, 1], [1, 2, 3, 4]])


def test_projection_changes_width():
    layer = TextEmbeddings(vocabulary_size=10, embedding_dim=4, max_sequence_length=6,
                           projection_dim=8)
    assert layer({"token_ids": np.ones((2, 5), "int32")}).shape == (2, 5, 8)


def test_padding_aware_positions_need_an_offset():
    with pytest.raises(ValueError, match="position_offset >= 1"):
        TextEmbeddings(vocabulary_size=10, embedding_dim=4, max_sequence_length=6,
                       padding_aware_positions=True)
