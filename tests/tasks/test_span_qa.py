"""SpanQuestionAnswerer: character offsets, windows, n-best decoding, SQuAD metrics, learning."""

import dataclasses
import unicodedata

import keras
import numpy as np
import pydoc_data.topics
import pytest
import tensorflow as tf

from keras_bert_zoo.data.formats import SquadExample
from keras_bert_zoo.models import AlbertBackbone, BertBackbone, RobertaBackbone
from keras_bert_zoo.tasks.span_qa import (SpanQuestionAnswerer, best_spans, decode_answers,
                                          exact_match_score, f1_score, normalize_answer,
                                          squad_evaluate, squad_features,
                                          tokenize_with_char_offsets)
from keras_bert_zoo.tokenizers import (Preprocessor, WordPieceTokenizer, train_byte_level_bpe,
                                       train_sentencepiece)

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
VOCAB = SPECIALS + ("johan ##son lives in zu ##ri ##ch . , where does live ? who the cafe "
                    "dr o ' neil is a ##s").split()
SMALL = dict(num_layers=1, num_heads=2, hidden_dim=16, intermediate_dim=32,
             max_sequence_length=64)
CONTEXT = "Dr. O'Neil lives in ZÜRICH, the Café Johanson's!"


@pytest.fixture(scope="module")
def trained_tokenizers(tmp_path_factory):
    directory = tmp_path_factory.mktemp("corpus")
    topics = list(pydoc_data.topics.topics.values())[:40]
    (directory / "corpus.txt").write_text("\n".join(topics + [CONTEXT] * 20), "utf-8")
    pattern = str(directory / "*.txt")
    return {"sentencepiece": train_sentencepiece(pattern, 400),
            "bpe": train_byte_level_bpe(pattern, 400)}


def _pieces(tokenizer, text):
    ids, starts, ends = (t.to_list()[0] for t in tokenize_with_char_offsets(tokenizer, [text]))
    return [(tokenizer.id_to_token(i), text[a:b]) for i, a, b in zip(ids, starts, ends)]


def test_wordpiece_offsets_map_to_the_original_characters():
    tokenizer = WordPieceTokenizer(VOCAB)
    assert _pieces(tokenizer, CONTEXT) == [
        ("dr", "Dr"), (".", "."), ("o", "O"), ("'", "'"), ("neil", "Neil"),
        ("lives", "lives"), ("in", "in"), ("zu", "ZÜ"), ("##ri", "RI"), ("##ch", "CH"),
        (",", ","), ("the", "the"), ("cafe", "Café"), ("johan", "Johan"),
        ("##son", "son"), ("'", "'"), ("[UNK]", "s"), ("[UNK]", "!")]
    # Decomposed accents, dropped control characters and whitespace runs.
    text = "\u200b  Cafe\u0301\t\u00a0Zu\u0308rich 東京"
    assert _pieces(tokenizer, text) == [("cafe", "Cafe\u0301"), ("zu", "Zu\u0308"),
                                        ("##ri", "ri"), ("##ch", "ch"), ("[UNK]", "東"),
                                        ("[UNK]", "京")]
    assert _pieces(tokenizer, "") == [] and _pieces(tokenizer, "   ") == []


@pytest.mark.parametrize("kind", ["sentencepiece", "bpe"])
def test_sentencepiece_and_bpe_offsets(trained_tokenizers, kind):
    tokenizer = trained_tokenizers[kind]
    texts = [CONTEXT, "  naïve\u00a0 Ünïcödé (test) costs $5.50", ""]
    ids, starts, ends = (t.to_list() for t in tokenize_with_char_offsets(tokenizer, texts))
    for text, row, a, b in zip(texts, ids, starts, ends):
        assert row == tokenizer.tokenize(" ".join(text.split())).numpy().tolist()
        assert all(0 <= x <= y <= len(text) for x, y in zip(a, b))
        assert a == sorted(a) and b == sorted(b)
        for i, x, y in zip(row, a, b):
            piece = tokenizer.id_to_token(i)
            if kind == "bpe":
                decoded = tokenizer.detokenize([i]).numpy().decode("utf-8", "replace")
                if "\ufffd" not in decoded:  # whole characters: exact bytes
                    assert text[x:y] == decoded.lstrip(" ")
            elif piece != "<unk>":
                surface = piece.lstrip("\u2581")
                folded = unicodedata.normalize("NFKD", text[x:y]).lower()
                assert "".join(c for c in folded if not unicodedata.combining(c)) == surface
        # Every non-space character belongs to a token.
        covered = set()
        for x, y in zip(a, b):
            covered.update(range(x, y))
        assert covered == {i for i, c in enumerate(text) if not c.isspace()}


def _features(examples, length=24, stride=4, training=False, vocab=VOCAB, max_question=8):
    preprocessor = Preprocessor(WordPieceTokenizer(vocab), sequence_length=length)
    return squad_features(examples, preprocessor, doc_stride=stride,
                          max_question_length=max_question, training=training)


def _logits_at(features, window, start, end, value=10.0):
    start_logits = np.zeros(features.inputs["token_ids"].shape, "float32")
    end_logits = np.zeros_like(start_logits)
    start_logits[window, start] = value
    end_logits[window, end] = value
    return start_logits, end_logits


def test_answer_spanning_several_subwords_round_trips():
    context = "Dr. O'Neil lives in ZÜRICH, the Café Johanson's!"
    answer = "ZÜRICH, the Café Johanson"
    example = SquadExample("q", "Where does Dr. O'Neil live?", context,
                           [(answer, context.index(answer))])
    features = _features([example], length=48, training=True)
    assert len(features.example_index) == 1
    start, end = (int(features.labels[k][0]) for k in ("start_positions", "end_positions"))
    ids = features.inputs["token_ids"][0]
    assert [VOCAB[i] for i in ids[start:end + 1]] == [
        "zu", "##ri", "##ch", ",", "the", "cafe", "johan", "##son"]
    assert features.inputs["segment_ids"][0, start] == 1
    logits = _logits_at(features, 0, start, end)
    (decoded,) = decode_answers(features, *logits, [example])
    assert decoded.text == answer
    assert (decoded.start_char, decoded.end_char) == (20, 20 + len(answer))
    assert decoded.score == pytest.approx(20.0)


def test_long_context_answer_only_in_the_second_window():
    context = "Johanson lives in Dr. O'Neil, where the Café is. Zürich is a cafe."
    example = SquadExample("q", "Who?", context, [("Zürich", context.index("Zürich"))])
    features = _features([example], length=16, stride=6, training=True)
    assert features.window_index.tolist() == list(range(len(features.window_index)))
    assert len(features.window_index) >= 2
    # The answer is outside the first window: its label is [CLS]; inside a later one.
    assert features.labels["start_positions"][0] == 0
    windows = [w for w in range(len(features.window_index))
               if features.labels["start_positions"][w] > 0]
    assert windows and windows[0] > 0
    w = windows[0]
    start, end = features.labels["start_positions"][w], features.labels["end_positions"][w]
    start_logits, end_logits = _logits_at(features, w, start, end, value=5.0)
    # A weaker, valid decoy in the first window.
    start_logits[0, 4], end_logits[0, 5] = 3.0, 3.0
    (decoded,) = decode_answers(features, start_logits, end_logits, [example])
    assert decoded.text == "Zürich"
    assert decoded.n_best[1][0] == context[features.token_starts[0, 4]:
                                           features.token_ends[0, 5]]


def test_windows_cover_the_context_with_max_context_once():
    context = " ".join(["johanson lives in zurich ."] * 5)
    example = SquadExample("q", "who?", context, [])
    features = _features([example], length=20, stride=5)
    covered = {}
    for w in range(len(features.window_index)):
        for t in np.flatnonzero(features.max_context[w]):
            key = (features.token_starts[w, t], features.token_ends[w, t])
            covered[key] = covered.get(key, 0) + 1
    tokens = tokenize_with_char_offsets(WordPieceTokenizer(VOCAB), [context])[0].to_list()[0]
    assert len(covered) == len(tokens) and set(covered.values()) == {1}


def test_n_best_ordering_and_max_answer_length():
    start = np.array([0, 1, 5, 2, 4, 0], "float32")
    end = np.array([0, 0, 1, 3, 6, 2], "float32")
    valid = np.array([False, True, True, True, True, True])
    spans = best_spans(start, end, valid, valid, n_best_size=3, max_answer_length=2)
    # Starts by logit: 2, 4, 3; ends: 4, 3, 5. Pairs with s <= e < s + 2.
    # Equal scores keep the better start first.
    assert spans == [(10.0, 4, 4), (8.0, 2, 3), (8.0, 3, 4), (6.0, 4, 5), (5.0, 3, 3)]
    assert best_spans(start, end, valid, valid, n_best_size=3, max_answer_length=1) == [
        (10.0, 4, 4), (5.0, 3, 3)]
    example = SquadExample("q", "who?", "johanson lives in zurich .", [])
    features = _features([example], length=16)
    logits = np.zeros((2, 16), "float32")
    # johan ##son lives in zu ##ri ##ch .
    positions = np.flatnonzero(features.token_starts[0] >= 0)
    logits[0, positions[[2, 4, 5]]] = [2, 3, 1]  # starts: lives, zu, ##ri
    logits[1, positions[[2, 4, 6]]] = [1, 3, 4]  # ends: lives, zu, ##ch
    (decoded,) = decode_answers(features, logits[:1], logits[1:], [example],
                                max_answer_length=3, n_best_size=3)
    # zu..##ch = 7, zu = 6, then two 5s: "lives in zu" (better start) before "rich";
    # lives..##ch (5 tokens) is longer than 3.
    assert [c[0] for c in decoded.n_best] == ["zurich", "zu", "lives in zu"]
    assert [c[3] for c in decoded.n_best] == [7.0, 6.0, 5.0]
    assert decoded.text == "zurich" and decoded.score == pytest.approx(7.0)
    assert sum(c[4] for c in decoded.n_best) == pytest.approx(1.0)


def test_squad_v2_no_answer():
    example = SquadExample("q", "who?", "johanson lives in zurich .", [], is_impossible=True)
    features = _features([example], training=True)
    assert features.labels["start_positions"].tolist() == [0]
    start, end = _logits_at(features, 0, 0, 0, value=4.0)  # [CLS]: null score 8
    positions = np.flatnonzero(features.token_starts[0] >= 0)
    start[0, positions[0]], end[0, positions[1]] = 3.0, 3.0  # johan ##son: 6
    (answer,) = decode_answers(features, start, end, [example], null_score_threshold=0.0)
    assert (answer.text, answer.start_char, answer.end_char) == ("", -1, -1)
    assert answer.score == pytest.approx(8.0)
    (answer,) = decode_answers(features, start, end, [example], null_score_threshold=2.5)
    assert answer.text == "johanson" and answer.null_score == pytest.approx(8.0)
    (answer,) = decode_answers(features, start, end, [example])  # v1.1: always answer
    assert answer.text == "johanson"
    empty = SquadExample("e", "who?", "", [], is_impossible=True)
    (answer,) = decode_answers(_features([empty]), *_logits_at(_features([empty]), 0, 1, 1),
                               [empty])
    assert answer.text == "" and answer.n_best == []


def test_official_normalization_and_scores():
    assert normalize_answer("The Cat!") == "cat"
    assert normalize_answer("  an apple,  a pear  ") == "apple pear"
    assert normalize_answer("theater") == "theater"  # articles are whole words only
    assert normalize_answer("Zürich's café") == "zürichs café"
    assert exact_match_score("the Eiffel Tower.", "Eiffel tower") == 1
    assert exact_match_score("Eiffel", "Eiffel Tower") == 0
    assert f1_score("Eiffel", "Eiffel Tower") == pytest.approx(2 / 3)
    assert f1_score("in the 1990s", "1990s") == pytest.approx(2 * 0.5 * 1 / 1.5)
    assert f1_score("a a b", "a b b") == pytest.approx(2 / 3)  # "a" is an article
    assert f1_score("x x y", "x y y") == pytest.approx(2 / 3)  # bag of tokens
    assert f1_score("", "") == 1.0 and f1_score("the", "") == 1.0
    assert f1_score("cat", "") == 0.0
    examples = [
        SquadExample("1", "q", "c", [("Eiffel Tower", 0), ("the Eiffel Tower", 0)]),
        SquadExample("2", "q", "c", [("Paris", 0)]),
        SquadExample("3", "q", "c", [], is_impossible=True),
        SquadExample("4", "q", "c", [], is_impossible=True),
    ]
    result = squad_evaluate(examples, {"1": "tower", "2": "Paris!", "3": "", "4": "x"})
    # EM: 0, 1, 1, 0; F1: 2/3, 1, 1, 0.
    assert result["exact_match"] == pytest.approx(50.0)
    assert result["f1"] == pytest.approx(100 * (2 / 3 + 2) / 4)
    assert result["has_answer_exact_match"] == pytest.approx(50.0)
    assert result["no_answer_f1"] == pytest.approx(50.0)
    with pytest.raises(ValueError, match="1 questions have no prediction"):
        squad_evaluate(examples, {"1": "", "2": "", "3": ""})


def _synthetic_squad(rng, n):
    """The answer is the word after "is"."""
    words = "cat dog red blue tall small fast slow green old new big".split()
    examples = []
    for i in range(n):
        before = [words[j] for j in rng.integers(len(words), size=rng.integers(0, 5))]
        after = [words[j] for j in rng.integers(len(words), size=rng.integers(0, 5))]
        answer = words[rng.integers(len(words))]
        prefix = " ".join(before + ["is"])
        context = " ".join(before + ["is", answer] + after)
        examples.append(SquadExample(str(i), "what is it?", context,
                                     [(answer, len(prefix) + 1)]))
    return examples


def test_tiny_model_learns_a_synthetic_span_task():
    keras.utils.set_random_seed(0)
    vocab = SPECIALS + ("what is it ? cat dog red blue tall small fast slow green old new "
                        "big").split()
    preprocessor = Preprocessor(WordPieceTokenizer(vocab), sequence_length=20)
    train = _synthetic_squad(np.random.default_rng(0), 768)
    features = squad_features(train, preprocessor, training=True)
    backbone = BertBackbone(vocabulary_size=len(vocab), **dict(SMALL, hidden_dim=32,
                                                               num_layers=2, dropout=0.0))
    model = SpanQuestionAnswerer(backbone, dropout=0.0)
    model.compile(keras.optimizers.Adam(3e-3))
    model.fit(features.inputs, features.labels, epochs=8, batch_size=32, verbose=0)
    test = _synthetic_squad(np.random.default_rng(1), 100)
    test_features = squad_features(test, preprocessor)
    out = model.predict(test_features.inputs, verbose=0)
    answers = decode_answers(test_features, out["start_logits"], out["end_logits"], test)
    result = squad_evaluate(test, {e.id: a.text for e, a in zip(test, answers)})
    assert result["exact_match"] > 90.0, result


def test_logits_are_masked_to_the_context_and_cls():
    backbone = BertBackbone(vocabulary_size=len(VOCAB), **SMALL)
    model = SpanQuestionAnswerer(backbone)
    example = SquadExample("q", "who lives?", "johanson lives in zurich", [])
    features = _features([example])
    out = model(features.inputs)
    allowed = (features.inputs["segment_ids"] == 1) & (features.inputs["padding_mask"] == 1)
    allowed[:, 0] = True
    for name in ("start_logits", "end_logits"):
        logits = np.asarray(out[name])
        assert logits.dtype == np.float32
        assert np.all(logits[~allowed] == -1e4) and np.all(logits[allowed] > -100)


@pytest.mark.parametrize("cls, extra", [(BertBackbone, {}),
                                        (AlbertBackbone, {"embedding_dim": 8}),
                                        (RobertaBackbone, {})])
def test_config_round_trip_and_safe_mode_save(cls, extra, tmp_path):
    model = SpanQuestionAnswerer(cls(vocabulary_size=40, **SMALL, **extra), dropout=0.2)
    assert sorted(model.input) == ["padding_mask", "segment_ids", "token_ids"]
    rng = np.random.default_rng(0)
    segment_ids = np.zeros((2, 9), "int32")
    segment_ids[:, 4:] = 1
    inputs = {"token_ids": rng.integers(5, 40, (2, 9)).astype("int32"),
              "padding_mask": np.ones((2, 9), "int32"), "segment_ids": segment_ids}
    out = model(inputs)
    config = model.get_config()
    assert config["dropout"] == 0.2
    assert SpanQuestionAnswerer.from_config(config).get_config() == config
    path = str(tmp_path / "qa.keras")
    model.save(path)
    restored = keras.saving.load_model(path, safe_mode=True)
    assert type(restored) is SpanQuestionAnswerer
    for name in ("start_logits", "end_logits"):
        np.testing.assert_allclose(np.asarray(restored(inputs)[name]), np.asarray(out[name]),
                                   atol=1e-5)


def test_loss_is_the_mean_of_start_and_end_cross_entropies():
    model = SpanQuestionAnswerer(BertBackbone(vocabulary_size=len(VOCAB), **SMALL), dropout=0)
    example = SquadExample("q", "who?", "johanson lives in zurich .", [("lives", 9)])
    features = _features([example, example], training=True)
    out = model(features.inputs)
    loss = float(model.compute_loss(features.inputs, features.labels, out))
    expected = 0.0
    for name, key in (("start_logits", "start_positions"), ("end_logits", "end_positions")):
        logp = tf.nn.log_softmax(out[name]).numpy()
        expected += -np.take_along_axis(logp, features.labels[key][:, None], 1).mean() / 2
    assert loss == pytest.approx(expected, rel=1e-5)


def test_sequence_too_short_for_the_question_is_an_error():
    example = SquadExample("q", "who lives in zurich where does johanson live", "c", [])
    with pytest.raises(ValueError, match="leaves no room for the context"):
        _features([example], length=8, max_question=64)


def test_features_are_a_dataclass_of_arrays():
    features = _features([SquadExample("q", "who?", "zurich", [])])
    fields = dataclasses.asdict(features)
    assert fields["token_starts"].shape == fields["inputs"]["token_ids"].shape
