"""Raw-string SavedModel signatures for a `SpanQuestionAnswerer`: question + context -> answer.

The graph does what the Python path (`keras_bert_zoo.tasks.span_qa`: `squad_features`, the
model, `decode_answers`) does, with the same answers, offsets and scores:

1. tokenize the context with character offsets (`tokenize_with_char_offsets`) and the question
   (cut to `max_question_length` tokens);
2. split the context tokens into windows of `sequence_length - question tokens - 3` (RoBERTa:
   - 4) tokens, one starting every `doc_stride` tokens, each packed as `[CLS] question [SEP]
   window [SEP]` (original BERT `run_squad.py`), and run the model on all of them;
3. per window, pair the `n_best_size` best starts and ends (`start <= end <
   start + max_answer_length`), reading a start only from the window where its token has the
   most context; the best pair over all windows is the answer (first on ties: window, start
   rank, end rank), the [CLS] score is the lowest over the windows.

Signatures:
    `serving_default(question: tf.string [batch], context: tf.string [batch])` ->
        `answer` (tf.string [batch], a slice of the context), `start_char`, `end_char`
        (int32 [batch], `answer == context[start_char:end_char]` in Python code points; -1
        when there is no answer) and `score` (float32 [batch], start + end logit; the [CLS]
        score when there is no answer).
    `serve_tokenized(token_ids, segment_ids, padding_mask)` -> `start_logits`, `end_logits`
        (float32 [batch, seq]) of packed windows; `segment_ids` are 1 on the context.
"""

import tensorflow as tf

from keras_bert_zoo.export.trimming import (DEFAULT_LENGTH_GROUP_SIZE, call_on_longest,
                                            check_length_group_size)
from keras_bert_zoo.tasks.span_qa import tokenize_with_char_offsets
from keras_bert_zoo.tokenizers.preprocessor import _LAYOUTS

SERVING_KEY = "serving_default"
TOKENIZED_KEY = "serve_tokenized"


def _column(batch_size, value):
    return tf.fill([batch_size, 1], tf.constant(value, tf.int32))


class _QuestionAnswererModule(tf.Module):
    def __init__(self, model, preprocessor, doc_stride, max_answer_length, max_question_length,
                 n_best_size, null_score_threshold, length_group_size):
        super().__init__()
        self.length_group_size = length_group_size
        self.model = model
        self.preprocessor = preprocessor
        self.doc_stride = doc_stride
        self.max_answer_length = max_answer_length
        self.max_question_length = max_question_length
        self.n_best_size = n_best_size
        self.null_score_threshold = null_score_threshold

    def tokenized(self, token_ids, segment_ids, padding_mask):
        return self.model({"token_ids": token_ids, "segment_ids": segment_ids,
                           "padding_mask": padding_mask}, training=False)

    def _windows(self, question, context):
        """`squad_features` in the graph.

        Returns:
            `(inputs, token_starts, token_ends, max_context, example, count)`: the packed
            windows (dict of int32 (windows, seq)), the character offsets of their context
            tokens (-1 elsewhere), where a start may be read (bool (windows, seq)), the
            example of every window and the number of windows of every example.
        """
        tokenizer = self.preprocessor.tokenizer
        length = self.preprocessor.sequence_length
        special = tokenizer.special_token_ids
        questions = tf.cast(tokenizer.tokenize(question), tf.int32)
        questions = questions[:, :self.max_question_length]
        ids, starts, ends = tokenize_with_char_offsets(tokenizer, context)
        batch_size = questions.nrows(out_type=tf.int32)

        # [CLS] question [SEP] ([SEP] for RoBERTa), as `question_prefix`.
        cls, sep = _column(batch_size, special["cls"]), _column(batch_size, special["sep"])
        front = [cls, questions, sep] + ([sep] if _LAYOUTS[tokenizer.family] == "roberta"
                                         else [])
        front = tf.concat(front, axis=1)

        # `span_qa._windows`: every window but the last holds `room` tokens, so windows start
        # every `stride = min(room, doc_stride)` tokens until one reaches the end.
        room = length - tf.cast(front.row_lengths(), tf.int32) - 1  # (batch,)
        num_tokens = tf.cast(ids.row_lengths(), tf.int32)
        stride = tf.minimum(room, self.doc_stride)
        count = 1 + tf.maximum(num_tokens - room + stride - 1, 0) // stride
        example = tf.repeat(tf.range(batch_size), count)  # (windows,)
        rank = tf.ragged.range(count).flat_values  # of the window in its example
        window_start = rank * tf.gather(stride, example)
        window_length = tf.minimum(tf.gather(num_tokens, example) - window_start,
                                   tf.gather(room, example))
        position = tf.ragged.range(window_start, window_start + window_length)  # (windows, t)
        window_of = tf.cast(position.value_rowids(), tf.int32)  # of every window token
        p = position.flat_values  # its position in the context
        token_example = tf.gather(example, window_of)
        flat = p + tf.gather(tf.cast(ids.row_splits, tf.int32), token_example)

        # `span_qa._max_context`: a start is read from the window where its token is most
        # central, score min(left, right) + 0.01 * window length (float64, as in Python),
        # the first window on ties. Windows `first..last` hold position p.
        token_stride = tf.gather(stride, token_example)
        token_room = tf.gather(room, token_example)
        token_last = tf.gather(count, token_example) - 1
        first = tf.minimum(tf.maximum(p - token_room + token_stride, 0) // token_stride,
                           token_last)
        last = tf.minimum(p // token_stride, token_last)
        candidate = tf.ragged.range(first, last + 1)  # (window tokens, windows holding it)
        owner = tf.cast(candidate.value_rowids(), tf.int32)
        k = candidate.flat_values
        k_start = k * tf.gather(token_stride, owner)
        k_length = tf.minimum(tf.gather(num_tokens, tf.gather(token_example, owner)) - k_start,
                              tf.gather(token_room, owner))
        k_p = tf.gather(p, owner)
        centrality = (tf.cast(tf.minimum(k_p - k_start, k_start + k_length - 1 - k_p),
                              tf.float64) + 0.01 * tf.cast(k_length, tf.float64))
        best = tf.gather(tf.reduce_max(candidate.with_flat_values(centrality), axis=1), owner)
        best_rank = tf.reduce_min(candidate.with_flat_values(
            tf.where(centrality == best, k, tf.int32.max)), axis=1)
        max_context = tf.cast(best_rank == tf.gather(rank, window_of), tf.int32)

        front = tf.gather(front, example)
        sep = _column(tf.size(example), special["sep"])
        shape = [None, length]

        def pack(values, fill):  # front, window tokens, [SEP]; padded to the sequence length
            window = position.with_flat_values(values)
            parts = [tf.ones_like(front) * fill, window, tf.ones_like(sep) * fill]
            return tf.concat(parts, axis=1).to_tensor(fill, shape=shape)

        window_ids = position.with_flat_values(tf.gather(ids.flat_values, flat))
        token_ids = tf.concat([front, window_ids, sep], axis=1).to_tensor(special["pad"],
                                                                          shape=shape)
        segment_ids = tf.concat(
            [tf.zeros_like(front), tf.ones_like(window_ids), tf.ones_like(sep)], axis=1)
        inputs = {"token_ids": token_ids,
                  "segment_ids": segment_ids.to_tensor(0, shape=shape),
                  "padding_mask": tf.ones_like(segment_ids).to_tensor(0, shape=shape)}
        token_starts = pack(tf.gather(starts.flat_values, flat), -1)
        token_ends = pack(tf.gather(ends.flat_values, flat), -1)
        return (inputs, token_starts, token_ends, pack(max_context, 0) > 0, example, count)

    def answer(self, question, context):
        context = tf.strings.unicode_transcode(context, "UTF-8", "UTF-8", errors="replace",
                                               replacement_char=0xFFFD)
        inputs, token_starts, token_ends, max_context, example, count = self._windows(
            question, context)
        logits = call_on_longest(self.model, inputs, self.preprocessor,
                                 length_group_size=self.length_group_size)
        start_logits = tf.cast(logits["start_logits"], tf.float32)
        end_logits = tf.cast(logits["end_logits"], tf.float32)

        # `best_spans` per window: the best starts (max-context tokens) and ends (context
        # tokens), paired when start <= end < start + max_answer_length; `top_k` keeps the
        # lower position first on ties, as the stable argsort does.
        valid_end = token_starts >= 0
        valid_start = valid_end & max_context
        k = min(self.n_best_size, self.preprocessor.sequence_length)
        minus_inf = tf.constant(float("-inf"))
        _, start_index = tf.math.top_k(tf.where(valid_start, start_logits, minus_inf), k)
        _, end_index = tf.math.top_k(tf.where(valid_end, end_logits, minus_inf), k)
        start_value = tf.gather(start_logits, start_index, batch_dims=1)
        end_value = tf.gather(end_logits, end_index, batch_dims=1)
        s, e = start_index[:, :, tf.newaxis], end_index[:, tf.newaxis, :]
        ok = (tf.gather(valid_start, start_index, batch_dims=1)[:, :, tf.newaxis]
              & tf.gather(valid_end, end_index, batch_dims=1)[:, tf.newaxis, :]
              & (s <= e) & (e < s + self.max_answer_length))
        scores = tf.where(ok, start_value[:, :, tf.newaxis] + end_value[:, tf.newaxis, :],
                          minus_inf)

        # `decode_answers`: the best pair over the windows of an example, the first in
        # (window, start rank, end rank) order on ties.
        scores = tf.RaggedTensor.from_row_lengths(tf.reshape(scores, [-1, k * k]), count)
        scores = scores.merge_dims(1, 2).to_tensor(minus_inf)  # (batch, windows * k * k)
        best_score = tf.reduce_max(scores, axis=1)
        at_best = tf.equal(scores, best_score[:, tf.newaxis]) & (scores > minus_inf)
        index = tf.range(tf.shape(scores)[1])[tf.newaxis, :]
        best = tf.reduce_min(tf.where(at_best, index, tf.int32.max), axis=1)
        no_answer = tf.logical_not(tf.reduce_any(at_best, axis=1))
        best = tf.where(no_answer, 0, best)
        window = tf.cumsum(count, exclusive=True) + best // (k * k)
        best_start = tf.gather(tf.gather(start_index, window), best % (k * k) // k,
                               batch_dims=1)
        best_end = tf.gather(tf.gather(end_index, window), best % k, batch_dims=1)
        start_char = tf.gather(tf.gather(token_starts, window), best_start, batch_dims=1)
        end_char = tf.gather(tf.gather(token_ends, window), best_end, batch_dims=1)

        null_score = tf.math.segment_min(start_logits[:, 0] + end_logits[:, 0], example)
        if self.null_score_threshold is not None:  # in float64, as Python floats
            margin = tf.cast(null_score, tf.float64) - tf.cast(best_score, tf.float64)
            no_answer |= margin > self.null_score_threshold
        start_char = tf.where(no_answer, -1, start_char)
        end_char = tf.where(no_answer, -1, end_char)
        answer = tf.strings.substr(context, tf.maximum(start_char, 0),
                                   tf.maximum(end_char - start_char, 0), unit="UTF8_CHAR")
        return {
            "answer": answer,
            "start_char": start_char,
            "end_char": end_char,
            "score": tf.where(no_answer, null_score, best_score),
        }


def build_qa_module(model, preprocessor, doc_stride=128, max_answer_length=30,
                    max_question_length=64, n_best_size=20, null_score_threshold=None,
                    length_group_size=DEFAULT_LENGTH_GROUP_SIZE):
    """A `tf.Module` and its raw-string signatures for a `SpanQuestionAnswerer`.

    Args:
        model: a trained `SpanQuestionAnswerer` (mixed precision is exported in float32).
        preprocessor: the `Preprocessor` (tokenizer, sequence length, family) of the model.
        doc_stride: tokens between the starts of two windows of a long context (as for
            `squad_features`; `recipes/finetune.py` evaluates with half the sequence length).
        max_answer_length: the longest answer, in tokens.
        max_question_length: questions are cut to this many tokens.
        n_best_size: starts and ends considered when pairing.
        null_score_threshold: SQuAD v2: answer "" when the [CLS] score beats the best span by
            more than this; None answers whenever a span exists.
        length_group_size: windows per model call, grouped by length (see
            `export_saved_model`).

    Returns:
        `(module, signatures)` for `tf.saved_model.save(module, path, signatures)`; see the
        module docstring.
    """
    from keras_bert_zoo.export.saved_model import float32_copy  # saved_model imports us

    room = preprocessor.sequence_length - max_question_length - 4
    if room < 1:
        raise ValueError(
            f"sequence_length={preprocessor.sequence_length} leaves no room for the context "
            f"after max_question_length={max_question_length} tokens; lower it below "
            f"{preprocessor.sequence_length - 4}"
        )
    if doc_stride < 1:
        raise ValueError(f"doc_stride={doc_stride} must be at least 1 token")
    module = _QuestionAnswererModule(float32_copy(model), preprocessor, int(doc_stride),
                                     max_answer_length, max_question_length, n_best_size,
                                     null_score_threshold,
                                     check_length_group_size(length_group_size))
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
