"""Masked language model inputs: token, whole-word and n-gram masking.

`mask_tokens` is a pure function of its inputs and a seed tensor: the same call gives the
same mask, so it can be tested for exact outputs and mapped inside tf.data. Static masking
(BERT, ALBERT) runs it offline `dupe_factor` times with different seeds
(`datasets.write_static_pretraining_data`); dynamic masking (RoBERTa) runs it in the input
pipeline with `dynamic_seed(base_seed, element_index, epoch)`, so every epoch sees a fresh
mask and the whole stream is still reproducible.
"""

import numpy as np
import tensorflow as tf


def as_seed(seed):
    """A stateless-random seed tensor of shape [2] (an int becomes `[seed, 0]`)."""
    if isinstance(seed, (int, np.integer)):
        return tf.constant([int(seed), 0], tf.int64)
    seed = tf.convert_to_tensor(seed)
    if seed.shape.rank == 0:
        return tf.stack([tf.cast(seed, tf.int64), tf.constant(0, tf.int64)])
    return tf.cast(seed, tf.int64)


def dynamic_seed(seed, index, epoch=0):
    """Seed for element `index` of epoch `epoch` of a stream seeded with `seed`.

    Example:
    >>> dynamic_seed(0, 3, epoch=1).shape
    TensorShape([2])
    """
    seed = tf.random.experimental.stateless_fold_in(as_seed(seed), tf.cast(epoch, tf.int64))
    return tf.random.experimental.stateless_fold_in(seed, tf.cast(index, tf.int64))


def random_token_ids(shape, *, vocabulary_size, excluded_ids, seed):
    """Ids drawn uniformly from `[0, vocabulary_size)` minus `excluded_ids`."""
    excluded = sorted({int(i) for i in excluded_ids if 0 <= int(i) < vocabulary_size})
    num_allowed = vocabulary_size - len(excluded)
    if num_allowed < 1:
        raise ValueError("every id of the vocabulary is excluded from random replacement")
    draws = tf.random.stateless_uniform(shape, seed, minval=0, maxval=num_allowed, dtype=tf.int32)
    if not excluded:
        return draws
    # Shift each draw past the excluded ids at or below it.
    thresholds = tf.constant([[e - j for j, e in enumerate(excluded)]], tf.int32)
    flat = tf.reshape(draws, [1, -1])
    shift = tf.searchsorted(thresholds, flat, side="right", out_type=tf.int32)
    return tf.reshape(flat + shift, tf.shape(draws))


def _check_arguments(
    mask_id,
    vocabulary_size,
    rate,
    max_predictions_per_seq,
    mask_token_rate,
    random_token_rate,
    whole_word,
    continuation_table,
    ngram_max,
):
    if mask_id is None:
        raise ValueError("mask_id is required: pass the id of the [MASK] / <mask> token")
    if not 0 <= int(mask_id) < int(vocabulary_size):
        raise ValueError(f"mask_id={mask_id} is out of range for vocabulary_size={vocabulary_size}")
    if not 0.0 < rate <= 1.0:
        raise ValueError(f"rate={rate} must be in (0, 1]")
    if max_predictions_per_seq < 1:
        raise ValueError(f"max_predictions_per_seq={max_predictions_per_seq} must be >= 1")
    if mask_token_rate < 0 or random_token_rate < 0 or mask_token_rate + random_token_rate > 1:
        raise ValueError(
            f"mask_token_rate={mask_token_rate} and random_token_rate={random_token_rate} "
            "must be >= 0 and add up to at most 1"
        )
    if whole_word and continuation_table is None:
        raise ValueError(
            "whole_word=True needs continuation_table (a bool per vocabulary id, True for "
            "sub-words that continue a word)"
        )
    if continuation_table is not None and len(continuation_table) != vocabulary_size:
        raise ValueError(
            f"continuation_table has {len(continuation_table)} entries, expected "
            f"vocabulary_size={vocabulary_size}"
        )
    if ngram_max < 1:
        raise ValueError(f"ngram_max={ngram_max} must be >= 1")


def ngram_probabilities(ngram_max):
    """p(n) proportional to 1/n for n in 1..ngram_max (ALBERT n-gram masking)."""
    weights = 1.0 / np.arange(1, ngram_max + 1)
    return weights / weights.sum()


def _greedy_fit(prefix_sizes, budget):
    """How many words of each unit ALBERT's greedy walk takes.

    ALBERT's `create_masked_lm_predictions` walks the units (n-grams of words) in order: a
    unit is taken whole when it fits in what is left of the row's budget; otherwise its
    first n-1, n-2, ..., 1 words are tried, and the longest that fits is taken; when not
    even one word fits, the unit is skipped and the walk goes on. (google-research/bert's
    whole-word masking is the case n = 1: a word that would overflow is skipped.)

    Computed in rounds over whole rows instead of one step per unit: a round drops every
    unit whose first word is larger than what is left (it can never fit again), takes the
    longest run of the rest whose running total fits, gives the first unit that did not
    fit its longest fitting prefix, and resumes after it. A round only ends at a unit that
    overflows what is left, which soon drops every remaining unit, so rows take a few
    rounds instead of one sequential step per unit.

    Args:
        prefix_sizes: int [batch, units, n]: tokens in the first 1, ..., n words of each
            unit, units in walk order (all 0 where there is no unit).
        budget: int [batch], tokens that may be taken per row.

    Returns:
        int [batch, units]: words taken from each unit (0: skipped; n: the whole unit).
    """
    sizes = prefix_sizes[..., -1]
    smallest = prefix_sizes[..., 0]
    length = tf.shape(sizes)[1]
    n = tf.shape(prefix_sizes)[2]
    index = tf.range(length)[tf.newaxis]
    # One empty unit past the end, so the "blocked" unit of a row that had none exists.
    padded = tf.pad(prefix_sizes, [[0, 0], [0, 1], [0, 0]])

    def round_(taken, remaining, start):
        left = remaining[:, tf.newaxis]
        eligible = (index >= start[:, tf.newaxis]) & (sizes > 0) & (smallest <= left)
        whole = eligible & (tf.cumsum(tf.where(eligible, sizes, 0), axis=1) <= left)
        blocked = tf.reduce_min(tf.where(eligible & ~whole, index, length), axis=1)
        remaining -= tf.reduce_sum(tf.where(whole, sizes, 0), axis=1)
        # The unit that did not fit whole keeps its longest prefix that fits (ALBERT's
        # retry with n-1, ..., 1 words).
        prefixes = tf.gather(padded, blocked, batch_dims=1)  # (batch, n)
        fits = (prefixes <= remaining[:, tf.newaxis]) & (blocked < length)[:, tf.newaxis]
        words = tf.reduce_sum(tf.cast(fits, tf.int32), axis=1)
        used = tf.gather(tf.pad(prefixes, [[0, 0], [1, 0]]), words, batch_dims=1)
        remaining -= used
        taken = tf.where(whole, n, taken)
        taken = tf.where(index == blocked[:, tf.newaxis], words[:, tf.newaxis], taken)
        return taken, remaining, blocked + 1

    taken, _, _ = tf.while_loop(
        lambda taken, remaining, start: tf.reduce_any(start <= length),
        round_,
        (tf.zeros_like(sizes), budget, tf.zeros_like(budget)),
    )
    return taken


def _units(ids, maskable, *, vocabulary_size, continuation_table, ngram_max, seed):
    """The masking unit of every token and the index of the token's word in that unit.

    A word starts at every maskable token that does not continue a word (every maskable
    token without `continuation_table`). With `ngram_max > 1` the words of each row are
    tiled into consecutive n-grams, n drawn with p(n) ∝ 1/n from `seed`; otherwise a unit
    is a word. Unmaskable tokens get unit `length`.

    Returns:
        (unit, within): int32 [batch, length] each.
    """
    length = tf.shape(ids)[1]
    if continuation_table is not None:
        table = tf.constant(np.asarray(continuation_table, bool))
        continues = tf.gather(table, tf.clip_by_value(ids, 0, vocabulary_size - 1))
        previous_maskable = tf.pad(maskable[:, :-1], [[0, 0], [1, 0]])
        starts = maskable & ~(continues & previous_maskable)
    else:
        starts = maskable
    word = tf.maximum(tf.cumsum(tf.cast(starts, tf.int32), axis=1) - 1, 0)  # word index
    if ngram_max > 1:
        logits = tf.math.log(tf.constant(ngram_probabilities(ngram_max), tf.float32))[None]
        draws = tf.random.stateless_categorical(logits, tf.size(ids), seed, dtype=tf.int32)
        ngram_lengths = tf.reshape(draws, tf.shape(ids)) + 1
        ngram_starts = tf.cumsum(ngram_lengths, axis=1, exclusive=True)
        unit = tf.searchsorted(ngram_starts, word, side="right") - 1
        within = word - tf.gather(ngram_starts, unit, batch_dims=1)
    else:
        unit, within = word, tf.zeros_like(word)
    return tf.where(maskable, unit, length), tf.where(maskable, within, 0)


def mask_tokens(
    token_ids,
    *,
    mask_id,
    vocabulary_size,
    unmaskable_ids,
    rate=0.15,
    max_predictions_per_seq,
    mask_token_rate=0.8,
    random_token_rate=0.1,
    seed,
    whole_word=False,
    continuation_table=None,
    ngram_max=1,
):
    """Choose masked-LM predictions and corrupt the input, BERT style.

    Per sequence, `max(1, round(rate * n))` tokens are predicted (capped at
    `max_predictions_per_seq`), `n` being the number of maskable tokens (not in
    `unmaskable_ids`, not padding). A chosen token becomes `mask_id` with probability
    `mask_token_rate`, a random id with probability `random_token_rate`, and stays
    unchanged otherwise; the draw is per token, as in google-research/bert.

    Candidates and replacements follow google-research/bert, whose only exclusions are
    [CLS] and [SEP] (and padding, which its examples never mask): pass those as
    `unmaskable_ids`, and every other token, [UNK] and [MASK] included, can be chosen at
    its frequency. Random replacements are uniform over the vocabulary without
    `unmaskable_ids` (the original draws from the whole vocabulary; never inserting
    [CLS], [SEP] or padding keeps the layout of the input intact, at a difference of a
    few ids in the vocabulary).

    Units: single tokens by default. With `continuation_table`, and `whole_word=True` or
    `ngram_max > 1`, a unit is a whole word (a start token and its continuation tokens).
    With `ngram_max > 1` (ALBERT) units are n-grams of words, n drawn with p(n) ∝ 1/n from
    the seed: the words of each sequence are tiled into consecutive n-grams, which are then
    taken in random order as ALBERT's `create_masked_lm_predictions` does: an n-gram that
    would exceed the prediction budget is shortened to its longest prefix of n-1, ..., 1
    words that fits, and skipped when none does (whole-word units that do not fit are
    skipped, as in google-research/bert).

    Args:
        token_ids: int ids, dense [batch, seq] (padding must be in `unmaskable_ids`),
            [seq] for one sequence, or a `tf.RaggedTensor` [batch, None].
        mask_id: id of the mask token.
        vocabulary_size: size of the vocabulary (for random replacements).
        unmaskable_ids: ids never chosen and never drawn as random replacements: [CLS],
            [SEP] and padding for BERT (`<s>`, `</s>`, `<pad>` for RoBERTa), plus any
            id you want to keep out.
        rate: fraction of maskable tokens to predict.
        max_predictions_per_seq: number of prediction slots per sequence.
        mask_token_rate, random_token_rate: the 80/10/10 split.
        seed: int or int tensor of shape [2] for the stateless random ops.
        whole_word: mask whole words (needs `continuation_table`).
        continuation_table: numpy bool [vocabulary_size], True for continuation pieces
            (WordPiece `##x`, SentencePiece pieces without `▁`, BPE tokens without `Ġ`).
        ngram_max: largest n-gram (ALBERT uses 3).

    Returns:
        dict with `token_ids` (same type and shape as the input, corrupted),
        `mask_positions` int32 [batch, max_predictions_per_seq] (ascending, 0 in unused
        slots), `mask_ids` int32 (original ids there, 0 in unused slots) and
        `mask_weights` float32 (1 for used slots, 0 otherwise).

    Example:
    >>> out = mask_tokens([[1, 7, 8, 9, 2, 0]], mask_id=3, vocabulary_size=10,
    ...                   unmaskable_ids=[0, 1, 2], max_predictions_per_seq=2, seed=1)
    >>> out["mask_weights"].numpy().tolist()
    [[1.0, 0.0]]
    """
    _check_arguments(
        mask_id,
        vocabulary_size,
        rate,
        max_predictions_per_seq,
        mask_token_rate,
        random_token_rate,
        whole_word,
        continuation_table,
        ngram_max,
    )
    ragged = isinstance(token_ids, tf.RaggedTensor)
    if ragged:
        row_lengths = token_ids.row_lengths()
        ids = tf.cast(token_ids.to_tensor(0), tf.int32)
        valid = tf.sequence_mask(row_lengths, tf.shape(ids, out_type=tf.int64)[1])
    else:
        ids = tf.cast(tf.convert_to_tensor(token_ids), tf.int32)
        valid = tf.ones_like(ids, tf.bool)
    single = ids.shape.rank == 1
    if single:
        ids, valid = ids[tf.newaxis], valid[tf.newaxis]
    batch, length = tf.shape(ids)[0], tf.shape(ids)[1]
    seeds = tf.random.experimental.stateless_split(as_seed(seed), num=5)

    unmaskable = tf.constant(sorted({int(i) for i in unmaskable_ids}) or [-1], tf.int32)
    maskable = valid & ~tf.reduce_any(ids[..., tf.newaxis] == unmaskable, axis=-1)
    num_maskable = tf.reduce_sum(tf.cast(maskable, tf.int32), axis=1)
    # float64 and round-half-to-even, as Python's int(round(n * rate)) in the original.
    budget = tf.cast(tf.round(rate * tf.cast(num_maskable, tf.float64)), tf.int32)
    budget = tf.minimum(max_predictions_per_seq, tf.maximum(1, budget))
    budget = tf.where(num_maskable > 0, budget, 0)

    use_words = continuation_table is not None and (whole_word or ngram_max > 1)
    unit, within = _units(
        ids,
        maskable,
        vocabulary_size=vocabulary_size,
        continuation_table=continuation_table if use_words else None,
        ngram_max=ngram_max,
        seed=seeds[0],
    )

    # Tokens in the first 1..ngram_max words of each unit.
    rows = tf.range(batch)[:, tf.newaxis]
    slot = tf.reshape((unit + rows * (length + 1)) * ngram_max + within, [-1])
    counts = tf.math.unsorted_segment_sum(
        tf.ones_like(slot), slot, batch * (length + 1) * ngram_max
    )
    counts = tf.reshape(counts, [batch, length + 1, ngram_max])[:, :length]
    prefix_sizes = tf.cumsum(counts, axis=2)
    sizes = prefix_sizes[..., -1]

    # A random order of units, then a greedy pick within the budget.
    priority = tf.random.stateless_uniform([batch, length], seeds[1])
    priority = tf.where(sizes > 0, priority, 2.0)
    order = tf.argsort(priority, axis=1, stable=True)
    if use_words or ngram_max > 1:
        # Units differ in size: ALBERT's walk (shorter n-grams, then skip), see _greedy_fit.
        taken_sorted = _greedy_fit(tf.gather(prefix_sizes, order, batch_dims=1), budget)
    else:
        sorted_sizes = tf.gather(sizes, order, batch_dims=1)
        taken_sorted = tf.cast(
            (tf.cumsum(sorted_sizes, axis=1) <= budget[:, tf.newaxis]) & (sorted_sizes > 0),
            tf.int32,
        )
    taken = tf.gather(taken_sorted, tf.argsort(order, axis=1), batch_dims=1)
    taken = tf.pad(taken, [[0, 0], [0, 1]])  # the unmaskable slot is never taken
    chosen = (tf.gather(taken, unit, batch_dims=1) > within) & maskable

    # Positions in ascending order, padded to max_predictions_per_seq slots.
    positions = tf.range(length)[tf.newaxis]
    key = tf.where(chosen, positions, positions + length)
    sorted_positions = tf.sort(key, axis=1)
    pad = tf.maximum(0, max_predictions_per_seq - length)
    sorted_positions = tf.pad(sorted_positions, [[0, 0], [0, pad]])[:, :max_predictions_per_seq]
    count = tf.reduce_sum(tf.cast(chosen, tf.int32), axis=1)
    used = tf.range(max_predictions_per_seq)[tf.newaxis] < count[:, tf.newaxis]
    mask_positions = tf.where(used, sorted_positions, 0)
    mask_ids = tf.where(used, tf.gather(ids, mask_positions, batch_dims=1), 0)

    # 80% [MASK], 10% random token, 10% unchanged.
    choice = tf.random.stateless_uniform([batch, length], seeds[2])
    random_ids = random_token_ids(
        [batch, length],
        vocabulary_size=vocabulary_size,
        excluded_ids=unmaskable_ids,
        seed=seeds[3],
    )
    corrupted = tf.where(chosen & (choice < mask_token_rate), tf.constant(mask_id, tf.int32), ids)
    use_random = (
        chosen & (choice >= mask_token_rate) & (choice < mask_token_rate + random_token_rate)
    )
    corrupted = tf.where(use_random, random_ids, corrupted)

    if single:
        corrupted, mask_positions, mask_ids, used = (
            corrupted[0],
            mask_positions[0],
            mask_ids[0],
            used[0],
        )
    if ragged:
        corrupted = tf.RaggedTensor.from_tensor(corrupted, lengths=row_lengths)
    return {
        "token_ids": corrupted,
        "mask_positions": mask_positions,
        "mask_ids": mask_ids,
        "mask_weights": tf.cast(used, tf.float32),
    }
