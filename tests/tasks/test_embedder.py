import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_bert_zoo.models import AlbertBackbone, BartBackbone, BertBackbone, RobertaBackbone
from keras_bert_zoo.tasks.embedder import SentencePooling, TextEmbedder, cosine_similarity

SMALL = dict(vocabulary_size=60, num_layers=2, num_heads=2, hidden_dim=16, intermediate_dim=32,
             max_sequence_length=16, dropout=0.0)
BACKBONES = {
    "bert": (BertBackbone, SMALL),
    "albert": (AlbertBackbone, {**SMALL, "embedding_dim": 8}),
    "roberta": (RobertaBackbone, SMALL),
    "bart": (BartBackbone, SMALL),
}


def embedder(family, **kwargs):
    keras.utils.set_random_seed(0)
    cls, config = BACKBONES[family]
    return TextEmbedder(cls(**config), **kwargs)


def batch(model, lengths=(10, 4, 7), width=10):
    """Right-padded random ids; example i has lengths[i] tokens."""
    rng = np.random.default_rng(0)
    mask = (np.arange(width)[None] < np.array(lengths)[:, None]).astype("int32")
    ids = rng.integers(5, 60, mask.shape).astype("int32") * mask + (1 - mask)  # pad id 1
    inputs = {"token_ids": ids, "padding_mask": mask}
    if "segment_ids" in [i.name for i in model.inputs]:
        inputs["segment_ids"] = np.zeros_like(ids)
    return inputs


@pytest.mark.parametrize("family", sorted(BACKBONES))
def test_mean_pooling_excludes_padding_and_is_normalised(family):
    model = embedder(family)
    inputs = batch(model)
    out = model(inputs)
    assert out["embedding"].dtype == "float32" and out["sequence_output"].dtype == "float32"
    assert tuple(out["embedding"].shape) == (3, 16)
    assert tuple(out["sequence_output"].shape) == (3, 10, 16)
    np.testing.assert_allclose(np.linalg.norm(out["embedding"], axis=-1), 1.0, atol=1e-6)
    for i, n in enumerate(inputs["padding_mask"].sum(axis=1)):
        alone = model({k: v[i:i + 1, :n] for k, v in inputs.items()})
        np.testing.assert_allclose(alone["embedding"][0], out["embedding"][i], atol=1e-5)
    # The pooled vector is the mean over the real tokens, then normalised.
    sequence = np.asarray(out["sequence_output"])[1, :4]
    mean = sequence.mean(axis=0)
    np.testing.assert_allclose(out["embedding"][1], mean / np.linalg.norm(mean), atol=1e-5)


def test_cls_pooling_and_unnormalised_outputs():
    model = embedder("bert", pooling="cls", normalize=False)
    out = model(batch(model))
    np.testing.assert_allclose(out["embedding"], np.asarray(out["sequence_output"])[:, 0],
                               atol=1e-6)
    assert not np.allclose(np.linalg.norm(out["embedding"], axis=-1), 1.0)


def test_pooling_layer_on_hand_set_values():
    x = np.array([[[1.0, 0.0], [3.0, 4.0], [100.0, 100.0]]], "float32")
    mask = np.array([[1, 1, 0]])
    np.testing.assert_allclose(SentencePooling("mean", normalize=False)(x, mask), [[2.0, 2.0]])
    np.testing.assert_allclose(SentencePooling("mean")(x, mask), [[2 ** -0.5, 2 ** -0.5]],
                               rtol=1e-6)
    np.testing.assert_allclose(SentencePooling("cls")(x, mask), [[1.0, 0.0]])
    np.testing.assert_allclose(SentencePooling("mean")(x, np.zeros((1, 3))), [[0.0, 0.0]])
    with pytest.raises(ValueError, match="pooling='max'; expected one of mean, cls"):
        SentencePooling("max")


def test_cosine_similarity():
    a = np.array([[1.0, 0.0], [1.0, 1.0], [0.0, -2.0]], "float32")
    b = np.array([[3.0, 0.0], [0.0, 5.0]], "float32")
    expected = np.array([[1.0, 0.0], [2 ** -0.5, 2 ** -0.5], [0.0, -1.0]])
    np.testing.assert_allclose(cosine_similarity(a, b), expected, atol=1e-6)
    assert float(cosine_similarity(a[1], b[0])) == pytest.approx(2 ** -0.5)
    assert tuple(cosine_similarity(a[0], b).shape) == (1, 2)
    model = embedder("roberta")
    out = model(batch(model))["embedding"]
    similarity = np.asarray(cosine_similarity(out, out))
    np.testing.assert_allclose(np.diag(similarity), 1.0, atol=1e-5)
    np.testing.assert_allclose(similarity, similarity.T, atol=1e-6)


@pytest.mark.parametrize("family", sorted(BACKBONES))
def test_config_round_trip_and_keras_save_load_in_safe_mode(family, tmp_path):
    model = embedder(family, pooling="cls" if family == "albert" else "mean")
    inputs = batch(model)
    expected = model(inputs)
    config = model.get_config()
    clone = TextEmbedder.from_config(config)
    assert clone.get_config() == config
    path = str(tmp_path / "embedder.keras")
    model.save(path)
    restored = keras.saving.load_model(path, safe_mode=True)
    assert type(restored) is TextEmbedder and restored.pooling == model.pooling
    for key in ("embedding", "sequence_output"):
        np.testing.assert_allclose(restored(inputs)[key], expected[key], atol=1e-6)


def test_mixed_precision_and_tf_data_predict():
    keras.utils.set_random_seed(0)
    model = TextEmbedder(BertBackbone(**SMALL, dtype="mixed_bfloat16"))
    inputs = batch(model)
    out = model.predict(tf.data.Dataset.from_tensor_slices(inputs).batch(2), verbose=0)
    assert out["embedding"].dtype == np.float32 and out["embedding"].shape == (3, 16)
    np.testing.assert_allclose(np.linalg.norm(out["embedding"], axis=-1), 1.0, atol=1e-5)


def test_refuses_a_backbone_without_sequence_output():
    encoder = keras.Input(shape=(None,), dtype="int32", name="token_ids")
    not_a_backbone = keras.Model({"token_ids": encoder}, {"logits": encoder})
    with pytest.raises(ValueError, match="has no sequence_output"):
        TextEmbedder(not_a_backbone)
