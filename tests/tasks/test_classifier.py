import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_bert_zoo.export import export_saved_model
from keras_bert_zoo.models import AlbertBackbone, BartBackbone, BertBackbone, RobertaBackbone
from keras_bert_zoo.tasks import TextClassifier

KW = dict(vocabulary_size=40, num_layers=1, num_heads=2, hidden_dim=32, intermediate_dim=64,
          max_sequence_length=16, dropout=0.0)
BACKBONES = {
    "bert": lambda: BertBackbone(**KW),
    "albert": lambda: AlbertBackbone(**KW, embedding_dim=16),
    "roberta": lambda: RobertaBackbone(**KW),
    "bart": lambda: BartBackbone(**KW),
}


def synthetic(n=256, length=10, seed=0, segments=True, num_classes=2):
    """Label = which marker token (5, 6, ...) the sequence contains, at a random position."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(10, 40, (n, length)).astype("int32")
    labels = rng.integers(0, num_classes, n).astype("int32")
    ids[np.arange(n), rng.integers(1, length - 1, n)] = 5 + labels
    ids[:, 0], ids[:, -1] = 0, 2  # <s>/[CLS] ... </s>/[SEP]
    mask = np.ones_like(ids)
    x = {"token_ids": ids, "padding_mask": mask}
    if segments:
        x["segment_ids"] = np.zeros_like(ids)
    return x, labels


@pytest.mark.parametrize("family", sorted(BACKBONES))
def test_classifier_learns_and_round_trips(family, tmp_path):
    keras.utils.set_random_seed(0)
    model = TextClassifier(BACKBONES[family](), num_classes=2, class_names=["a", "b"])
    model.compile(keras.optimizers.Adam(1e-3), loss=model.default_loss(),
                  metrics=model.default_metrics())
    x, y = synthetic(segments=family in ("bert", "albert"))
    model.fit(x, y, epochs=20, batch_size=32, verbose=0)
    dev_x, dev_y = synthetic(64, seed=1, segments=family in ("bert", "albert"))
    assert model.evaluate(dev_x, dev_y, verbose=0, return_dict=True)["accuracy"] > 0.9
    path = str(tmp_path / "classifier.keras")
    model.save(path)
    restored = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(restored.predict(dev_x, verbose=0),
                               model.predict(dev_x, verbose=0), atol=1e-5)
    assert restored.class_names == ["a", "b"]


def test_bart_classifies_from_the_final_eos_and_ignores_padding():
    model = TextClassifier(BartBackbone(**KW), num_classes=2)
    ids = np.array([[0, 11, 12, 2, 1, 1]], "int32")
    mask = np.array([[1, 1, 1, 1, 0, 0]], "int32")
    padded = model({"token_ids": ids, "padding_mask": mask})
    alone = model({"token_ids": ids[:, :4], "padding_mask": mask[:, :4]})
    np.testing.assert_allclose(np.asarray(padded), np.asarray(alone), atol=1e-5)


def test_multi_label_and_regression(tmp_path):
    keras.utils.set_random_seed(0)
    x, labels = synthetic(num_classes=3)
    multi_hot = np.stack([labels == 0, labels >= 1], axis=1).astype("float32")
    model = TextClassifier(BertBackbone(**KW), num_classes=2, class_names=["zero", "nonzero"],
                           problem_type="multi_label")
    model.compile(keras.optimizers.Adam(3e-3), loss=model.default_loss(),
                  metrics=model.default_metrics())
    model.fit(x, multi_hot, epochs=20, batch_size=32, verbose=0)
    assert model.evaluate(x, multi_hot, verbose=0, return_dict=True)["accuracy"] > 0.9

    regression = TextClassifier(BertBackbone(**KW), num_classes=1, problem_type="regression")
    regression.compile(keras.optimizers.Adam(3e-3), loss=regression.default_loss())
    target = labels.astype("float32") * 2.5
    history = regression.fit(x, target, epochs=20, batch_size=32, verbose=0).history
    assert history["loss"][-1] < 0.2 * history["loss"][0]


def test_invalid_configs():
    with pytest.raises(ValueError, match="problem_type='ordinal'"):
        TextClassifier(BertBackbone(**KW), num_classes=3, problem_type="ordinal")
    with pytest.raises(ValueError, match="regression predicts one value"):
        TextClassifier(BertBackbone(**KW), num_classes=3, problem_type="regression")
    with pytest.raises(ValueError, match="class_names has 2 names but num_classes=3"):
        TextClassifier(BertBackbone(**KW), num_classes=3, class_names=["a", "b"])


def test_export_of_multi_label_and_regression(tmp_path):
    from keras_bert_zoo.tokenizers import Preprocessor, WordPieceTokenizer

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [f"w{i}" for i in range(35)]
    preprocessor = Preprocessor(WordPieceTokenizer(vocab), sequence_length=12)
    multi = TextClassifier(BertBackbone(**KW), num_classes=2, class_names=["x", "y"],
                           problem_type="multi_label")
    out = tf.saved_model.load(export_saved_model(multi, preprocessor, str(tmp_path / "m"))
                              ).signatures["serving_default"](text=tf.constant(["w1 w2", ""]))
    expected = tf.sigmoid(multi(preprocessor(tf.constant(["w1 w2", ""])))).numpy()
    np.testing.assert_allclose(out["probabilities"].numpy(), expected, atol=1e-5)
    np.testing.assert_array_equal(out["predicted"].numpy(), expected > 0.5)
    regression = TextClassifier(BertBackbone(**KW), num_classes=1, problem_type="regression")
    out = tf.saved_model.load(export_saved_model(regression, preprocessor, str(tmp_path / "r"))
                              ).signatures["serving_default"](text=tf.constant(["w3"]))
    assert sorted(out) == ["score"] and out["score"].shape == (1,)
