"""Length-bucketed fine-tuning batches: seeded, complete, padded to their longest member."""

import collections

import numpy as np
import pytest
import tensorflow as tf

from keras_bert_zoo.data import tweets_sentiment
from keras_bert_zoo.data.bucketing import bucket_by_length, packed_batches, text_batches
from keras_bert_zoo.tokenizers import Preprocessor, train_tokenizer
from keras_bert_zoo.training.finetune import classification_dataset

@pytest.fixture(scope="module")
def texts():
    """Real short text of uneven length: tweets."""
    return tweets_sentiment()[0][:600]


@pytest.fixture(scope="module")
def preprocessor(tmp_path_factory):
    path = tmp_path_factory.mktemp("tweets") / "tweets.txt"
    path.write_text("\n".join(tweets_sentiment()[0][:3000]) + "\n", encoding="utf-8")
    return Preprocessor(train_tokenizer("bert", str(path), 2000), sequence_length=64)


def _batches(preprocessor, texts, seed, *, repeat=False, take=None):
    tf.random.set_seed(1234)  # what keras.utils.set_random_seed does in a run
    labels = np.arange(len(texts))
    ds = classification_dataset(preprocessor, texts, labels, batch_size=16, shuffle=True,
                                seed=seed, repeat=repeat)
    ds = ds.take(take) if take else ds
    return [(x, y.numpy()) for x, y in ds]


def test_every_example_once_per_pass_in_batches_cut_to_their_longest(preprocessor, texts):
    batches = _batches(preprocessor, texts, seed=0)
    ids = np.concatenate([y for _, y in batches])
    assert sorted(ids.tolist()) == list(range(len(texts)))  # nothing lost or repeated
    assert [len(y) for _, y in batches] == [16] * (len(texts) // 16) + [len(texts) % 16]
    fixed = Preprocessor(preprocessor.tokenizer, sequence_length=64, padding="fixed")
    padded = real = 0
    for x, y in batches:
        mask = x["padding_mask"].numpy()
        length = mask.shape[1]
        assert length % 8 == 0 or length == 64
        assert length - 8 < mask.sum(1).max() <= length  # no all-padding column group
        reference = fixed(tf.constant([texts[i] for i in y]))
        for key, value in x.items():  # the fixed-length inputs, cut after the longest
            np.testing.assert_array_equal(value.numpy(), reference[key].numpy()[:, :length])
        padded += mask.size
        real += mask.sum()
    # Grouped by length, batches hold little padding; the same texts at fixed length 64 hold
    # far more (the tweets are short).
    grouped_share, fixed_share = 1 - real / padded, 1 - real / (len(texts) * 64)
    assert grouped_share < 0.25, grouped_share
    assert fixed_share > 0.25, fixed_share


def test_the_order_is_a_function_of_the_seed(preprocessor, texts):
    first = [y for _, y in _batches(preprocessor, texts, seed=3, repeat=True, take=60)]
    again = [y for _, y in _batches(preprocessor, texts, seed=3, repeat=True, take=60)]
    other = [y for _, y in _batches(preprocessor, texts, seed=4, repeat=True, take=60)]
    assert all((a == b).all() for a, b in zip(first, again))
    assert not all((a == b).all() for a, b in zip(first, other))
    # A resumed run skips to the same batches (fit_resumable's `skip`).
    tf.random.set_seed(1234)
    resumed = classification_dataset(preprocessor, texts, np.arange(len(texts)), batch_size=16,
                                     shuffle=True, seed=3, repeat=True).skip(41).take(19)
    assert all((a == y.numpy()).all() for a, (_, y) in zip(first[41:], resumed))


def test_each_pass_is_grouped_on_its_own(preprocessor, texts):
    # 40 examples, batch 16: two full batches per pass (the rest is dropped, as with fixed
    # padding), never one example twice in a batch; every pass is a fresh reshuffle.
    batches = [y for _, y in _batches(preprocessor, texts[:40], seed=0, repeat=True, take=8)]
    assert all(len(set(y.tolist())) == len(y) == 16 for y in batches)
    passes = [np.concatenate(batches[i:i + 2]) for i in range(0, 8, 2)]
    assert all(len(set(p.tolist())) == 32 for p in passes)
    assert len({tuple(sorted(p.tolist())) for p in passes}) > 1


def test_packed_features_are_grouped_with_their_per_token_labels():
    rng = np.random.default_rng(0)
    lengths = rng.integers(3, 33, 200)
    mask = (np.arange(32)[None] < lengths[:, None]).astype("int32")
    inputs = {"token_ids": mask * np.arange(200)[:, None], "padding_mask": mask}
    tf.random.set_seed(0)
    stream = packed_batches((inputs, mask * 2, mask.astype("float32")), 16, seed=1,
                            padding="longest", per_token_labels=True)
    seen = []
    for x, labels, weights in stream.take(12 * 2):  # two passes of 12 full batches
        kept = x["padding_mask"].numpy()
        assert labels.shape == weights.shape == kept.shape
        assert kept.shape[1] == min(32, -(-kept.sum(1).max() // 8) * 8)
        np.testing.assert_array_equal(labels.numpy(), kept * 2)
        seen.append(x["token_ids"].numpy().max(1))  # the example ids
    first = np.concatenate(seen[:12])
    assert len(set(first.tolist())) == 12 * 16  # one pass: no example twice


def test_batch_lengths_are_not_in_sorted_order(preprocessor, texts):
    # Within a window batches are shuffled: lengths neither rise nor fall through an epoch.
    lengths = [x["padding_mask"].shape[1] for x, _ in _batches(preprocessor, texts, seed=0)]
    steps = np.sign(np.diff(lengths))
    assert (steps > 0).sum() > 3 and (steps < 0).sum() > 3, lengths


def test_edge_inputs(preprocessor):
    texts = ["", "a", "a " * 200, "b c"] * 5  # empty, short, far over the maximum
    ds = tf.data.Dataset.from_tensor_slices(((texts,), np.arange(len(texts))))
    batches = list(text_batches(ds, preprocessor, batch_size=4, seed=0))
    assert sum(len(y) for _, y in batches) == len(texts)
    shapes = collections.Counter(x["token_ids"].shape[1] for x, _ in batches)
    assert set(shapes) <= {8, 64} and shapes[64] == 2  # the five long ones fill two batches
    one = list(text_batches(tf.data.Dataset.from_tensor_slices(((["a b"],), [7])),
                            preprocessor, batch_size=4, seed=0))
    assert len(one) == 1 and one[0][0]["token_ids"].shape == (1, 8)


def test_bucket_by_length_takes_any_packer():
    ds = tf.data.Dataset.from_tensor_slices(((tf.constant(["x"] * 10),), tf.range(10)))

    def pack(features):  # lengths 10 - i: the longest first in the stream
        n = tf.shape(features[0])[0]
        lengths = 10 - tf.range(n)
        return {"padding_mask": tf.sequence_mask(lengths, 10, tf.int32)}

    batches = list(bucket_by_length(ds, pack, batch_size=3, seed=0, pad_to_multiple_of=1))
    assert sorted(np.concatenate([y.numpy() for _, y in batches]).tolist()) == list(range(10))
    assert len(batches[-1][1]) == 1  # the partial batch stays last
    for x, y in batches:
        assert x["padding_mask"].shape[1] == 10 - int(y.numpy().min())
