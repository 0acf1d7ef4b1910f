import numpy as np
import pytest
import tensorflow as tf

from keras_bert_zoo.data.sentence_pairs import create_sentence_pairs


def synthetic_documents(rng, num_documents=40):
    """Token id = 10000 * document + 100 * sentence + position: provenance is readable."""
    return [
        [
            list(range(10000 * d + 100 * s, 10000 * d + 100 * s + int(rng.integers(1, 30))))
            for s in range(int(rng.integers(1, 15)))
        ]
        for d in range(num_documents)
    ]


@pytest.fixture(scope="module")
def pairs_fn():
    return tf.function(
        lambda docs, seed, objective: create_sentence_pairs(
            docs, objective=objective, max_num_tokens=61, seed=seed
        ),
        reduce_retracing=True,
    )


def many_pairs(pairs_fn, objective, draws=12):
    rng = np.random.default_rng(0)
    out = []
    for draw in range(draws):
        docs = tf.ragged.constant(synthetic_documents(rng), dtype=tf.int32, ragged_rank=2)
        p = pairs_fn(docs, tf.constant([draw, 1], tf.int64), objective)
        out += list(
            zip(p["tokens_a"].to_list(), p["tokens_b"].to_list(), p["sentence_label"].numpy())
        )
    return out


def test_nsp_exact_small():
    docs = [[[5, 6], [7, 8]], [[20, 21, 22]]]
    p = create_sentence_pairs(docs, objective="nsp", max_num_tokens=8, seed=0)
    assert p["tokens_a"].to_list() == [[5, 6], [20, 21, 22]]
    assert p["tokens_b"].to_list() == [[7, 8], [5, 6, 7, 8]]
    assert p["sentence_label"].numpy().tolist() == [0, 1]  # 0 = IsNext, 1 = NotNext


def test_sop_exact_small():
    docs = [[[5, 6], [7, 8]], [[20, 21, 22]]]
    p = create_sentence_pairs(docs, objective="sop", max_num_tokens=8, seed=0)
    assert p["tokens_a"].to_list() == [[5, 6], [22]]
    assert p["tokens_b"].to_list() == [[7, 8], [20, 21]]  # one sentence: split inside it
    assert p["sentence_label"].numpy().tolist() == [0, 1]  # 1 = swapped


def test_nsp_labels_balanced_and_negatives_from_other_documents(pairs_fn):
    pairs = many_pairs(pairs_fn, "nsp")
    labels = np.array([label for _, _, label in pairs])
    assert len(pairs) > 1000
    assert abs(labels.mean() - 0.5) < 0.05
    for a, b, label in pairs:
        assert a and b and len(a) + len(b) <= 61
        same_document = a[0] // 10000 == b[0] // 10000
        if label == 1:
            assert not same_document  # never the same document
        else:
            assert same_document
            assert b[0] > a[-1]  # B comes after A in the same document


def test_sop_labels_balanced_and_order(pairs_fn):
    pairs = many_pairs(pairs_fn, "sop")
    labels = np.array([label for _, _, label in pairs])
    assert abs(labels.mean() - 0.5) < 0.05
    for a, b, label in pairs:
        assert a[0] // 10000 == b[0] // 10000  # always the same document
        assert len(a) + len(b) <= 61
        assert (a[-1] < b[0]) == (label == 0)  # in order (0) or swapped (1)


def test_short_documents_and_targets(pairs_fn):
    # A document shorter than one sequence gives one shorter pair.
    p = create_sentence_pairs(
        [[[1, 2], [3]], [[50, 51]]], objective="nsp", max_num_tokens=100, seed=3
    )
    a = p["tokens_a"].to_list()
    assert len(a) >= 2 and a[0][0] == 1 and any(x[0] == 50 for x in a)
    # With short_seq_prob=1 every target is shorter than max_num_tokens.
    docs = [[list(range(100 * s, 100 * s + 10)) for s in range(30)], [[9999]]]
    p = create_sentence_pairs(docs, objective="sop", max_num_tokens=120, short_seq_prob=1.0, seed=1)
    lengths = p["tokens_a"].row_lengths() + p["tokens_b"].row_lengths()
    assert len(lengths) > 3


def test_deterministic_and_seed_dependent(pairs_fn):
    docs = tf.ragged.constant(synthetic_documents(np.random.default_rng(1), 10), ragged_rank=2)
    a = pairs_fn(docs, tf.constant([1, 1], tf.int64), "nsp")
    b = pairs_fn(docs, tf.constant([1, 1], tf.int64), "nsp")
    c = pairs_fn(docs, tf.constant([1, 2], tf.int64), "nsp")
    assert a["tokens_b"].to_list() == b["tokens_b"].to_list()
    assert a["tokens_b"].to_list() != c["tokens_b"].to_list()


def one_document_pairs(num_sentences=2000, draws=10):
    """NSP pairs from a lone document (token id = 100 * sentence + position)."""
    rng = np.random.default_rng(2)
    document = [list(range(100 * s, 100 * s + int(rng.integers(1, 12))))
                for s in range(num_sentences)]
    docs = tf.ragged.constant([document], dtype=tf.int32, ragged_rank=2)
    fn = tf.function(lambda seed: create_sentence_pairs(
        docs, objective="nsp", max_num_tokens=40, seed=seed))
    pairs = []
    for draw in range(draws):
        p = fn(tf.constant([draw, 5], tf.int64))
        pairs += list(zip(p["tokens_a"].to_list(), p["tokens_b"].to_list(),
                          p["sentence_label"].numpy()))
    return pairs


def test_single_document_draws_not_next_from_itself():
    """With no other document, NotNext segments come from the same document, never from A
    or the sentence after it, and the labels stay 50/50."""
    pairs = one_document_pairs()
    labels = np.array([label for _, _, label in pairs])
    assert len(pairs) > 3000
    assert abs(labels.mean() - 0.5) < 0.03, labels.mean()
    for a, b, label in pairs:
        a_sentences = {t // 100 for t in a}
        b_sentences = {t // 100 for t in b}
        if label == 0:
            assert min(b) > max(a)
            continue
        # A may have lost tokens to truncation: its visible range is inside the true one.
        assert not b_sentences & set(range(min(a_sentences), max(a_sentences) + 2))


SOURCE = 1_000_000


def test_negative_sources_lend_b_segments_only():
    rng = np.random.default_rng(3)
    source = [list(range(SOURCE + 100 * s, SOURCE + 100 * s + 5)) for s in range(20)]
    document = [list(range(100 * s, 100 * s + int(rng.integers(1, 12)))) for s in range(1000)]
    fn = tf.function(lambda docs: create_sentence_pairs(
        docs, objective="nsp", max_num_tokens=40, seed=1, num_negative_sources=1))
    pairs = fn(tf.ragged.constant([source, document], dtype=tf.int32, ragged_rank=2))
    a, b = pairs["tokens_a"].to_list(), pairs["tokens_b"].to_list()
    labels = pairs["sentence_label"].numpy()
    assert len(a) > 150 and abs(labels.mean() - 0.5) < 0.1
    assert all(x[0] < SOURCE for x in a)  # the source starts no pair
    assert all((y[0] >= SOURCE) == bool(label) for y, label in zip(b, labels))
    # An empty source (the first window of a stream) counts as no document.
    empty = fn(tf.ragged.constant([[], document], dtype=tf.int32, ragged_rank=2))
    assert abs(empty["sentence_label"].numpy().mean() - 0.5) < 0.1
    assert all(x[0] < SOURCE for x in empty["tokens_b"].to_list())


def test_errors():
    with pytest.raises(ValueError, match="objective"):
        create_sentence_pairs([[[1]]], objective="xyz", max_num_tokens=10, seed=0)
    with pytest.raises(ValueError, match="max_num_tokens"):
        create_sentence_pairs([[[1]]], max_num_tokens=1, seed=0)
