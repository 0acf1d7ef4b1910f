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


def _greedy_fit(sizes, budget):
    """Which units the original's greedy walk takes: in order, a unit (size > 0) is taken
    when it fits in what is left of the row's budget, and skipped otherwise.

    Computed in rounds over whole rows instead of one step per unit: a round drops every
    unit larger than what is left (it can never fit again), takes the longest run of the
    rest whose running total fits, and resumes after the first one that did not fit. Each
    round takes a unit or ends the row, so there are at most `max(budget) + 1` rounds
    (typically two or three) instead of `length` sequential steps.
    """
    length = tf.shape(sizes)[1]
    index = tf.range(length)[tf.newaxis]

    def round_(chosen, remaining, start):
        left = remaining[:, tf.newaxis]
        eligible = (index >= start[:, tf.newaxis]) & (sizes > 0) & (sizes <= left)
        take = eligible & (tf.cumsum(tf.where(eligible, sizes, 0), axis=1) <= left)
        blocked = tf.reduce_min(tf.where(eligible & ~take, index, length), axis=1)
        remaining -= tf.reduce_sum(tf.where(take, sizes, 0), axis=1)
        return chosen | take, remaining, blocked + 1

    chosen, _, _ = tf.while_loop(
        lambda chosen, remaining, start: tf.reduce_any(start <= length),
        round_,
        (tf.zeros_like(sizes, tf.bool), budget, tf.zeros_like(budget)),
    )
    return chosen


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
    `mask_token_rate`, a random id (uniform over the vocabulary without
    `unmaskable_ids` and `mask_id`) with probability `random_token_rate`, and stays
    unchanged otherwise; the draw is per token, as in google-research/bert.

    Units: single tokens by default. With `continuation_table`, and `whole_word=True` or
    `ngram_max > 1`, a unit is a whole word (a start token and its continuation tokens).
    With `ngram_max > 1` (ALBERT) units are n-grams of words, n drawn with p(n) ∝ 1/n from
    the seed: the words of each sequence are tiled into consecutive n-grams, which are then
    taken in random order, skipping one that would exceed the prediction budget (as the
    original `create_masked_lm_predictions` does). Special tokens are never masked.

    Args:
        token_ids: int ids, dense [batch, seq] (padding must be in `unmaskable_ids`),
            [seq] for one sequence, or a `tf.RaggedTensor` [batch, None].
        mask_id: id of the mask token.
        vocabulary_size: size of the vocabulary (for random replacements).
        unmaskable_ids: ids never masked: [CLS], [SEP], padding, ...
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

    # Units: a unit starts at every maskable token that does not continue a word.
    use_words = continuation_table is not None and (whole_word or ngram_max > 1)
    if use_words:
        table = tf.constant(np.asarray(continuation_table, bool))
        continues = tf.gather(table, tf.clip_by_value(ids, 0, vocabulary_size - 1))
        previous_maskable = tf.pad(maskable[:, :-1], [[0, 0], [1, 0]])
        starts = maskable & ~(continues & previous_maskable)
    else:
        starts = maskable
    unit = tf.cumsum(tf.cast(starts, tf.int32), axis=1) - 1  # word index of each token
    if ngram_max > 1:
        logits = tf.math.log(tf.constant(ngram_probabilities(ngram_max), tf.float32))[None]
        draws = tf.random.stateless_categorical(logits, batch * length, seeds[0], dtype=tf.int32)
        ngram_lengths = tf.reshape(draws, [batch, length]) + 1
        ngram_starts = tf.cumsum(ngram_lengths, axis=1, exclusive=True)
        unit = tf.searchsorted(ngram_starts, tf.maximum(unit, 0), side="right") - 1
    unit = tf.where(maskable, unit, length)  # `length` collects everything unmaskable

    # Unit sizes, then a random order of units, then a greedy pick within the budget.
    rows = tf.range(batch)[:, tf.newaxis]
    flat_unit = tf.reshape(unit + rows * (length + 1), [-1])
    sizes = tf.math.unsorted_segment_sum(tf.ones_like(flat_unit), flat_unit, batch * (length + 1))
    sizes = tf.reshape(sizes, [batch, length + 1])[:, :length]
    priority = tf.random.stateless_uniform([batch, length], seeds[1])
    priority = tf.where(sizes > 0, priority, 2.0)
    order = tf.argsort(priority, axis=1, stable=True)
    sorted_sizes = tf.gather(sizes, order, batch_dims=1)
    if use_words or ngram_max > 1:
        # Units differ in size: skip one that overflows and try the next, like the original.
        chosen_sorted = _greedy_fit(sorted_sizes, budget)
    else:
        chosen_sorted = (tf.cumsum(sorted_sizes, axis=1) <= budget[:, tf.newaxis]) & (
            sorted_sizes > 0
        )
    chosen_unit = tf.gather(chosen_sorted, tf.argsort(order, axis=1), batch_dims=1)
    chosen_unit = tf.pad(chosen_unit, [[0, 0], [0, 1]])  # the unmaskable slot is never chosen
    chosen = tf.gather(chosen_unit, unit, batch_dims=1) & maskable

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
        excluded_ids=list(unmaskable_ids) + [mask_id],
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
