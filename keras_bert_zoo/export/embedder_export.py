"""A SavedModel that turns raw texts into sentence embeddings.

Loading needs only `tensorflow` and `tensorflow_text`:

    import tensorflow as tf, tensorflow_text  # noqa: F401  (registers the tokenizer ops)
    serve = tf.saved_model.load(path).signatures["serving_default"]
    serve(text=tf.constant(["a sentence"]))["embedding"]  # float32 [batch, hidden]
"""

import tensorflow as tf

from keras_bert_zoo.export.saved_model import SERVING_KEY, TOKENIZED_KEY, _atomic_save
from keras_bert_zoo.export.saved_model import float32_copy
from keras_bert_zoo.export.trimming import (DEFAULT_LENGTH_GROUP_SIZE, call_on_longest,
                                            check_length_group_size)
from keras_bert_zoo.tasks.embedder import TextEmbedder


class _EmbedderModule(tf.Module):
    def __init__(self, model, preprocessor, length_group_size):
        super().__init__()
        self.model = model
        self.preprocessor = preprocessor
        self.length_group_size = length_group_size
        self.input_names = [i.name for i in model.inputs]

    def _embed(self, inputs):
        inputs = {k: v for k, v in inputs.items() if k in self.input_names}
        return {"embedding": self.model(inputs, training=False)["embedding"]}

    def text(self, text):
        inputs = {k: v for k, v in self.preprocessor(text).items() if k in self.input_names}
        outputs = call_on_longest(self.model, inputs, self.preprocessor, per_token=False,
                                  length_group_size=self.length_group_size)
        return {"embedding": outputs["embedding"]}

    def tokenized(self, token_ids, padding_mask, segment_ids=None):
        inputs = {"token_ids": token_ids, "padding_mask": padding_mask}
        if segment_ids is not None:
            inputs["segment_ids"] = segment_ids
        return self._embed(inputs)


def build_embedder_module(model, preprocessor, *, length_group_size=DEFAULT_LENGTH_GROUP_SIZE):
    """A `tf.Module` and its signatures for a `TextEmbedder`.

    Args:
        model: a `TextEmbedder` (a mixed-precision one is exported in float32).
        preprocessor: the `Preprocessor` of the backbone's family.
        length_group_size: see `export_saved_model`.

    Returns:
        `(module, signatures)` with `serving_default(text)` -> `embedding` (float32
        `[batch, hidden]`) and `serve_tokenized(token_ids, [segment_ids,] padding_mask)` ->
        `embedding` (`segment_ids` only for backbones that have them: BERT, ALBERT).
    """
    if not isinstance(model, TextEmbedder):
        raise TypeError(f"build_embedder_module needs a TextEmbedder, got {type(model).__name__}")
    module = _EmbedderModule(float32_copy(model), preprocessor,
                             check_length_group_size(length_group_size))
    ids = lambda name: tf.TensorSpec([None, None], tf.int32, name=name)  # noqa: E731
    serving = tf.function(module.text).get_concrete_function(
        tf.TensorSpec([None], tf.string, name="text"))
    if "segment_ids" in module.input_names:
        tokenized = tf.function(module.tokenized).get_concrete_function(
            token_ids=ids("token_ids"), padding_mask=ids("padding_mask"),
            segment_ids=ids("segment_ids"))
    else:
        tokenized = tf.function(module.tokenized).get_concrete_function(
            token_ids=ids("token_ids"), padding_mask=ids("padding_mask"))
    return module, {SERVING_KEY: serving, TOKENIZED_KEY: tokenized}


def export_embedder(model, preprocessor, path, *, warmup_texts=None,
                    length_group_size=DEFAULT_LENGTH_GROUP_SIZE):
    """Writes `build_embedder_module(model, preprocessor)` to `path` (replaced atomically) and
    returns the absolute path; `warmup_texts` and `length_group_size` as for
    `export_saved_model`."""
    module, signatures = build_embedder_module(model, preprocessor,
                                               length_group_size=length_group_size)
    return _atomic_save(module, path, signatures, warmup_texts)
