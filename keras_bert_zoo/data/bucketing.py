"""Length-bucketed batches: examples of similar length batched together, each batch padded to
its longest member.

Real fine-tuning text is short and uneven (a tweet is a few dozen tokens); padded to a fixed
`sequence_length` most of a batch's compute multiplies padding. `bucket_by_length` takes a
window of `window_batches * batch_size` consecutive examples of an (already shuffled) stream,
sorts the window by token length, cuts it into batches and shuffles the order of those batches
with a seed drawn from `(seed, window index)`; each batch is then cut to its longest member
rounded up to `pad_to_multiple_of` (`keras_bert_zoo.data.trim_to_longest`). This is
Hugging Face's length-grouped sampling ("megabatches" of 50 batches), done in `tf.data`.

Group each pass over the data on its own (shuffle, group, then repeat): a window that
crossed passes of a small dataset would hold an example several times, and sorting puts the
copies in one batch. The stream is a function of the seed alone, so a resumed run `skip`s to
the same batch, and a run sees at most `sequence_length / pad_to_multiple_of` distinct batch
shapes.
"""

import numpy as np
import tensorflow as tf

from keras_bert_zoo.data.packing import trim_to_longest

WINDOW_BATCHES = 50


def _sorted_window(index, features, rest, *, pack, batch_size, seed):
    inputs = pack(features)
    lengths = tf.reduce_sum(tf.cast(inputs["padding_mask"], tf.int32), axis=-1)
    size = tf.shape(lengths)[0]
    full = size // batch_size
    # Only the full batches are sorted: the examples left over (the end of a finite stream) are
    # the last ones of the shuffled stream, a random draw, not the longest; they stay last, so
    # every batch but the last has `batch_size` examples.
    head = full * batch_size
    by_length = tf.concat([tf.argsort(lengths[:head], stable=True), tf.range(head, size)], 0)
    # New place of each full batch of the window.
    order = tf.random.experimental.stateless_shuffle(
        tf.range(full), seed=tf.stack([tf.cast(seed, tf.int64), index]))
    place = tf.concat([tf.math.invert_permutation(order), [full]], axis=0)
    position = tf.range(size)
    key = tf.gather(place, position // batch_size) * size + position
    chosen = tf.gather(by_length, tf.argsort(key))
    return tf.nest.map_structure(lambda t: tf.gather(t, chosen), (inputs, *rest))


def bucket_by_length(ds, pack, *, batch_size, seed, pad_to_multiple_of=8, drop_remainder=False,
                     window_batches=WINDOW_BATCHES, per_token_rest=False):
    """Batches `(features, *rest)` examples by length, each batch padded to its longest.

    Args:
        ds: an unbatched `tf.data.Dataset` of `(features, *rest)`, `features` a tuple of one or
            two scalar strings (a text or a pair), or already packed inputs; shuffle it before
            and repeat the result (one pass grouped at a time, see the module docstring).
        pack: batched features -> a dict of int32 `[n, length]` inputs with a `padding_mask`
            (a `Preprocessor` call; the identity for packed inputs).
        batch_size: examples per batch.
        seed: int; the order of the batches in each window is drawn from it.
        pad_to_multiple_of: the rounding of each batch's length.
        drop_remainder: drop a last, smaller batch.
        window_batches: batches per sorted window.
        per_token_rest: the `rest` tensors are per token (`[n, length, ...]`, such as a
            tagger's labels and weights) and are cut with the inputs.

    Returns:
        A dataset of `(inputs, *rest)` batches.
    """
    window = ds.batch(batch_size * window_batches).enumerate()

    def sort(index, element):
        features, *rest = element
        return _sorted_window(index, features, rest, pack=pack, batch_size=batch_size,
                              seed=seed)

    batches = window.map(sort, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    batches = batches.unbatch().batch(batch_size, drop_remainder=drop_remainder)

    def trim(inputs, *rest):
        trimmed = trim_to_longest(inputs, pad_to_multiple_of)
        if per_token_rest:
            length = tf.shape(trimmed["padding_mask"])[-1]
            rest = [tf.nest.map_structure(lambda t: t[:, :length], r) for r in rest]
        return (trimmed, *rest)

    batches = batches.map(trim, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    size = int(ds.cardinality())
    if size >= 0:  # `unbatch` hides it; Keras needs it to count the steps of an epoch
        count = size // batch_size if drop_remainder else -(-size // batch_size)
        batches = batches.apply(tf.data.experimental.assert_cardinality(count))
    return batches


def text_batches(ds, preprocessor, *, batch_size, seed=None, drop_remainder=False):
    """Preprocessed batches of an unbatched dataset of `(features, *rest)` examples.

    `features` is a tuple of one or two scalar strings. With a `seed` and a preprocessor
    padding to the longest text (its default), batches are bucketed by length
    (`bucket_by_length`); otherwise they keep the stream's order, each preprocessed as it comes
    (padded to its longest, or to `sequence_length` with `padding="fixed"`).

    Returns a dataset of `(inputs, *rest)`, or of `inputs` when the examples have no `rest`.
    """
    def pack(features):
        features = tuple(features)
        return preprocessor(features if len(features) == 2 else features[0])

    if seed is not None and preprocessor.padding == "longest":
        batches = bucket_by_length(ds, pack, batch_size=batch_size, seed=seed,
                                   pad_to_multiple_of=preprocessor.pad_to_multiple_of,
                                   drop_remainder=drop_remainder)
    else:
        batches = ds.batch(batch_size, drop_remainder=drop_remainder).map(
            lambda features, *rest: (pack(features), *rest),
            num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    if len(batches.element_spec) == 1:
        batches = batches.map(lambda inputs: inputs)
    return batches.prefetch(tf.data.AUTOTUNE)


def packed_batches(arrays, batch_size, *, seed, padding="fixed", pad_to_multiple_of=8,
                   per_token_labels=False):
    """The seeded, repeated training stream of packed arrays `(inputs, labels[, weights])`
    (tagging and question-answering features), grouped by length and cut to each batch's
    longest example when `padding` is "longest"; `per_token_labels` cuts the labels (and
    weights) with the inputs. Each pass over the arrays is grouped on its own (an example is
    never batched with itself), and a last, smaller batch of a pass is dropped."""
    size = len(next(iter(arrays[0].values())))
    ds = tf.data.Dataset.from_tensor_slices(arrays)
    ds = ds.shuffle(size, seed=seed, reshuffle_each_iteration=True)
    if padding != "longest":
        return ds.repeat().batch(batch_size, drop_remainder=True).prefetch(2)
    ds = bucket_by_length(ds, lambda inputs: inputs, batch_size=batch_size, seed=seed,
                          pad_to_multiple_of=pad_to_multiple_of, drop_remainder=True,
                          per_token_rest=per_token_labels)
    return ds.repeat().prefetch(2)


def packed_epoch_batches(ds, preprocessor, *, batch_size, shuffle, per_token_rest=False):
    """One pass of batches over packed examples `(inputs, *rest)` (tagging, QA features),
    for `fit` / `evaluate` / `predict` on strings: shuffled with a seed drawn from the global
    seed (`keras.utils.set_random_seed`) and grouped by length when `shuffle`; each batch cut
    to its longest example when the preprocessor pads to the longest."""
    longest = preprocessor.padding == "longest"
    multiple = preprocessor.pad_to_multiple_of
    if shuffle:
        seed = int(np.random.randint(2**31 - 1))
        ds = ds.shuffle(int(ds.cardinality()), seed=seed, reshuffle_each_iteration=True)
        if longest:
            return bucket_by_length(ds, lambda inputs: inputs, batch_size=batch_size,
                                    seed=seed, pad_to_multiple_of=multiple,
                                    per_token_rest=per_token_rest).prefetch(tf.data.AUTOTUNE)
    ds = ds.batch(batch_size)
    if longest:
        def trim(inputs, *rest):
            trimmed = trim_to_longest(inputs, multiple)
            if per_token_rest:
                length = tf.shape(trimmed["padding_mask"])[-1]
                rest = [r[:, :length] for r in rest]
            return (trimmed, *rest)

        ds = ds.map(trim, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    if len(ds.element_spec) == 1:
        ds = ds.map(lambda inputs: inputs)
    return ds.prefetch(tf.data.AUTOTUNE)
