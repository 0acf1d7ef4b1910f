"""A SavedModel that turns raw source texts into generated texts, all in one graph.

Tokenization (tf-text ops), the encoder, the cached decoding loop (greedy or beam search, plain
TensorFlow ops once traced) and detokenization run inside `serving_default`. Loading needs only
`tensorflow` and `tensorflow_text`:

    import tensorflow as tf, tensorflow_text  # noqa: F401  (registers the tokenizer ops)
    serve = tf.saved_model.load(path).signatures["serving_default"]
    serve(text=tf.constant(["An article ..."]))["generated_text"]

`serve_tokenized(token_ids, padding_mask)` (int32 `[batch, source]`, packed `<s> ... </s>` and
padded as the preprocessor packs them) serves clients that tokenize themselves: it returns
`generated_ids` (int32 `[batch, max_length]`: the new tokens, the first `</s>` included, then
`<pad>`) and their `generated_text`, the same text `serving_default` gives for the same source.
"""

import tensorflow as tf

from keras_bert_zoo.export.saved_model import (SERVING_KEY, TOKENIZED_KEY, _atomic_save,
                                               float32_copy)
from keras_bert_zoo.tasks.seq2seq import Seq2SeqGenerator, detokenize_generated, get_sampler
from keras_bert_zoo.tokenizers.preprocessor import Preprocessor

GENERATE_SAMPLERS = ("greedy", "beam")  # deterministic: the same text in, the same text out


class _Seq2SeqModule(tf.Module):
    def __init__(self, model, preprocessor, sampler, max_length):
        super().__init__()
        self.model = model
        self.preprocessor = preprocessor
        self.tokenizer = preprocessor.tokenizer
        self._sampler = sampler
        self._max_length = max_length
        # One traced generation loop, called by both signatures (tracing it is the slow part).
        ids = tf.TensorSpec([None, None], tf.int32)
        self.tokenized = tf.function(self._tokenized, input_signature=[
            tf.TensorSpec.from_spec(ids, name="token_ids"),
            tf.TensorSpec.from_spec(ids, name="padding_mask")])

    def _tokenized(self, token_ids, padding_mask):
        ids = self.model.generate_ids(token_ids, padding_mask, max_length=self._max_length,
                                      sampler=self._sampler,
                                      special_token_ids=self.tokenizer.special_token_ids)
        return {"generated_ids": ids,
                "generated_text": detokenize_generated(self.tokenizer, ids)}

    def generate(self, text):
        inputs = self.preprocessor(text)
        outputs = self.tokenized(tf.cast(inputs["token_ids"], tf.int32),
                                 tf.cast(inputs["padding_mask"], tf.int32))
        return {"generated_text": outputs["generated_text"]}


def build_seq2seq_module(model, preprocessor_or_tokenizer=None, *, sampler="greedy",
                         max_length=32, num_beams=4, length_penalty=1.0, source_length=None):
    """A `tf.Module` and its signatures: `serving_default(text) -> generated_text` and
    `serve_tokenized(token_ids, padding_mask) -> generated_ids, generated_text`.

    Args:
        model: a `Seq2SeqGenerator` (a mixed-precision one is exported in float32).
        preprocessor_or_tokenizer: a BART `Preprocessor` (its `sequence_length` is the source
            length) or a byte-level BPE tokenizer; default: the model's preprocessor.
        sampler: "greedy" or "beam".
        max_length: most generated tokens per text.
        num_beams, length_penalty: beam search settings.
        source_length: source length when a tokenizer is given (default: the backbone's
            `max_sequence_length`).

    Returns:
        `(module, signatures)`; save with `tf.saved_model.save(module, path, signatures)` or
        `export_seq2seq(...)`. `text` is a `tf.string` `[batch]`, `generated_text` too;
        see the module docstring for `serve_tokenized`.
    """
    if not isinstance(model, Seq2SeqGenerator):
        raise TypeError(f"build_seq2seq_module needs a Seq2SeqGenerator, got "
                        f"{type(model).__name__}")
    if sampler not in GENERATE_SAMPLERS:
        raise ValueError(f"sampler={sampler!r}; exports use one of "
                         f"{', '.join(GENERATE_SAMPLERS)}")
    preprocessor = preprocessor_or_tokenizer or model.preprocessor
    if preprocessor is None:
        raise ValueError("no preprocessor: pass a Preprocessor or tokenizer, or build the model "
                         "with preprocessor=")
    if not isinstance(preprocessor, Preprocessor):
        preprocessor = Preprocessor(
            preprocessor, sequence_length=source_length or model.backbone.max_sequence_length)
    if max_length + 2 > model.backbone.max_sequence_length:
        raise ValueError(
            f"max_length={max_length} needs {max_length + 2} decoder positions but the backbone "
            f"has max_sequence_length={model.backbone.max_sequence_length}; lower max_length")
    module = _Seq2SeqModule(
        float32_copy(model), preprocessor,
        get_sampler(sampler, num_beams=num_beams, length_penalty=length_penalty), max_length)
    serving = tf.function(module.generate).get_concrete_function(
        tf.TensorSpec([None], tf.string, name="text"))
    tokenized = module.tokenized.get_concrete_function()
    return module, {SERVING_KEY: serving, TOKENIZED_KEY: tokenized}


def export_seq2seq(model, preprocessor_or_tokenizer, path, *, warmup_texts=None, **kwargs):
    """Writes `build_seq2seq_module(model, preprocessor_or_tokenizer, **kwargs)` to `path`
    (replaced atomically) and returns the absolute path; `warmup_texts` as for
    `export_saved_model`."""
    module, signatures = build_seq2seq_module(model, preprocessor_or_tokenizer, **kwargs)
    return _atomic_save(module, path, signatures, warmup_texts)
