import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from keras_bert_zoo.tokenizers import WordPieceTokenizer
from keras_bert_zoo.tokenizers import load_tokenizer
from tests.tokenizers import bert_reference
from tests.tokenizers.saved_model import save_and_load

# Reference outputs of the original tokenizer and model (copied from the shared data set).
DATA = os.path.join(os.path.dirname(__file__), "..", "convert", "data")
REFERENCE = os.path.join(DATA, "minilm_reference.npz")

# Lines that stress the basic tokenizer: the ellipsis tf-text case-folds, accents, CJK, control
# and format characters, emoji, Unicode spaces, compatibility characters, long words.
HARD_LINES = [
    "Wait… what?! “Quoted” — and ‘single’ «guillemets»",
    "Crème brûlée, naïve café, Zürich, São Paulo, Ångström, Øresund",
    "I visited 東京 and 北京 last spring; 한국어 and カタカナ too.",
    "tab\there\x00nul\x01ctl\x7fdel\x85nel\u200bzwsp\u200dzwj\ufeffbom\ufffdrepl",
    "emoji 🍣🤖👍🏽 and flags 🇫🇷 and ① ㍿ ﬁ ﬀ Ⅻ ǅ",
    "nbsp\u00a0thin\u2009ideographic\u3000line\u2028para\u2029end",
    "a" * 100 + " " + "b" * 101 + " " + "é" * 101,
    "İstanbul DİYARBAKIR ß ẞ",
    "hyphen-ated under_score e.g. U.S.A. $12.50 7:30pm 1,000,000",
    "",
    "   ",
]


@pytest.fixture(scope="module")
def tokenizer(minilm_vocab):
    return WordPieceTokenizer(minilm_vocab)


@pytest.fixture(scope="module")
def vocab(tokenizer):
    return {t: i for i, t in enumerate(tokenizer.get_vocabulary())}


def _tokenize_all(tokenizer, lines, batch_size=1024):
    tokenize = tf.function(tokenizer.tokenize)
    ids = []
    for i in range(0, len(lines), batch_size):
        ids += tokenize(tf.constant(lines[i : i + batch_size])).to_list()
    return ids


def test_minilm_reference_ids_exact(tokenizer):
    reference = np.load(REFERENCE)
    with open(os.path.join(DATA, "minilm_sentences.json"), encoding="utf-8") as f:
        sentences = json.load(f)["sentences"]
    assert len(sentences) == 8
    cls, sep = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    for i, sentence in enumerate(sentences):
        if isinstance(sentence, list):  # a pair
            a, b = (tokenizer.tokenize(s).numpy().tolist() for s in sentence)
            ids = [cls] + a + [sep] + b + [sep]
        else:
            ids = [cls] + tokenizer.tokenize(sentence).numpy().tolist() + [sep]
        expected = reference["input_ids"][i, : reference["lengths"][i]].tolist()
        assert ids == expected, f"sentence {i}: {sentence!r}"
    assert int(reference["lengths"].max()) == 83


def test_identical_to_huggingface_on_prose(tokenizer, minilm_vocab, prose_lines):
    """Every prose line gets the ids of `tokenizers`' BERT pipeline (BertWordPieceTokenizer's
    normalizer, pre-tokenizer and model, built without added tokens so that a literal "[CLS]"
    in the text is text, as in the original)."""
    from tokenizers import Tokenizer
    from tokenizers import models
    from tokenizers import normalizers
    from tokenizers import pre_tokenizers

    hf = Tokenizer(models.WordPiece.from_file(minilm_vocab, unk_token="[UNK]"))
    hf.normalizer = normalizers.BertNormalizer(
        clean_text=True, handle_chinese_chars=True, strip_accents=True, lowercase=True
    )
    hf.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    lines = prose_lines + HARD_LINES
    assert len(lines) > 10_000
    ours = _tokenize_all(tokenizer, lines)
    theirs = [e.ids for e in hf.encode_batch(lines, add_special_tokens=False)]
    different = [line for line, a, b in zip(lines, ours, theirs) if a != b]
    assert different == []


def test_identical_to_python_reference(tokenizer, vocab, prose_lines):
    greek = ["ΟΔΟΣ ΣΑΣ Α.Σ. ΑΣ' Σ ΣΣ ΑΣΑΣ", "ΟΔΥΣΣΕΥΣ."]  # final sigma, as str.lower()
    lines = prose_lines[:2000] + HARD_LINES + greek
    ours = _tokenize_all(tokenizer, lines)
    for line, ids in zip(lines, ours):
        assert ids == bert_reference.tokenize_ids(line, vocab), line


@settings(max_examples=50, deadline=None)
@given(
    st.lists(
        st.text(
            st.characters(max_codepoint=0x2BFF, blacklist_categories=("Cs", "Cn")),
            max_size=200,
        ),
        min_size=1,
        max_size=3,
    )
)
def test_fuzz_matches_reference(tokenizer, vocab, texts):
    ids = tokenizer.tokenize(tf.constant(texts))
    assert isinstance(ids, tf.RaggedTensor) and ids.dtype == tf.int32
    assert ids.shape.rank == 2 and ids.nrows() == len(texts)
    for text, row in zip(texts, ids.to_list()):
        assert row == bert_reference.tokenize_ids(text, vocab)


def test_invalid_utf8_bytes_are_dropped(tokenizer):
    ids = tokenizer.tokenize(tf.constant([b"caf\xc3\xa9 \xff\xfe ok"])).to_list()[0]
    assert ids == tokenizer.tokenize("café ok").numpy().tolist()


def test_word_longer_than_100_chars_is_unknown(tokenizer):
    unk = tokenizer.token_to_id("[UNK]")
    assert tokenizer.tokenize("a" * 101).numpy().tolist() == [unk]
    assert unk not in tokenizer.tokenize("a" * 100).numpy().tolist()
    # Characters, not bytes: 60 two-byte characters are still a normal word.
    assert tokenizer.tokenize("é" * 60).numpy().tolist() != [unk]


def test_ellipsis_is_kept(tokenizer):
    # tf-text's case_fold_utf8 would give three "." tokens.
    assert tokenizer.tokenize("…").numpy().tolist() == [tokenizer.token_to_id("…")]


def test_cased_mode(minilm_vocab):
    vocab = WordPieceTokenizer(minilm_vocab).get_vocabulary()
    vocab = vocab + ["Hello", "Café", "##World", "café"]
    cased = WordPieceTokenizer(vocab, lowercase=False)
    hello, cafe, world = (vocab.index(t) for t in ("Hello", "Café", "##World"))
    assert cased.tokenize("Hello Café").numpy().tolist() == [hello, cafe]
    assert cased.tokenize("HelloWorld").numpy().tolist() == [hello, world]
    token_ids = {t: i for i, t in enumerate(vocab)}
    for line in HARD_LINES:
        expected = bert_reference.tokenize_ids(line, token_ids, lowercase=False)
        assert cased.tokenize(line).numpy().tolist() == expected, line
    # Uncased but keeping accents.
    keep = WordPieceTokenizer(vocab, lowercase=True, strip_accents=False)
    assert keep.tokenize("Café").numpy().tolist() == [token_ids["café"]]


def test_shapes_and_dtypes(tokenizer):
    single = tokenizer.tokenize("hello world")
    assert isinstance(single, tf.Tensor) and single.dtype == tf.int32 and single.shape.rank == 1
    batch = tokenizer.tokenize(["hello", "", "hello world"])
    assert isinstance(batch, tf.RaggedTensor) and batch.dtype == tf.int32
    assert batch.row_lengths().numpy().tolist() == [1, 0, 2]
    assert tokenizer(tf.constant(["hello"])).to_list() == batch[:1].to_list()
    with pytest.raises(ValueError, match="1-D"):
        tokenizer.tokenize([["a"]])


def test_detokenize(tokenizer):
    ids = tokenizer.tokenize(["Unaffable tokenization, isn't it?", "hello"])
    text = tokenizer.detokenize(ids).numpy().tolist()
    assert text == [b"unaffable tokenization , isn ' t it ?", b"hello"]
    assert tokenizer.detokenize(ids[1]).numpy() == b"hello"


def test_vocabulary_queries_and_special_tokens(tokenizer):
    assert tokenizer.vocabulary_size == 30522
    assert tokenizer.special_token_ids == {
        "cls": 101, "sep": 102, "mask": 103, "pad": 0, "unk": 100,
    }
    assert tokenizer.all_special_ids == [0, 100, 101, 102, 103]
    assert tokenizer.id_to_token(7592) == "hello"
    assert tokenizer.token_to_id("hello") == 7592
    with pytest.raises(KeyError, match="not in the vocabulary"):
        tokenizer.token_to_id("not-a-token")
    table = tokenizer.continuation_table()
    assert table.shape == (30522,) and table.dtype == bool
    assert table[tokenizer.token_to_id("##s")] and not table[7592] and not table[101]


def test_missing_special_token_is_named():
    with pytest.raises(ValueError, match=r"no '\[MASK\]' token"):
        WordPieceTokenizer(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "hello"])


def test_save_load_and_config_round_trip(tokenizer, tmp_path, prose_lines):
    tokenizer.save(str(tmp_path))
    with open(tmp_path / "tokenizer_config.json", encoding="utf-8") as f:
        config = json.load(f)
    assert config["class"] == "WordPieceTokenizer" and config["lowercase"] is True
    assert config["family"] == "bert"
    restored = load_tokenizer(str(tmp_path))
    lines = prose_lines[:300] + HARD_LINES
    assert restored.tokenize(lines).to_list() == tokenizer.tokenize(lines).to_list()
    clone = WordPieceTokenizer.from_config(tokenizer.get_config())
    assert clone.get_config() == tokenizer.get_config()
    revived = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(tokenizer))
    assert revived.tokenize(lines).to_list() == tokenizer.tokenize(lines).to_list()


def test_in_tf_data_and_saved_model(tokenizer, tmp_path):
    texts = ["Hello world!", "Crème brûlée …", "東京"]
    expected = tokenizer.tokenize(texts).to_list()
    dataset = tf.data.Dataset.from_tensor_slices(texts).batch(3).map(tokenizer.tokenize)
    assert next(iter(dataset)).to_list() == expected

    loaded = save_and_load(tokenizer, lambda x: tokenizer.tokenize(x).to_tensor(),
                           [tf.TensorSpec([None], tf.string)], tmp_path / "saved")
    dense = loaded.serve(tf.constant(texts)).numpy()
    assert [row[: len(e)].tolist() for row, e in zip(dense, expected)] == expected
