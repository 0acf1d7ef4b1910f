import collections
import math

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
from keras_bert_zoo.data.corpora import default_corpus_texts
from tests.data.conftest import WordPieceTokenizer
from tests.data.statistics import chi_square_p_value

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


# ----------------------------------------------------------------------------------------
# Whole-word noise on real text.

FIRST_ID = 10  # ids below are special


@pytest.fixture(scope="module")
def word_starts():
    """The word structure of real text: token i of the embedded corpus (WordPiece) becomes
    the unique id FIRST_ID + i, and the table marks the ids of the pieces that continue a
    word. Unique ids show exactly which tokens a noise function removed."""
    tokenizer = WordPieceTokenizer(default_corpus_texts()[:60])
    stream = tokenizer(tf.constant(list(default_corpus_texts()[:120]))).flat_values.numpy()
    table = np.concatenate([np.zeros(FIRST_ID, bool), tokenizer.continuation_table[stream]])
    return table


def row(start, length):
    return np.concatenate([[BOS], np.arange(FIRST_ID + start, FIRST_ID + start + length), [EOS]])


def gaps(original, noised, table):
    """(masks, removed ids) between consecutive surviving tokens of `noised`."""
    kept = [t for t in noised if t >= FIRST_ID]
    assert kept == sorted(kept)  # the order of the kept tokens is unchanged
    out, masks = [], 0
    position = {t: i for i, t in enumerate(original)}
    previous = 0
    for t in list(noised[1:-1]) + [EOS]:
        if t == MASK:
            masks += 1
            continue
        index = position[t] if t >= FIRST_ID else len(original) - 1
        out.append((masks, list(original[previous + 1 : index])))
        previous, masks = index, 0
    return out


def starts_word(token, table):
    return token < FIRST_ID or not table[token]


def test_infilling_spans_are_whole_words_at_30_percent(word_starts):
    table = word_starts
    fn = tf.function(lambda x, s: text_infilling(x, mask_id=MASK, seed=s,
                                                 continuation_table=table))
    masked_words = total_words = 0
    for k in range(40):
        original = row(start=997 * k, length=500)
        noised = fn(original, tf.constant([k, 1], tf.int64)).numpy()
        assert noised[0] == BOS and noised[-1] == EOS
        inner = original[1:-1]
        words = sum(starts_word(t, table) for t in inner)
        removed_words = 0
        for masks, removed in gaps(original, noised, table):
            if not removed:
                continue
            assert masks >= 1  # a span leaves one mask
            assert starts_word(removed[0], table)  # no span starts inside a word...
            after = original[list(original).index(removed[-1]) + 1]
            assert starts_word(after, table)  # ...or ends inside one
            removed_words += sum(starts_word(t, table) for t in removed)
        assert removed_words == int(np.ceil(0.3 * words))  # the budget counts words
        masked_words += removed_words
        total_words += words
        # Pieces before the row's first word start belong to no word: never removed.
        leading = next(i for i, t in enumerate(inner) if starts_word(t, table))
        assert list(noised[1 : leading + 1]) == list(inner[:leading])
    assert abs(masked_words / total_words - 0.3) < 0.01


def test_infilling_span_lengths_in_words_are_poisson(word_starts):
    """Span lengths in words ~ Poisson(3): over spans that sit alone between kept words
    (placement does not depend on length), lengths >= 1 follow the zero-truncated Poisson;
    zero-length draws are insertions. Rows are long so that the one span per row trimmed
    to the budget does not matter."""
    table = word_starts
    fn = tf.function(lambda x, s: text_infilling(x, mask_id=MASK, seed=s,
                                                 continuation_table=table))
    lengths = []
    for k in range(5):
        original = row(start=20_000 * k, length=16_000)
        noised = fn(original, tf.constant([k, 2], tf.int64)).numpy()
        for masks, removed in gaps(original, noised, table):
            if masks == 1 and removed:
                lengths.append(sum(starts_word(t, table) for t in removed))
    lengths = np.array(lengths)
    assert len(lengths) > 3000
    counts = np.array([(lengths == n).sum() for n in range(1, 8)] + [(lengths >= 8).sum()])
    poisson = np.array([np.exp(-3) * 3.0**n / math.factorial(n) for n in range(1, 8)])
    probabilities = np.append(poisson, 1 - np.exp(-3) - poisson.sum())
    p_value = chi_square_p_value(counts, probabilities)
    print("span lengths 1..7, 8+:", counts.tolist(), "p =", round(p_value, 3))
    assert p_value > 0.01, (counts, p_value)
    assert abs(lengths.mean() - 3 / (1 - np.exp(-3))) < 0.1


def test_insertions_fall_between_words(word_starts):
    """With lambda 0.3 most spans have length 0 and become inserted masks: each lands
    before a word (or `</s>`), never inside one."""
    table = word_starts
    for k in range(10):
        original = row(start=1000 * k, length=400)
        noised = text_infilling(original, mask_id=MASK, seed=k, poisson_lambda=0.3,
                                continuation_table=table).numpy()
        is_mask = noised[:-1] == MASK
        assert is_mask.sum() > 20
        following = noised[1:][is_mask]
        assert all(t == MASK or starts_word(t, table) for t in following)


@pytest.mark.parametrize("function", ["masking", "deletion"])
def test_token_masking_and_deletion_take_whole_words(function, word_starts):
    table = word_starts
    for k in range(10):
        original = row(start=1000 * k, length=300)
        if function == "masking":
            noised = token_masking(original, mask_id=MASK, seed=k, rate=0.2,
                                   continuation_table=table).numpy()
            assert len(noised) == len(original)
            hit = noised == MASK
        else:
            noised = token_deletion(original, seed=k, rate=0.2, continuation_table=table).numpy()
            hit = ~np.isin(original, noised)
        words = np.cumsum([starts_word(t, table) if 0 < i < len(original) - 1 else 0
                           for i, t in enumerate(original)])
        inner = np.arange(len(original))
        inner = (inner > 0) & (inner < len(original) - 1) & (words > 0)
        for word in np.unique(words[inner]):
            tokens = hit[inner & (words == word)]
            assert tokens.all() or not tokens.any()  # a word goes whole or stays
        hit_words = len(np.unique(words[hit]))
        assert hit_words == int(np.ceil(0.2 * words[-1]))


def test_nothing_to_mask_leaves_the_sequence_alone():
    """No unit between `<s>` and `</s>` (an empty row, or one continuing a word only): no
    span and no insertion, as fairseq returns the source unchanged."""
    table = np.ones(20, bool)
    for ids in ([BOS, EOS], [BOS, 15, 16, EOS]):
        out = text_infilling(tf.constant(ids), mask_id=MASK, seed=0, continuation_table=table)
        assert out.numpy().tolist() == ids
    assert text_infilling(tf.constant([BOS, EOS]), mask_id=MASK, seed=0).numpy().tolist() == [
        BOS, EOS]
