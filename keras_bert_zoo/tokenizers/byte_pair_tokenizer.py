"""Byte-level BPE tokenizer (GPT-2 style, used by RoBERTa and BART), in-graph.

Same ids as Hugging Face `tokenizers`' ByteLevelBPETokenizer (and GPT-2's encoder.py) for the
same vocab.json/merges.txt. keras-hub's BytePairTokenizer was checked first: its ids agree on
prose except that it splits a run of whitespace at the very end of a text ("end   " ->
"ĠĠ", "Ġ" instead of "ĠĠĠ"), it drops a standalone "६" from the input (its internal marker),
and it merges one string pair per word per `tf.while_loop` step on strings. This module
re-implements the two steps:

1. pre-tokenization with GPT-2's regex
   `'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+`.
   RE2 has no lookahead, so whitespace runs are split out first and the `\\s+(?!\\S)` rule is
   applied arithmetically: before a non-space chunk, a run gives its last character to the
   chunk when it is " ", else that character becomes a word of its own; at the end of the
   text the whole run is one word. The chunks are then split by the remaining alternatives.
2. BPE merges on integer ids over the distinct words of the batch: every step merges, in
   every word, the leftmost adjacent pair of lowest merge rank (as `tokenizers` does).

Text is never parsed for special tokens: "<mask>" in the input is the characters < m a s k >.
"""

import json
import os

import keras
import tensorflow as tf
import tensorflow_text as tf_text

from keras_bert_zoo.tokenizers.tokenizer import Tokenizer

VOCAB_FILENAME = "vocab.json"
MERGES_FILENAME = "merges.txt"

# Unicode White_Space (what `\s` means in the regex engines of GPT-2 and `tokenizers`).
_WS_CHARS = (
    r"\t\n\x0B\f\r \x{85}\x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F}\x{205F}"
    r"\x{3000}"
)
_WS_RUN = "[" + _WS_CHARS + "]+"
_CHUNK_PATTERN = (
    r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^" + _WS_CHARS + r"\p{L}\p{N}]+"
)


def bytes_to_unicode():
    """GPT-2's reversible byte -> printable character map, as a list of 256 characters."""
    bs = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    table = [""] * 256
    for b, c in zip(bs, cs):
        table[b] = chr(c)
    return table


def read_vocabulary_json(path):
    if not os.path.exists(path):
        raise FileNotFoundError(f"vocabulary file {path!r} does not exist")
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def read_merges_file(path):
    if not os.path.exists(path):
        raise FileNotFoundError(f"merges file {path!r} does not exist")
    with open(path, encoding="utf-8") as f:
        return [line.rstrip("\n") for line in f]


def split_words(inputs):
    """GPT-2 pre-tokenization of a 1-D string batch -> ragged (batch, words).

    Invalid UTF-8 is first replaced by U+FFFD (what Python's `bytes.decode(errors="replace")`
    gives), since the reference tokenizers only ever see valid text.
    """
    inputs = tf.strings.unicode_transcode(
        inputs, "UTF-8", "UTF-8", errors="replace", replacement_char=0xFFFD
    )
    # tf-text's regex_split stops at a NUL character, so NUL travels as the byte 0xFF (never
    # in valid UTF-8, and like NUL neither letter, number nor space for RE2); `_bytes_of`
    # maps it back.
    inputs = tf.strings.regex_replace(inputs, r"\x00", b"\xff")
    pieces = tf_text.regex_split(inputs, _WS_RUN, _WS_RUN)  # whitespace runs and chunks
    flat = pieces.flat_values
    n = tf.shape(flat, out_type=tf.int64)[0]
    row_ends = tf.gather(pieces.row_splits[1:], pieces.value_rowids())
    row_starts = tf.gather(pieces.row_splits[:-1], pieces.value_rowids())
    position = tf.range(n)
    has_next = position + 1 < row_ends
    has_prev = position > row_starts

    is_ws = tf.strings.regex_full_match(flat, _WS_RUN)
    num_chars = tf.strings.length(flat, unit="UTF8_CHAR")
    last = tf.strings.substr(
        flat, tf.maximum(num_chars - 1, 0), tf.ones_like(num_chars), unit="UTF8_CHAR"
    )
    head = tf.strings.substr(
        flat, tf.zeros_like(num_chars), tf.maximum(num_chars - 1, 0), unit="UTF8_CHAR"
    )
    gives_space = is_ws & has_next & tf.equal(last, " ")
    # A chunk takes the space given by the whitespace run before it.
    takes_space = tf.logical_and(
        has_prev, tf.concat([[False], gives_space[:-1]], axis=0)
    )
    splits_run = is_ws & has_next
    first = tf.where(
        splits_run, head, tf.where(takes_space, tf.strings.join([" ", flat]), flat)
    )
    first_valid = tf.strings.length(first) > 0
    second = last
    second_valid = splits_run & tf.logical_not(gives_space)
    words = tf.reshape(tf.stack([first, second], axis=1), [-1])
    valid = tf.reshape(tf.stack([first_valid, second_valid], axis=1), [-1])
    row_ids = tf.repeat(pieces.value_rowids(), 2)
    words = tf.boolean_mask(words, valid)
    row_ids = tf.boolean_mask(row_ids, valid)
    words = tf.RaggedTensor.from_value_rowids(words, row_ids, nrows=pieces.nrows())
    # Split the chunks (with their leading space) by GPT-2's other alternatives; whitespace
    # words contain no match and come back whole.
    words = tf_text.regex_split(words, _CHUNK_PATTERN, _CHUNK_PATTERN)
    return words.merge_dims(1, 2)


@keras.saving.register_keras_serializable(package="keras_bert_zoo")
class BytePairTokenizer(Tokenizer):
    """Byte-level BPE tokenizer (RoBERTa, BART, GPT-2), ids identical to `tokenizers`.

    Args:
        vocabulary: path to vocab.json or a dict token -> id (ids 0..n-1).
        merges: path to merges.txt or a list of "a b" merge rules, highest priority first.
        family: which family's special tokens the vocabulary must contain.

    Example:
    >>> specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    >>> tokens = specials + ["h", "i", "\u0120", "hi", "\u0120hi"]
    >>> tokenizer = BytePairTokenizer({t: i for i, t in enumerate(tokens)}, ["h i", "\u0120 hi"])
    >>> tokenizer.tokenize("hi hi").numpy().tolist()
    [8, 9]
    """

    def __init__(self, vocabulary, merges, family="roberta", **kwargs):
        super().__init__(family=family, **kwargs)
        if isinstance(vocabulary, (str, os.PathLike)):
            vocabulary = read_vocabulary_json(os.fspath(vocabulary))
        if isinstance(merges, (str, os.PathLike)):
            merges = read_merges_file(os.fspath(merges))
        vocabulary = {str(k): int(v) for k, v in dict(vocabulary).items()}
        if sorted(vocabulary.values()) != list(range(len(vocabulary))):
            raise ValueError("vocabulary ids must be exactly 0 .. len(vocabulary) - 1")
        tokens = [""] * len(vocabulary)
        for token, i in vocabulary.items():
            tokens[i] = token
        self._set_vocabulary(tokens)
        self._merges = [
            m for m in (str(m).strip("\r\n") for m in merges) if m and not m.startswith("#version")
        ]
        self._vocabulary_dict = vocabulary
        self._build_tables()

    def _build_tables(self):
        vocabulary = self._vocabulary_dict
        size = len(vocabulary)
        unk_id = vocabulary[self._special_tokens["unk"]]
        byte_chars = bytes_to_unicode()
        self._byte_ids = tf.constant(
            [vocabulary.get(c, unk_id) for c in byte_chars], tf.int32
        )
        keys, ranks, results = [], [], []
        seen = set()
        for rank, merge in enumerate(self._merges):
            parts = merge.split(" ")
            if len(parts) != 2:
                raise ValueError(f"merge rule {rank}: {merge!r} is not two tokens")
            a, b = parts
            for token in (a, b, a + b):
                if token not in vocabulary:
                    raise ValueError(
                        f"merge rule {rank}: {merge!r} uses {token!r}, not in the vocabulary"
                    )
            key = vocabulary[a] * size + vocabulary[b]
            if key in seen:  # first (highest priority) occurrence wins, as in `tokenizers`
                continue
            seen.add(key)
            keys.append(key)
            ranks.append(rank)
            results.append(vocabulary[a + b])
        self._no_rank = len(self._merges) + 1
        self._merge_ranks = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(
                tf.constant(keys, tf.int64), tf.constant(ranks, tf.int32)
            ),
            default_value=self._no_rank,
        )
        self._merge_results = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(
                tf.constant(keys, tf.int64), tf.constant(results, tf.int32)
            ),
            default_value=-1,
        )
        # Detokenization: id -> token string, and character code point -> byte.
        self._id_to_token_table = tf.constant(list(self._id_to_token_list))
        code_to_byte = [b""] * (max(ord(c) for c in byte_chars) + 1)
        for b, c in enumerate(byte_chars):
            code_to_byte[ord(c)] = bytes([b])
        self._code_to_byte = tf.constant(code_to_byte)

    def _is_continuation(self, token):
        return not token.startswith("\u0120")  # "Ġ" encodes a leading space

    def _merge(self, symbols):
        """Applies BPE merges to ragged (words, symbols) int32 ids."""
        size = tf.constant(self.vocabulary_size, tf.int64)
        no_rank = self._no_rank
        nrows = symbols.nrows(tf.int32)

        def body(values, row_ids, _):
            n = tf.shape(values)[0]
            left, right = values[:-1], values[1:]
            same_word = tf.equal(row_ids[:-1], row_ids[1:])
            keys = tf.cast(left, tf.int64) * size + tf.cast(right, tf.int64)
            rank = tf.where(same_word, self._merge_ranks.lookup(keys), no_rank)
            pair_rows = row_ids[:-1]
            best = tf.math.unsorted_segment_min(rank, pair_rows, nrows)
            candidate = tf.equal(rank, tf.gather(best, pair_rows)) & (rank < no_rank)
            position = tf.range(n - 1)
            first = tf.math.unsorted_segment_min(
                tf.where(candidate, position, n), pair_rows, nrows
            )
            merge_here = candidate & tf.equal(position, tf.gather(first, pair_rows))
            merged = self._merge_results.lookup(keys)
            at = tf.concat([merge_here, [False]], axis=0)
            values = tf.where(at, tf.concat([merged, [0]], axis=0), values)
            keep = tf.logical_not(tf.concat([[False], merge_here], axis=0))
            return (
                tf.boolean_mask(values, keep),
                tf.boolean_mask(row_ids, keep),
                tf.reduce_any(merge_here),
            )

        values = symbols.flat_values
        row_ids = tf.cast(symbols.value_rowids(), tf.int32)
        values, row_ids, _ = tf.while_loop(
            lambda v, r, changed: changed,
            body,
            (values, row_ids, tf.size(values) > 1),
            shape_invariants=(tf.TensorShape([None]), tf.TensorShape([None]), tf.TensorShape([])),
        )
        return tf.RaggedTensor.from_value_rowids(values, row_ids, nrows=nrows)

    def _tokenize_batch(self, inputs):
        words = split_words(inputs)  # (batch, words)
        unique, index = tf.unique(words.flat_values)
        symbols = tf.ragged.map_flat_values(tf.gather, self._byte_ids, _bytes_of(unique))
        pieces = self._merge(symbols)  # (unique words, pieces)
        pieces = tf.gather(pieces, index).with_row_splits_dtype(words.row_splits.dtype)
        return words.with_flat_values(pieces).merge_dims(1, 2)

    def _detokenize_batch(self, ids):
        ids = tf.clip_by_value(ids, 0, self.vocabulary_size - 1)
        text = tf.strings.reduce_join(
            tf.ragged.map_flat_values(tf.gather, self._id_to_token_table, ids), axis=-1
        )
        codes = tf.strings.unicode_decode(text, "UTF-8")
        codes = tf.ragged.map_flat_values(
            tf.clip_by_value, codes, 0, self._code_to_byte.shape[0] - 1
        )
        raw = tf.strings.reduce_join(
            tf.ragged.map_flat_values(tf.gather, self._code_to_byte, codes), axis=-1
        )
        # Cut multi-byte characters become U+FFFD, like `tokenizers`' lossy decoding.
        return tf.strings.unicode_transcode(
            raw, "UTF-8", "UTF-8", errors="replace", replacement_char=0xFFFD
        )

    def _save_files(self, directory):
        with open(os.path.join(directory, VOCAB_FILENAME), "w", encoding="utf-8") as f:
            json.dump(self._vocabulary_dict, f, ensure_ascii=False)
        with open(os.path.join(directory, MERGES_FILENAME), "w", encoding="utf-8") as f:
            f.write("#version: 0.2\n")
            f.writelines(m + "\n" for m in self._merges)
        return {"vocabulary": VOCAB_FILENAME, "merges": MERGES_FILENAME}

    def _file_free_config(self):
        return {}

    def get_config(self):
        config = super().get_config()
        config["vocabulary"] = dict(self._vocabulary_dict)
        config["merges"] = list(self._merges)
        return config


def _bytes_of(strings):
    """1-D strings -> ragged (strings, bytes) int32 byte values; 0xFF stands for NUL."""

    def to_ints(chars):
        values = tf.cast(tf.reshape(tf.io.decode_raw(chars, tf.uint8, fixed_length=1), [-1]), tf.int32)
        return tf.where(values == 0xFF, 0, values)

    return tf.ragged.map_flat_values(to_ints, tf.strings.bytes_split(strings))
