import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st

from keras_bert_zoo.data.packing import (
    complete_packing_dataset,
    fill_packing_dataset,
    full_sentence_packing_dataset,
    pack_full_sentences,
    pack_segments,
    truncated_lengths,
)


def truncate_seq_pair(tokens_a, tokens_b, max_num_tokens):
    """google-research/bert run_classifier._truncate_seq_pair, verbatim logic."""
    tokens_a, tokens_b = list(tokens_a), list(tokens_b)
    while True:
        if len(tokens_a) + len(tokens_b) <= max_num_tokens:
            break
        if len(tokens_a) > len(tokens_b):
            tokens_a.pop()
        else:
            tokens_b.pop()
    return len(tokens_a), len(tokens_b)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 40), st.integers(0, 40), st.integers(1, 50))
def test_truncated_lengths_match_truncate_seq_pair(length_a, length_b, budget):
    got = truncated_lengths(tf.constant(length_a), tf.constant(length_b), budget).numpy()
    assert tuple(got) == truncate_seq_pair(range(length_a), range(length_b), budget)


def test_bert_layout_exact():
    out = pack_segments(
        [[5, 6, 7], [4], [10, 11, 12, 13, 14, 15]],
        [[8, 9], [3, 3, 3, 3, 3, 3, 3, 3], [20, 21, 22, 23]],
        sequence_length=9,
        cls_id=1,
        sep_id=2,
        pad_id=0,
    )
    assert out["token_ids"].numpy().tolist() == [
        [1, 5, 6, 7, 2, 8, 9, 2, 0],
        [1, 4, 2, 3, 3, 3, 3, 3, 2],
        [1, 10, 11, 12, 2, 20, 21, 22, 2],
    ]
    assert out["segment_ids"].numpy().tolist() == [
        [0, 0, 0, 0, 0, 1, 1, 1, 0],
        [0, 0, 0, 1, 1, 1, 1, 1, 1],
        [0, 0, 0, 0, 0, 1, 1, 1, 1],
    ]
    assert out["padding_mask"].numpy().tolist()[0] == [1] * 8 + [0]
    assert all(v.dtype == tf.int32 and v.shape == (3, 9) for v in out.values())


def test_single_segment_and_roberta_layout():
    single = pack_segments([[5, 6, 7], [4]], sequence_length=4, cls_id=1, sep_id=2, pad_id=0)
    assert single["token_ids"].numpy().tolist() == [[1, 5, 6, 2], [1, 4, 2, 0]]
    roberta = pack_segments(
        [[5, 6]], [[7]], sequence_length=8, cls_id=0, sep_id=2, pad_id=1, layout="roberta"
    )
    assert roberta["token_ids"].numpy().tolist() == [[0, 5, 6, 2, 2, 7, 2, 1]]
    assert roberta["segment_ids"].numpy().tolist() == [[0] * 8]
    assert roberta["padding_mask"].numpy().tolist() == [[1] * 7 + [0]]


def test_pack_segments_in_tf_data():
    ds = tf.data.Dataset.from_tensor_slices(tf.ragged.constant([[5, 6, 7], [8], [9, 9]]))
    ds = ds.batch(2).map(
        lambda a: pack_segments(a, sequence_length=5, cls_id=1, sep_id=2, pad_id=0)
    )
    batches = [b["token_ids"].numpy().tolist() for b in ds]
    assert batches == [[[1, 5, 6, 7, 2], [1, 8, 2, 0, 0]], [[1, 9, 9, 2, 0]]]


def test_pack_segments_errors():
    with pytest.raises(ValueError, match="layout"):
        pack_segments([[1]], sequence_length=4, cls_id=1, sep_id=2, pad_id=0, layout="gpt")
    with pytest.raises(ValueError, match="no room"):
        pack_segments([[1]], [[2]], sequence_length=3, cls_id=1, sep_id=2, pad_id=0)


def test_full_sentence_packing_exact():
    docs = [[[5, 6], [7]], [[8, 9, 10]], [[11, 12, 13, 14, 15, 16, 17, 18, 19]]]
    fill = pack_full_sentences(
        docs, sequence_length=6, bos_id=0, eos_id=2, pad_id=1, break_mode="fill"
    )
    assert fill.tolist() == [
        [0, 5, 6, 7, 2, 2],  # the separator </s> between documents
        [0, 8, 9, 10, 2, 2],
        [0, 11, 12, 13, 14, 2],
        [0, 15, 16, 17, 18, 2],
        [0, 19, 2, 1, 1, 1],  # padded only at the very end of the stream
    ]
    complete = pack_full_sentences(docs, sequence_length=6, bos_id=0, eos_id=2, pad_id=1)
    assert complete.tolist() == [
        [0, 5, 6, 7, 2, 1],  # the next document does not fit
        [0, 8, 9, 10, 2, 1],
        [0, 11, 12, 13, 14, 2],  # a sentence longer than a sequence is split
        [0, 15, 16, 17, 18, 2],
        [0, 19, 2, 1, 1, 1],
    ]  # RoBERTa's FULL-SENTENCES, the default
    per_document = pack_full_sentences(
        docs, sequence_length=6, bos_id=0, eos_id=2, pad_id=1, cross_documents=False
    )
    assert per_document[:2].tolist() == [[0, 5, 6, 7, 2, 1], [0, 8, 9, 10, 2, 1]]


def random_documents(rng):
    return [
        [rng.integers(3, 50, size=rng.integers(0, 10)).tolist() for _ in range(rng.integers(1, 5))]
        for _ in range(rng.integers(1, 5))
    ]


@pytest.mark.parametrize("break_mode", ["fill", "complete"])
@pytest.mark.parametrize("cross_documents", [True, False])
def test_full_sentence_packing_dataset_matches_reference(break_mode, cross_documents):
    kwargs = dict(
        sequence_length=7,
        bos_id=0,
        eos_id=2,
        pad_id=1,
        break_mode=break_mode,
        cross_documents=cross_documents,
    )
    rng = np.random.default_rng(7)
    corpora = [random_documents(rng) for _ in range(4)] + [
        [[[]], [[5]]], [[list(range(3, 40))]], [[list(range(3, 20)), [5, 6]], [[7, 8, 9]]]]
    for docs in corpora:
        expected = pack_full_sentences(docs, **kwargs)
        sentences = [s for d in docs for s in d]
        starts = [i == 0 for d in docs for i in range(len(d))]
        ds = tf.data.Dataset.from_tensor_slices(
            (tf.ragged.constant(sentences, dtype=tf.int32, ragged_rank=1), starts)
        )
        got = [x["token_ids"].numpy() for x in full_sentence_packing_dataset(ds, **kwargs)]
        np.testing.assert_array_equal(np.reshape(got, [-1, 7]), expected)
        # Nothing is dropped: every sentence token is in the output, once.
        content = expected[expected > 2]
        assert sorted(content.tolist()) == sorted(t for s in sentences for t in s)
        if break_mode == "fill" and cross_documents and len(expected):
            assert (expected[:-1] != 1).all()  # only the last sequence is padded
        if break_mode == "complete":
            # One step per document: the same rows.
            docs_ds = tf.data.Dataset.from_generator(
                lambda docs=docs: (tf.ragged.constant(d, dtype=tf.int32, ragged_rank=1)
                                   for d in docs),
                output_signature=tf.RaggedTensorSpec([None, None], tf.int32, ragged_rank=1))
            kwargs_complete = {k: v for k, v in kwargs.items() if k != "break_mode"}
            rows = [x["token_ids"].numpy()
                    for x in complete_packing_dataset(docs_ds, **kwargs_complete)]
            np.testing.assert_array_equal(np.reshape(rows, [-1, 7]), expected)
        if break_mode == "fill" and cross_documents:
            # One step per document: the same rows, from ragged or flat documents.
            for flat in (False, True):
                documents = [[t for s in d for t in s] if flat else d for d in docs]
                docs_ds = tf.data.Dataset.from_generator(
                    lambda documents=documents, flat=flat: (
                        np.asarray(d, np.int32) if flat
                        else tf.ragged.constant(d, dtype=tf.int32, ragged_rank=1)
                        for d in documents),
                    output_signature=tf.TensorSpec([None], tf.int32) if flat
                    else tf.RaggedTensorSpec([None, None], tf.int32, ragged_rank=1))
                kwargs_fill = {k: v for k, v in kwargs.items()
                               if k not in ("break_mode", "cross_documents")}
                rows = [x["token_ids"].numpy() for x in fill_packing_dataset(docs_ds,
                                                                            **kwargs_fill)]
                np.testing.assert_array_equal(np.reshape(rows, [-1, 7]), expected)
