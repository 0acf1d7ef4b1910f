"""TokenTagger: word -> sub-word alignment, decoding, entity F1, learning, safe-mode saving."""


import keras
import numpy as np
import pydoc_data.topics
import pytest
import tensorflow as tf

from keras_bert_zoo.models import AlbertBackbone, BertBackbone, RobertaBackbone
from keras_bert_zoo.tasks.tagger import (NO_WORD, TokenTagger, align_labels, decode_word_tags,
                                         encode_words, entity_f1, get_entities,
                                         predict_word_tags, split_text_into_words)
from keras_bert_zoo.tokenizers import (WordPieceTokenizer, train_byte_level_bpe,
                                       train_sentencepiece)

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
VOCAB = SPECIALS + ["johan", "##son", "lives", "in", "zu", "##ri", "##ch", ".", "ber", "##lin"]
SMALL = dict(num_layers=1, num_heads=2, hidden_dim=16, intermediate_dim=32,
             max_sequence_length=32)
SENTENCES = [["Johanson", "lives", "in", "Zürich", "."],
             ["Dr.", "O'Neil", "left", "São", "Paulo", "in", "1999", "!"]]


@pytest.fixture(scope="module")
def trained_tokenizers(tmp_path_factory):
    directory = tmp_path_factory.mktemp("corpus")
    topics = list(pydoc_data.topics.topics.values())[:40]
    lines = [" ".join(s) for s in SENTENCES] * 20
    (directory / "corpus.txt").write_text("\n".join(topics + lines), "utf-8")
    pattern = str(directory / "*.txt")
    return {"sentencepiece": train_sentencepiece(pattern, 400),
            "bpe": train_byte_level_bpe(pattern, 400)}


def test_align_labels_labels_the_first_subword_only():
    tokenizer = WordPieceTokenizer(VOCAB)
    words = SENTENCES[0]
    inputs, labels, weights = align_labels([words], [["B-PER", "O", "O", "B-LOC", "O"]],
                                           tokenizer, 12, tag_names=["O", "B-PER", "B-LOC"])
    #        [CLS] johan ##son lives in zu ##ri ##ch . [SEP]
    assert inputs["token_ids"][0].tolist() == [2, 5, 6, 7, 8, 9, 10, 11, 12, 3, 0, 0]
    assert labels[0].tolist() == [0, 1, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0]
    assert weights[0].tolist() == [0, 1, 0, 1, 1, 1, 0, 0, 1, 0, 0, 0]
    assert inputs["padding_mask"][0].tolist() == [1] * 10 + [0] * 2
    _, word_ids = encode_words([words], tokenizer, 12)
    assert word_ids[0].tolist() == [NO_WORD, 0, 0, 1, 2, 3, 3, 3, 4, NO_WORD, NO_WORD, NO_WORD]
    # Decoding reads each word's first sub-word: the gold labels come back.
    assert decode_word_tags(labels, word_ids, tag_names=["O", "B-PER", "B-LOC"]) == [
        ["B-PER", "O", "O", "B-LOC", "O"]]
    one_hot = np.eye(3)[labels]
    assert decode_word_tags(one_hot, word_ids) == [[1, 0, 0, 2, 0]]


def test_cut_words_lose_their_labels_and_decode_to_the_default():
    tokenizer = WordPieceTokenizer(VOCAB)
    _, labels, weights = align_labels([SENTENCES[0]], [[1, 0, 0, 2, 0]], tokenizer, 6)
    assert weights.sum() == 3  # [CLS] johan ##son lives in [SEP]: zürich and "." are cut
    _, word_ids = encode_words([SENTENCES[0]], tokenizer, 6)
    assert decode_word_tags(labels, word_ids, num_words=[5], default="?") == [
        [1, 0, 0, "?", "?"]]


@pytest.mark.parametrize("kind", ["sentencepiece", "bpe"])
def test_alignment_with_sentencepiece_and_byte_level_bpe(trained_tokenizers, kind):
    tokenizer = trained_tokenizers[kind]
    tags = [list(range(len(s))) for s in SENTENCES]
    inputs, labels, weights = align_labels(SENTENCES, tags, tokenizer, 40)
    for i, words in enumerate(SENTENCES):
        # Word-by-word tokenization equals tokenizing the sentence (BPE: " word").
        whole = tokenizer.tokenize(" ".join(words)).numpy().tolist()
        n = int(inputs["padding_mask"][i].sum())
        assert inputs["token_ids"][i, 1:n - 1].tolist() == whole
        assert weights[i].sum() == len(words)
        assert sum(len(tokenizer.tokenize(w).numpy()) for w in words) <= len(whole)
    _, word_ids = encode_words(SENTENCES, tokenizer, 40)
    assert decode_word_tags(labels, word_ids) == tags


def test_split_text_into_words_isolates_punctuation():
    words = split_text_into_words(["Johanson lives in Zürich.", "", "  Dr.O'Neil\u00a0x "])
    assert [[w.decode() for w in row] for row in words.to_list()] == [
        ["Johanson", "lives", "in", "Zürich", "."], [], ["Dr", ".", "O", "'", "Neil", "x"]]


def test_get_entities_follows_conlleval():
    tags = ["B-PER", "I-PER", "O", "I-LOC", "I-LOC", "B-LOC", "I-ORG", "O", "B-MISC"]
    assert get_entities(tags) == [("PER", 0, 2), ("LOC", 3, 5), ("LOC", 5, 6),
                                  ("ORG", 6, 7), ("MISC", 8, 9)]
    assert get_entities(["O", "O"]) == []
    # BIOES tags too.
    assert get_entities(["S-PER", "B-LOC", "E-LOC", "O"]) == [("PER", 0, 1), ("LOC", 1, 3)]


def test_entity_f1_on_hand_made_sequences():
    gold = [["B-PER", "I-PER", "O", "B-LOC", "O"], ["B-ORG", "O", "B-LOC", "I-LOC"]]
    pred = [["B-PER", "I-PER", "O", "B-ORG", "O"],  # PER right, LOC typed as ORG
            ["B-ORG", "O", "B-LOC", "O"]]  # ORG right, LOC boundary wrong
    # gold: PER, LOC, ORG, LOC (4); predicted: PER, ORG, ORG, LOC (4); correct: PER, ORG.
    scores = entity_f1(gold, pred)
    assert scores["precision"] == pytest.approx(0.5)
    assert scores["recall"] == pytest.approx(0.5)
    assert scores["f1"] == pytest.approx(0.5)
    assert scores["per_type"]["LOC"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0,
                                         "support": 2}
    assert scores["per_type"]["ORG"]["precision"] == pytest.approx(0.5)
    assert scores["per_type"]["ORG"]["recall"] == pytest.approx(1.0)
    # 3 gold, 2 predicted, 2 correct: P = 1, R = 2/3, F1 = 0.8.
    scores = entity_f1([["B-A", "O", "B-B", "I-B", "B-C"]], [["B-A", "O", "B-B", "I-B", "O"]])
    assert (scores["precision"], scores["recall"]) == (1.0, pytest.approx(2 / 3))
    assert scores["f1"] == pytest.approx(0.8)
    assert entity_f1([["O"]], [["O"]])["f1"] == 0.0
    with pytest.raises(ValueError, match="sentence 0: 2 gold tags but 1 predicted"):
        entity_f1([["O", "O"]], [["O"]])


def _synthetic_sentences(rng, n):
    """Tag 1 = capitalized word, 2 = number (split into several sub-words), 0 = other."""
    lower = ["the", "cat", "sat", "on", "mat", "and", "ran", "far", "away", "home"]
    upper = ["Paris", "Anna", "Rome", "Bob", "Oslo", "Tim"]
    numbers = ["12", "345", "2024", "7", "99"]
    sentences, tags = [], []
    for _ in range(n):
        words, labels = [], []
        for _ in range(rng.integers(3, 9)):
            kind = rng.integers(0, 3)
            pool = (lower, upper, numbers)[kind]
            words.append(pool[rng.integers(len(pool))])
            labels.append(int(kind))
        sentences.append(words)
        tags.append(labels)
    return sentences, tags


def test_tiny_tagger_learns_a_synthetic_task():
    keras.utils.set_random_seed(0)
    vocab = SPECIALS + ("the cat sat on mat and ran far away home Paris Anna Rome Bob Oslo Tim "
                        "1 2 3 4 5 7 9 ##1 ##2 ##3 ##4 ##5 ##0 ##9").split()
    tokenizer = WordPieceTokenizer(vocab, lowercase=False)
    rng = np.random.default_rng(0)
    words, tags = _synthetic_sentences(rng, 512)
    inputs, labels, weights = align_labels(words, tags, tokenizer, 24)
    assert (inputs["token_ids"] == 1).sum() == 0  # no [UNK]: numbers are split
    backbone = BertBackbone(vocabulary_size=len(vocab), **dict(SMALL, hidden_dim=32,
                                                               num_layers=2, dropout=0.0))
    model = TokenTagger(backbone, num_tags=3, tag_names=["O", "CAP", "NUM"], dropout=0.0)
    model.compile(keras.optimizers.Adam(3e-3))
    history = model.fit(inputs, labels, sample_weight=weights, epochs=6, batch_size=32,
                        verbose=0).history
    assert history["token_accuracy"][-1] > 0.9
    test_words, test_tags = _synthetic_sentences(np.random.default_rng(1), 100)
    predicted = predict_word_tags(model, tokenizer, test_words, 24)
    names = ["O", "CAP", "NUM"]
    flat_gold = [names[t] for row in test_tags for t in row]
    flat_pred = [t for row in predicted for t in row]
    accuracy = np.mean([a == b for a, b in zip(flat_gold, flat_pred)])
    assert accuracy > 0.95, accuracy


def test_loss_ignores_tokens_of_weight_zero():
    backbone = BertBackbone(vocabulary_size=len(VOCAB), **SMALL)
    model = TokenTagger(backbone, num_tags=3, dropout=0.0)
    inputs, labels, weights = align_labels([SENTENCES[0]], [[1, 0, 0, 2, 0]],
                                           WordPieceTokenizer(VOCAB), 12)
    logits = model(inputs)
    loss = float(model.compute_loss(inputs, labels, logits, weights))
    other = np.where(weights > 0, labels, 2)  # change only the ignored labels
    assert float(model.compute_loss(inputs, other, logits, weights)) == pytest.approx(loss)
    logp = tf.nn.log_softmax(logits).numpy()
    expected = -(np.take_along_axis(logp, labels[..., None], -1)[..., 0] * weights).sum()
    assert loss == pytest.approx(expected / weights.sum(), rel=1e-5)


@pytest.mark.parametrize("cls, extra", [(BertBackbone, {}),
                                        (AlbertBackbone, {"embedding_dim": 8}),
                                        (RobertaBackbone, {})])
def test_config_round_trip_and_safe_mode_save(cls, extra, tmp_path):
    backbone = cls(vocabulary_size=40, **SMALL, **extra)
    model = TokenTagger(backbone, num_tags=4, tag_names=["O", "B-X", "I-X", "B-Y"],
                        dropout=0.2)
    rng = np.random.default_rng(0)
    inputs = {"token_ids": rng.integers(5, 40, (2, 9)).astype("int32"),
              "padding_mask": np.ones((2, 9), "int32")}
    if "segment_ids" in model.input:
        inputs["segment_ids"] = np.zeros((2, 9), "int32")
    logits = np.asarray(model(inputs))
    assert logits.shape == (2, 9, 4) and logits.dtype == np.float32
    config = model.get_config()
    assert (config["num_tags"], config["tag_names"], config["dropout"]) == (
        4, ["O", "B-X", "I-X", "B-Y"], 0.2)
    clone = TokenTagger.from_config(config)
    assert clone.get_config() == config
    path = str(tmp_path / "tagger.keras")
    model.save(path)
    restored = keras.saving.load_model(path, safe_mode=True)
    assert type(restored) is TokenTagger and restored.tag_names == model.tag_names
    np.testing.assert_allclose(np.asarray(restored(inputs)), logits, atol=1e-5)


def test_mixed_precision_logits_are_float32():
    backbone = BertBackbone(vocabulary_size=len(VOCAB), **SMALL, dtype="mixed_bfloat16")
    model = TokenTagger(backbone, num_tags=3)
    inputs, _, _ = align_labels([SENTENCES[0]], [[0] * 5], WordPieceTokenizer(VOCAB), 12)
    assert model(inputs).dtype == "float32"
    assert model.dtype_policy.name == "mixed_bfloat16"


def test_errors_name_the_problem():
    backbone = BertBackbone(vocabulary_size=len(VOCAB), **SMALL)
    with pytest.raises(ValueError, match="tag_names has 2 names but num_tags=3"):
        TokenTagger(backbone, num_tags=3, tag_names=["O", "B"])
    tokenizer = WordPieceTokenizer(VOCAB)
    with pytest.raises(ValueError, match="sentence 0 has 5 words but 4 labels"):
        align_labels([SENTENCES[0]], [[0] * 4], tokenizer, 12)
    with pytest.raises(ValueError, match=r"tags \['B-FOO'\] are not in tag_names"):
        align_labels([["in"]], [["B-FOO"]], tokenizer, 12, tag_names=["O"])
