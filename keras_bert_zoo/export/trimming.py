"""Calling a model on a request cut to the length of its texts, outputs in the request's order.

Exports pack a request at the preprocessor's `sequence_length` (or at its longest member). With
the preprocessor's `padding="longest"` the signature then sorts the request's examples by
length, cuts it into groups of `length_group_size` neighbours and runs the model on each group
cut to its own longest example (`keras_bert_zoo.data.trim_to_longest`): a request of 32 tweets
is not padded to its one long tweet. Outputs come back in the request's order, per-token
outputs padded with zeros to the packed length (positions that are padding, never read).
Attention never looks at padding and positions are absolute, so every example's outputs are
those of the fixed-length call (to float rounding of the matmuls' blocking, ~1e-7).
"""

import tensorflow as tf

from keras_bert_zoo.data.packing import trim_to_longest

# Examples per model call in a `padding="longest"` export; 0 runs the request as one batch.
DEFAULT_LENGTH_GROUP_SIZE = 4


def check_length_group_size(length_group_size):
    """`length_group_size` as an int >= 0, or a ValueError naming the fix."""
    if isinstance(length_group_size, bool) or not isinstance(length_group_size, int) \
            or length_group_size < 0:
        raise ValueError(f"length_group_size must be an int >= 0 (0: no grouping), got "
                         f"{length_group_size!r}")
    return length_group_size


def call_on_longest(model, inputs, preprocessor, *, per_token=True,
                    length_group_size=DEFAULT_LENGTH_GROUP_SIZE):
    """`model(inputs, training=False)` for packed `inputs`; with `preprocessor.padding ==
    "longest"`, run in length-sorted groups of `length_group_size` examples, each cut to its
    longest member (module docstring).

    Args:
        model: a Keras model taking the packed `inputs` dict.
        inputs: dict of int tensors `[batch, length]` with a `padding_mask`.
        preprocessor: the export's `Preprocessor` (its `padding` and `pad_to_multiple_of`).
        per_token: the outputs are `[batch, length, ...]` (tagging, span logits) and come back
            at the inputs' length; otherwise they are per example (`[batch, ...]`).
        length_group_size: examples per model call; 0 calls the model once on the whole
            request cut to its longest member.

    Returns:
        The model's outputs (same structure), in the order of `inputs`.
    """
    if preprocessor.padding != "longest":
        return model(inputs, training=False)
    multiple = preprocessor.pad_to_multiple_of
    full = tf.shape(inputs["padding_mask"])[1]

    def run(group):
        outputs = model(trim_to_longest(group, multiple), training=False)
        if not per_token:
            return outputs

        def restore(output):
            missing = full - tf.shape(output)[1]
            paddings = [[0, 0], [0, missing]] + [[0, 0]] * (len(output.shape) - 2)
            return tf.pad(output, paddings)

        return tf.nest.map_structure(restore, outputs)

    if not length_group_size:
        return run(inputs)
    lengths = tf.reduce_sum(tf.cast(inputs["padding_mask"], tf.int32), axis=1)
    batch = tf.shape(lengths)[0]
    order = tf.argsort(lengths, stable=True)
    ordered = {name: tf.gather(value, order) for name, value in inputs.items()}
    size = int(length_group_size)
    groups = tf.maximum((batch + size - 1) // size, 1)

    def group(i):
        start = i * size
        return {name: value[start:tf.minimum(start + size, batch)]
                for name, value in ordered.items()}

    # The first group is called outside the loop: it gives the outputs' structure and dtypes.
    first = run(group(0))
    flat = tf.nest.flatten(first)
    arrays = [tf.TensorArray(t.dtype, size=groups, infer_shape=False).write(0, t) for t in flat]

    def body(i, arrays):
        outputs = tf.nest.flatten(run(group(i)))
        return i + 1, [array.write(i, t) for array, t in zip(arrays, outputs)]

    _, arrays = tf.while_loop(lambda i, _: i < groups, body, (tf.constant(1), arrays))
    restore_order = tf.math.invert_permutation(order)
    merged = [tf.ensure_shape(tf.gather(array.concat(), restore_order), [None, *t.shape[1:]])
              for array, t in zip(arrays, flat)]
    return tf.nest.pack_sequence_as(first, merged)
