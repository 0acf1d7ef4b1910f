"""Token classification (POS, NER): one tag per word, predicted at the word's first sub-word.

Words are tokenized one by one with the model's own tokenizer, so the alignment is the same
for WordPiece, SentencePiece and byte-level BPE (which sees " word" for every word but the
first, as in running text). The first sub-word of a word carries the word's label; the other
sub-words, [CLS], [SEP] and padding get label 0 and weight 0, and the loss is the weighted mean
(`TokenTagger.compute_loss`). Decoding reads the prediction at each word's first sub-word.

The preprocessing runs as TensorFlow ops (eagerly for training data, in-graph in exports), so
the words -> token layout is one piece of code for both.
"""

import keras
import numpy as np
import tensorflow as tf
import tensorflow_text as tf_text
from keras import ops

from keras_bert_zoo.data.bucketing import packed_epoch_batches
from keras_bert_zoo.layers.embeddings import truncated_normal
from keras_bert_zoo.tasks.pretraining import _weighted_cross_entropy
from keras_bert_zoo.tasks.task import DEFAULT_BATCH_SIZE, Task, _as_list, _is_strings
from keras_bert_zoo.tokenizers.byte_pair_tokenizer import BytePairTokenizer
from keras_bert_zoo.tokenizers.preprocessor import _LAYOUTS, pack_inputs
from keras_bert_zoo.tokenizers.word_piece_tokenizer import _PUNCTUATION

NO_WORD = -1  # word id of [CLS], [SEP] and padding
# Unicode White_Space that separates words (what BERT's basic tokenizer splits on, and more).
WHITESPACE = r"[\t\n\x0B\f\r\x{85}\p{Z}]"


@keras.saving.register_keras_serializable(package="keras_bert_zoo")
class TokenTagger(Task):
    """A backbone plus a per-token classifier; returns float32 `logits` `[batch, seq, num_tags]`.

    Train on the outputs of `align_labels`: `model.fit(inputs, labels, sample_weight=weights)`
    after `model.compile(optimizer)`; the loss is the cross-entropy averaged over the tokens of
    weight 1 (each word's first sub-word) and the metric `token_accuracy` counts those tokens.

    With a `preprocessor` (its tokenizer and `sequence_length`), `fit` and `evaluate` also take
    words and their tags: `fit(words, tags)`, `words` a list of sentences (each a list of word
    strings, or a raw text split like `split_text_into_words`), `tags` matching lists of tag
    names (from `tag_names`) or ids; the alignment is `align_labels`'. Batches are padded to
    their longest sentence and, in `fit` with `shuffle=True`, grouped by length
    (`keras_bert_zoo.data.bucketing`). `predict(words)` returns the per-token logits
    `[n, sequence_length, num_tags]` (zeros past each batch's length) and `predict_tags(words)`
    one tag per word. `TokenTagger.from_preset(handle, tag_names=[...])` puts a new head on
    any backbone handle (`Task.from_preset`).

    Args:
        backbone: a `BertBackbone`, `AlbertBackbone` or `RobertaBackbone`.
        num_tags: number of tags.
        tag_names: optional tag strings (e.g. BIO tags), kept in the config for exports.
        dropout: dropout before the output projection.

    Example:
    >>> from keras_bert_zoo.models import BertBackbone
    >>> backbone = BertBackbone(vocabulary_size=50, num_layers=1, num_heads=2, hidden_dim=8,
    ...                         intermediate_dim=16)
    >>> ones = keras.ops.ones((2, 6), "int32")
    >>> model = TokenTagger(backbone, num_tags=3)
    >>> tuple(model({"token_ids": ones, "segment_ids": 0 * ones, "padding_mask": ones}).shape)
    (2, 6, 3)
    """

    def __init__(self, backbone, num_tags, tag_names=None, dropout=0.1, **kwargs):
        if tag_names is not None and len(tag_names) != num_tags:
            raise ValueError(f"tag_names has {len(tag_names)} names but num_tags={num_tags}")
        if "sequence_output" not in backbone.output:
            raise ValueError(f"{type(backbone).__name__} is not an encoder backbone")
        # === Layers ===
        self.backbone = backbone
        self.head_dropout = keras.layers.Dropout(
            dropout, dtype=backbone.dtype_policy, name="head_dropout"
        )
        self.output_dense = keras.layers.Dense(
            num_tags, kernel_initializer=truncated_normal(), dtype="float32", name="logits"
        )

        # === Wiring ===
        inputs = dict(backbone.input)
        features = backbone(inputs)
        logits = self.output_dense(self.head_dropout(features["sequence_output"]))
        super().__init__(inputs=inputs, outputs=logits,
                         backbone_dtype=backbone.dtype_policy, **kwargs)

        # === Config ===
        self.num_tags = num_tags
        self.tag_names = list(tag_names) if tag_names is not None else None
        self.dropout = dropout
        # === Metrics ===
        self.token_accuracy = keras.metrics.SparseCategoricalAccuracy(name="token_accuracy")

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        if sample_weight is None:
            sample_weight = ops.ones_like(y, "float32")
        return _weighted_cross_entropy(y, y_pred, sample_weight)

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        self.token_accuracy.update_state(y, y_pred, sample_weight=sample_weight)
        return self.get_metrics_result()

    @classmethod
    def _preset_arguments(cls, kwargs):
        """`num_tags` is required, unless `tag_names` give it."""
        kwargs = dict(kwargs)
        if kwargs.get("num_tags") is None:
            if not kwargs.get("tag_names"):
                raise ValueError("TokenTagger.from_preset needs tag_names= (or num_tags=)")
            kwargs["num_tags"] = len(kwargs["tag_names"])
        return kwargs

    def _is_preset_head(self, kwargs):
        kwargs = dict(kwargs)
        tag_names = kwargs.pop("tag_names", None)
        num_tags = kwargs.pop("num_tags", None)
        return (num_tags in (None, self.num_tags) and not kwargs
                and (tag_names is None or list(tag_names) == self.tag_names))

    # Words in -------------------------------------------------------------------------------
    def _words(self, x):
        """Sentences as lists of words, or None when `x` is not words or texts."""
        if isinstance(x, tf.RaggedTensor) and x.dtype == tf.string:
            return [[w.decode() for w in row] for row in x.to_list()]
        if _is_strings(x):
            texts = _as_list(x)
            return [[w.decode() for w in row]
                    for row in split_text_into_words(tf.constant(texts, tf.string,
                                                                 shape=[len(texts)])).to_list()]
        if isinstance(x, (list, tuple)) and x and all(
                isinstance(row, (list, tuple)) for row in x) and any(row for row in x) and all(
                isinstance(w, (str, bytes)) for row in x for w in row):
            return [[w.decode() if isinstance(w, bytes) else w for w in row] for row in x]
        return None

    def _words_dataset(self, words, tags=None, sample_weight=None, *, batch_size=None,
                       shuffle=False):
        """Sentences (and tags) -> batches `(inputs[, labels, weights])`, each cut to its
        longest sentence when the preprocessor pads to the longest."""
        self._require_preprocessor()
        preprocessor = self.preprocessor
        batch_size = batch_size or DEFAULT_BATCH_SIZE
        names = {k for k in self.input}
        if tags is None:
            inputs, _ = encode_words(words, preprocessor.tokenizer,
                                     preprocessor.sequence_length)
            elements = ({k: v for k, v in inputs.items() if k in names},)
        else:
            tags = [list(_as_list(row)) for row in tags]
            by_name = any(isinstance(t, (str, bytes)) for row in tags for t in row)
            if by_name and self.tag_names is None:
                raise ValueError("got tag names but this TokenTagger has no tag_names; pass "
                                 "tag_names= to it, or give tag ids")
            tags = [[t.decode() if isinstance(t, bytes) else t for t in row] for row in tags]
            inputs, labels, weights = align_labels(
                words, tags, preprocessor.tokenizer, preprocessor.sequence_length,
                tag_names=self.tag_names if by_name else None)
            if sample_weight is not None:
                weights = weights * np.asarray(sample_weight, "float32").reshape(-1, 1)
            elements = ({k: v for k, v in inputs.items() if k in names}, labels, weights)
        return packed_epoch_batches(tf.data.Dataset.from_tensor_slices(elements),
                                    preprocessor, batch_size=batch_size, shuffle=shuffle,
                                    per_token_rest=True)

    def _convert(self, x, y=None, sample_weight=None, *, batch_size=None, shuffle=False,
                 with_labels=True):
        words = None if isinstance(x, tf.data.Dataset) else self._words(x)
        if words is None:
            return super()._convert(x, y, sample_weight, batch_size=batch_size,
                                    shuffle=shuffle, with_labels=with_labels)
        if with_labels and y is None:
            raise ValueError("fit and evaluate on words need their tags: fit(words, tags)")
        ds = self._words_dataset(words, y if with_labels else None,
                                 sample_weight if with_labels else None,
                                 batch_size=batch_size, shuffle=shuffle)
        return ds, None, None, None

    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None):
        """`keras.Model.predict`; for words or texts (class docstring) the per-token logits
        `[n, sequence_length, num_tags]`, zero past the length each batch was cut to."""
        words = None if isinstance(x, tf.data.Dataset) else self._words(x)
        if words is None:
            return super().predict(x, batch_size=batch_size, verbose=verbose, steps=steps,
                                   callbacks=callbacks)
        length = self.preprocessor.sequence_length if self.preprocessor is not None else 0
        outputs = []
        for inputs in self._words_dataset(words, batch_size=batch_size):
            logits = np.asarray(self.predict_on_batch(inputs))
            outputs.append(np.pad(logits, [(0, 0), (0, length - logits.shape[1]), (0, 0)]))
        if not outputs:
            return np.zeros((0, length, self.num_tags), "float32")
        return np.concatenate(outputs)

    def predict_tags(self, x, batch_size=None, default=""):
        """One tag per word (names from `tag_names`, else ids) for sentences given as lists
        of words or as raw texts; words cut off by `sequence_length` get `default`."""
        words = self._words(x)
        if words is None:
            raise ValueError("predict_tags takes sentences as lists of words, or raw texts")
        logits = self.predict(words, batch_size=batch_size)
        _, word_ids = encode_words(words, self.preprocessor.tokenizer,
                                   self.preprocessor.sequence_length)
        return decode_word_tags(logits, word_ids, [len(w) for w in words], self.tag_names,
                                default=default)

    def get_config(self):
        return {
            **self._base_config(),
            "num_tags": self.num_tags,
            "tag_names": self.tag_names,
            "dropout": self.dropout,
        }


# Words -> tokens (TensorFlow ops) ---------------------------------------------------------
def split_text_into_words(texts):
    """Splits raw texts into words: on whitespace and around punctuation (BERT's rule), in-graph.

    Args:
        texts: a 1-D `tf.string` batch.

    Returns:
        A `tf.string` RaggedTensor (batch, words).

    Example:
    >>> split_text_into_words(["Johanson lives in Zürich."]).to_list()[0][-2:]
    [b'Z\\xc3\\xbcrich', b'.']
    """
    texts = tf.strings.unicode_transcode(
        tf.convert_to_tensor(texts), "UTF-8", "UTF-8", errors="replace",
        replacement_char=0xFFFD,
    )
    return tf_text.regex_split(texts, WHITESPACE + "+|" + _PUNCTUATION, _PUNCTUATION)


def tokenize_words(tokenizer, words):
    """Tokenizes each word on its own: ragged (batch, words) -> ragged (batch, words, pieces).

    Byte-level BPE gets " word" for every word but the first of its row, as in running text.
    """
    flat = words.flat_values
    if isinstance(tokenizer, BytePairTokenizer):
        position = tf.ragged.range(words.row_lengths()).flat_values
        flat = tf.where(position > 0, tf.strings.join([" ", flat]), flat)
    pieces = tokenizer.tokenize(flat)  # (total words, pieces)
    pieces = pieces.with_row_splits_dtype(words.row_splits.dtype)
    return words.with_flat_values(pieces)


def pack_words(pieces, tokenizer, sequence_length):
    """Packs word pieces as `[CLS] tokens [SEP]`; returns `(inputs, word_ids)`.

    Args:
        pieces: int RaggedTensor (batch, words, pieces) from `tokenize_words`.
        tokenizer: the tokenizer (for the special tokens and the family's layout).
        sequence_length: the output length; tokens past `sequence_length - 2` are cut.

    Returns:
        `inputs`, the model inputs (int32 (batch, sequence_length)), and `word_ids`, int32
        (batch, sequence_length): the index of the word each token belongs to, `NO_WORD` for
        [CLS], [SEP] and padding.
    """
    ids = tokenizer.special_token_ids
    layout = _LAYOUTS[tokenizer.family]
    tokens = pieces.merge_dims(1, 2)
    word_index = tf.cast(tf.ragged.range(pieces.row_lengths()).flat_values, tf.int32)
    token_words = tokens.with_flat_values(tf.repeat(word_index, pieces.values.row_lengths()))
    inputs = pack_inputs(tokens, sequence_length=sequence_length, cls_id=ids["cls"],
                         sep_id=ids["sep"], pad_id=ids["pad"], layout=layout)
    word_ids = pack_inputs(token_words, sequence_length=sequence_length, cls_id=NO_WORD,
                           sep_id=NO_WORD, pad_id=NO_WORD, layout=layout)["token_ids"]
    return inputs, word_ids


def first_token_positions(pieces, sequence_length):
    """Position of each word's first sub-word in the packed sequence, -1 if it was cut.

    Returns an int32 RaggedTensor (batch, words); a word with no tokens also gets -1.
    """
    counts = tf.cast(pieces.row_lengths(axis=2), tf.int32)  # (batch, words)
    flat = counts.flat_values
    before = tf.concat([[0], tf.cumsum(flat)], axis=0)
    row_start = tf.gather(before, tf.gather(counts.row_splits, counts.value_rowids()))
    start = 1 + tf.gather(before, tf.range(tf.size(flat))) - row_start  # after [CLS]
    valid = (flat > 0) & (start <= sequence_length - 2)
    return counts.with_flat_values(tf.where(valid, start, -1))


def _as_ragged_words(words):
    if isinstance(words, tf.RaggedTensor):
        return words
    flat = [str(word) for sentence in words for word in sentence]
    lengths = [len(sentence) for sentence in words]
    return tf.RaggedTensor.from_row_lengths(tf.constant(flat, tf.string, shape=[len(flat)]),
                                            tf.constant(lengths, tf.int64, shape=[len(lengths)]))


def encode_words(words, tokenizer, sequence_length):
    """Pre-split words -> model inputs and per-token word ids (numpy).

    Args:
        words: a list of sentences, each a list of word strings.
        tokenizer: the model's tokenizer.
        sequence_length: the packed length.

    Returns:
        `(inputs, word_ids)`: a dict of int32 arrays (n, sequence_length) and an int32 array
        (n, sequence_length) with the word index of every token, `NO_WORD` elsewhere.
    """
    pieces = tokenize_words(tokenizer, _as_ragged_words(words))
    inputs, word_ids = pack_words(pieces, tokenizer, sequence_length)
    return {k: v.numpy() for k, v in inputs.items()}, word_ids.numpy()


def first_subword_mask(word_ids):
    """True at the first token of every word (numpy, from `encode_words`' word ids)."""
    word_ids = np.asarray(word_ids)
    previous = np.concatenate([np.full_like(word_ids[:, :1], NO_WORD), word_ids[:, :-1]], 1)
    return (word_ids != NO_WORD) & (word_ids != previous)


def align_labels(words, word_labels, tokenizer, sequence_length, tag_names=None):
    """Word-level labels -> model inputs, per-token labels and weights.

    The first sub-word of each word gets the word's label and weight 1; all other tokens get
    label 0 and weight 0. Words cut by `sequence_length` lose their labels.

    Args:
        words: a list of sentences, each a list of word strings.
        word_labels: matching lists of tag ids (int), or tag strings when `tag_names` is set.
        tokenizer: the model's tokenizer.
        sequence_length: the packed length.
        tag_names: the tag vocabulary, to map string labels to ids.

    Returns:
        `(inputs, labels, weights)`: dict of int32 (n, L), int32 (n, L), float32 (n, L).

    Example:
    >>> from keras_bert_zoo.tokenizers import WordPieceTokenizer
    >>> vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "johan", "##son", "runs"]
    >>> inputs, labels, weights = align_labels([["Johanson", "runs"]], [["B-PER", "O"]],
    ...     WordPieceTokenizer(vocab), 6, tag_names=["O", "B-PER"])
    >>> inputs["token_ids"].tolist(), labels.tolist(), weights.tolist()
    ([[2, 5, 6, 7, 3, 0]], [[0, 1, 0, 0, 0, 0]], [[0.0, 1.0, 0.0, 1.0, 0.0, 0.0]])
    """
    if len(words) != len(word_labels):
        raise ValueError(f"{len(words)} sentences but {len(word_labels)} label sequences")
    index = {name: i for i, name in enumerate(tag_names)} if tag_names is not None else None
    rows = []
    for i, (sentence, tags) in enumerate(zip(words, word_labels)):
        if len(sentence) != len(tags):
            raise ValueError(f"sentence {i} has {len(sentence)} words but {len(tags)} labels")
        if index is not None:
            unknown = sorted({t for t in tags if t not in index})
            if unknown:
                raise ValueError(f"sentence {i}: tags {unknown} are not in tag_names")
            tags = [index[t] for t in tags]
        rows.append(np.asarray(tags, "int32").reshape(-1))
    inputs, word_ids = encode_words(words, tokenizer, sequence_length)
    first = first_subword_mask(word_ids)
    labels = np.zeros(word_ids.shape, "int32")
    for i, row in enumerate(rows):
        labels[i, first[i]] = row[word_ids[i, first[i]]]
    return inputs, labels, first.astype("float32")


def decode_word_tags(predictions, word_ids, num_words=None, tag_names=None, default=None):
    """Per-token predictions -> one tag per word, read at each word's first sub-word.

    Args:
        predictions: logits (n, L, num_tags) or tag ids (n, L).
        word_ids: int (n, L) word index of each token, from `encode_words`.
        num_words: optional number of words of each sentence; words with no kept token (cut
            by the sequence length, or tokenized to nothing) get `default`.
        tag_names: map tag ids to these strings.
        default: the tag of words without a prediction.

    Returns:
        A list of lists of tag ids (or names).
    """
    predictions = np.asarray(predictions)
    if predictions.ndim == 3:
        predictions = predictions.argmax(-1)
    word_ids = np.asarray(word_ids)
    first = first_subword_mask(word_ids)
    result = []
    for i in range(len(word_ids)):
        found = dict(zip(word_ids[i, first[i]].tolist(), predictions[i, first[i]].tolist()))
        n = num_words[i] if num_words is not None else (max(found) + 1 if found else 0)
        tags = [found.get(w) for w in range(n)]
        if tag_names is not None:
            tags = [tag_names[t] if t is not None else None for t in tags]
        result.append([default if t is None else t for t in tags])
    return result


def predict_word_tags(model, tokenizer, words, sequence_length, default=""):
    """Tags pre-split sentences with a `TokenTagger`; returns lists of tag names (or ids)."""
    inputs, word_ids = encode_words(words, tokenizer, sequence_length)
    inputs = {k: v for k, v in inputs.items() if k in model.input}
    logits = model.predict(inputs, verbose=0) if len(words) else np.zeros((0, 1, 1))
    return decode_word_tags(logits, word_ids, [len(w) for w in words], model.tag_names,
                            default=default)


# Entity-level F1 (conlleval / seqeval) -----------------------------------------------------
def _split_tag(tag):
    if tag in ("O", "", None):
        return "O", ""
    prefix, _, kind = tag.partition("-")
    if not kind:  # a bare type such as "PER" counts as I-PER (IOB1 style)
        return "I", prefix
    return prefix, kind


def _chunk_ends(prev, tag, prev_type, kind):
    # conlleval's endOfChunk.
    return (prev in ("E", "S") or (prev in ("B", "I") and tag in ("B", "S", "O"))
            or (prev != "O" and prev_type != kind))


def _chunk_starts(prev, tag, prev_type, kind):
    # conlleval's startOfChunk.
    return (tag in ("B", "S") or (prev in ("E", "S", "O") and tag in ("E", "I"))
            or (tag != "O" and prev_type != kind))


def get_entities(tags):
    """Entity spans `(type, start, end)` (end exclusive) of a BIO/IOB1/BIOES tag sequence.

    Follows conlleval (and seqeval's default mode): an I-X after O or after another type
    starts a new entity.

    Example:
    >>> get_entities(["B-PER", "I-PER", "O", "I-LOC", "B-LOC", "I-ORG"])
    [('PER', 0, 2), ('LOC', 3, 4), ('LOC', 4, 5), ('ORG', 5, 6)]
    """
    entities = []
    prev, prev_type, start = "O", "", None
    for i, tag in enumerate(list(tags) + ["O"]):
        prefix, kind = _split_tag(tag)
        if start is not None and _chunk_ends(prev, prefix, prev_type, kind):
            entities.append((prev_type, start, i))
            start = None
        if _chunk_starts(prev, prefix, prev_type, kind):
            start = i
        prev, prev_type = prefix, kind
    return entities


def entity_f1(true_tags, predicted_tags):
    """Entity-level precision, recall and F1 (exact span and type match), as conlleval.

    Args:
        true_tags: a list of sentences of gold tags.
        predicted_tags: the matching predicted tags.

    Returns:
        A dict with `precision`, `recall`, `f1` (fractions in [0, 1]) and `per_type`
        ({type: {precision, recall, f1, support}}).

    Example:
    >>> gold = [["B-PER", "I-PER", "O", "B-LOC"]]
    >>> pred = [["B-PER", "I-PER", "O", "B-ORG"]]
    >>> {k: round(v, 3) for k, v in entity_f1(gold, pred).items() if k != "per_type"}
    {'precision': 0.5, 'recall': 0.5, 'f1': 0.5}
    """
    if len(true_tags) != len(predicted_tags):
        raise ValueError(f"{len(true_tags)} gold sentences but {len(predicted_tags)} predicted")
    gold, pred = set(), set()
    for i, (t, p) in enumerate(zip(true_tags, predicted_tags)):
        if len(t) != len(p):
            raise ValueError(f"sentence {i}: {len(t)} gold tags but {len(p)} predicted")
        gold.update((i,) + e for e in get_entities(t))
        pred.update((i,) + e for e in get_entities(p))

    def scores(g, p):
        correct = len(g & p)
        precision = correct / len(p) if p else 0.0
        recall = correct / len(g) if g else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        return {"precision": precision, "recall": recall, "f1": f1}

    per_type = {}
    for kind in sorted({e[1] for e in gold | pred}):
        g = {e for e in gold if e[1] == kind}
        per_type[kind] = dict(scores(g, {e for e in pred if e[1] == kind}), support=len(g))
    return dict(scores(gold, pred), per_type=per_type)
