"""Fine-tuning helpers: labelled texts -> tf.data -> a compiled task -> metrics."""

import numpy as np
import tensorflow as tf


def encode_labels(labels, class_names=None):
    """Maps label strings to ids; returns `(ids, class_names)` (sorted names by default)."""
    class_names = list(class_names) if class_names else sorted(set(labels))
    index = {name: i for i, name in enumerate(class_names)}
    unknown = sorted(set(labels) - set(index))
    if unknown:
        raise ValueError(f"labels {unknown[:5]} are not among class_names {class_names}")
    return np.array([index[label] for label in labels], "int32"), class_names


def classification_dataset(preprocessor, texts, labels=None, *, batch_size=32, shuffle=False,
                           seed=0, texts_pair=None):
    """Texts (or pairs) and integer labels -> batched `(inputs, labels)` tokenized in-graph."""
    features = (list(texts),) if texts_pair is None else (list(texts), list(texts_pair))
    ds = tf.data.Dataset.from_tensor_slices(features if labels is None
                                            else (features, np.asarray(labels)))
    if shuffle:
        ds = ds.shuffle(len(texts), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size)

    def pack(features, labels=None):
        inputs = preprocessor(features[0] if len(features) == 1 else features)
        return inputs if labels is None else (inputs, labels)

    if labels is None:
        return ds.map(lambda *f: pack(f), num_parallel_calls=tf.data.AUTOTUNE).prefetch(2)
    return ds.map(pack, num_parallel_calls=tf.data.AUTOTUNE).prefetch(2)


def split_train_dev(texts, labels, *, dev_fraction=0.1, seed=0, limit=None):
    """A seeded shuffle split into (train_texts, train_labels, dev_texts, dev_labels)."""
    order = np.random.default_rng(seed).permutation(len(texts))
    if limit:
        order = order[:limit]
    n_dev = max(1, int(len(order) * dev_fraction))
    dev, train = order[:n_dev], order[n_dev:]
    pick = lambda seq, idx: [seq[i] for i in idx]  # noqa: E731
    return pick(texts, train), pick(labels, train), pick(texts, dev), pick(labels, dev)
