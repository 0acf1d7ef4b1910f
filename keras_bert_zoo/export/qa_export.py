"""Raw-string SavedModel signatures for a `SpanQuestionAnswerer`: question + context -> answer.

The graph tokenizes with character offsets (`keras_bert_zoo.tasks.span_qa.
tokenize_with_char_offsets`), packs `[CLS] question [SEP] context [SEP]` and decodes the best
span exactly as `decode_answers` does for a single window. It reads ONE window: a context
longer than `sequence_length - question tokens - 3` (RoBERTa: - 4) is cut and only its first
window is searched (the Python path, `squad_features` + `decode_answers`, reads every
window with `doc_stride`). Questions are cut to `max_question_length` tokens.

Signatures:
    `serving_default(question: tf.string [batch], context: tf.string [batch])` ->
        `answer` (tf.string [batch], a slice of the context), `start_char`, `end_char`
        (int32 [batch], `answer == context[start_char:end_char]` in Python code points; -1
        when there is no answer) and `score` (float32 [batch], start + end logit; the [CLS]
        score when there is no answer).
    `serve_tokenized(token_ids, segment_ids, padding_mask)` -> `start_logits`, `end_logits`
        (float32 [batch, seq]); `segment_ids` are 1 on the context.
"""

import tensorflow as tf

from keras_bert_zoo.tasks.span_qa import tokenize_with_char_offsets
from keras_bert_zoo.tokenizers.preprocessor import _LAYOUTS

SERVING_KEY = "serving_default"
TOKENIZED_KEY = "serve_tokenized"


def _column(batch_size, value):
    return tf.fill([batch_size, 1], tf.constant(value, tf.int32))


class _QuestionAnswererModule(tf.Module):
    def __init__(self, model, preprocessor, max_answer_length, max_question_length,
                 n_best_size, null_score_threshold):
        super().__init__()
        self.model = model
        self.preprocessor = preprocessor
        self.max_answer_length = max_answer_length
        self.max_question_length = max_question_length
        self.n_best_size = n_best_size
        self.null_score_threshold = null_score_threshold

    def tokenized(self, token_ids, segment_ids, padding_mask):
        return self.model({"token_ids": token_ids, "segment_ids": segment_ids,
                           "padding_mask": padding_mask}, training=False)

    def answer(self, question, context):
        tokenizer = self.preprocessor.tokenizer
        length = self.preprocessor.sequence_length
        special = tokenizer.special_token_ids
        context = tf.strings.unicode_transcode(context, "UTF-8", "UTF-8", errors="replace",
                                               replacement_char=0xFFFD)
        questions = tf.cast(tokenizer.tokenize(question), tf.int32)
        questions = questions[:, :self.max_question_length]
        ids, starts, ends = tokenize_with_char_offsets(tokenizer, context)
        batch_size = questions.nrows(out_type=tf.int32)

        # [CLS] question [SEP] ([SEP] for RoBERTa) | context window [SEP]
        cls, sep = _column(batch_size, special["cls"]), _column(batch_size, special["sep"])
        front = [cls, questions, sep] + ([sep] if _LAYOUTS[tokenizer.family] == "roberta"
                                         else [])
        front = tf.concat(front, axis=1)
        room = length - tf.cast(front.row_lengths(), tf.int32) - 1
        keep = tf.ragged.range(ids.row_lengths()) < tf.cast(room, tf.int64)[:, tf.newaxis]
        ids, starts, ends = (tf.ragged.boolean_mask(t, keep) for t in (ids, starts, ends))
        shape = [None, length]
        token_ids = tf.concat([front, ids, sep], axis=1).to_tensor(special["pad"], shape=shape)
        segment_ids = tf.concat(
            [tf.zeros_like(front), tf.ones_like(ids), tf.ones_like(sep)], axis=1)
        padding_mask = tf.ones_like(segment_ids).to_tensor(0, shape=shape)
        segment_ids = segment_ids.to_tensor(0, shape=shape)

        def offsets(context_offsets):  # -1 outside the context
            parts = [-tf.ones_like(front), context_offsets, -tf.ones_like(sep)]
            return tf.concat(parts, axis=1).to_tensor(-1, shape=shape)

        token_starts, token_ends = offsets(starts), offsets(ends)

        logits = self.tokenized(token_ids, segment_ids, padding_mask)
        start_logits = tf.cast(logits["start_logits"], tf.float32)
        end_logits = tf.cast(logits["end_logits"], tf.float32)

        # `decode_answers` for one window: the best starts and ends among the context tokens,
        # paired when start <= end < start + max_answer_length; first maximum on ties.
        valid = token_starts >= 0
        k = min(self.n_best_size, length)
        minus_inf = tf.constant(float("-inf"))
        _, start_index = tf.math.top_k(tf.where(valid, start_logits, minus_inf), k)
        _, end_index = tf.math.top_k(tf.where(valid, end_logits, minus_inf), k)
        start_value = tf.gather(start_logits, start_index, batch_dims=1)
        end_value = tf.gather(end_logits, end_index, batch_dims=1)
        s, e = start_index[:, :, tf.newaxis], end_index[:, tf.newaxis, :]
        ok = (tf.gather(valid, start_index, batch_dims=1)[:, :, tf.newaxis]
              & tf.gather(valid, end_index, batch_dims=1)[:, tf.newaxis, :]
              & (s <= e) & (e < s + self.max_answer_length))
        scores = start_value[:, :, tf.newaxis] + end_value[:, tf.newaxis, :]
        scores = tf.reshape(tf.where(ok, scores, minus_inf), [batch_size, k * k])
        best = tf.argmax(scores, axis=1, output_type=tf.int32)
        best_score = tf.gather(scores, best, batch_dims=1)
        best_start = tf.gather(start_index, best // k, batch_dims=1)
        best_end = tf.gather(end_index, best % k, batch_dims=1)

        null_score = start_logits[:, 0] + end_logits[:, 0]
        no_answer = tf.logical_not(tf.reduce_any(ok, axis=[1, 2]))
        if self.null_score_threshold is not None:
            no_answer |= null_score - best_score > self.null_score_threshold
        start_char = tf.where(no_answer, -1,
                              tf.gather(token_starts, best_start, batch_dims=1))
        end_char = tf.where(no_answer, -1, tf.gather(token_ends, best_end, batch_dims=1))
        answer = tf.strings.substr(context, tf.maximum(start_char, 0),
                                   tf.maximum(end_char - start_char, 0), unit="UTF8_CHAR")
        return {
            "answer": answer,
            "start_char": start_char,
            "end_char": end_char,
            "score": tf.where(no_answer, null_score, best_score),
        }


def build_qa_module(model, preprocessor, max_answer_length=30, max_question_length=64,
                    n_best_size=20, null_score_threshold=None):
    """A `tf.Module` and its raw-string signatures for a `SpanQuestionAnswerer`.

    Args:
        model: a trained `SpanQuestionAnswerer` (mixed precision is exported in float32).
        preprocessor: the `Preprocessor` (tokenizer, sequence length, family) of the model.
        max_answer_length: the longest answer, in tokens.
        max_question_length: questions are cut to this many tokens.
        n_best_size: starts and ends considered when pairing.
        null_score_threshold: SQuAD v2: answer "" when the [CLS] score beats the best span by
            more than this; None answers whenever a span exists.

    Returns:
        `(module, signatures)` for `tf.saved_model.save(module, path, signatures)`; one
        window per context (see the module docstring).
    """
    from keras_bert_zoo.export.saved_model import float32_copy  # saved_model imports us

    room = preprocessor.sequence_length - max_question_length - 4
    if room < 1:
        raise ValueError(
            f"sequence_length={preprocessor.sequence_length} leaves no room for the context "
            f"after max_question_length={max_question_length} tokens; lower it below "
            f"{preprocessor.sequence_length - 4}"
        )
    module = _QuestionAnswererModule(float32_copy(model), preprocessor, max_answer_length,
                                     max_question_length, n_best_size, null_score_threshold)
    signatures = {
        SERVING_KEY: tf.function(module.answer).get_concrete_function(
            tf.TensorSpec([None], tf.string, name="question"),
            tf.TensorSpec([None], tf.string, name="context")),
        TOKENIZED_KEY: tf.function(module.tokenized).get_concrete_function(
            tf.TensorSpec([None, None], tf.int32, name="token_ids"),
            tf.TensorSpec([None, None], tf.int32, name="segment_ids"),
            tf.TensorSpec([None, None], tf.int32, name="padding_mask")),
    }
    return module, signatures
