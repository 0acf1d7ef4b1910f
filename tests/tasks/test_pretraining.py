import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_bert_zoo.models import AlbertBackbone, BartBackbone, BertBackbone, RobertaBackbone
from keras_bert_zoo.tasks import DenoisingPretrainer, Pretrainer

SMALL = dict(vocabulary_size=60, num_layers=1, num_heads=2, hidden_dim=16, intermediate_dim=32,
             max_sequence_length=16, dropout=0.0)


def mlm_batch(n=8, length=12, predictions=3, seed=0, segments=True):
    rng = np.random.default_rng(seed)
    x = {
        "token_ids": rng.integers(5, 60, (n, length)).astype("int32"),
        "padding_mask": np.ones((n, length), "int32"),
        "mask_positions": np.sort(rng.choice(np.arange(1, length), (n, predictions)), axis=1)
        .astype("int32"),
    }
    if segments:
        x["segment_ids"] = np.zeros((n, length), "int32")
    weights = np.ones((n, predictions), "float32")
    weights[:, -1] = 0.0  # a padded prediction slot
    y = {
        "mask_ids": rng.integers(5, 60, (n, predictions)).astype("int32"),
        "mask_weights": weights,
        "sentence_label": rng.integers(0, 2, (n,)).astype("int32"),
    }
    return x, y


@pytest.mark.parametrize("sentence_loss_weight", [1.0, 10.0])
def test_mlm_loss_is_weighted_cross_entropy_plus_sentence_loss(sentence_loss_weight):
    model = Pretrainer(BertBackbone(**SMALL), sentence_loss_weight=sentence_loss_weight)
    x, y = mlm_batch()
    out = model(x)
    loss = float(model.compute_loss(x, y, out))
    logits = np.asarray(out["mlm_logits"], "float64")
    logp = logits - np.log(np.exp(logits - logits.max(-1, keepdims=True)).sum(-1,
                           keepdims=True)) - logits.max(-1, keepdims=True)
    ce = -np.take_along_axis(logp, y["mask_ids"][..., None], -1)[..., 0]
    mlm = (ce * y["mask_weights"]).sum() / y["mask_weights"].sum()
    s = np.asarray(out["sentence_logits"], "float64")
    s_logp = s - np.log(np.exp(s).sum(-1, keepdims=True))
    nsp = -np.take_along_axis(s_logp, y["sentence_label"][:, None], -1).mean()
    assert loss == pytest.approx(mlm + sentence_loss_weight * nsp, rel=1e-5)
    assert float(model.sentence_loss_metric.result()) == pytest.approx(nsp, rel=1e-5)
    restored = Pretrainer.from_config(model.get_config())
    assert restored.sentence_loss_weight == sentence_loss_weight
    with pytest.raises(ValueError, match="sentence_loss_weight=-1"):
        Pretrainer(BertBackbone(**SMALL), sentence_loss_weight=-1)


def test_fused_mlm_loss_matches_tensorflow_softmax_cross_entropy():
    """Loss sum, weight sum, gradient and arg-max hits of the fused MLM loss against TF's ops,
    including a row whose maximum is tied (arg max takes the first) and one whose label is
    out of range (NaN, as TF's own kernel fails on it)."""
    from keras_bert_zoo.tasks.pretraining import _masked_lm_cross_entropy

    rng = np.random.default_rng(0)
    logits = rng.normal(0.0, 4.0, (3, 4, 50)).astype("float32")
    labels = rng.integers(0, 50, (3, 4)).astype("int32")
    logits[0, 0, [7, 9]] = 30.0  # tie: arg max is 7
    labels[0, 0], labels[0, 1] = 9, int(np.argmax(logits[0, 1]))
    weights = rng.uniform(0.0, 2.0, (3, 4)).astype("float32")
    weights[2, 3] = 0.0
    logits = tf.constant(logits)

    with tf.GradientTape(persistent=True) as tape:
        tape.watch(logits)
        loss_sum, weight_sum, hits = _masked_lm_cross_entropy(labels, logits, weights)
        reference = tf.reduce_sum(weights * tf.nn.sparse_softmax_cross_entropy_with_logits(
            labels=labels, logits=logits))
    assert float(loss_sum) == pytest.approx(float(reference), rel=1e-6)
    assert float(weight_sum) == pytest.approx(weights.sum(), rel=1e-6)
    np.testing.assert_allclose(tape.gradient(loss_sum, logits),
                               tape.gradient(reference, logits), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(hits, np.argmax(logits, -1) == labels)
    assert hits[0, 0] == 0 and hits[0, 1] == 1

    labels[1, 2] = 50
    loss_sum, _, hits = _masked_lm_cross_entropy(labels, logits, weights)
    assert np.isnan(float(loss_sum)) and hits[1, 2] == 0


def test_mlm_head_is_tied_to_the_token_embedding():
    backbone = BertBackbone(**SMALL)
    model = Pretrainer(backbone)
    x, _ = mlm_batch()
    before = np.asarray(model(x)["mlm_logits"])
    table = backbone.token_embedding.embeddings
    table.assign(table * 2.0)
    assert np.abs(np.asarray(model(x)["mlm_logits"]) - before).max() > 1e-3
    # No second vocabulary matrix: the only (vocab, hidden) variable is the shared table.
    assert [tuple(v.shape) for v in model.weights].count((60, 16)) == 1


@pytest.mark.parametrize("cls, sentence_head", [(BertBackbone, True), (RobertaBackbone, False)])
def test_pretrainer_trains_and_round_trips(cls, sentence_head, tmp_path):
    backbone = cls(**SMALL)
    model = Pretrainer(backbone, sentence_head=sentence_head)
    model.compile(keras.optimizers.AdamW(3e-3))
    x, y = mlm_batch(segments=cls is BertBackbone)
    history = model.fit(x, y, epochs=15, batch_size=8, verbose=0).history
    assert history["loss"][-1] < history["loss"][0] * 0.8
    assert ("sentence_accuracy" in history) == sentence_head
    path = str(tmp_path / "pretrainer.keras")
    model.save(path)
    restored = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(np.asarray(restored(x)["mlm_logits"]),
                               np.asarray(model(x)["mlm_logits"]), atol=1e-5)


def test_albert_pretrainer_head_works_in_embedding_width():
    backbone = AlbertBackbone(**dict(SMALL, num_layers=2), embedding_dim=8)
    model = Pretrainer(backbone)
    x, _ = mlm_batch()
    assert model(x)["mlm_logits"].shape == (8, 3, 60)
    assert model.get_layer("mlm_head").transform.kernel.shape == (16, 8)


def test_roberta_refuses_a_sentence_head():
    with pytest.raises(ValueError, match="no pooled_output"):
        Pretrainer(RobertaBackbone(**SMALL), sentence_head=True)


def test_denoising_pretrainer_learns_to_copy():
    backbone = BartBackbone(**SMALL)
    model = DenoisingPretrainer(backbone)
    model.compile(keras.optimizers.AdamW(5e-3))
    rng = np.random.default_rng(0)
    ids = rng.integers(5, 60, (32, 10)).astype("int32")
    x = {"encoder_token_ids": ids, "encoder_padding_mask": np.ones_like(ids),
         "decoder_token_ids": np.concatenate([np.full((32, 1), 2, "int32"), ids[:, :-1]], 1),
         "decoder_padding_mask": np.ones_like(ids)}
    y = {"target_ids": ids, "target_weights": np.ones(ids.shape, "float32")}
    history = model.fit(x, y, epochs=40, batch_size=16, verbose=0).history
    assert history["token_accuracy"][-1] > 0.5 > history["token_accuracy"][0]


def test_label_smoothing_changes_the_loss():
    backbone = BartBackbone(**SMALL)
    ids = np.arange(5, 15, dtype="int32")[None]
    x = {"encoder_token_ids": ids, "encoder_padding_mask": np.ones_like(ids),
         "decoder_token_ids": ids, "decoder_padding_mask": np.ones_like(ids)}
    y = {"target_ids": ids, "target_weights": np.ones(ids.shape, "float32")}
    plain = DenoisingPretrainer(backbone)
    smooth = DenoisingPretrainer(backbone, label_smoothing=0.1)
    out = plain(x)
    assert float(plain.compute_loss(x, y, out)) != pytest.approx(
        float(smooth.compute_loss(x, y, out)))


def test_mixed_precision_logits_are_float32():
    model = Pretrainer(BertBackbone(**SMALL, dtype="mixed_bfloat16"))
    x, _ = mlm_batch()
    out = tf.function(model)(x)
    assert out["mlm_logits"].dtype == tf.float32
    assert np.all(np.isfinite(out["mlm_logits"].numpy()))
