import collections

import numpy as np
import pytest
import tensorflow as tf

from keras_bert_zoo.data.corpora import default_corpus_texts
from keras_bert_zoo.data.masking import (
    _greedy_fit,
    _units,
    as_seed,
    dynamic_seed,
    mask_tokens,
    ngram_probabilities,
)
from tests.data.conftest import SPECIAL_IDS, WordPieceTokenizer, WordTokenizer
from tests.data.statistics import chi_square_p_value, upper_regularized_gamma

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


def albert_walk(units, budget):
    """ALBERT's create_masked_lm_predictions walk, verbatim logic: each unit (a list of the
    token counts of its words) is taken whole when it fits in what is left, else its first
    n-1, ..., 1 words are tried; a unit of which not even one word fits is skipped."""
    taken, covered = [], 0
    for words in units:
        n = len(words)
        index_set = sum(words[:n])
        n -= 1
        while covered + index_set > budget:
            if n == 0:
                break
            index_set = sum(words[:n])
            n -= 1
        if covered + index_set > budget:
            taken.append(0)
            continue
        covered += index_set
        taken.append(n + 1)
    return taken


def test_greedy_fit_is_albert_walk_with_shorter_ngrams():
    rng = np.random.default_rng(0)
    fit = tf.function(_greedy_fit, input_signature=[
        tf.TensorSpec([None, None, None], tf.int32), tf.TensorSpec([None], tf.int32)])
    for _ in range(200):
        batch, length, ngram_max = rng.integers(1, 5), rng.integers(1, 30), rng.integers(1, 4)
        budget = rng.integers(0, 20, size=batch)
        prefix_sizes = np.zeros((batch, length, ngram_max), np.int32)
        expected = np.zeros((batch, length), np.int32)
        for row in range(batch):
            units = []
            for i in range(length):
                if rng.random() < 0.2:
                    continue  # no unit here
                words = rng.integers(1, 4, size=rng.integers(1, ngram_max + 1)).tolist()
                prefix = np.cumsum(words)
                prefix_sizes[row, i] = np.concatenate(
                    [prefix, np.full(ngram_max - len(words), prefix[-1])]
                )
                units.append((i, words))
            for (i, words), n in zip(units, albert_walk([w for _, w in units], budget[row])):
                expected[row, i] = ngram_max if n == len(words) else n
        got = fit(tf.constant(prefix_sizes), tf.constant(budget, tf.int32))
        np.testing.assert_array_equal(got, expected)


# ----------------------------------------------------------------------------------------
# Statistics on real text (the embedded corpus).

PAD, UNK, REAL_CLS, REAL_SEP, REAL_MASK = (
    SPECIAL_IDS[k] for k in ("pad", "unk", "cls", "sep", "mask")
)


def text_rows(tokenizer, texts, length, specials=True):
    """The corpus' token stream cut into rows: `[CLS] ... [SEP]` of `length` ids, or plain."""
    stream = tokenizer(tf.constant(list(texts))).flat_values.numpy()
    inner = length - 2 if specials else length
    rows = stream[: len(stream) // inner * inner].reshape(-1, inner)
    if specials:
        rows = np.concatenate(
            [np.full([len(rows), 1], REAL_CLS), rows, np.full([len(rows), 1], REAL_SEP)], 1
        )
    return rows.astype(np.int32)


@pytest.fixture(scope="module")
def small_vocabulary_rows():
    """Rows of real text under a 300-word vocabulary: about 17% of the tokens are [UNK]."""
    texts = default_corpus_texts()[:60]
    tokenizer = WordTokenizer(texts, size=300)
    return text_rows(tokenizer, texts, 128), len(tokenizer.vocabulary)


def test_unk_is_masked_at_its_frequency(small_vocabulary_rows):
    """google-research/bert excludes only [CLS] and [SEP]: [UNK] is chosen as often as it
    occurs."""
    rows, vocabulary_size = small_vocabulary_rows
    out = mask_tokens(rows, mask_id=REAL_MASK, vocabulary_size=vocabulary_size,
                      unmaskable_ids=[PAD, REAL_CLS, REAL_SEP], max_predictions_per_seq=20,
                      seed=3)
    chosen = out["mask_ids"].numpy()[out["mask_weights"].numpy() > 0]
    maskable = rows[:, 1:-1]
    share = (maskable == UNK).mean()
    assert share > 0.1 and len(chosen) > 8000
    # Chosen without replacement inside each row: the binomial sd (0.004) bounds the error.
    assert abs((chosen == UNK).mean() - share) < 0.012, ((chosen == UNK).mean(), share)


def test_random_replacements_are_uniform_over_the_allowed_vocabulary(small_vocabulary_rows):
    rows, vocabulary_size = small_vocabulary_rows
    excluded = [PAD, REAL_CLS, REAL_SEP]
    draws = []
    for seed in range(3):
        out = mask_tokens(rows, mask_id=REAL_MASK, vocabulary_size=vocabulary_size,
                          unmaskable_ids=excluded, max_predictions_per_seq=20, seed=seed,
                          mask_token_rate=0.0, random_token_rate=1.0)
        used = out["mask_weights"].numpy() > 0
        positions = out["mask_positions"].numpy()
        corrupted = np.take_along_axis(out["token_ids"].numpy(), positions, 1)
        draws.append(corrupted[used])
    draws = np.concatenate(draws)
    counts = np.bincount(draws, minlength=vocabulary_size)
    assert (counts[excluded] == 0).all()
    allowed = np.setdiff1d(np.arange(vocabulary_size), excluded)  # [UNK] and [MASK] included
    assert counts[UNK] > 0 and counts[REAL_MASK] > 0
    assert len(draws) / len(allowed) > 50  # expected count per id
    p_value = chi_square_p_value(counts[allowed], np.ones(len(allowed)))
    assert p_value > 0.01, p_value


@pytest.fixture(scope="module")
def wordpiece_text():
    tokenizer = WordPieceTokenizer(default_corpus_texts()[:60])
    return tokenizer, default_corpus_texts()[:200]


def masked_ngram_shares(tokenizer, rows, max_predictions_per_seq, seeds):
    """Counts of masked n-grams by the number of words masked, read back through the
    units mask_tokens drew (same seed); checks each masked unit is a prefix of whole words."""
    table = tokenizer.continuation_table
    vocabulary_size = len(tokenizer.vocabulary)
    unmaskable = [PAD, REAL_CLS, REAL_SEP]
    counts = np.zeros(4)
    for seed in seeds:
        out = mask_tokens(rows, mask_id=REAL_MASK, vocabulary_size=vocabulary_size,
                          unmaskable_ids=unmaskable,
                          max_predictions_per_seq=max_predictions_per_seq, seed=seed,
                          ngram_max=3, continuation_table=table)
        draw_seed = tf.random.experimental.stateless_split(as_seed(seed), num=5)[0]
        maskable = ~np.isin(rows, unmaskable)
        unit, within = (t.numpy() for t in _units(
            tf.constant(rows), tf.constant(maskable), vocabulary_size=vocabulary_size,
            continuation_table=table, ngram_max=3, seed=draw_seed))
        chosen = np.zeros(rows.shape, bool)
        used = out["mask_weights"].numpy() > 0
        row_index = np.broadcast_to(np.arange(len(rows))[:, None], used.shape)
        chosen[row_index[used], out["mask_positions"].numpy()[used]] = True
        key = np.arange(len(rows))[:, None] * (rows.shape[1] + 1) + unit
        words_taken = np.zeros(key.max() + 1, int)
        np.maximum.at(words_taken, key[chosen], within[chosen] + 1)
        np.testing.assert_array_equal(chosen, maskable & (within < words_taken[key]))
        counts += np.bincount(words_taken[words_taken > 0], minlength=4)
    return counts[1:]


def test_ngram_shares_follow_one_over_n_on_real_text(wordpiece_text):
    """Masked n-grams of whole words: shares 6/11, 3/11, 2/11 (ALBERT's p(n) ∝ 1/n).

    The rows are long (2,048 tokens, a budget of 307), so the n-gram at which a row's
    budget runs out, shortened by ALBERT's retry, weighs little (see the next test).
    """
    tokenizer, texts = wordpiece_text
    rows = text_rows(tokenizer, texts, 2048, specials=False)
    counts = masked_ngram_shares(tokenizer, rows, 2048, seeds=range(2))
    assert counts.sum() >= 20_000, counts
    shares = counts / counts.sum()
    print("masked n-gram shares, 2,048-token rows:", shares.round(4), int(counts.sum()))
    np.testing.assert_allclose(shares, [6 / 11, 3 / 11, 2 / 11], atol=0.01)


def test_ngram_shares_at_20_predictions_lean_to_unigrams(wordpiece_text):
    """At 128 tokens and 20 predictions a row masks ~9 n-grams, and the one that meets the
    budget is shortened to what fits (ALBERT's retry), or skipped: any hard budget does
    that, so unigrams gain a few points (docs/pretraining.md quotes these shares)."""
    tokenizer, texts = wordpiece_text
    rows = text_rows(tokenizer, texts, 128)
    counts = masked_ngram_shares(tokenizer, rows, 20, seeds=range(2))
    shares = counts / counts.sum()
    print("masked n-gram shares, 128-token rows, 20 predictions:", shares.round(4),
          int(counts.sum()))
    assert counts.sum() >= 20_000
    assert 6 / 11 < shares[0] < 6 / 11 + 0.06 and shares[2] < 2 / 11


def test_chi_square_helper_matches_known_quantiles():
    assert abs(upper_regularized_gamma(0.5, 3.841459 / 2) - 0.05) < 1e-6  # chi2(1) 95%
    assert abs(upper_regularized_gamma(5, 18.307 / 2) - 0.05) < 1e-5  # chi2(10) 95%
    assert abs(upper_regularized_gamma(2, 0.1) - np.exp(-0.1) * 1.1) < 1e-12
    assert chi_square_p_value([50, 50], [1, 1]) == 1.0


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
