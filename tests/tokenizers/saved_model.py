"""A tokenizer or preprocessor served from a SavedModel, as exports use it."""

import tensorflow as tf


def save_and_load(layer, serve, input_signature, directory):
    """Saves `serve` (traced with `input_signature`) with `layer` tracked; returns it loaded.

    Keep the returned module alive while calling its `serve`: it owns the restored resources.
    """
    module = tf.Module()
    module.layer = layer
    module.serve = tf.function(serve, input_signature=input_signature)
    tf.saved_model.save(module, str(directory))
    return tf.saved_model.load(str(directory))
