"""BERT WordPiece tokenizer, in-graph, with ids identical to the original BERT tokenizer.

The original (google-research/bert `tokenization.py`, equal to `transformers.BertTokenizer`)
runs a "basic tokenizer" then greedy longest-match-first WordPiece. Here both run as TF ops:

1. decode UTF-8 dropping invalid bytes (the original decodes with errors="ignore");
2. drop NUL, U+FFFD and control/format/private-use characters, map whitespace to " ";
3. uncased: Python-style `str.lower()` (tf.strings.lower plus Greek final sigma), then NFD
   and removal of nonspacing marks (Mn). No NFKC case folding: tf-text's `case_fold_utf8`
   would turn "…" into "..." and "ﬁ" into "fi", which the original does not do;
4. split on whitespace, on punctuation (ASCII 33-47, 58-64, 91-96, 123-126 and Unicode P*)
   and around CJK ideographs, keeping punctuation and ideographs as words;
5. words longer than 100 characters become [UNK]; the rest go through tf-text's
   FastWordpieceTokenizer (same result as the original's greedy longest match, whole word ->
   [UNK] when a piece is missing).

Speed: lines of printable ASCII (plus tab, newlines and the General Punctuation block: curly
quotes, dashes, "…"), the bulk of most English corpora, take a fast path where steps 1-3 reduce
to ASCII lowercasing (those punctuation marks have no case, accents or decomposition) and steps
4-5 are FastWordpieceTokenizer's own end-to-end BERT splitting (same whitespace and punctuation
sets there; for ASCII words a 100-character limit is a 100-byte limit, and a word holding one
of those marks is split at it). Only the other lines pay for the Unicode regexes, which makes
batched tokenization of typical text ~3x faster with identical ids.

Known differences with Python: case mapping and NFD come from the Unicode tables of TF/ICU,
which differ from Python 3.11's (Unicode 14) only on characters added in recent Unicode
versions; unassigned code points (Cn) are kept (the reference drops them).
"""

import os

import keras
import tensorflow as tf
import tensorflow_text as tf_text

from keras_bert_zoo.tokenizers.tokenizer import Tokenizer, by_rows

VOCAB_FILENAME = "vocab.txt"

# Removed by the original `_clean_text`: NUL, U+FFFD and categories C* except \t \n \r
# (transformers' `_is_control`; Cc and Cf in google-research/bert, Co and Cs too here).
_DROP = r"[\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F\p{Cf}\p{Co}\x{FFFD}]"
# `_is_whitespace` (\t \n \r and Zs) plus U+2028/U+2029, which Python's str.split() splits on.
_WHITESPACE = r"[\t\n\r\p{Zs}\x{2028}\x{2029}]"
# `_is_punctuation`: ASCII 33-47, 58-64, 91-96, 123-126, and every Unicode P* category.
_PUNCTUATION = r"[!-/:-@\[-`{-~\p{P}]"
# Lines the fast path handles exactly: nothing to drop, decode, case-map beyond A-Z, or strip;
# `\t\n\r` are whitespace to both paths, U+2010-U+2027 are all punctuation (P*) without case
# or canonical decomposition.
_PLAIN = r"[\t\n\r\x20-\x7E\x{2010}-\x{2027}]*"
# `_is_chinese_char`: the CJK Unified Ideographs blocks.
_CJK = (
    r"[\x{4E00}-\x{9FFF}\x{3400}-\x{4DBF}\x{20000}-\x{2A6DF}\x{2A700}-\x{2B73F}"
    r"\x{2B740}-\x{2B81F}\x{2B820}-\x{2CEAF}\x{F900}-\x{FAFF}\x{2F800}-\x{2FA1F}]"
)
# Python's str.lower() maps a capital sigma to final sigma at the end of a word (Unicode
# Final_Sigma: after a cased letter, not before one, skipping case-ignorable characters).
_CASE_IGNORABLE = (r"[\p{Mn}\p{Me}\p{Lm}\p{Sk}'.:"
                   r"\x{B7}\x{2018}\x{2019}\x{2024}\x{FE52}\x{FF07}\x{FF0E}]")
_FINAL_SIGMA = (
    r"([\p{Lu}\p{Ll}\p{Lt}]" + _CASE_IGNORABLE + r"*)\x{3A3}(" + _CASE_IGNORABLE
    + r"*(?:[^\p{Lu}\p{Ll}\p{Lt}]|\z))"
)


def python_lower(strings):
    """`str.lower()` of Python as TF ops: ICU lowercasing plus the final-sigma rule."""
    strings = tf.strings.regex_replace(strings, _FINAL_SIGMA, "\\1\u03c2\\2")
    return tf.strings.lower(strings, encoding="utf-8")


def read_vocabulary_file(path):
    """Reads a BERT vocab.txt: one token per line, id = line number (stripped like BERT)."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"vocabulary file {path!r} does not exist")
    with open(path, encoding="utf-8") as f:
        tokens = [line.strip() for line in f]
    while tokens and not tokens[-1]:
        tokens.pop()
    return tokens


@keras.saving.register_keras_serializable(package="keras_bert_zoo")
class WordPieceTokenizer(Tokenizer):
    """BERT WordPiece tokenizer (uncased or cased), ids identical to the original.

    Args:
        vocabulary: path to a vocab.txt, or a list of tokens (id = position).
        lowercase: lowercase the text (uncased checkpoints).
        strip_accents: NFD + drop nonspacing marks; defaults to `lowercase` like the original.
        split_on_cjk: put CJK ideographs in words of their own (original: always).
        max_chars_per_word: longer words become the unknown token (original: 100).
        family: which family's special tokens the vocabulary must contain.

    Example:
    >>> specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    >>> tokenizer = WordPieceTokenizer(specials + ["cafe", "##s", ",", "un", "##aff"])
    >>> tokenizer.tokenize(["Cafés, unaffable"]).to_list()
    [[5, 6, 7, 1]]
    """

    def __init__(
        self,
        vocabulary,
        lowercase=True,
        strip_accents=None,
        split_on_cjk=True,
        max_chars_per_word=100,
        family="bert",
        **kwargs,
    ):
        super().__init__(family=family, **kwargs)
        if isinstance(vocabulary, (str, os.PathLike)):
            vocabulary = read_vocabulary_file(os.fspath(vocabulary))
        vocabulary = [str(token) for token in vocabulary]
        if not vocabulary:
            raise ValueError("vocabulary is empty")
        self._set_vocabulary(vocabulary)
        self.lowercase = bool(lowercase)
        self.strip_accents = None if strip_accents is None else bool(strip_accents)
        self.split_on_cjk = bool(split_on_cjk)
        self.max_chars_per_word = int(max_chars_per_word)
        self._unk_token = self._special_tokens["unk"]
        isolated = [_PUNCTUATION] + ([_CJK] if self.split_on_cjk else [])
        self._isolate_pattern = "(" + "|".join(isolated) + ")"
        self._wordpiece = tf_text.FastWordpieceTokenizer(
            vocab=vocabulary,
            suffix_indicator="##",
            # The 100 limit of the original counts characters; it is applied before, in
            # `_tokenize_batch`, so here only a bound on bytes that never triggers.
            max_bytes_per_word=4 * self.max_chars_per_word + 4,
            token_out_type=tf.int32,
            unknown_token=self._unk_token,
            no_pretokenization=True,
            support_detokenization=True,
        )
        # Whitespace and punctuation splitting inside the tokenizer, for the fast path.
        self._ascii_wordpiece = tf_text.FastWordpieceTokenizer(
            vocab=vocabulary,
            suffix_indicator="##",
            max_bytes_per_word=self.max_chars_per_word,
            token_out_type=tf.int32,
            unknown_token=self._unk_token,
            no_pretokenization=False,
            support_detokenization=False,
        )

    def _is_continuation(self, token):
        return token.startswith("##") and len(token) > 2

    def normalize(self, inputs):
        """Applies the basic tokenizer's cleaning, case and accent handling to strings."""
        x = tf.strings.unicode_transcode(
            inputs, "UTF-8", "UTF-8", errors="replace", replacement_char=0xFFFD
        )
        x = tf.strings.regex_replace(x, _DROP, "")
        x = tf.strings.regex_replace(x, _WHITESPACE, " ")
        strip_accents = self.lowercase if self.strip_accents is None else self.strip_accents
        if self.lowercase:
            x = python_lower(x)
        if strip_accents:
            x = tf_text.normalize_utf8(x, "NFD")
            x = tf.strings.regex_replace(x, r"\p{Mn}", "")
        return x

    def split_words(self, inputs):
        """Basic tokenizer: 1-D strings -> ragged (batch, words) of normalized words."""
        x = self.normalize(inputs)
        # Spaces around punctuation and ideographs, then one split on " " (the only
        # whitespace left): ~10x faster than tf-text's regex_split with the same pattern.
        x = tf.strings.regex_replace(x, self._isolate_pattern, " \\1 ")
        return tf.strings.split(x)

    def _tokenize_batch(self, inputs):
        # Accent stripping and CJK splitting never change these lines: any setting fits.
        return by_rows(
            inputs, tf.strings.regex_full_match(inputs, _PLAIN), self._tokenize_plain,
            self._tokenize_exact,
        )

    def _tokenize_plain(self, inputs):
        if self.lowercase:
            inputs = tf.strings.lower(inputs)  # A-Z only, like Python's str.lower() on these
        return self._ascii_wordpiece.tokenize(inputs)

    def _tokenize_exact(self, inputs):
        words = self.split_words(inputs)
        flat = words.flat_values
        too_long = tf.strings.length(flat, unit="UTF8_CHAR") > self.max_chars_per_word
        # The unknown token is itself in the vocabulary, so WordPiece maps it to its id.
        flat = tf.where(too_long, self._unk_token, flat)
        pieces = self._wordpiece.tokenize(flat)  # (words, pieces)
        return words.with_flat_values(pieces).merge_dims(1, 2)

    def _detokenize_batch(self, ids):
        return self._wordpiece.detokenize(ids)

    def _save_files(self, directory):
        with open(os.path.join(directory, VOCAB_FILENAME), "w", encoding="utf-8") as f:
            f.writelines(token + "\n" for token in self._id_to_token_list)
        return {"vocabulary": VOCAB_FILENAME}

    def _file_free_config(self):
        return {
            "lowercase": self.lowercase,
            "strip_accents": self.strip_accents,
            "split_on_cjk": self.split_on_cjk,
            "max_chars_per_word": self.max_chars_per_word,
        }

    def get_config(self):
        config = super().get_config()
        config["vocabulary"] = self.get_vocabulary()
        return config
