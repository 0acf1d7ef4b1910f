import collections

import numpy as np
import pytest
import tensorflow as tf

from keras_bert_zoo.data.masking import (
    _greedy_fit,
    dynamic_seed,
    mask_tokens,
    ngram_probabilities,
)

PAD, CLS, SEP, MASK = 0, 1, 2, 3
SPECIAL = [PAD, CLS, SEP, MASK]
VOCAB = 1000


def random_batch(rng, batch=512, length=128):
    ids = rng.integers(5, VOCAB, size=(batch, length)).astype(np.int32)
    ids[:, 0] = CLS
    ids[:, 60] = SEP
    lengths = rng.integers(70, length + 1, size=batch)
    for row, n in enumerate(lengths):
        ids[row, n - 1] = SEP
        ids[row, n:] = PAD
    return ids


def masked(ids, seed=(4, 5), **kwargs):
    kwargs.setdefault("max_predictions_per_seq", 20)
    out = mask_tokens(
        ids, mask_id=MASK, vocabulary_size=VOCAB, unmaskable_ids=SPECIAL, seed=seed, **kwargs
    )
    return {k: v.numpy() if hasattr(v, "numpy") else v for k, v in out.items()}


def test_exact_output_under_seed():
    ids = [[CLS, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, SEP, PAD, PAD]]
    out = masked(ids, seed=[1, 2], rate=0.3, max_predictions_per_seq=5)
    assert out["mask_positions"].tolist() == [[4, 7, 8, 0, 0]]  # round(0.3 * 11) = 3
    assert out["mask_ids"].tolist() == [[13, 16, 17, 0, 0]]
    assert out["mask_weights"].tolist() == [[1.0, 1.0, 1.0, 0.0, 0.0]]
    assert out["token_ids"].tolist() == [
        [CLS, 10, 11, 12, 478, 14, 15, MASK, MASK, 18, 19, 20, SEP, PAD, PAD]
    ]


def test_deterministic_and_seed_dependent():
    ids = random_batch(np.random.default_rng(0), batch=8)
    a, b, c = masked(ids, seed=[1, 1]), masked(ids, seed=[1, 1]), masked(ids, seed=[1, 2])
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    assert not np.array_equal(a["mask_positions"], c["mask_positions"])


def test_rates_and_80_10_10_split():
    rng = np.random.default_rng(1)
    ids = random_batch(rng, length=256)
    out = masked(ids, max_predictions_per_seq=80)
    weights = out["mask_weights"]
    maskable = (ids > MASK).sum(1)
    expected = np.minimum(80, np.maximum(1, np.round(0.15 * maskable)))
    np.testing.assert_array_equal(weights.sum(1), expected)  # the per-sequence budget
    assert abs(weights.sum() / maskable.sum() - 0.15) < 0.01
    used = weights > 0
    rows = np.repeat(np.arange(len(ids))[:, None], weights.shape[1], 1)
    new = out["token_ids"][rows[used], out["mask_positions"][used]]
    original = out["mask_ids"][used]
    np.testing.assert_array_equal(original, ids[rows[used], out["mask_positions"][used]])
    is_mask = new == MASK
    unchanged = new == original
    is_random = ~is_mask & ~unchanged
    assert abs(is_mask.mean() - 0.8) < 0.02
    assert abs(is_random.mean() - 0.1) < 0.02
    assert abs(unchanged.mean() - 0.1) < 0.02
    assert not np.isin(new[is_random], SPECIAL).any()  # random tokens are never special
    # Only chosen positions change, positions ascend, unused slots are zero.
    changed = out["token_ids"] != ids
    assert changed.sum() == (is_mask | is_random).sum()
    for row in range(len(ids)):
        assert (np.diff(out["mask_positions"][row][used[row]]) > 0).all()
    assert (out["mask_positions"][~used] == 0).all() and (out["mask_ids"][~used] == 0).all()


def test_special_tokens_never_masked():
    ids = random_batch(np.random.default_rng(2), batch=64)
    ids[:, 1:6] = SEP
    out = masked(ids, rate=0.9, max_predictions_per_seq=128, mask_token_rate=0.5)
    special = np.isin(ids, SPECIAL)
    np.testing.assert_array_equal(out["token_ids"][special], ids[special])
    chosen = np.take_along_axis(ids, out["mask_positions"], 1)[out["mask_weights"] > 0]
    assert not np.isin(chosen, SPECIAL).any()


def test_ragged_and_single_sequence_inputs():
    ragged = tf.ragged.constant([[CLS, 5, 6, 7, SEP], [CLS, 8, SEP]])
    out = mask_tokens(
        ragged,
        mask_id=MASK,
        vocabulary_size=10,
        unmaskable_ids=SPECIAL,
        max_predictions_per_seq=3,
        seed=0,
    )
    assert isinstance(out["token_ids"], tf.RaggedTensor)
    assert out["token_ids"].row_lengths().numpy().tolist() == [5, 3]
    assert out["mask_weights"].numpy().sum(1).tolist() == [1.0, 1.0]
    single = mask_tokens(
        tf.constant([CLS, 5, 6, 7, SEP]),
        mask_id=MASK,
        vocabulary_size=10,
        unmaskable_ids=SPECIAL,
        max_predictions_per_seq=3,
        seed=0,
    )
    assert single["token_ids"].shape == (5,) and single["mask_positions"].shape == (3,)


def word_batch(rng, batch=400, length=128):
    """ids >= 500 continue a word."""
    ids = random_batch(rng, batch, length)
    table = np.zeros(VOCAB, bool)
    table[500:] = True
    return ids, table


def words_of(row, table):
    """List of (start, end) of whole words among maskable tokens."""
    words, start = [], None
    for i, t in enumerate(row):
        maskable = t > MASK
        if maskable and start is not None and table[t]:
            continue
        if start is not None:
            words.append((start, i))
            start = None
        if maskable:
            start = i
    if start is not None:
        words.append((start, len(row)))
    return words


def test_whole_word_masks_cover_whole_words():
    ids, table = word_batch(np.random.default_rng(3))
    out = masked(ids, whole_word=True, continuation_table=table)
    total = 0
    for row in range(len(ids)):
        chosen = set(out["mask_positions"][row][out["mask_weights"][row] > 0].tolist())
        total += len(chosen)
        for start, end in words_of(ids[row], table):
            covered = [p in chosen for p in range(start, end)]
            assert all(covered) or not any(covered), (row, start, end)
    maskable = (ids > MASK).sum()
    assert abs(total / maskable - 0.15) < 0.01


def test_ngram_lengths_follow_one_over_n():
    ids, table = word_batch(np.random.default_rng(4), batch=600)
    table[:] = False  # every token is a word: n-grams of tokens are easy to read back
    ngram_max = 3
    out = masked(ids, ngram_max=ngram_max, continuation_table=table, rate=0.1)
    counts = collections.Counter()
    for row in range(len(ids)):
        chosen = sorted(out["mask_positions"][row][out["mask_weights"][row] > 0].tolist())
        maskable = np.flatnonzero(ids[row] > MASK).tolist()
        index = {p: k for k, p in enumerate(maskable)}
        # Runs of consecutive maskable indices; adjacent n-grams merge, so count runs of
        # length 1..3 only where isolated (their neighbours unchosen).
        run = [chosen[0]] if chosen else []
        for p in chosen[1:] + [None]:
            if p is not None and index[p] == index[run[-1]] + 1:
                run.append(p)
                continue
            counts[len(run)] += 1
            run = [p] if p is not None else []
    # p(n) = (1/n) / (1 + 1/2 + 1/3): 6/11, 3/11, 2/11. At a 10% rate neighbouring n-grams
    # rarely touch, so the runs of 1..3 tokens follow p(n) to within a few points (their
    # shares are 0.55-0.56, 0.27 and 0.17-0.18 over batches) and merged runs of 4+ are rare.
    probabilities = ngram_probabilities(ngram_max)
    np.testing.assert_allclose(probabilities, [6 / 11, 3 / 11, 2 / 11])
    short = counts[1] + counts[2] + counts[3]
    shares = [counts[n] / short for n in (1, 2, 3)]
    np.testing.assert_allclose(shares, [6 / 11, 3 / 11, 2 / 11], atol=0.03)
    assert (sum(counts.values()) - short) / sum(counts.values()) < 0.05


def test_ngram_draws_match_distribution():
    """The n of each n-gram is drawn from p(n) ∝ 1/n, seeded (not a global RNG)."""
    ids = np.full([200, 200], 7, np.int32)  # all maskable, one token per word
    table = np.zeros(VOCAB, bool)
    out = masked(ids, ngram_max=4, continuation_table=table, rate=0.05, max_predictions_per_seq=10)
    again = masked(
        ids, ngram_max=4, continuation_table=table, rate=0.05, max_predictions_per_seq=10
    )
    np.testing.assert_array_equal(out["mask_positions"], again["mask_positions"])
    sizes = collections.Counter()
    for row in range(len(ids)):
        chosen = out["mask_positions"][row][out["mask_weights"][row] > 0].tolist()
        run = 1
        for a, b in zip(chosen, chosen[1:] + [None]):
            if b == a + 1:
                run += 1
            else:
                sizes[run] += 1
                run = 1
    observed = np.array([sizes[n] for n in range(1, 5)], float)
    observed /= observed.sum()
    # Runs can merge adjacent n-grams, rarely at a 5% rate: allow a few percent.
    np.testing.assert_allclose(observed, ngram_probabilities(4), atol=0.05)


def test_greedy_fit_is_the_original_greedy_walk():
    """Units in order, each taken when it fits in what is left (google-research/bert's
    create_masked_lm_predictions skips a word that would overflow and tries the next)."""
    rng = np.random.default_rng(0)
    fit = tf.function(_greedy_fit)
    for _ in range(200):
        batch, length = rng.integers(1, 5), rng.integers(1, 30)
        sizes = rng.integers(0, 6, size=(batch, length)) * (rng.random((batch, length)) < 0.8)
        budget = rng.integers(0, 20, size=batch)
        expected = np.zeros((batch, length), bool)
        for row in range(batch):
            left = budget[row]
            for i, size in enumerate(sizes[row]):
                if 0 < size <= left:
                    expected[row, i], left = True, left - size
        got = fit(tf.constant(sizes, tf.int32), tf.constant(budget, tf.int32))
        np.testing.assert_array_equal(got, expected)


def test_dynamic_seed_changes_per_epoch_and_index():
    seeds = {tuple(dynamic_seed(7, i, e).numpy()) for i in range(3) for e in range(3)}
    assert len(seeds) == 9
    np.testing.assert_array_equal(dynamic_seed(7, 1, 2), dynamic_seed(7, 1, 2))


def test_usable_in_tf_data():
    ids = random_batch(np.random.default_rng(5), batch=16)
    ds = tf.data.Dataset.from_tensor_slices(ids).batch(8).enumerate()
    ds = ds.map(
        lambda i, x: mask_tokens(
            x,
            mask_id=MASK,
            vocabulary_size=VOCAB,
            unmaskable_ids=SPECIAL,
            max_predictions_per_seq=20,
            seed=dynamic_seed(0, i),
        )
    )
    batches = list(ds)
    assert len(batches) == 2 and batches[0]["mask_positions"].shape == (8, 20)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(mask_id=None), "mask_id is required"),
        (dict(mask_id=VOCAB), "out of range"),
        (dict(mask_id=-1), "out of range"),
        (dict(whole_word=True), "continuation_table"),
        (dict(rate=0.0), "rate"),
        (dict(mask_token_rate=0.9, random_token_rate=0.2), "add up"),
        (dict(continuation_table=np.zeros(3, bool)), "entries"),
    ],
)
def test_errors(kwargs, message):
    arguments = dict(
        mask_id=MASK,
        vocabulary_size=VOCAB,
        unmaskable_ids=SPECIAL,
        max_predictions_per_seq=5,
        seed=0,
    )
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=message):
        mask_tokens([[1, 5, 2]], **arguments)
