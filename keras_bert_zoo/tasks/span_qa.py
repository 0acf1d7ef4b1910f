"""Extractive question answering (SQuAD v1.1 / v2): start and end logits over the context.

Character offsets. Every context token carries the `[start, end)` character span it covers in
the *original* context (Python `str` indices), so an answer is always a slice of the text the
user gave, with its case, accents and punctuation. `tokenize_with_char_offsets` computes them
with TensorFlow ops, for all three tokenizers, in the same way eagerly (training and
evaluation) and inside exported graphs:

1. split the context on whitespace, keeping each word's character offset;
2. tokenize word by word (byte-level BPE sees " word" after the first word, as in running
   text; WordPiece and SentencePiece never build a token across whitespace, so the ids equal
   those of whole-text tokenization up to whitespace runs);
3. inside a word, measure every original character in "surface units" of its tokens (the
   characters it becomes after the tokenizer's normalization: lowercasing, accent stripping,
   NFKC; bytes for byte-level BPE) and every token by the length of its surface string
   (without "##" / "▁"). Cumulative sums then map token boundaries back to characters, exactly
   whenever the tokenizer normalizes character by character. Unknown tokens ([UNK]) share
   whatever the known tokens of their word leave; should the lengths still disagree (a
   normalization that merges characters), the word's last token absorbs the difference, so
   offsets stay inside the word and in order.

Windows. Contexts longer than one sequence are split like the original BERT `run_squad.py`:
`[CLS] question [SEP] context-window [SEP]` with windows starting every `doc_stride` tokens;
a token's prediction is only read from the window where it has the most context. Training
spans outside a window point at [CLS], as do SQuAD v2 impossible questions.

Decoding. The top `n_best_size` start and end positions among the context tokens are paired
(`start <= end`, at most `max_answer_length` tokens), scored `start_logit + end_logit`, and
ranked; SQuAD v2 predicts no answer when the [CLS] score beats the best span by more than
`null_score_threshold`. `squad_evaluate` follows the official evaluate-v2.0 script (which
equals evaluate-v1.1 on answerable questions).
"""

import collections
import dataclasses
import re
import string

import keras
import numpy as np
import tensorflow as tf
import tensorflow_text as tf_text
from keras import ops

from keras_bert_zoo.layers.embeddings import truncated_normal
from keras_bert_zoo.tasks.pretraining import _weighted_cross_entropy
from keras_bert_zoo.tasks.tagger import WHITESPACE, tokenize_words
from keras_bert_zoo.data.bucketing import packed_epoch_batches
from keras_bert_zoo.data.formats import SquadExample
from keras_bert_zoo.data.packing import trim_to_longest
from keras_bert_zoo.tasks.task import DEFAULT_BATCH_SIZE, Task, _as_list, _is_strings
from keras_bert_zoo.tokenizers.byte_pair_tokenizer import BytePairTokenizer
from keras_bert_zoo.tokenizers.preprocessor import _LAYOUTS
from keras_bert_zoo.tokenizers.sentence_piece_tokenizer import SentencePieceTokenizer

MASKED_LOGIT = -1e4  # added to positions outside the context: exp() underflows to 0


@keras.saving.register_keras_serializable(package="keras_bert_zoo")
class SpanQuestionAnswerer(Task):
    """A backbone plus a span head; returns float32 `start_logits` and `end_logits` [batch, seq].

    Inputs are `token_ids`, `segment_ids` and `padding_mask` for every family: `segment_ids`
    is 1 on the context (and its closing separator), 0 on the question. Logits outside the
    context are set to -1e4, except at position 0 ([CLS] / <s>), the SQuAD v2 "no answer".
    RoBERTa's backbone ignores `segment_ids`; the head uses them for that mask only.

    Train with `model.compile(optimizer)` and targets `{"start_positions", "end_positions"}`
    (int, [batch]); the loss is the mean of the start and end cross-entropies (original BERT).

    With a `preprocessor`, `fit` and `evaluate` also take `(questions, contexts)` (two lists of
    strings) and the answers: each an answer text found in its context (its first occurrence),
    a `(text, answer_start)` pair, or "" for no answer (SQuAD v2). Contexts are split into
    windows every `doc_stride` tokens (`squad_features`, default: half the sequence length);
    batches are padded to their longest window and, in a shuffled `fit`, grouped by length.
    `predict((questions, contexts))` returns the answer texts, `answer(questions, contexts)`
    the decoded `Answer`s (offsets, scores, n-best).

    Args:
        backbone: a `BertBackbone`, `AlbertBackbone` or `RobertaBackbone`.
        dropout: dropout before the span projection.

    Example:
    >>> from keras_bert_zoo.models import BertBackbone
    >>> backbone = BertBackbone(vocabulary_size=50, num_layers=1, num_heads=2, hidden_dim=8,
    ...                         intermediate_dim=16)
    >>> ones = keras.ops.ones((2, 6), "int32")
    >>> out = SpanQuestionAnswerer(backbone)(
    ...     {"token_ids": ones, "segment_ids": ones, "padding_mask": ones})
    >>> tuple(out["start_logits"].shape), tuple(out["end_logits"].shape)
    ((2, 6), (2, 6))
    """

    def __init__(self, backbone, dropout=0.1, **kwargs):
        if "sequence_output" not in backbone.output:
            raise ValueError(f"{type(backbone).__name__} is not an encoder backbone")
        # === Layers ===
        self.backbone = backbone
        self.head_dropout = keras.layers.Dropout(
            dropout, dtype=backbone.dtype_policy, name="head_dropout"
        )
        self.span_dense = keras.layers.Dense(
            2, kernel_initializer=truncated_normal(), dtype="float32", name="span_logits"
        )

        # === Wiring ===
        inputs = dict(backbone.input)
        if "segment_ids" not in inputs:  # RoBERTa: the context mask only
            inputs["segment_ids"] = keras.Input(shape=(None,), dtype="int32", name="segment_ids")
        features = backbone({name: inputs[name] for name in backbone.input})
        logits = self.span_dense(self.head_dropout(features["sequence_output"]))  # (b, s, 2)
        first = ops.equal(ops.cumsum(ops.ones_like(inputs["padding_mask"]), axis=1), 1)
        allowed = ops.logical_or(
            ops.logical_and(ops.equal(inputs["segment_ids"], 1),
                            ops.equal(inputs["padding_mask"], 1)),
            first,
        )
        outputs = {
            "start_logits": ops.where(allowed, logits[:, :, 0], MASKED_LOGIT),
            "end_logits": ops.where(allowed, logits[:, :, 1], MASKED_LOGIT),
        }
        super().__init__(inputs=inputs, outputs=outputs,
                         backbone_dtype=backbone.dtype_policy, **kwargs)

        # === Config ===
        self.dropout = dropout
        # === Metrics ===
        self.start_accuracy = keras.metrics.SparseCategoricalAccuracy(name="start_accuracy")
        self.end_accuracy = keras.metrics.SparseCategoricalAccuracy(name="end_accuracy")

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        if sample_weight is None:
            sample_weight = ops.ones_like(y["start_positions"], "float32")
        start = _weighted_cross_entropy(y["start_positions"], y_pred["start_logits"],
                                        sample_weight)
        end = _weighted_cross_entropy(y["end_positions"], y_pred["end_logits"], sample_weight)
        return (start + end) / 2.0

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        self.start_accuracy.update_state(y["start_positions"], y_pred["start_logits"])
        self.end_accuracy.update_state(y["end_positions"], y_pred["end_logits"])
        return self.get_metrics_result()

    # Strings in -----------------------------------------------------------------------------
    @staticmethod
    def _pairs(x):
        if isinstance(x, tuple) and len(x) == 2 and _is_strings(x[0]) and _is_strings(x[1]):
            questions, contexts = (list(map(_text, _as_list(t))) for t in x)
            if len(questions) != len(contexts):
                raise ValueError(f"got {len(questions)} questions but {len(contexts)} "
                                 "contexts; pass (questions, contexts) of the same length")
            return questions, contexts
        return None

    def _examples(self, questions, contexts, answers=None):
        examples = []
        for i, (question, context) in enumerate(zip(questions, contexts)):
            spans = []
            if answers is not None:
                answer = answers[i]
                text, start = ((_text(answer[0]), int(answer[1]))
                               if isinstance(answer, (tuple, list)) else (_text(answer), None))
                if text:
                    start = context.find(text) if start is None else start
                    if start < 0 or context[start:start + len(text)] != text:
                        raise ValueError(f"answer {i} ({text!r}) is not in its context; give "
                                         "the answer's text as it appears, or (text, start)")
                    spans = [(text, start)]
            examples.append(SquadExample(str(i), question, context, spans,
                                         is_impossible=answers is not None and not spans))
        return examples

    def _features(self, examples, training):
        self._require_preprocessor()
        return squad_features(examples, self.preprocessor, doc_stride=self.doc_stride,
                              training=training)

    @property
    def doc_stride(self):
        """Tokens between two windows of a long context: half the preprocessor's length."""
        return max(1, self.preprocessor.sequence_length // 2)

    def _convert(self, x, y=None, sample_weight=None, *, batch_size=None, shuffle=False,
                 with_labels=True):
        pairs = None if isinstance(x, tf.data.Dataset) else self._pairs(x)
        if pairs is None:
            return super()._convert(x, y, sample_weight, batch_size=batch_size,
                                    shuffle=shuffle, with_labels=with_labels)
        if y is None:
            raise ValueError("fit and evaluate on (questions, contexts) need the answers: "
                             "fit((questions, contexts), answers)")
        if len(y) != len(pairs[0]):
            raise ValueError(f"got {len(pairs[0])} questions but {len(y)} answers")
        features = self._features(self._examples(*pairs, list(y)), training=True)
        ds = packed_epoch_batches(
            tf.data.Dataset.from_tensor_slices((features.inputs, features.labels)),
            self.preprocessor, batch_size=batch_size or DEFAULT_BATCH_SIZE, shuffle=shuffle)
        return ds, None, None, None

    def answer(self, questions, contexts, *, batch_size=None, **options):
        """Decoded `Answer`s for raw questions and contexts (every window of a long context
        searched); `options` as for `decode_answers` (`n_best_size`, `max_answer_length`,
        `null_score_threshold`)."""
        examples = self._examples(list(map(_text, _as_list(questions))),
                                  list(map(_text, _as_list(contexts))))
        features = self._features(examples, training=False)
        length = self.preprocessor.sequence_length
        starts, ends = [], []
        size = batch_size or DEFAULT_BATCH_SIZE
        for i in range(0, len(features.example_index), size):
            inputs = {k: v[i:i + size] for k, v in features.inputs.items()}
            if self.preprocessor.padding == "longest":
                inputs = trim_to_longest(inputs, self.preprocessor.pad_to_multiple_of)
            out = self.predict_on_batch(inputs)
            for logits, into in ((out["start_logits"], starts), (out["end_logits"], ends)):
                logits = np.asarray(logits)
                into.append(np.pad(logits, [(0, 0), (0, length - logits.shape[1])],
                                   constant_values=MASKED_LOGIT))
        if not starts:
            return []
        return decode_answers(features, np.concatenate(starts), np.concatenate(ends), examples,
                              **options)

    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None):
        """`keras.Model.predict`; for `(questions, contexts)` the answer texts (an object
        array, "" for no answer)."""
        pairs = None if isinstance(x, tf.data.Dataset) else self._pairs(x)
        if pairs is None:
            return super().predict(x, batch_size=batch_size, verbose=verbose, steps=steps,
                                   callbacks=callbacks)
        return np.array([a.text for a in self.answer(*pairs, batch_size=batch_size)], object)

    def get_config(self):
        return {**self._base_config(), "dropout": self.dropout}


def _text(value):
    return value.decode() if isinstance(value, bytes) else str(value)


# Character offsets (TensorFlow ops) --------------------------------------------------------
def _surface_lengths(tokenizer):
    """Length of every token's surface string in units; -1 for special and unknown tokens."""
    vocabulary = tokenizer.get_vocabulary()
    if isinstance(tokenizer, BytePairTokenizer):  # one character per byte
        lengths = [len(token) for token in vocabulary]
    elif isinstance(tokenizer, SentencePieceTokenizer):
        lengths = [len(token.lstrip("\u2581")) for token in vocabulary]
        for i in tokenizer._not_words:
            lengths[i] = -1
    else:
        lengths = [len(t) - 2 if t.startswith("##") and len(t) > 2 else len(t)
                   for t in vocabulary]
    for i in tokenizer.all_special_ids:
        lengths[i] = -1
    return tf.constant(lengths, tf.int32)


def _character_units(tokenizer, chars):
    """Surface units each original character becomes: 1-D strings of one character each."""
    if isinstance(tokenizer, BytePairTokenizer):
        return tf.strings.length(chars, unit="BYTE")
    normalized = tokenizer.normalize(chars)
    if isinstance(tokenizer, SentencePieceTokenizer):  # SentencePiece's own nmt_nfkc rule
        normalized = tf_text.normalize_utf8(normalized, "NFKC")
    return tf.strings.length(normalized, unit="UTF8_CHAR")


def _segment_cumsum(values, row_splits):
    """Inclusive cumulative sum of `values` restarting at every row of `row_splits`."""
    total = tf.concat([[0], tf.cumsum(values)], axis=0)
    rows = tf.ragged.row_splits_to_segment_ids(row_splits)
    return total[1:] - tf.gather(total, tf.gather(row_splits, rows))


def tokenize_with_char_offsets(tokenizer, texts):
    """Token ids and their `[start, end)` character offsets in the original texts.

    Args:
        tokenizer: a `WordPieceTokenizer`, `SentencePieceTokenizer` or `BytePairTokenizer`.
        texts: a 1-D `tf.string` batch (invalid UTF-8 is replaced by U+FFFD first).

    Returns:
        `(token_ids, starts, ends)`, int32 RaggedTensors (batch, tokens); offsets index
        Python strings (code points).

    Example:
    >>> from keras_bert_zoo.tokenizers import WordPieceTokenizer
    >>> vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "zu", "##rich", "."]
    >>> ids, starts, ends = tokenize_with_char_offsets(WordPieceTokenizer(vocab), ["Zürich."])
    >>> ids.to_list(), starts.to_list(), ends.to_list()
    ([[5, 6, 7]], [[0, 2, 6]], [[2, 6, 7]])
    """
    texts = tf.strings.unicode_transcode(
        tf.convert_to_tensor(texts, tf.string), "UTF-8", "UTF-8", errors="replace",
        replacement_char=0xFFFD,
    )
    words, byte_starts, _ = tf_text.regex_split_with_offsets(texts, WHITESPACE + "+")
    byte_starts = byte_starts.flat_values
    before = tf.strings.substr(tf.gather(texts, words.value_rowids()),
                               tf.zeros_like(byte_starts), byte_starts)
    word_start = tf.cast(tf.strings.length(before, unit="UTF8_CHAR"), tf.int32)

    pieces = tokenize_words(tokenizer, words)  # (batch, words, pieces)
    word_pieces = pieces.values  # (words, pieces)
    chars = tf.strings.unicode_split(words.flat_values, "UTF-8")  # (words, chars)
    units = tf.cast(_character_units(tokenizer, chars.flat_values), tf.int32)
    # Byte-level BPE words after the first start with a space the text had before them.
    prefix = tf.zeros_like(word_start)
    if isinstance(tokenizer, BytePairTokenizer):
        position = tf.ragged.range(words.row_lengths()).flat_values
        prefix = tf.cast(position > 0, tf.int32)
    char_splits = tf.cast(chars.row_splits, tf.int32)
    word_units = prefix + tf.reduce_sum(chars.with_flat_values(units), axis=1)
    num_chars = tf.cast(chars.row_lengths(), tf.int32)

    # Token surface lengths; unknown tokens share what the known ones leave.
    lengths = tf.gather(_surface_lengths(tokenizer), word_pieces.flat_values)
    piece_rows = tf.cast(word_pieces.value_rowids(), tf.int32)  # word of every token
    per_word = word_pieces.with_flat_values(lengths)
    known = tf.reduce_sum(tf.maximum(per_word, 0), axis=1)
    unknown = tf.reduce_sum(tf.cast(per_word < 0, tf.int32), axis=1)
    share = tf.maximum(word_units - known, 0) // tf.maximum(unknown, 1)
    lengths = tf.where(lengths < 0, tf.gather(share, piece_rows), lengths)
    piece_splits = tf.cast(word_pieces.row_splits, tf.int32)
    ends = _segment_cumsum(lengths, piece_splits)
    is_last = tf.range(tf.size(ends)) + 1 == tf.gather(piece_splits[1:], piece_rows)
    word_total = tf.gather(word_units, piece_rows)
    ends = tf.where(is_last, word_total, tf.minimum(ends, word_total))
    is_first = tf.range(tf.size(ends)) == tf.gather(piece_splits[:-1], piece_rows)
    starts = tf.where(is_first, 0, tf.concat([[0], ends[:-1]], axis=0))

    # Units -> characters: the number of characters of the word that end at or before a
    # boundary. Global cumulative units make this one `searchsorted` for the whole batch.
    char_ends = tf.cumsum(units)
    char_base = tf.concat([[0], char_ends], axis=0)
    word_base = tf.gather(char_base, char_splits[:-1])  # units before each word
    word_first_char = char_splits[:-1]

    def to_chars(boundary):
        local = tf.maximum(boundary - tf.gather(prefix, piece_rows), 0)
        target = tf.gather(word_base, piece_rows) + local
        count = tf.searchsorted(char_ends, target, side="right", out_type=tf.int32)
        count = count - tf.gather(word_first_char, piece_rows)
        return tf.clip_by_value(count, 0, tf.gather(num_chars, piece_rows))

    offset = tf.gather(word_start, piece_rows)
    start_chars = offset + to_chars(starts)
    end_chars = offset + tf.maximum(to_chars(ends), to_chars(starts))
    tokens = pieces.merge_dims(1, 2)
    return (tf.cast(tokens, tf.int32), tokens.with_flat_values(start_chars),
            tokens.with_flat_values(end_chars))


# SQuAD features (numpy) -----------------------------------------------------------------
@dataclasses.dataclass
class SquadFeatures:
    """Windows of (question, context) pairs, ready for the model and for decoding.

    Attributes:
        inputs: dict of int32 arrays (windows, sequence_length): `token_ids`, `segment_ids`,
            `padding_mask`.
        labels: for training, `start_positions` and `end_positions` (int32 (windows,)),
            0 ([CLS]) when the answer is not inside the window or there is none; else None.
        token_starts, token_ends: int32 (windows, sequence_length) character offsets of the
            context tokens in the original context, -1 elsewhere.
        max_context: bool (windows, sequence_length), True where this window gives the token
            its most context (the only window its start is read from).
        example_index: int32 (windows,), the example each window comes from.
        window_index: int32 (windows,), the rank of the window within its example.
    """

    inputs: dict
    labels: dict
    token_starts: np.ndarray
    token_ends: np.ndarray
    max_context: np.ndarray
    example_index: np.ndarray
    window_index: np.ndarray


def _windows(num_tokens, max_tokens, doc_stride):
    """(start, length) of the windows of original BERT `run_squad.py`; one for no tokens."""
    spans, start = [], 0
    while True:
        length = min(num_tokens - start, max_tokens)
        spans.append((start, length))
        if start + length >= num_tokens:
            return spans
        start += min(length, doc_stride)


def _max_context(spans, index, position):
    """Original BERT `_check_is_max_context`: the window where `position` is most central."""
    best, best_index = None, None
    for i, (start, length) in enumerate(spans):
        end = start + length - 1
        if position < start or position > end:
            continue
        score = min(position - start, end - position) + 0.01 * length
        if best is None or score > best:
            best, best_index = score, i
    return best_index == index


def question_prefix(question_ids, special_ids, layout):
    """`[CLS] question [SEP]` (RoBERTa: `<s> question </s></s>`) as a list of ids."""
    front = [special_ids["cls"]] + list(question_ids) + [special_ids["sep"]]
    return front + [special_ids["sep"]] if layout == "roberta" else front


def squad_features(examples, preprocessor, *, doc_stride=128, max_question_length=64,
                   training=False):
    """SQuAD examples -> windows of packed model inputs with character offsets.

    Args:
        examples: `SquadExample`s (from `keras_bert_zoo.data.formats.read_squad`) or any
            objects with `question`, `context` and, for training, `answers` (list of
            `(text, answer_start)`) and `is_impossible`.
        preprocessor: the `Preprocessor` (tokenizer, sequence length, family) of the model.
        doc_stride: tokens between the starts of two windows of a long context.
        max_question_length: questions are cut to this many tokens.
        training: also compute `labels` from each example's first answer.

    Returns:
        A `SquadFeatures`.
    """
    tokenizer, length = preprocessor.tokenizer, preprocessor.sequence_length
    layout = _LAYOUTS[preprocessor.family]
    special = tokenizer.special_token_ids
    contexts = list(dict.fromkeys(e.context for e in examples))
    context_index = {c: i for i, c in enumerate(contexts)}
    if contexts:
        ids, starts, ends = (t.to_list() for t in tokenize_with_char_offsets(
            tokenizer, tf.constant(contexts, tf.string)))
        questions = tokenizer.tokenize(
            tf.constant([e.question for e in examples], tf.string)).to_list()
    rows = collections.defaultdict(list)
    for n, example in enumerate(examples):
        c = context_index[example.context]
        front = question_prefix(questions[n][:max_question_length], special, layout)
        max_tokens = length - len(front) - 1
        if max_tokens <= 0:
            raise ValueError(
                f"sequence_length={length} leaves no room for the context after a "
                f"{len(front) - 2}-token question; raise the sequence length or lower "
                f"max_question_length={max_question_length}"
            )
        answer = None  # first and last context tokens of the answer
        if training and not getattr(example, "is_impossible", False) and example.answers:
            text, answer_start = example.answers[0]
            begins = [i for i, end in enumerate(ends[c]) if end > answer_start]
            finishes = [i for i, st in enumerate(starts[c]) if st < answer_start + len(text)]
            if begins and finishes and begins[0] <= finishes[-1]:
                answer = (begins[0], finishes[-1])
        spans = _windows(len(ids[c]), max_tokens, doc_stride)
        for w, (start, count) in enumerate(spans):
            token_ids = np.full(length, special["pad"], "int32")
            sequence = front + ids[c][start:start + count] + [special["sep"]]
            token_ids[:len(sequence)] = sequence
            segment_ids = np.zeros(length, "int32")
            segment_ids[len(front):len(sequence)] = 1
            token_starts = np.full(length, -1, "int32")
            token_ends = np.full(length, -1, "int32")
            token_starts[len(front):len(front) + count] = starts[c][start:start + count]
            token_ends[len(front):len(front) + count] = ends[c][start:start + count]
            max_context = np.zeros(length, bool)
            for j in range(count):
                max_context[len(front) + j] = _max_context(spans, w, start + j)
            rows["token_ids"].append(token_ids)
            rows["segment_ids"].append(segment_ids)
            rows["padding_mask"].append((np.arange(length) < len(sequence)).astype("int32"))
            rows["token_starts"].append(token_starts)
            rows["token_ends"].append(token_ends)
            rows["max_context"].append(max_context)
            rows["example_index"].append(n)
            rows["window_index"].append(w)
            if training:
                first = last = 0
                if answer is not None and start <= answer[0] and answer[1] < start + count:
                    first, last = (len(front) + i - start for i in answer)
                rows["start_positions"].append(first)
                rows["end_positions"].append(last)

    def stack(name, dtype, shape=(length,)):
        return np.array(rows[name], dtype).reshape((-1,) + shape)

    labels = None
    if training:
        labels = {"start_positions": stack("start_positions", "int32", ()),
                  "end_positions": stack("end_positions", "int32", ())}
    return SquadFeatures(
        inputs={k: stack(k, "int32") for k in ("token_ids", "segment_ids", "padding_mask")},
        labels=labels,
        token_starts=stack("token_starts", "int32"),
        token_ends=stack("token_ends", "int32"),
        max_context=stack("max_context", bool),
        example_index=stack("example_index", "int32", ()),
        window_index=stack("window_index", "int32", ()),
    )


# Decoding -------------------------------------------------------------------------------
@dataclasses.dataclass
class Answer:
    """A decoded answer: `text == context[start_char:end_char]`; "" and -1 for no answer.

    `score` is `start_logit + end_logit` of the span (the null score for no answer);
    `n_best` lists `(text, start_char, end_char, score, probability)` best first, distinct
    texts, probabilities a softmax over the listed scores.
    """

    text: str
    start_char: int
    end_char: int
    score: float
    null_score: float
    n_best: list


def best_spans(start_logits, end_logits, valid_start, valid_end, *, n_best_size=20,
               max_answer_length=30):
    """Candidate spans of one window, best first: list of `(score, start, end)` positions.

    The `n_best_size` best valid starts and ends are paired when `start <= end` and the span
    has at most `max_answer_length` tokens; ties keep the lower position first.
    """
    start_logits = np.asarray(start_logits, "float32")
    end_logits = np.asarray(end_logits, "float32")
    starts = [i for i in np.argsort(-start_logits, kind="stable") if valid_start[i]]
    ends = [i for i in np.argsort(-end_logits, kind="stable") if valid_end[i]]
    candidates = []
    for s in starts[:n_best_size]:
        for e in ends[:n_best_size]:
            if s <= e < s + max_answer_length:
                candidates.append((float(start_logits[s] + end_logits[e]), int(s), int(e)))
    candidates.sort(key=lambda c: -c[0])  # stable: start rank, then end rank on ties
    return candidates


def decode_answers(features, start_logits, end_logits, examples, *, n_best_size=20,
                   max_answer_length=30, null_score_threshold=None):
    """Model outputs over `squad_features` windows -> one `Answer` per example.

    Args:
        features: the `SquadFeatures` the logits were computed on.
        start_logits, end_logits: float arrays (windows, sequence_length).
        examples: the examples (for their contexts), in the order given to `squad_features`.
        n_best_size: starts and ends considered per window, and answers kept in `n_best`.
        max_answer_length: the longest answer, in tokens.
        null_score_threshold: SQuAD v2: answer "" when the [CLS] score (lowest over the
            windows) exceeds the best span's score by more than this; None (v1.1): always
            answer when a span exists.

    Returns:
        A list of `Answer`, one per example.
    """
    start_logits = np.asarray(start_logits, "float32")
    end_logits = np.asarray(end_logits, "float32")
    by_example = collections.defaultdict(list)
    for w, n in enumerate(features.example_index):
        by_example[int(n)].append(w)
    answers = []
    for n, example in enumerate(examples):
        candidates, null_score = [], None
        for w in by_example[n]:
            null = float(start_logits[w, 0] + end_logits[w, 0])
            null_score = null if null_score is None else min(null_score, null)
            inside = features.token_starts[w] >= 0
            for score, s, e in best_spans(
                    start_logits[w], end_logits[w], inside & features.max_context[w], inside,
                    n_best_size=n_best_size, max_answer_length=max_answer_length):
                candidates.append((score, int(features.token_starts[w, s]),
                                   int(features.token_ends[w, e])))
        candidates.sort(key=lambda c: -c[0])
        n_best, seen = [], set()
        for score, a, b in candidates:
            text = example.context[a:b]
            if text not in seen:
                seen.add(text)
                n_best.append((text, a, b, score))
            if len(n_best) == n_best_size:
                break
        if n_best:
            scores = np.array([c[3] for c in n_best], "float64")
            probabilities = np.exp(scores - scores.max())
            probabilities /= probabilities.sum()
            n_best = [c + (float(p),) for c, p in zip(n_best, probabilities)]
        null_score = 0.0 if null_score is None else null_score
        no_answer = not n_best or (null_score_threshold is not None
                                   and null_score - n_best[0][3] > null_score_threshold)
        if no_answer:
            answers.append(Answer("", -1, -1, null_score, null_score, n_best))
        else:
            text, a, b, score, _ = n_best[0]
            answers.append(Answer(text, a, b, score, null_score, n_best))
    return answers


# Official SQuAD metrics -----------------------------------------------------------------
_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_PUNCTUATION_SET = set(string.punctuation)


def normalize_answer(text):
    """Lowercase, drop punctuation, articles and extra whitespace (official SQuAD scripts).

    Example:
    >>> normalize_answer("The  Eiffel-Tower, in PARIS!")
    'eiffeltower in paris'
    """
    text = text.lower()
    text = "".join(ch for ch in text if ch not in _PUNCTUATION_SET)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def exact_match_score(prediction, ground_truth):
    """1 if the normalized strings are equal, else 0."""
    return int(normalize_answer(prediction) == normalize_answer(ground_truth))


def f1_score(prediction, ground_truth):
    """Bag-of-tokens F1 of the normalized strings; empty vs empty is 1 (evaluate-v2.0).

    Example:
    >>> round(f1_score("the big red dog", "a red dog barked loudly"), 4)
    0.5714
    """
    prediction_tokens = normalize_answer(prediction).split()
    truth_tokens = normalize_answer(ground_truth).split()
    if not prediction_tokens or not truth_tokens:
        return float(prediction_tokens == truth_tokens)
    common = collections.Counter(prediction_tokens) & collections.Counter(truth_tokens)
    num_same = sum(common.values())
    if num_same == 0:
        return 0.0
    precision = num_same / len(prediction_tokens)
    recall = num_same / len(truth_tokens)
    return 2 * precision * recall / (precision + recall)


def squad_evaluate(examples, predictions):
    """Official SQuAD EM and F1 (in percent), as the evaluate-v2.0 script computes them.

    Gold answers that normalize to "" are ignored; a question without gold answers
    (unanswerable) expects "". On SQuAD v1.1 data this equals evaluate-v1.1.

    Args:
        examples: `SquadExample`s (`id`, `answers` as `(text, answer_start)`).
        predictions: dict `id -> predicted text`.

    Returns:
        A dict with `exact_match`, `f1`, `total`, and, when both kinds occur,
        `has_answer_exact_match`/`has_answer_f1`/`no_answer_exact_match`/`no_answer_f1`.
    """
    missing = [e.id for e in examples if e.id not in predictions]
    if missing:
        raise ValueError(f"{len(missing)} questions have no prediction, e.g. {missing[:3]}")
    exact, f1, has_answer = [], [], []
    for example in examples:
        golds = [text for text, _ in example.answers if normalize_answer(text)] or [""]
        prediction = predictions[example.id]
        exact.append(max(exact_match_score(prediction, g) for g in golds))
        f1.append(max(f1_score(prediction, g) for g in golds))
        has_answer.append(golds != [""])
    exact, f1, has_answer = (np.array(x, "float64") for x in (exact, f1, has_answer))
    total = len(examples)
    result = {"exact_match": 100.0 * exact.mean() if total else 0.0,
              "f1": 100.0 * f1.mean() if total else 0.0, "total": total}
    has_answer = has_answer.astype(bool)
    if has_answer.any() and not has_answer.all():
        for name, rows in (("has_answer", has_answer), ("no_answer", ~has_answer)):
            result[f"{name}_exact_match"] = 100.0 * exact[rows].mean()
            result[f"{name}_f1"] = 100.0 * f1[rows].mean()
    return result
