"""Raw-string SavedModel signatures for a `TokenTagger`: text in, one tag per word out.

Signatures:
    `serving_default(text: tf.string [batch])` -> `words` (tf.string [batch, max_words]),
        `tags` (tf.string [batch, max_words]), `tag_ids` (int32 [batch, max_words]) and
        `num_words` (int32 [batch]). Texts are split into words on whitespace and around
        punctuation (`keras_bert_zoo.tasks.tagger.split_text_into_words`); rows are padded
        with "" (words, tags) and -1 (tag_ids) after `num_words`. Words past the sequence
        length (or that tokenize to nothing) also get "" and -1.
    `serve_words(words: tf.string [batch, max_words], num_words: int32 [batch])` -> the same,
        for clients with their own word segmentation (e.g. CoNLL tokens).
    `serve_tokenized(token_ids, [segment_ids,] padding_mask)` -> `logits` (float32
        [batch, seq, num_tags]) and `tag_ids` (int32 [batch, seq]); `segment_ids` only for
        BERT and ALBERT, as for the classifier.
"""

import tensorflow as tf

from keras_bert_zoo.export.trimming import (DEFAULT_LENGTH_GROUP_SIZE, call_on_longest,
                                            check_length_group_size)
from keras_bert_zoo.tasks.tagger import (first_token_positions, pack_words,
                                         split_text_into_words, tokenize_words)

SERVING_KEY = "serving_default"
WORDS_KEY = "serve_words"
TOKENIZED_KEY = "serve_tokenized"


class _TaggerModule(tf.Module):
    def __init__(self, model, preprocessor, length_group_size):
        super().__init__()
        self.model = model
        self.preprocessor = preprocessor
        self.length_group_size = length_group_size
        names = model.tag_names or [str(i) for i in range(model.num_tags)]
        self.tag_names = tf.constant(names)
        self.input_names = [i.name for i in model.inputs]

    def _model_inputs(self, inputs):
        return {k: v for k, v in inputs.items() if k in self.input_names}

    def tokenized(self, **inputs):
        logits = self.model(inputs, training=False)
        return {"logits": logits, "tag_ids": tf.argmax(logits, -1, output_type=tf.int32)}

    def _tag(self, words):
        tokenizer = self.preprocessor.tokenizer
        length = self.preprocessor.sequence_length
        pieces = tokenize_words(tokenizer, words)
        inputs, _ = pack_words(pieces, tokenizer, length)
        logits = call_on_longest(self.model, self._model_inputs(inputs), self.preprocessor,
                                 length_group_size=self.length_group_size)
        token_tags = tf.argmax(logits, -1, output_type=tf.int32)  # (batch, seq)
        positions = first_token_positions(pieces, length).to_tensor(default_value=-1)
        tag_ids = tf.gather(token_tags, tf.maximum(positions, 0), batch_dims=1)
        tag_ids = tf.where(positions >= 0, tag_ids, -1)
        tags = tf.where(tag_ids >= 0, tf.gather(self.tag_names, tf.maximum(tag_ids, 0)), "")
        return {
            "words": words.to_tensor(default_value=""),
            "tags": tags,
            "tag_ids": tag_ids,
            "num_words": tf.cast(words.row_lengths(), tf.int32),
        }

    def text(self, text):
        return self._tag(split_text_into_words(text))

    def words(self, words, num_words):
        keep = tf.range(tf.shape(words)[1])[tf.newaxis, :] < num_words[:, tf.newaxis]
        return self._tag(tf.ragged.boolean_mask(words, keep))


def build_tagger_module(model, preprocessor, *, length_group_size=DEFAULT_LENGTH_GROUP_SIZE):
    """A `tf.Module` and its raw-string signatures for a `TokenTagger`.

    Args:
        model: a trained `TokenTagger` (mixed precision is exported as a float32 copy).
        preprocessor: the `Preprocessor` whose tokenizer and sequence length it was trained
            with (see `keras_bert_zoo.tasks.tagger.align_labels`).
        length_group_size: see `export_saved_model`.

    Returns:
        `(module, signatures)`, ready for `tf.saved_model.save(module, path, signatures)`;
        see the module docstring for the signatures.
    """
    from keras_bert_zoo.export.saved_model import float32_copy  # saved_model imports us

    module = _TaggerModule(float32_copy(model), preprocessor,
                           check_length_group_size(length_group_size))
    signatures = {
        SERVING_KEY: tf.function(module.text).get_concrete_function(
            tf.TensorSpec([None], tf.string, name="text")),
        WORDS_KEY: tf.function(module.words).get_concrete_function(
            tf.TensorSpec([None, None], tf.string, name="words"),
            tf.TensorSpec([None], tf.int32, name="num_words")),
        TOKENIZED_KEY: tf.function(module.tokenized).get_concrete_function(
            **{name: tf.TensorSpec([None, None], tf.int32, name=name)
               for name in module.input_names}),
    }
    return module, signatures
