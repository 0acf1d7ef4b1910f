"""Byte-level BPE tokenizer (GPT-2 style, used by RoBERTa and BART), in-graph.

Same ids as Hugging Face `tokenizers`' ByteLevelBPETokenizer (and GPT-2's encoder.py) for the
same vocab.json/merges.txt. keras-hub's BytePairTokenizer was checked first: its ids agree on
prose except that it splits a run of whitespace at the very end of a text ("end   " ->
"ĠĠ", "Ġ" instead of "ĠĠĠ"), it drops a standalone "६" from the input (its internal marker),
and it merges one string pair per word per `tf.while_loop` step on strings. This module
re-implements the two steps:

1. pre-tokenization with GPT-2's regex
   `'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+`,
   computed without a regex engine: every character gets a class (letter, number, " ", other
   white space, other) from a table, and the places where a word starts follow from the
   classes of neighbouring characters (see `split_words`). One pass of a few vectorized ops
   instead of RE2 matching every word.
2. BPE merges on integer ids. Words that are vocabulary tokens and come out of the merges as
   that single token (nearly every frequent word) are looked up in a table built once; the
   batch's other distinct words are merged: every step merges, in every word, the lowest-rank
   adjacent pair, at all its non-overlapping occurrences from the left. That equals
   `tokenizers`' one-pair-at-a-time order whenever a merge can only create pairs of higher
   rank (true of trained merge lists, checked at construction); otherwise each step merges
   the leftmost occurrence only.

Text is never parsed for special tokens: "<mask>" in the input is the characters < m a s k >.
"""

import functools
import json
import os

import keras
import numpy as np
import tensorflow as tf

from keras_bert_zoo.tokenizers.tokenizer import Tokenizer, by_rows

VOCAB_FILENAME = "vocab.json"
MERGES_FILENAME = "merges.txt"

# Unicode White_Space (what `\s` means in the regex engines of GPT-2 and `tokenizers`).
_WS_CHARS = (
    r"\t\n\x0B\f\r \x{85}\x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F}\x{205F}"
    r"\x{3000}"
)
# Character classes of the pre-tokenizer; " " and other white space differ in one rule, and
# _END stands after the last character of a text.
_LETTER, _NUMBER, _OTHER, _SPACE, _WHITE_SPACE, _END = range(6)
# Planes 0-3 hold every letter, number and space character (the last letters are CJK
# extensions in plane 3); code points above are classed as other.
_CLASSIFIED_CODE_POINTS = 0x40000
_WORD_MARK = 0xFF  # a byte that UTF-8 never uses


def _word_start_table():
    """Whether a word starts at a character, by the classes (before, itself, after)."""
    table = np.zeros([6, 6, 6], bool)
    for before in range(_END):
        for char in range(_END):
            if char < _SPACE:  # a run of one class; a " " before it belongs to it
                table[before, char, :] = before != _SPACE and char != before
            else:  # white space: a run starts, and its last character before a non-space
                table[before, char, :] = before < _SPACE
                table[before, char, :_SPACE] = True
    return table.reshape(-1)


_WORD_STARTS = _word_start_table()
# An apostrophe can start a contraction after a letter, a number or white space other than " ".
_WORD_ENDED_BEFORE = np.array([c in (_LETTER, _NUMBER, _WHITE_SPACE) for c in range(_END)])
# Contraction length by the two ASCII characters after the apostrophe: 's 't 'm 'd, 're 've 'll.
_CONTRACTION_LENGTH = np.array(
    [2 if chr(a) in "stmd" else 3 if chr(a) + chr(b) in ("re", "ve", "ll") else 0
     for a in range(128) for b in range(128)],
    np.int64,
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


@functools.lru_cache(maxsize=None)
def character_classes():
    """The pre-tokenizer's class of every code point below 0x40000, as an int8 array.

    Classified once per process (~0.1 s) by RE2 through tf.strings: `\\p{L}`, `\\p{N}` and the
    White_Space characters, as in the regex that `split_words` implements.
    """
    with tf.init_scope():
        code_points = np.arange(_CLASSIFIED_CODE_POINTS, dtype=np.int32)
        code_points = code_points[(code_points < 0xD800) | (code_points > 0xDFFF)]  # surrogates
        chars = tf.strings.unicode_encode(tf.constant(code_points)[:, None], "UTF-8")
        classes = np.full(_CLASSIFIED_CODE_POINTS, _OTHER, np.int8)
        for pattern, value in ((r"\p{L}", _LETTER), (r"\p{N}", _NUMBER),
                               ("[" + _WS_CHARS + "]", _WHITE_SPACE)):
            classes[code_points[tf.strings.regex_full_match(chars, pattern).numpy()]] = value
    classes[ord(" ")] = _SPACE
    return classes


def _shift(values, by, fill):
    """values[i + by] at i (by may be negative), `fill` where that is outside the batch."""
    pad = tf.fill([abs(by)], tf.constant(fill, values.dtype))
    if by > 0:
        return tf.concat([values, pad], axis=0)[by:]
    return tf.concat([pad, values], axis=0)[:by]


def split_words(inputs):
    """GPT-2 pre-tokenization of a 1-D string batch -> ragged (batch, words) of byte strings.

    Invalid UTF-8 is replaced by U+FFFD (what Python's `bytes.decode(errors="replace")`
    gives), since the reference tokenizers only ever see valid text; a batch is transcoded
    only when its decoding finds an invalid sequence. A word starts at a character when the
    regex would start a match there:
    - runs of letters, of numbers and of other characters are words; a " " right before
      such a run belongs to it;
    - a white-space run before a non-space character ends one character early (the regex's
      `\\s+(?!\\S)`); that last character joins the next word if it is " ", else it is a
      word of its own. At the end of a text the whole run is one word;
    - an apostrophe starts a contraction ('s 't 're 've 'm 'll 'd, case-sensitive) where a
      word ended just before it: at the start of a text, after a letter, a number or white
      space other than " " (after " " or punctuation it continues a run of other characters).
    The words are cut out of the batch's texts joined into one string.
    """

    def decode(texts):  # invalid sequences -> U+10FFFF, a noncharacter
        chars, offsets = tf.strings.unicode_decode_with_offsets(
            texts, "UTF-8", errors="replace", replacement_char=0x10FFFF
        )
        return texts, chars.flat_values, chars.row_splits, offsets.flat_values

    decoded = decode(inputs)
    inputs, code, char_splits, offsets = tf.cond(
        tf.reduce_any(tf.equal(decoded[1], 0x10FFFF)),
        lambda: decode(
            tf.strings.unicode_transcode(
                inputs, "UTF-8", "UTF-8", errors="replace", replacement_char=0xFFFD
            )
        ),
        lambda: decoded,
    )
    text = tf.strings.reduce_join(inputs)
    n = tf.size(code, out_type=tf.int64)
    text_starts = char_splits[:-1]
    byte_starts = tf.cumsum(tf.cast(tf.strings.length(inputs), tf.int64), exclusive=True)
    first = tf.scatter_nd(text_starts[:, None], tf.ones_like(text_starts), n[None] + 1)[:-1] > 0

    classes = character_classes()
    char_class = tf.cast(tf.gather(classes, tf.minimum(code, len(classes) - 1)), tf.int32)
    before = _shift(char_class, -1, _OTHER)  # at a text's first character: not used
    after = _shift(tf.where(first, _END, char_class), 1, _END)
    starts = tf.gather(_WORD_STARTS, (before * 6 + char_class) * 6 + after)

    # Contractions, at the few apostrophes: no word starts at their second character, one
    # starts right after them.
    apostrophes = tf.where(tf.equal(code, ord("'")))[:, 0]
    following = tf.concat([tf.where(first, 0, code), [0, 0]], axis=0)  # 0: another text
    length = tf.gather(
        _CONTRACTION_LENGTH,
        tf.minimum(tf.gather(following, apostrophes + 1), 127) * 128
        + tf.minimum(tf.gather(following, apostrophes + 2), 127),
    )
    ended = tf.gather(first, apostrophes)
    ended |= tf.gather(_WORD_ENDED_BEFORE, tf.gather(before, apostrophes))
    found = tf.where(ended & (length > 0))[:, 0]
    at, length = tf.gather(apostrophes, found), tf.gather(length, found)
    starts = tf.tensor_scatter_nd_update(
        tf.concat([starts, [False, False, False]], axis=0),
        tf.concat([at + 1, at + length], axis=0)[:, None],
        tf.concat([tf.zeros_like(at, tf.bool), tf.ones_like(at, tf.bool)], axis=0),
    )[:n] | first

    word_chars = tf.where(starts)[:, 0]
    rows = tf.searchsorted(text_starts, word_chars, side="right", out_type=tf.int64) - 1
    begin = tf.gather(offsets, word_chars) + tf.gather(byte_starts, rows)
    end = tf.concat([begin[1:], tf.cast(tf.strings.length(text), tf.int64)[None]], axis=0)
    words = tf.strings.substr(text, begin, end - begin)
    return tf.RaggedTensor.from_value_rowids(words, rows, nrows=tf.size(inputs, out_type=tf.int64))


def _every_other(candidate, in_run):
    """`candidate` without every second member of each run of adjacent candidates."""
    position = tf.range(tf.size(candidate))
    run = tf.cumsum(tf.cast(tf.logical_not(in_run), tf.int32)) - 1
    from_start = position - tf.gather(tf.math.segment_min(position, run), run)
    return candidate & tf.equal(from_start % 2, 0)


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
        merges = [
            m for m in (str(m).strip("\r\n") for m in merges) if m and not m.startswith("#version")
        ]
        self._set_plain(_merges=merges, _vocabulary_dict=vocabulary)
        self._build_tables()

    def _build_tables(self):
        vocabulary = self._vocabulary_dict
        size = len(vocabulary)
        unk_id = vocabulary[self._special_tokens["unk"]]
        byte_chars = bytes_to_unicode()
        # Byte -> id; byte 0xFF (never in UTF-8 text) marks where a word starts.
        byte_ids = [vocabulary.get(c, unk_id) for c in byte_chars]
        byte_ids[_WORD_MARK] = size
        self._byte_ids = tf.constant(byte_ids, tf.int64)
        # Merge tables: the key of a pair (a, b) is a * (size + 1) + b, so that no pair with
        # the word mark (id `size`) is a key; the value is rank * 2**32 + id of the result.
        self._no_rank = len(self._merges) + 1
        keys, values = [], []
        seen = set()
        produced_last, used_first = {}, {}  # token -> highest rank making it, lowest using it
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
            key = vocabulary[a] * (size + 1) + vocabulary[b]
            if key in seen:  # first (highest priority) occurrence wins, as in `tokenizers`
                continue
            seen.add(key)
            keys.append(key)
            values.append((rank << 32) + vocabulary[a + b])
            produced_last[a + b] = rank
            used_first.setdefault(a, rank)
            used_first.setdefault(b, rank)
        # A step may merge every occurrence of a word's lowest-rank pair at once when no merge
        # creates a pair of lower rank than its own (see the module docstring).
        self._merge_every_occurrence = all(
            used_first.get(token, self._no_rank) > rank for token, rank in produced_last.items()
        )
        self._merge_table = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(
                tf.constant(keys, tf.int64), tf.constant(values, tf.int64)
            ),
            default_value=self._no_rank << 32,
        )
        self._build_word_table(vocabulary, byte_chars)
        # Detokenization: id -> token string, and character code point -> byte.
        self._id_to_token_table = tf.constant(list(self._id_to_token_list))
        code_to_byte = [b""] * (max(ord(c) for c in byte_chars) + 1)
        for b, c in enumerate(byte_chars):
            code_to_byte[ord(c)] = bytes([b])
        self._code_to_byte = tf.constant(code_to_byte)

    def _build_word_table(self, vocabulary, byte_chars):
        """Words (as raw bytes) that are vocabulary tokens and merge into that one token.

        Tokens with the byte 0xFF are left out: no UTF-8 text contains it.
        """
        # Characters of the byte map -> the latin-1 character of their byte; any other
        # character below 256 -> one that latin-1 cannot encode.
        to_bytes = {c: "\uffff" for c in range(256)}
        to_bytes.update({ord(c): chr(b) for b, c in enumerate(byte_chars)})
        words, ids = [], []
        for token, i in vocabulary.items():
            try:
                word = token.translate(to_bytes).encode("latin-1")
            except UnicodeEncodeError:
                continue
            if word and _WORD_MARK not in word:
                words.append(word)
                ids.append(i)
        # Merged in groups of similar length: a step costs the same for every word of a
        # group, and most tokens are short. Tokens over 16 bytes (2% of RoBERTa's, rare as
        # words, up to ~130 merge steps each) are left to the merges.
        ids = np.asarray(ids, np.int32)
        single = np.zeros(len(words), bool)
        length = np.array([len(w) for w in words])
        with tf.init_scope():
            for low, high in ((0, 4), (4, 8), (8, 16)):
                group = np.flatnonzero((length > low) & (length <= high))
                if not len(group):
                    continue
                pieces = self._merge(tf.constant([words[i] for i in group], tf.string))
                one = pieces.row_lengths().numpy() == 1
                piece = pieces.flat_values.numpy()[pieces.row_splits[:-1].numpy()[one]]
                single[group[one]] = piece == ids[group[one]]
        self._word_ids = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(
                tf.constant([w for w, keep in zip(words, single) if keep], tf.string),
                tf.constant(ids[single]),
            ),
            default_value=-1,
        )

    def _is_continuation(self, token):
        return not token.startswith("\u0120")  # "Ġ" encodes a leading space

    def _merge(self, words):
        """BPE of 1-D byte strings (no byte 0xFF) -> ragged (words, pieces) int32 ids.

        The words' byte ids are laid end to end, each after a word mark. Each step merges, in
        every word, its lowest-rank pair: every occurrence, or the leftmost (`_build_tables`).
        """
        mark = self.vocabulary_size
        base = tf.constant(mark + 1, tf.int64)
        no_rank = tf.constant(self._no_rank, tf.int64)
        marked = tf.strings.reduce_join(tf.strings.join([bytes([_WORD_MARK]), words]))
        values = tf.gather(self._byte_ids, tf.cast(tf.io.decode_raw(marked, tf.uint8), tf.int32))
        num_words = tf.size(words) + 1

        def body(values, _):
            left = values[:-1]
            packed = self._merge_table.lookup(left * base + values[1:])
            rank = tf.bitwise.right_shift(packed, 32)  # no_rank where no rule or a word mark
            word = tf.cumsum(tf.cast(tf.equal(left, mark), tf.int32))
            # A word's lowest rank, capped below no_rank so that words without a rule match
            # none of their pairs.
            best = tf.minimum(tf.math.unsorted_segment_min(rank, word, num_words), no_rank - 1)
            candidate = tf.equal(rank, tf.gather(best, word))
            if self._merge_every_occurrence:
                # Overlapping occurrences (x x x under the rule "x x", rare) merge every other
                # pair from the left end of their run.
                in_run = candidate & _shift(candidate, -1, False)
                merge_here = tf.cond(
                    tf.reduce_any(in_run),
                    lambda: _every_other(candidate, in_run),
                    lambda: candidate,
                )
            else:  # the leftmost occurrence only
                position = tf.range(tf.size(left))
                first = tf.math.unsorted_segment_min(
                    tf.where(candidate, position, tf.size(left)), word, num_words
                )
                merge_here = candidate & tf.equal(position, tf.gather(first, word))
            merged = tf.bitwise.bitwise_and(packed, 0xFFFFFFFF)
            values = tf.concat([tf.where(merge_here, merged, left), values[-1:]], axis=0)
            keep = tf.concat([[True], tf.logical_not(merge_here)], axis=0)
            return tf.gather(values, tf.where(keep)[:, 0]), tf.reduce_any(merge_here)

        values, _ = tf.while_loop(
            lambda values, changed: changed,
            body,
            (values, tf.size(values) > 1),
            shape_invariants=(tf.TensorShape([None]), tf.TensorShape([])),
        )
        is_mark = tf.equal(values, mark)
        return tf.RaggedTensor.from_value_rowids(
            tf.cast(tf.boolean_mask(values, tf.logical_not(is_mark)), tf.int32),
            tf.boolean_mask(tf.cumsum(tf.cast(is_mark, tf.int64)) - 1, tf.logical_not(is_mark)),
            nrows=tf.size(words, out_type=tf.int64),
        )

    def _tokenize_batch(self, inputs):
        words = split_words(inputs)  # (batch, words)
        flat = words.flat_values
        ids = self._word_ids.lookup(flat)
        pieces = by_rows(  # (words, pieces): a table word is its id, the others are merged
            tf.range(tf.size(flat)), ids >= 0,
            lambda known: tf.RaggedTensor.from_tensor(tf.gather(ids, known)[:, tf.newaxis]),
            lambda unknown: self._merge_distinct(tf.gather(flat, unknown)),
        )
        return words.with_flat_values(pieces).merge_dims(1, 2)

    def _merge_distinct(self, words):
        """`_merge` of 1-D words, each distinct word merged once."""
        distinct, index = tf.unique(words)
        return tf.gather(self._merge(distinct), index)

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
