import os
import subprocess
import sys

import pytest
import tensorflow as tf

from keras_bert_zoo.tokenizers import BytePairTokenizer
from keras_bert_zoo.tokenizers import SentencePieceTokenizer
from keras_bert_zoo.tokenizers import WordPieceTokenizer
from keras_bert_zoo.tokenizers import load_tokenizer
from keras_bert_zoo.tokenizers import train_sentencepiece
from keras_bert_zoo.tokenizers import train_tokenizer
from keras_bert_zoo.tokenizers import train_wordpiece

TEXTS = ["The assert statement is a convenient way.", "Generators yield values lazily."]


@pytest.mark.parametrize(
    "fixture, cls, first_tokens",
    [
        ("trained_wordpiece", WordPieceTokenizer, ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]),
        ("trained_sentencepiece", SentencePieceTokenizer,
         ["<pad>", "<unk>", "[CLS]", "[SEP]", "[MASK]"]),
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


# Trains the three kinds on the corpus argv[1] into argv[2]/<family>. max_sentences is below the
# corpus's line count, so sentencepiece trains on a sample.
_TRAIN_ALL = """
import sys
from keras_bert_zoo.tokenizers import train_tokenizer
corpus, output_dir = sys.argv[1], sys.argv[2]
train_tokenizer("bert", corpus, 1500, output_dir=output_dir + "/bert")
train_tokenizer("albert", corpus, 1500, output_dir=output_dir + "/albert", max_sentences=4000)
train_tokenizer("roberta", corpus, 1500, output_dir=output_dir + "/roberta")
"""


def _files(directory):
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


def test_training_gives_identical_files_in_two_processes(corpus_files, tmp_path):
    # Two fresh processes with different hash seeds: `tokenizers` and Python both randomize
    # hash-map order per process.
    runs = [tmp_path / "run1", tmp_path / "run2"]
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", _TRAIN_ALL, corpus_files, str(run)],
            env=dict(os.environ, PYTHONHASHSEED=str(i), TF_CPP_MIN_LOG_LEVEL="3"),
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        for i, run in enumerate(runs, start=1)
    ]
    for process in processes:
        output, _ = process.communicate(timeout=600)
        assert process.returncode == 0, output[-3000:]
    for family in ("bert", "albert", "roberta"):
        first, second = (_files(run / family) for run in runs)
        assert sorted(first) == sorted(second), family
        changed = [name for name in first if first[name] != second[name]]
        assert not changed, f"{family}: {changed} differ between two identical trainings"


def test_sentencepiece_ignores_the_core_count(corpus_files, monkeypatch):
    pieces = []
    for cores in (1, 8):
        monkeypatch.setattr(os, "cpu_count", lambda: cores)
        pieces.append(train_sentencepiece(corpus_files, 1000).get_vocabulary())
    assert pieces[0] == pieces[1]


def test_sentencepiece_samples_max_sentences_lines(corpus_files):
    full = train_sentencepiece(corpus_files, 1000)
    sampled = [train_sentencepiece(corpus_files, 1000, max_sentences=2000, seed=seed)
               for seed in (0, 0, 1)]
    assert sampled[0].get_vocabulary() == sampled[1].get_vocabulary()
    assert sampled[0].get_vocabulary() != sampled[2].get_vocabulary()
    assert sampled[0].get_vocabulary() != full.get_vocabulary()


def test_wordpiece_breaks_ties_by_token_string(tmp_path):
    # Three merges of count 3: a+##b, c+##d, e+##f. Room for two: ties go to the smaller
    # token string, whatever the order of the text.
    (tmp_path / "corpus.txt").write_text("ef cd ab\n" * 3, "utf-8")
    tokenizer = train_wordpiece(str(tmp_path / "corpus.txt"), 5 + 6 + 3 + 2)
    assert tokenizer.get_vocabulary()[5:] == [
        "a", "b", "c", "d", "e", "f", "##b", "##d", "##f", "ab", "cd",
    ]
