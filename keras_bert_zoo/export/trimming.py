"""Calling a model on inputs cut to their longest example, outputs restored to the full length.

Tagger and question-answering exports pack their own inputs at the preprocessor's
`sequence_length` and read per-token outputs by position; with the preprocessor's
`padding="longest"` the model runs on the trimmed inputs (`keras_bert_zoo.data.trim_to_longest`)
and its per-token outputs are padded back with zeros, at positions that are padding and never
read.
"""

import tensorflow as tf

from keras_bert_zoo.data.packing import trim_to_longest


def call_on_longest(model, inputs, preprocessor):
    """`model(inputs, training=False)`, on trimmed inputs when `preprocessor.padding` is
    "longest"; every output `[batch, length, ...]` comes back at the inputs' length."""
    if preprocessor.padding != "longest":
        return model(inputs, training=False)
    full = tf.shape(inputs["padding_mask"])[1]
    outputs = model(trim_to_longest(inputs, preprocessor.pad_to_multiple_of), training=False)

    def restore(output):
        missing = full - tf.shape(output)[1]
        paddings = [[0, 0], [0, missing]] + [[0, 0]] * (len(output.shape) - 2)
        return tf.pad(output, paddings)

    return tf.nest.map_structure(restore, outputs)
