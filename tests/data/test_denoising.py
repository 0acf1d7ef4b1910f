import collections

import numpy as np
import pytest
import tensorflow as tf

from keras_bert_zoo.data.denoising import (
    bart_noise,
    bart_noise_batch,
    document_rotation,
    sentence_permutation,
    text_infilling,
    token_deletion,
    token_masking,
)

BOS, PAD, EOS, MASK, STOP = 0, 1, 2, 3, 9


def test_exact_outputs_under_seed():
    ids = tf.range(4, 16)
    assert text_infilling(
        tf.concat([[BOS], ids, [EOS]], 0), mask_id=MASK, seed=0
    ).numpy().tolist() == [
        0,
        4,
        5,
        6,
        7,
        8,
        9,
        10,
        3,
        15,
        3,
        2,
    ]  # ceil(0.3 * 12) = 4 tokens: the span 11..14 -> one mask, and a zero-length span
    assert token_deletion(tf.range(6), seed=0, rate=0.5).numpy().tolist() == [0, 3, 4, 5]
    assert token_masking(tf.range(6), mask_id=99, seed=0, rate=0.5).numpy().tolist() == [
        0,
        99,
        99,
        3,
        4,
        5,
    ]


def test_infilling_masks_30_percent_with_poisson_spans():
    fn = tf.function(lambda x, s: text_infilling(x, mask_id=-1, seed=s))
    length, masked, masks, inserts = 402, 0, 0, 0
    for k in range(150):
        out = fn(tf.range(length), tf.constant([k, 0], tf.int64)).numpy()
        assert out[0] == 0 and out[-1] == length - 1
        kept = out[out >= 0]
        assert (np.diff(kept) > 0).all()  # order of kept tokens unchanged
        masked += length - len(kept)
        masks += (out == -1).sum()
    # Exactly ceil(0.3 * 400) tokens per sequence: spans never overlap.
    assert masked == 150 * 120
    # One mask per span, zero-length spans included: 3 on average, less the trimmed last span.
    assert 2.7 < masked / masks < 3.2


def test_zero_length_spans_insert_masks():
    fn = tf.function(lambda x, s: text_infilling(x, mask_id=-1, seed=s, poisson_lambda=0.3))
    lengths = collections.Counter()
    for k in range(100):
        out = fn(tf.range(52), tf.constant([k, 3], tf.int64)).numpy()
        lengths["masks"] += (out == -1).sum()
        lengths["deleted"] += 52 - (out >= 0).sum()
    # With lambda 0.3 most draws are 0: masks outnumber masked tokens.
    assert lengths["masks"] > lengths["deleted"]


def test_sentence_permutation_keeps_tokens_and_ends():
    ids = tf.constant([BOS, 5, STOP, 6, 7, STOP, 8, STOP, STOP, 10, 11, EOS])
    seen = set()
    for seed in range(200):
        out = sentence_permutation(ids, full_stop_ids=[STOP], seed=seed).numpy().tolist()
        assert out[0] == BOS and out[-1] == EOS
        assert sorted(out) == sorted(ids.numpy().tolist())
        seen.add(tuple(out))
    assert (BOS, 6, 7, STOP, 10, 11, 8, STOP, STOP, 5, STOP, EOS) in seen  # "..." stays whole
    assert len(seen) == 24  # every order of the 4 sentences


def test_batch_padding_stays_at_the_end():
    rows = [
        [BOS, 5, 6, STOP, 7, 8, STOP, 4, 10, STOP, EOS, PAD, PAD, PAD],
        [BOS, 5, STOP, 6, STOP, EOS] + [PAD] * 8,
    ]
    out = bart_noise_batch(
        rows, pad_id=PAD, seed=1, mask_id=MASK, full_stop_ids=[STOP], mask_rate=0.0
    ).numpy()
    for row, original in zip(out, rows):
        real = [t for t in original if t != PAD]
        assert row[: len(real)].tolist() != [] and sorted(row[: len(real)]) == sorted(real)
        assert (row[len(real) :] == PAD).all() and row[len(real) - 1] == EOS
    masked = bart_noise_batch(rows, pad_id=PAD, seed=1, mask_id=MASK, full_stop_ids=[STOP]).numpy()
    for row in masked:
        n = (row != PAD).sum()
        assert (row[n:] == PAD).all() and row[0] == BOS and row[n - 1] == EOS


def test_rotation_and_composition():
    ids = tf.range(10)
    rotated = {tuple(document_rotation(ids, seed=s).numpy()) for s in range(30)}
    for out in rotated:
        assert out[0] == 0 and out[-1] == 9 and sorted(out) == list(range(10))
        inner = list(out[1:-1])
        start = inner.index(1)
        assert inner[start:] + inner[:start] == list(range(1, 9))  # a rotation
    assert len(rotated) > 4
    assert document_rotation(ids, seed=0, rate=0.0).numpy().tolist() == list(range(10))
    noised = bart_noise(
        tf.range(40),
        mask_id=99,
        seed=0,
        full_stop_ids=[5, 20],
        rotate_rate=1.0,
        deletion_rate=0.1,
        token_mask_rate=0.1,
        random_token_rate=0.5,
        vocabulary_size=100,
        special_ids=[0, 39],
    ).numpy()
    assert noised[0] == 0 and noised[-1] == 39
    again = bart_noise(
        tf.range(40),
        mask_id=99,
        seed=0,
        full_stop_ids=[5, 20],
        rotate_rate=1.0,
        deletion_rate=0.1,
        token_mask_rate=0.1,
        random_token_rate=0.5,
        vocabulary_size=100,
        special_ids=[0, 39],
    ).numpy()
    np.testing.assert_array_equal(noised, again)


def test_errors():
    with pytest.raises(ValueError, match="mask_id"):
        bart_noise(tf.range(5), mask_id=None, seed=0)
    with pytest.raises(ValueError, match="out of range"):
        bart_noise(tf.range(5), mask_id=500, seed=0, vocabulary_size=100)
    with pytest.raises(ValueError, match="vocabulary_size"):
        text_infilling(tf.range(8), mask_id=3, seed=0, random_token_rate=0.1)
