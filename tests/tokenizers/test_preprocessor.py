import itertools
import json

import keras
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from keras_bert_zoo.tokenizers import Preprocessor
from keras_bert_zoo.tokenizers import WordPieceTokenizer
from keras_bert_zoo.tokenizers import load_preprocessor
from keras_bert_zoo.tokenizers import pack_inputs
from keras_bert_zoo.data.packing import truncated_lengths
from tests.tokenizers.saved_model import save_and_load

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]  # 0 1 2 3 4
WORDS = ["a", "b", "c", "d", "e", "f", "g", "h"]  # 5 .. 12


@pytest.fixture(scope="module")
def tokenizer():
    return WordPieceTokenizer(SPECIALS + WORDS)


def _python_truncate(a, b, budget):
    """The original BERT `_truncate_seq_pair` loop."""
    while a + b > budget:
        if a > b:
            a -= 1
        else:
            b -= 1
    return a, b


def test_truncated_lengths_equal_original_loop():
    cases = list(itertools.product(range(12), range(12), range(15)))
    a, b, budget = (tf.constant([c[i] for c in cases], tf.int64) for i in range(3))
    got_a, got_b = truncated_lengths(a, b, budget)
    got = list(zip(got_a.numpy().tolist(), got_b.numpy().tolist()))
    assert got == [_python_truncate(*c) for c in cases]


def test_bert_pairs_exact(tokenizer):
    preprocessor = Preprocessor(tokenizer, sequence_length=8)
    outputs = preprocessor((["a b c d e f", "a", "a b c"], ["g h", "b c", "d e f g h"]))
    assert outputs["token_ids"].numpy().tolist() == [
        [2, 5, 6, 7, 3, 11, 12, 3],  # A cut from 6 to 3 tokens, B (2) kept whole
        [2, 5, 3, 6, 7, 3, 0, 0],  # fits
        [2, 5, 6, 7, 3, 8, 9, 3],  # B cut to 3 = A, then B first on the tie: 3 + 2
    ]
    assert outputs["segment_ids"].numpy().tolist() == [
        [0, 0, 0, 0, 0, 1, 1, 1],
        [0, 0, 0, 1, 1, 1, 0, 0],
        [0, 0, 0, 0, 0, 1, 1, 1],
    ]
    assert outputs["padding_mask"].numpy().tolist() == [
        [1] * 8, [1, 1, 1, 1, 1, 1, 0, 0], [1] * 8,
    ]
    for value in outputs.values():
        assert value.dtype == tf.int32


def test_single_texts_and_scalars(tokenizer):
    preprocessor = Preprocessor(tokenizer, sequence_length=5)
    outputs = preprocessor(tf.constant(["a b c d e f", "h"]))
    assert outputs["token_ids"].numpy().tolist() == [[2, 5, 6, 7, 3], [2, 12, 3, 0, 0]]
    assert outputs["segment_ids"].numpy().tolist() == [[0] * 5, [0] * 5]
    single = preprocessor("h")
    assert single["token_ids"].numpy().tolist() == [2, 12, 3, 0, 0]


def test_roberta_layout_exact():
    ids = pack_inputs(
        tf.ragged.constant([[10, 11, 12, 13], [10]]),
        tf.ragged.constant([[20], [20, 21]]),
        sequence_length=8, cls_id=0, sep_id=2, pad_id=1, layout="roberta",
    )
    assert sorted(ids) == ["padding_mask", "token_ids"]
    assert ids["token_ids"].numpy().tolist() == [
        [0, 10, 11, 12, 2, 2, 20, 2],
        [0, 10, 2, 2, 20, 21, 2, 1],
    ]
    assert ids["padding_mask"].numpy().tolist() == [[1] * 8, [1] * 7 + [0]]
    with pytest.raises(ValueError, match="too short"):
        pack_inputs(tf.ragged.constant([[1]]), tf.ragged.constant([[1]]), sequence_length=3,
                    cls_id=0, sep_id=2, pad_id=1, layout="roberta")


def test_in_tf_data_and_saved_model(tokenizer, tmp_path):
    preprocessor = Preprocessor(tokenizer, sequence_length=6)
    a, b = ["a b c d", "e"], ["f g", "h"]
    expected = preprocessor((a, b))
    dataset = tf.data.Dataset.from_tensor_slices((a, b)).batch(2).map(
        lambda x, y: preprocessor((x, y))
    )
    got = next(iter(dataset))
    for key in expected:
        np.testing.assert_array_equal(got[key], expected[key])

    loaded = save_and_load(preprocessor, lambda x, y: preprocessor((x, y)),
                           [tf.TensorSpec([None], tf.string)] * 2, tmp_path / "saved")
    got = loaded.serve(tf.constant(a), tf.constant(b))
    for key in expected:
        np.testing.assert_array_equal(got[key], expected[key])


@pytest.mark.parametrize("padding", ["longest", "fixed"])
def test_config_and_save_round_trip(tokenizer, tmp_path, padding):
    preprocessor = Preprocessor(tokenizer, sequence_length=7, padding=padding,
                                pad_to_multiple_of=3)
    texts = (["a b c d e", "f"], ["g h a", "b"])
    expected = preprocessor(texts)
    clone = Preprocessor.from_config(preprocessor.get_config())
    assert clone.get_config() == preprocessor.get_config()
    revived = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(preprocessor)
    )
    preprocessor.save(str(tmp_path))
    with open(tmp_path / "preprocessor_config.json", encoding="utf-8") as f:
        assert json.load(f) == {"class": "Preprocessor", "family": "bert", "sequence_length": 7,
                                "padding": padding, "pad_to_multiple_of": 3}
    loaded = load_preprocessor(str(tmp_path))
    for other in (clone, revived, loaded):
        for key in expected:
            np.testing.assert_array_equal(other(texts)[key], expected[key])


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.text(max_size=300), min_size=1, max_size=4),
    st.lists(st.text(st.characters(max_codepoint=0x7F), max_size=300), min_size=1, max_size=4),
    st.integers(min_value=4, max_value=40),
)
def test_fuzz_shapes(tokenizer, first, second, sequence_length):
    n = min(len(first), len(second))
    first, second = first[:n], second[:n]
    preprocessor = Preprocessor(tokenizer, sequence_length=sequence_length, padding="fixed")
    encode = [t.encode("utf-8", "surrogatepass") for t in first]
    outputs = preprocessor((tf.constant(encode), tf.constant(second)))
    assert sorted(outputs) == ["padding_mask", "segment_ids", "token_ids"]
    # The default pads to the longest pair, rounded up to a multiple of 8: the same columns.
    longest = Preprocessor(tokenizer, sequence_length=sequence_length)((tf.constant(encode),
                                                                         tf.constant(second)))
    kept = min(sequence_length, -(-int(outputs["padding_mask"].numpy().sum(1).max()) // 8) * 8)
    for key, value in outputs.items():
        np.testing.assert_array_equal(longest[key].numpy(), value.numpy()[:, :kept])
    for value in outputs.values():
        assert value.shape == (n, sequence_length) and value.dtype == tf.int32
    token_ids = outputs["token_ids"].numpy()
    mask = outputs["padding_mask"].numpy()
    lengths = mask.sum(axis=1)
    assert (lengths >= 3).all() and (mask == (np.arange(sequence_length) < lengths[:, None])).all()
    assert (token_ids[:, 0] == 2).all()
    assert (token_ids[np.arange(n), lengths - 1] == 3).all()
    assert ((token_ids == 0) == (mask == 0)).all()
    a = tokenizer.tokenize(tf.constant(encode)).row_lengths().numpy()
    b = tokenizer.tokenize(tf.constant(second)).row_lengths().numpy()
    for i in range(n):
        kept = _python_truncate(int(a[i]), int(b[i]), sequence_length - 3)
        assert lengths[i] == sum(kept) + 3
        assert outputs["segment_ids"].numpy()[i].sum() == kept[1] + 1


def test_longest_padding_edges(tokenizer):
    preprocessor = Preprocessor(tokenizer, sequence_length=12, pad_to_multiple_of=4)
    # Empty texts keep [CLS] [SEP]; one over-long text among short ones is cut at the maximum.
    assert preprocessor(["", ""])["token_ids"].numpy().tolist() == [[2, 3, 0, 0]] * 2
    outputs = preprocessor(["a", "a b c d e f g h a b c d e f"])
    assert outputs["token_ids"].shape == (2, 12)
    assert outputs["padding_mask"].numpy().sum(1).tolist() == [3, 12]
    assert preprocessor("a b c d")["token_ids"].numpy().tolist() == [2, 5, 6, 7, 8, 3, 0, 0]
    assert preprocessor(tf.constant([], tf.string))["token_ids"].shape == (0, 4)
    spec = preprocessor.compute_output_spec(keras.KerasTensor((None,), dtype="string"))
    assert spec["token_ids"].shape == (None, None)


def test_bad_padding_arguments_name_the_fix(tokenizer):
    with pytest.raises(ValueError, match="padding='max_length' is not one of"):
        Preprocessor(tokenizer, padding="max_length")
    with pytest.raises(ValueError, match="must be a positive integer"):
        Preprocessor(tokenizer, pad_to_multiple_of=0)
