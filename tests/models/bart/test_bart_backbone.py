import keras_hub
import numpy as np

from keras_bert_zoo.convert import from_keras_hub, to_keras_hub
from keras_bert_zoo.models import BartBackbone
from tests.backbone_checks import random_inputs, run_backbone_checks

TINY = dict(vocabulary_size=64, num_layers=2, num_heads=2, hidden_dim=16, intermediate_dim=32,
            max_sequence_length=24)


def test_common_checks(tmp_path):
    backbone = run_backbone_checks(
        BartBackbone, TINY, tmp_path, ["encoder_sequence_output", "decoder_sequence_output"]
    )
    names = [layer.name for layer in backbone.layers]
    assert "encoder_transformer_layer_1" in names and "decoder_transformer_layer_1" in names
    # One token table shared by encoder and decoder; position tables carry BART's offset of 2.
    assert backbone.get_layer("encoder_embeddings").token_embedding is backbone.token_embedding
    assert backbone.get_layer("decoder_embeddings").token_embedding is backbone.token_embedding
    table = backbone.get_layer("encoder_embeddings").position_embedding.position_embeddings
    assert table.shape == (24 + 2, 16)


def test_parity_with_keras_hub_on_padded_batch():
    hub = keras_hub.models.BartBackbone(**TINY)
    ours = from_keras_hub(hub)
    inputs = random_inputs(ours)
    expected, actual = hub(inputs), ours(inputs)
    for key in ("encoder_sequence_output", "decoder_sequence_output"):
        assert np.abs(np.asarray(expected[key]) - np.asarray(actual[key])).max() <= 1e-5
    back = to_keras_hub(ours)
    for a, b in zip(back.get_weights(), hub.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_decoder_is_causal():
    backbone = BartBackbone(**TINY)
    inputs = random_inputs(backbone)
    base = np.asarray(backbone(inputs)["decoder_sequence_output"])
    changed = dict(inputs)
    changed["decoder_token_ids"] = inputs["decoder_token_ids"].copy()
    changed["decoder_token_ids"][0, 6] = (changed["decoder_token_ids"][0, 6] + 1) % 64
    out = np.asarray(backbone(changed)["decoder_sequence_output"])
    np.testing.assert_allclose(out[0, :6], base[0, :6], atol=1e-6)  # the past is unaffected
    assert np.abs(out[0, 6:] - base[0, 6:]).max() > 1e-4
