"""Shared fixtures: a small corpus from the embedded default corpus and in-graph tokenizers."""

import collections
import re

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_text as tf_text

from keras_bert_zoo.data.corpora import default_corpus_texts, write_default_corpus

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
SPECIAL_IDS = {"pad": 0, "unk": 1, "cls": 2, "sep": 3, "mask": 4}
# RoBERTa / BART roles on the same ids.
SEQ2SEQ_IDS = {"pad": 0, "unk": 1, "bos": 2, "eos": 3, "mask": 4}
PUNCTUATION = r"([.!?,;:()\[\]{}\"'`=<>*/+-])"


def _words(texts):
    counts = collections.Counter()
    for text in texts:
        counts.update(re.sub(PUNCTUATION, r" \1 ", text.lower()).split())
    return counts


class WordTokenizer:
    """Word-level tokenizer: lowercase, split punctuation, tf.lookup over a fixed vocab."""

    def __init__(self, texts, size=4000):
        words = [w for w, _ in _words(texts).most_common(size - len(SPECIAL_TOKENS))]
        self.vocabulary = SPECIAL_TOKENS + words
        self.continuation_table = np.zeros(len(self.vocabulary), bool)  # every token a word
        self.table = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(
                tf.constant(self.vocabulary), tf.range(len(self.vocabulary), dtype=tf.int32)
            ),
            default_value=SPECIAL_IDS["unk"],
        )

    def __call__(self, texts):
        text = tf.strings.regex_replace(tf.strings.lower(texts), PUNCTUATION, r" \1 ")
        return self.table.lookup(tf.strings.split(text))


class WordPieceTokenizer:
    """tensorflow_text FastWordpieceTokenizer over frequent words plus ## characters."""

    def __init__(self, texts, num_words=1500):
        counts = _words(texts)
        chars = sorted({c for word in counts for c in word})
        words = [w for w, _ in counts.most_common(num_words)]
        pieces = SPECIAL_TOKENS + list(dict.fromkeys(chars + words)) + ["##" + c for c in chars]
        self.vocabulary = pieces
        self.continuation_table = np.array([p.startswith("##") for p in pieces])
        self.tokenizer = tf_text.FastWordpieceTokenizer(
            vocab=pieces, token_out_type=tf.int32, unknown_token="[UNK]"
        )

    def __call__(self, texts):
        return self.tokenizer.tokenize(tf_text.case_fold_utf8(texts))


@pytest.fixture(scope="session")
def corpus_texts():
    return default_corpus_texts()[:60]


@pytest.fixture(scope="session")
def corpus_dir(tmp_path_factory):
    """60 real documents in 4 files."""
    directory = tmp_path_factory.mktemp("corpus")
    write_default_corpus(str(directory), num_files=4, max_documents=60)
    return str(directory)


@pytest.fixture(scope="session")
def word_tokenizer(corpus_texts):
    return WordTokenizer(corpus_texts)


@pytest.fixture(scope="session")
def wordpiece_tokenizer(corpus_texts):
    return WordPieceTokenizer(corpus_texts)
