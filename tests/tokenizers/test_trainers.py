import os

import pytest
import tensorflow as tf

from keras_bert_zoo.tokenizers import BytePairTokenizer
from keras_bert_zoo.tokenizers import SentencePieceTokenizer
from keras_bert_zoo.tokenizers import WordPieceTokenizer
from keras_bert_zoo.tokenizers import load_tokenizer
from keras_bert_zoo.tokenizers import train_tokenizer
from keras_bert_zoo.tokenizers import train_wordpiece

TEXTS = ["The assert statement is a convenient way.", "Generators yield values lazily."]


@pytest.mark.parametrize(
    "fixture, cls, first_tokens",
    [
        ("trained_wordpiece", WordPieceTokenizer, ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]),
        ("trained_sentencepiece", SentencePieceTokenizer, ["<pad>", "<unk>", "[CLS]", "[SEP]", "[MASK]"]),
        ("trained_bpe", BytePairTokenizer, ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]),
    ],
)
def test_trained_vocabulary_in_tf_data_and_tf_function(request, fixture, cls, first_tokens):
    tokenizer = request.getfixturevalue(fixture)
    assert isinstance(tokenizer, cls)
    assert tokenizer.get_vocabulary()[:5] == first_tokens
    assert 1000 <= tokenizer.vocabulary_size <= 3000
    expected = tokenizer.tokenize(TEXTS).to_list()
    unk = tokenizer.special_token_ids["unk"]
    assert all(row and unk not in row for row in expected)
    # Common words of the corpus are single tokens.
    assert len(tokenizer.tokenize("statement").numpy()) <= 2

    dataset = tf.data.Dataset.from_tensor_slices(TEXTS).batch(2)
    dataset = dataset.map(tokenizer.tokenize, num_parallel_calls=2)
    assert next(iter(dataset)).to_list() == expected
    unbatched = tf.data.Dataset.from_tensor_slices(TEXTS).map(tokenizer.tokenize)
    assert [x.numpy().tolist() for x in unbatched] == expected
    assert tf.function(tokenizer.tokenize)(tf.constant(TEXTS)).to_list() == expected


def test_train_tokenizer_writes_output_dir(corpus_files, tmp_path):
    for family in ("bert", "albert", "bart"):
        directory = tmp_path / family
        tokenizer = train_tokenizer(family, corpus_files, 1200, output_dir=str(directory))
        assert (directory / "tokenizer_config.json").exists()
        restored = load_tokenizer(str(directory))
        assert restored.family == family
        assert restored.tokenize(TEXTS).to_list() == tokenizer.tokenize(TEXTS).to_list()
    with pytest.raises(ValueError, match="unknown family='gpt'"):
        train_tokenizer("gpt", corpus_files, 100)


def test_sentencepiece_leaves_no_files_behind(corpus_files, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    train_tokenizer("albert", corpus_files, 800)
    assert os.listdir(tmp_path) == []


def test_no_matching_files(tmp_path):
    pattern = str(tmp_path / "nothing" / "*.txt")
    with pytest.raises(FileNotFoundError, match="no files match .*nothing"):
        train_wordpiece(pattern, 100)


def test_empty_corpus(tmp_path):
    (tmp_path / "empty.txt").write_text("\n  \n\n", "utf-8")
    for family in ("bert", "albert", "roberta"):
        with pytest.raises(ValueError, match="corpus is empty"):
            train_tokenizer(family, str(tmp_path / "*.txt"), 100)


def test_invalid_utf8(tmp_path, prose_documents):
    path = tmp_path / "bad.txt"
    path.write_bytes("\n".join(prose_documents[:20]).encode() + b"\nbad \xff\xfe bytes\n")
    with pytest.raises(ValueError, match=r"bad.txt:\d+: invalid UTF-8"):
        train_wordpiece(str(path), 500, errors="strict")
    with pytest.warns(UserWarning, match="1 line"):
        tokenizer = train_wordpiece(str(path), 500)
    assert tokenizer.vocabulary_size <= 500
