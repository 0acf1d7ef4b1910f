"""BART noise functions on token-id sequences (fairseq `DenoisingDataset` behaviour).

Every function takes ONE sequence `<s> ... </s>` as a 1-D int tensor without padding,
keeps its first and last token in place, and is a pure function of its inputs and a seed
tensor (stateless random ops), usable inside tf.data. `bart_noise` composes them in
fairseq's order (sentence permutation, masking, rotation); `bart_noise_batch` applies it to
a padded batch and returns padding at the end only (permuting a padded row moves padding
into the middle, a known bug elsewhere). For BART training the encoder input is the noised
sequence and the decoder target the original one.

Units: with `continuation_table` (True for the sub-word tokens that continue a word) text
infilling, token masking and token deletion work on whole words, as BART was trained
(fairseq's `mask_whole_word`): the budget is a fraction of the words, spans are lengths in
words, and a masked or deleted word loses all its tokens, so no span starts or ends inside
a word. Without it every token is a unit (fairseq without `mask_whole_word`). Special
tokens, which the tokenizers' tables mark as word starts, count as words.
"""

import numpy as np
import tensorflow as tf

from keras_bert_zoo.data.masking import as_seed, random_token_ids


def _split(seed, num):
    return tf.random.experimental.stateless_split(as_seed(seed), num=num)


def _random_order(size, seed):
    """A random permutation of range(size)."""
    return tf.argsort(tf.random.stateless_uniform([size], seed), stable=True)


def _replacements(size, *, mask_id, random_token_rate, vocabulary_size, excluded_ids, seed):
    """`size` mask ids, each replaced by a random id with probability random_token_rate."""
    masks = tf.fill([size], tf.constant(mask_id, tf.int32))
    if not random_token_rate:
        return masks
    if vocabulary_size is None:
        raise ValueError("random_token_rate > 0 needs vocabulary_size")
    seeds = _split(seed, 2)
    use_random = tf.random.stateless_uniform([size], seeds[0]) < random_token_rate
    randoms = random_token_ids(
        [size], vocabulary_size=vocabulary_size, excluded_ids=excluded_ids, seed=seeds[1]
    )
    return tf.where(use_random, randoms, masks)


def _count(rate, num):
    """ceil(rate * num) as fairseq computes the number of tokens to noise."""
    return tf.cast(tf.math.ceil(rate * tf.cast(num, tf.float64)), tf.int32)


def _word_starts(ids, continuation_table):
    """Bool [length]: the tokens between `<s>` and `</s>` that start a unit (a word with
    `continuation_table`, every token without; ids outside the table start a word)."""
    length = tf.shape(ids)[0]
    position = tf.range(length)
    inner = (position > 0) & (position < length - 1)
    if continuation_table is None:
        return inner
    table = np.asarray(continuation_table, bool)
    in_table = (ids >= 0) & (ids < len(table))
    continues = in_table & tf.gather(tf.constant(table), tf.clip_by_value(ids, 0, len(table) - 1))
    return inner & ~continues


def _chosen_tokens(ids, rate, continuation_table, seed):
    """Bool [length]: the tokens of `ceil(rate * n)` random units out of the n units."""
    starts = _word_starts(ids, continuation_table)
    num_units = tf.reduce_sum(tf.cast(starts, tf.int32))
    units = _random_order(num_units, seed)[: _count(rate, num_units)]
    chosen_units = tf.scatter_nd(units[:, None], tf.ones_like(units), [num_units + 1]) > 0
    length = tf.shape(ids)[0]
    position = tf.range(length)
    unit = tf.cumsum(tf.cast(starts, tf.int32)) - 1  # -1 before the first unit
    in_unit = (unit >= 0) & (position < length - 1)
    return in_unit & tf.gather(chosen_units, tf.maximum(unit, 0))


def sentence_permutation(token_ids, *, full_stop_ids, seed, rate=1.0):
    """Shuffle the sentences between `<s>` and `</s>`.

    A sentence ends after a full-stop token not followed by another one (so "..." stays
    with its sentence) and at the last token before `</s>`. A fraction `rate` of the
    sentences is permuted among themselves (fairseq `permute_sentences`; 1.0 shuffles all).

    Args:
        token_ids: 1-D int ids `<s> ... </s>`.
        full_stop_ids: ids that end a sentence ('.', '!', '?' ...).
        seed: int or int tensor [2].
        rate: fraction of sentences to permute.

    Example:
    >>> ids = tf.constant([0, 5, 9, 6, 7, 9, 2])  # 9 is "."
    >>> sorted(sentence_permutation(ids, full_stop_ids=[9], seed=0).numpy().tolist())
    [0, 2, 5, 6, 7, 9, 9]
    """
    ids = tf.cast(token_ids, tf.int32)
    seeds = _split(seed, 2)
    inner = ids[1:-1]
    num_inner = tf.shape(inner)[0]
    stops = tf.reduce_any(inner[:, None] == tf.constant(list(full_stop_ids), tf.int32), axis=1)
    next_stops = tf.concat([stops[1:], [False]], 0)
    ends = (stops & ~next_stops) | (tf.range(num_inner) == num_inner - 1)
    sentence = tf.cumsum(tf.cast(ends, tf.int32), exclusive=True)
    num_sentences = tf.reduce_sum(tf.cast(ends, tf.int32))
    num_to_permute = _count(rate, num_sentences)
    chosen = _random_order(num_sentences, seeds[0])[:num_to_permute]
    shuffled = tf.gather(chosen, _random_order(num_to_permute, seeds[1]))
    ordering = tf.tensor_scatter_nd_update(
        tf.range(num_sentences), chosen[:, None], shuffled
    )  # ordering[slot] = sentence placed in that slot
    slot = tf.argsort(ordering)  # slot of each sentence
    key = tf.gather(slot, sentence) * (num_inner + 1) + tf.range(num_inner)
    permuted = tf.gather(inner, tf.argsort(key))
    return tf.concat([ids[:1], permuted, ids[-1:]], 0)


def _insert_tokens(
    ids,
    num,
    *,
    mask_id,
    random_token_rate,
    vocabulary_size,
    excluded_ids,
    continuation_table,
    seed,
):
    """Insert `num` mask tokens at random unit boundaries, never before `<s>` or after `</s>`.

    The sequence is a list of units (`<s>`, the words or tokens, `</s>`); the `num` new
    units take random places among the inner places of the longer list.
    """
    seeds = _split(seed, 2)
    length = tf.shape(ids)[0]
    position = tf.range(length)
    unit_start = _word_starts(ids, continuation_table) | (position == 0) | (position == length - 1)
    unit = tf.cumsum(tf.cast(unit_start, tf.int32)) - 1
    num_units = unit[-1] + 1
    total = num_units + num
    new = _random_order(tf.maximum(total - 2, 0), seeds[0])[:num] + 1
    is_new = tf.scatter_nd(new[:, None], tf.ones_like(new), [total]) > 0
    unit_lengths = tf.math.unsorted_segment_sum(tf.ones_like(unit), unit, num_units)
    source = tf.maximum(tf.cumsum(tf.cast(~is_new, tf.int32)) - 1, 0)  # original unit
    lengths = tf.where(is_new, 1, tf.gather(unit_lengths, source))
    offsets = tf.cumsum(lengths, exclusive=True)  # first output position of every unit
    placed = tf.cast(tf.where(~is_new)[:, 0], tf.int32)  # output unit of every original one
    first_token = tf.cumsum(unit_lengths, exclusive=True)
    token_positions = tf.gather(offsets, tf.gather(placed, unit)) + position - tf.gather(
        first_token, unit
    )
    new_tokens = _replacements(
        total,
        mask_id=mask_id,
        random_token_rate=random_token_rate,
        vocabulary_size=vocabulary_size,
        excluded_ids=excluded_ids,
        seed=seeds[1],
    )
    size = length + num
    out = tf.scatter_nd(token_positions[:, None], ids, [size])
    return out + tf.scatter_nd(
        tf.boolean_mask(offsets, is_new)[:, None], tf.boolean_mask(new_tokens, is_new), [size]
    )


def text_infilling(
    token_ids,
    *,
    mask_id,
    seed,
    rate=0.3,
    poisson_lambda=3.0,
    random_token_rate=0.0,
    vocabulary_size=None,
    special_ids=(),
    continuation_table=None,
):
    """Replace spans of words (or tokens) by ONE mask token each (BART text infilling).

    As fairseq `add_whole_word_mask` with `mask_length=span-poisson`, `replace_length=1`:
    `ceil(rate * n)` units (n = words, or tokens without `continuation_table`, between
    `<s>` and `</s>`) are covered by spans with lengths ~ Poisson(poisson_lambda) in units,
    the last one trimmed to the budget; each span becomes one mask token, and each
    zero-length span inserts a mask token at a random unit boundary instead. Unlike
    fairseq, spans never overlap (they are placed uniformly among the arrangements without
    overlap), so exactly `ceil(rate * n)` units are masked; fairseq's overlapping spans
    mask about 27% for rate 0.3, and its insertions may fall inside a word. A mask is a
    random token with probability `random_token_rate`.

    Args:
        token_ids: 1-D int ids `<s> ... </s>`.
        mask_id: id of `<mask>`.
        seed: int or int tensor [2].
        rate: fraction of units to mask (BART: 0.3).
        poisson_lambda: mean span length in units (BART: 3).
        random_token_rate: fraction of masks replaced by random ids (needs vocabulary_size).
        vocabulary_size: vocabulary size for random ids.
        special_ids: ids never drawn as random replacements.
        continuation_table: numpy bool [vocabulary_size], True for tokens that continue a
            word (`Tokenizer.continuation_table()`): whole-word spans. None: token spans.

    Example:
    >>> out = text_infilling(tf.range(12), mask_id=99, seed=0)
    >>> int(out[0]), int(out[-1])
    (0, 11)
    """
    ids = tf.cast(token_ids, tf.int32)
    seeds = _split(seed, 5)
    length = tf.shape(ids)[0]
    unit_starts = _word_starts(ids, continuation_table)
    # Token position where each unit starts, then `</s>`, where the last one ends.
    bounds = tf.concat(
        [tf.cast(tf.where(unit_starts)[:, 0], tf.int32), tf.reshape(length - 1, [1])], 0
    )
    num_units = tf.shape(bounds)[0] - 1
    budget = _count(rate, num_units)
    # Enough Poisson draws to reach the budget (fairseq draws more in a loop); should
    # they fall short, the last span takes the remainder.
    num_draws = 2 * budget + 10
    spans = tf.cast(
        tf.random.stateless_poisson([num_draws], seeds[0], lam=poisson_lambda), tf.int32
    )
    cumulative = tf.cumsum(spans)
    last = tf.minimum(
        tf.searchsorted(cumulative, tf.reshape(budget, [1]), side="left")[0], num_draws - 1
    )
    spans = spans[: last + 1]
    before = tf.concat([[0], cumulative], 0)[last]
    spans = tf.tensor_scatter_nd_update(spans, [[last]], tf.reshape(budget - before, [1]))
    # Nothing to mask, nothing to insert (fairseq returns the source unchanged).
    num_inserts = tf.reduce_sum(tf.cast((spans == 0) & (budget > 0), tf.int32))
    spans = tf.boolean_mask(spans, spans > 0)
    num_spans = tf.shape(spans)[0]

    # Non-overlapping spans, uniformly placed: lay the spans (in random order) and the
    # num_units - budget untouched units out as num_spans + untouched items and choose
    # which items are spans.
    spans = tf.gather(spans, _random_order(num_spans, seeds[4]))
    num_items = num_units - budget + num_spans
    items = tf.sort(_random_order(num_items, seeds[1])[:num_spans])
    first_unit = items + tf.cumsum(spans - 1, exclusive=True)
    starts = tf.gather(bounds, first_unit)  # token positions
    stops = tf.gather(bounds, first_unit + spans)
    # Positions after a span start and inside the span are deleted.
    delta = tf.math.unsorted_segment_sum(
        tf.concat([tf.ones_like(starts), -tf.ones_like(stops)], 0),
        tf.concat([starts + 1, stops], 0),
        length + 1,
    )
    inside = tf.cumsum(delta)[:length] > 0
    is_start = tf.scatter_nd(starts[:, None], tf.ones_like(starts), [length]) > 0
    excluded = list(special_ids) + [mask_id]
    replacement = _replacements(
        length,
        mask_id=mask_id,
        random_token_rate=random_token_rate,
        vocabulary_size=vocabulary_size,
        excluded_ids=excluded,
        seed=seeds[2],
    )
    out = tf.boolean_mask(tf.where(is_start, replacement, ids), ~inside)
    return _insert_tokens(
        out,
        num_inserts,
        mask_id=mask_id,
        random_token_rate=random_token_rate,
        vocabulary_size=vocabulary_size,
        excluded_ids=excluded,
        continuation_table=continuation_table,
        seed=seeds[3],
    )


def token_masking(
    token_ids,
    *,
    mask_id,
    seed,
    rate,
    random_token_rate=0.0,
    vocabulary_size=None,
    special_ids=(),
    continuation_table=None,
):
    """Replace every token of `ceil(rate * n)` random words (or tokens) by the mask token.

    n counts the units between `<s>` and `</s>`: words with `continuation_table` (each
    token of a chosen word becomes a mask, fairseq's `replace_length=-1`), tokens without.

    Example:
    >>> token_masking(tf.range(6), mask_id=99, seed=0, rate=0.5).shape
    TensorShape([6])
    """
    ids = tf.cast(token_ids, tf.int32)
    seeds = _split(seed, 2)
    chosen = _chosen_tokens(ids, rate, continuation_table, seeds[0])
    replacement = _replacements(
        tf.shape(ids)[0],
        mask_id=mask_id,
        random_token_rate=random_token_rate,
        vocabulary_size=vocabulary_size,
        excluded_ids=list(special_ids) + [mask_id],
        seed=seeds[1],
    )
    return tf.where(chosen, replacement, ids)


def token_deletion(token_ids, *, seed, rate, continuation_table=None):
    """Delete every token of `ceil(rate * n)` random words (or tokens) between `<s>` and `</s>`.

    n counts words with `continuation_table`, tokens without.

    Example:
    >>> token_deletion(tf.range(6), seed=0, rate=0.5).shape
    TensorShape([4])
    """
    ids = tf.cast(token_ids, tf.int32)
    return tf.boolean_mask(ids, ~_chosen_tokens(ids, rate, continuation_table, as_seed(seed)))


def document_rotation(token_ids, *, seed, rate=1.0):
    """With probability `rate`, rotate the tokens between `<s>` and `</s>`.

    As fairseq `add_rolling_noise`: offset uniform in [1, n-1] (n = full length), output
    `<s> t[offset:-1] t[1:offset] </s>`.

    Example:
    >>> sorted(document_rotation(tf.range(6), seed=0).numpy().tolist())
    [0, 1, 2, 3, 4, 5]
    """
    ids = tf.cast(token_ids, tf.int32)
    seeds = _split(seed, 2)
    length = tf.shape(ids)[0]
    rotate = tf.random.stateless_uniform([], seeds[0]) < rate
    offset = tf.random.stateless_uniform(
        [], seeds[1], minval=1, maxval=tf.maximum(1, length - 1) + 1, dtype=tf.int32
    )
    offset = tf.where(rotate & (length > 2), offset, 1)
    return tf.concat([ids[:1], ids[offset:-1], ids[1:offset], ids[-1:]], 0)


def bart_noise(
    token_ids,
    *,
    mask_id,
    seed,
    full_stop_ids=(),
    mask_rate=0.3,
    poisson_lambda=3.0,
    permute_sentence_rate=1.0,
    rotate_rate=0.0,
    token_mask_rate=0.0,
    deletion_rate=0.0,
    random_token_rate=0.0,
    vocabulary_size=None,
    special_ids=(),
    continuation_table=None,
):
    """Compose the BART noise functions on one sequence `<s> ... </s>`.

    Order (fairseq `DenoisingDataset.__getitem__`): sentence permutation, token masking,
    token deletion, text infilling, document rotation. A rate of 0 skips a function.
    Defaults are BART's (mask 0.3 with Poisson(3) spans, permute all sentences); pass the
    tokenizer's `continuation_table()` to mask, delete and infill whole words, as BART was
    trained (without it the units are tokens).

    Example:
    >>> noised = bart_noise(tf.range(20), mask_id=99, full_stop_ids=[5], seed=0)
    >>> int(noised[0]), int(noised[-1])
    (0, 19)
    """
    if mask_id is None:
        raise ValueError("mask_id is required: pass the id of <mask>")
    if vocabulary_size is not None and not 0 <= mask_id < vocabulary_size:
        raise ValueError(f"mask_id={mask_id} is out of range for vocabulary_size={vocabulary_size}")
    seeds = _split(seed, 5)
    ids = tf.cast(token_ids, tf.int32)
    replace = dict(
        random_token_rate=random_token_rate,
        vocabulary_size=vocabulary_size,
        special_ids=special_ids,
        continuation_table=continuation_table,
    )
    if permute_sentence_rate > 0 and full_stop_ids:
        ids = sentence_permutation(
            ids, full_stop_ids=full_stop_ids, seed=seeds[0], rate=permute_sentence_rate
        )
    if token_mask_rate > 0:
        ids = token_masking(ids, mask_id=mask_id, seed=seeds[1], rate=token_mask_rate, **replace)
    if deletion_rate > 0:
        ids = token_deletion(
            ids, seed=seeds[2], rate=deletion_rate, continuation_table=continuation_table
        )
    if mask_rate > 0:
        ids = text_infilling(
            ids,
            mask_id=mask_id,
            seed=seeds[3],
            rate=mask_rate,
            poisson_lambda=poisson_lambda,
            **replace,
        )
    if rotate_rate > 0:
        ids = document_rotation(ids, seed=seeds[4], rate=rotate_rate)
    return ids


def bart_noise_batch(token_ids, *, pad_id, seed, sequence_length=None, **noise_kwargs):
    """`bart_noise` on each row of a padded batch; padding stays at the end.

    Rows are `<s> ... </s>` followed by `pad_id`. Row i is noised with
    `fold_in(seed, i)`. Rows longer than `sequence_length` after noise (masks can be
    inserted) are cut, keeping their last token `</s>`.

    Args:
        token_ids: int [batch, seq].
        pad_id: padding id.
        seed: int or int tensor [2].
        sequence_length: output length (default: the input's).
        **noise_kwargs: arguments of `bart_noise`.

    Returns:
        int32 [batch, sequence_length] noised ids, padded at the end.

    Example:
    >>> out = bart_noise_batch([[0, 5, 6, 7, 2, 1]], pad_id=1, mask_id=9, seed=0)
    >>> out.shape
    TensorShape([1, 6])
    """
    ids = tf.cast(tf.convert_to_tensor(token_ids), tf.int32)
    if sequence_length is None:
        sequence_length = ids.shape[1] if ids.shape[1] is not None else tf.shape(ids)[1]
    base = as_seed(seed)
    rows = tf.RaggedTensor.from_tensor(ids, padding=pad_id)

    def noise_row(args):
        index, row = args
        row_seed = tf.random.experimental.stateless_fold_in(base, tf.cast(index, tf.int64))
        noised = bart_noise(row, seed=row_seed, **noise_kwargs)
        return keep_last(noised, sequence_length)

    noised = tf.map_fn(
        noise_row,
        (tf.range(tf.shape(ids)[0]), rows),
        fn_output_signature=tf.RaggedTensorSpec([None], tf.int32, ragged_rank=0),
    )
    return noised.to_tensor(default_value=pad_id, shape=[None, sequence_length])


def keep_last(ids, max_length):
    """Cut a 1-D sequence to `max_length` tokens, keeping its last token."""
    length = tf.shape(ids)[0]
    return tf.cond(
        length > max_length,
        lambda: tf.concat([ids[: max_length - 1], ids[-1:]], 0),
        lambda: ids,
    )
