import json

import keras
import pytest
import sentencepiece
import tensorflow as tf
import tensorflow_text as tf_text

from keras_bert_zoo.tokenizers import SentencePieceTokenizer
from keras_bert_zoo.tokenizers import load_tokenizer
from keras_bert_zoo.tokenizers.sentence_piece_tokenizer import preprocess_text
from tests.tokenizers.saved_model import save_and_load

HARD_TEXTS = [
    "  Crème  brûlée ``quoted'' ", "ΟΔΟΣ ΣΑΣ", "İstanbul", "ﬁ ① …", "tab\tand\nnewline",
    "東京 🍣", "", "   ", "Don't STOP",
    # ASCII texts take a shorter path: whitespace, quotes and case still change.
    " \tASCII ``Quoted'' \x1c\x1fTEXT\x0b ", "a\x00B", "''", "``",
]


@pytest.fixture(scope="module")
def processor(trained_sentencepiece):
    return sentencepiece.SentencePieceProcessor(model_proto=trained_sentencepiece.proto)


def test_identical_to_sentencepiece_processor(trained_sentencepiece, processor, prose_lines):
    """Same ids as SentencePieceProcessor.encode(ALBERT preprocess_text(line)), on every line.

    The model is unigram, so tf-text's stateless kernel runs it. tf-text's resource-based
    kernel bundles another build of SentencePiece, whose Viterbi search breaks exact ties
    differently ("=" * 31 -> 16 + 15 or 15 + 16 "=" pieces of the same total score) on 9 of
    these lines; the stateless one matches on all of them.
    """
    assert isinstance(trained_sentencepiece._sentencepiece, tf_text.FastSentencepieceTokenizer)
    lines = prose_lines + HARD_TEXTS
    ours = trained_sentencepiece.tokenize(tf.constant(lines)).to_list()
    different = [
        line for line, ids in zip(lines, ours) if ids != processor.encode(preprocess_text(line))
    ]
    assert different == []


def test_without_preprocessing_equals_raw_encode(trained_sentencepiece, processor, prose_lines):
    raw = SentencePieceTokenizer(
        trained_sentencepiece.proto, lowercase=False, keep_accents=True, remove_space=False
    )
    lines = [line for line in prose_lines[:3000] if "==" not in line] + HARD_TEXTS
    expected = [
        processor.encode(preprocess_text(line, False, keep_accents=True, remove_space=False))
        for line in lines
    ]
    assert raw.tokenize(lines).to_list() == expected


def test_albert_special_ids_and_continuation(trained_sentencepiece):
    assert trained_sentencepiece.special_token_ids == {
        "pad": 0, "unk": 1, "cls": 2, "sep": 3, "mask": 4,
    }
    vocabulary = trained_sentencepiece.get_vocabulary()
    assert vocabulary[:5] == ["<pad>", "<unk>", "[CLS]", "[SEP]", "[MASK]"]
    table = trained_sentencepiece.continuation_table()
    assert not table[:5].any()
    for i in range(5, len(vocabulary)):
        assert table[i] == (not vocabulary[i].startswith("\u2581")), vocabulary[i]


def test_detokenize(trained_sentencepiece):
    texts = ["the quick brown fox", "lambda x: x + 1"]
    ids = trained_sentencepiece.tokenize(texts)
    assert trained_sentencepiece.detokenize(ids).numpy().tolist() == [t.encode() for t in texts]
    assert trained_sentencepiece.detokenize(ids[0]).numpy() == texts[0].encode()


def test_missing_special_token_is_named(trained_sentencepiece):
    with pytest.raises(ValueError, match=r"no '\[PAD\]' token, no '\[UNK\]' token"):
        SentencePieceTokenizer(trained_sentencepiece.proto, family="bert")


def test_save_load_and_config_round_trip(trained_sentencepiece, tmp_path, prose_lines):
    trained_sentencepiece.save(str(tmp_path))
    with open(tmp_path / "tokenizer_config.json", encoding="utf-8") as f:
        config = json.load(f)
    assert config == {
        "class": "SentencePieceTokenizer", "family": "albert", "files": {"proto": "spiece.model"},
        "keep_accents": False, "lowercase": True, "remove_space": True,
    }
    restored = load_tokenizer(str(tmp_path))
    lines = prose_lines[:300] + HARD_TEXTS
    assert restored.tokenize(lines).to_list() == trained_sentencepiece.tokenize(lines).to_list()
    revived = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(trained_sentencepiece)
    )
    assert revived.proto == trained_sentencepiece.proto
    with pytest.raises(FileNotFoundError, match="does not exist"):
        SentencePieceTokenizer(str(tmp_path / "missing.model"))


@pytest.fixture(scope="module", params=["unigram", "bpe"])
def seeded_tokenizer(request, corpus_files):
    """A tokenizer of each kernel, trained before `set_random_seed` and `clear_session`.

    Both calls clear TensorFlow's kernel cache, which holds the resource of tf-text's
    resource-based SentencePiece kernel (BPE models); unigram models use the stateless one.
    """
    from keras_bert_zoo.tokenizers import train_sentencepiece

    tokenizer = train_sentencepiece(corpus_files, 1000, model_type=request.param)
    traced = tf.function(tokenizer.tokenize)
    first = traced(tf.constant(HARD_TEXTS)).to_list()
    keras.utils.set_random_seed(0)
    keras.backend.clear_session()
    return request.param, tokenizer, first


def test_both_kernels_match_the_processor_after_the_kernel_cache_is_cleared(
    seeded_tokenizer, prose_lines
):
    model_type, tokenizer, first = seeded_tokenizer
    stateless = isinstance(tokenizer._sentencepiece, tf_text.FastSentencepieceTokenizer)
    assert stateless == (model_type == "unigram")
    processor = sentencepiece.SentencePieceProcessor(model_proto=tokenizer.proto)
    lines = [line for line in prose_lines[:2000] if "==" not in line] + HARD_TEXTS
    expected = [processor.encode(preprocess_text(line)) for line in lines]
    assert tokenizer.tokenize(lines).to_list() == expected  # eager
    assert tf.function(tokenizer.tokenize)(tf.constant(lines)).to_list() == expected  # traced
    mapped = tf.data.Dataset.from_tensor_slices(lines).batch(64).map(tokenizer.tokenize)
    assert [ids for batch in mapped for ids in batch.to_list()] == expected
    assert first == expected[-len(HARD_TEXTS):]
    texts = ["the quick brown fox", "lambda x: x + 1"]
    assert tokenizer.detokenize(tokenizer.tokenize(texts)).numpy().tolist() == [
        t.encode() for t in texts
    ]


def test_stateless_kernel_survives_seeding_after_a_saved_model_is_loaded(
    trained_sentencepiece, tmp_path
):
    loaded = save_and_load(
        trained_sentencepiece, lambda texts: trained_sentencepiece.tokenize(texts).to_tensor(),
        [tf.TensorSpec([None], tf.string)], tmp_path / "export",
    )
    texts = tf.constant(["the quick brown fox", "Crème brûlée"])
    expected = trained_sentencepiece.tokenize(texts).to_tensor().numpy()
    keras.utils.set_random_seed(1)
    assert (loaded.serve(texts).numpy() == expected).all()
