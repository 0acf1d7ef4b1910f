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
    # Contractions start only where a word ended: after letters, numbers, other white space.
    "'sys' don't'sy a''s x.'s 5's it's's \n'll \t're \x00're 's 'S 'r 'l 'lla", "'", "'ve",
    "\x00", "a\x00b \x00 \x00\x00'd",
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


def _tiny_vocabulary(tokens):
    from keras_bert_zoo.tokenizers.byte_pair_tokenizer import bytes_to_unicode

    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    everything = specials + bytes_to_unicode() + [t for t in tokens if t not in specials]
    return {t: i for i, t in enumerate(dict.fromkeys(everything))}


@pytest.mark.parametrize(
    "merges",
    [
        ["a b", "ab ab", "= =", "== ==", "==== ===="],  # trained order: merges all occurrences
        ["ab a", "a b"],  # "ab a" ranks before "ab" exists: leftmost occurrence only
    ],
)
def test_merge_order_matches_huggingface(merges, tmp_path):
    from tokenizers import ByteLevelBPETokenizer

    vocabulary = _tiny_vocabulary([m.replace(" ", "") for m in merges])
    ours = BytePairTokenizer(vocabulary, merges)
    assert ours._merge_every_occurrence == (merges[0] == "a b")
    ours.save(str(tmp_path))
    theirs = ByteLevelBPETokenizer(str(tmp_path / "vocab.json"), str(tmp_path / "merges.txt"))
    texts = ["abab", "ababab", "aba", "abababa b", "=" * 13, "=" * 32, "a=b=ab==ab"]
    assert ours.tokenize(texts).to_list() == [e.ids for e in theirs.encode_batch(texts)]
    if merges[0] == "ab a":  # the leftmost merge creates "ab a", which ranks first
        assert ours.tokenize("abab").numpy().tolist() == [vocabulary["aba"], vocabulary["b"]]


def test_vocabulary_words_are_looked_up_only_when_they_merge_into_themselves():
    # "abc" is a token, but its bytes merge into "ab" "c": "bc" is never formed first.
    vocabulary = _tiny_vocabulary(["ab", "bc", "abc"])
    tokenizer = BytePairTokenizer(vocabulary, ["a b", "b c", "a bc"])
    table = tokenizer._word_ids
    ids = table.lookup(tf.constant(["ab", "abc", "bc", "a"])).numpy().tolist()
    assert ids == [vocabulary["ab"], -1, vocabulary["bc"], vocabulary["a"]]
    assert tokenizer.tokenize("abc").numpy().tolist() == [vocabulary["ab"], vocabulary["c"]]


def test_character_classes_cover_every_letter_number_and_space():
    from keras_bert_zoo.tokenizers import byte_pair_tokenizer as module

    classes = module.character_classes()
    assert classes[ord("a")] == module._LETTER and classes[ord("٣")] == module._NUMBER
    assert classes[ord(" ")] == module._SPACE and classes[0x3000] == module._WHITE_SPACE
    assert classes[ord("'")] == classes[0] == module._OTHER
    # Nothing above the table is a letter, number or white space for RE2.
    above = tf.strings.unicode_encode(
        tf.range(len(classes), 0x110000)[:, None], "UTF-8"
    )
    special = tf.strings.regex_full_match(above, r"[\p{L}\p{N}\s\x{85}\x{A0}]")
    assert not special.numpy().any()


def test_invalid_utf8_is_replaced_like_python(trained_bpe, huggingface):
    # A batch with an invalid sequence is transcoded first; U+10FFFF (what the decoder marks
    # invalid sequences with) may also be a real character.
    invalid = [
        b"ab\xffcd it's", b"\xe2\x82", b"x\xed\xa0\x80y 's", b"\xc0\xaf \xf8\x88\x80\x80\x80 \xe2",
    ]
    valid = ["caf\u00e9 \U0010FFFF z".encode(), b"plain text"]
    for batch in (invalid + valid, valid):
        ids = trained_bpe.tokenize(tf.constant(batch)).to_list()
        texts = [b.decode("utf-8", "replace") for b in batch]
        assert ids == [e.ids for e in huggingface.encode_batch(texts)]
