import json

import keras
import pytest
import tensorflow as tf
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from keras_bert_zoo.tokenizers import BytePairTokenizer
from keras_bert_zoo.tokenizers import load_tokenizer

_SPACES = [
    "\t", "\n", "\x0b", "\x0c", "\r", "\x1c", "\x1f", "\x85", "\xa0", "\u1680", "\u180e",
    "\u2000", "\u200a", "\u200b", "\u2028", "\u2029", "\u202f", "\u205f", "\u3000", "\ufeff",
]
HARD_TEXTS = [
    "  leading spaces", "trailing spaces   ", "a  \nb", "x \n\n  y\n", "a\t\tb", "a \t b",
    "a\r\nb", "\n\n", " \n ", " ", "", "it's we're they'll I'M you'VE ''s 's",
    "héllo wörld … 東京 🍣 👍🏽", "=" * 80, "x६ ६ <mask> <s>", "12345 3.14159 1e-10",
    "Crème brûlée, naïve café",
] + [f"a{w}b a {w} b a{w}{w} b{w}" for w in _SPACES]


@pytest.fixture(scope="module")
def huggingface(trained_bpe, tmp_path_factory):
    from tokenizers import ByteLevelBPETokenizer

    directory = tmp_path_factory.mktemp("bpe")
    trained_bpe.save(str(directory))
    return ByteLevelBPETokenizer(str(directory / "vocab.json"), str(directory / "merges.txt"))


def test_identical_to_huggingface_on_prose(trained_bpe, huggingface, prose_documents, prose_lines):
    # Whole documents keep their newlines and indentation; lines test leading/trailing text.
    texts = prose_documents + prose_lines + HARD_TEXTS
    tokenize = tf.function(trained_bpe.tokenize)
    ours = []
    for i in range(0, len(texts), 512):
        ours += tokenize(tf.constant(texts[i : i + 512])).to_list()
    theirs = [e.ids for e in huggingface.encode_batch(texts)]
    different = [text for text, a, b in zip(texts, ours, theirs) if a != b]
    assert different == []


def test_detokenize_is_exact_inverse(trained_bpe, prose_documents):
    texts = prose_documents[:50] + HARD_TEXTS
    ids = trained_bpe.tokenize(texts)
    decoded = [t.decode("utf-8") for t in trained_bpe.detokenize(ids).numpy()]
    assert decoded == texts
    assert trained_bpe.detokenize(ids[0]).numpy().decode() == texts[0]


@settings(max_examples=50, deadline=None)
@given(st.lists(st.text(max_size=200), min_size=1, max_size=3))
def test_fuzz_round_trip(trained_bpe, huggingface, texts):
    ids = trained_bpe.tokenize(tf.constant([t.encode("utf-8", "surrogatepass") for t in texts]))
    assert ids.dtype == tf.int32 and ids.nrows() == len(texts)
    assert ids.flat_values.numpy().min(initial=0) >= 0
    safe = [t for t in texts if not any(0xD800 <= ord(c) <= 0xDFFF for c in t)]
    if len(safe) == len(texts):
        assert ids.to_list() == [e.ids for e in huggingface.encode_batch(texts)]
        decoded = trained_bpe.detokenize(ids).numpy()
        assert [d.decode() for d in decoded] == texts


def test_special_tokens_and_continuation(trained_bpe):
    assert trained_bpe.special_token_ids == {
        "cls": 0, "bos": 0, "pad": 1, "sep": 2, "eos": 2, "unk": 3, "mask": 4,
    }
    assert trained_bpe.all_special_ids == [0, 1, 2, 3, 4]
    table = trained_bpe.continuation_table()
    vocabulary = trained_bpe.get_vocabulary()
    assert table.shape == (trained_bpe.vocabulary_size,)
    for i in range(5, len(vocabulary)):
        assert table[i] == (not vocabulary[i].startswith("\u0120")), vocabulary[i]
    assert not table[:5].any()


def test_missing_special_token_is_named(trained_bpe):
    vocabulary = {t: i for i, t in enumerate(trained_bpe.get_vocabulary()) if t != "<mask>"}
    vocabulary = {t: i for i, t in enumerate(sorted(vocabulary, key=vocabulary.get))}
    with pytest.raises(ValueError, match="no '<mask>' token"):
        BytePairTokenizer(vocabulary, [])


def test_bad_merge_is_named():
    tokens = ["<s>", "<pad>", "</s>", "<unk>", "<mask>", "a", "b"]
    with pytest.raises(ValueError, match="'ab'"):
        BytePairTokenizer({t: i for i, t in enumerate(tokens)}, ["a b"])


def test_save_load_and_config_round_trip(trained_bpe, tmp_path, prose_lines):
    trained_bpe.save(str(tmp_path))
    with open(tmp_path / "tokenizer_config.json", encoding="utf-8") as f:
        config = json.load(f)
    assert config["class"] == "BytePairTokenizer" and config["family"] == "roberta"
    restored = load_tokenizer(str(tmp_path))
    lines = prose_lines[:300] + HARD_TEXTS
    assert restored.tokenize(lines).to_list() == trained_bpe.tokenize(lines).to_list()
    revived = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(trained_bpe)
    )
    assert revived.tokenize(lines).to_list() == trained_bpe.tokenize(lines).to_list()
