import keras_hub
import numpy as np
import pytest

from keras_bert_zoo.convert import from_keras_hub, to_keras_hub
from keras_bert_zoo.models import BertBackbone
from tests.backbone_checks import random_inputs, run_backbone_checks

TINY = dict(vocabulary_size=64, num_layers=2, num_heads=2, hidden_dim=16, intermediate_dim=32,
            max_sequence_length=24)


def test_common_checks(tmp_path):
    backbone = run_backbone_checks(BertBackbone, TINY, tmp_path,
                                   ["sequence_output", "pooled_output"])
    names = [layer.name for layer in backbone.layers]
    assert "transformer_layer_0" in names and "transformer_layer_1" in names
    assert backbone.token_embedding.embeddings.shape == (64, 16)


def test_parity_with_keras_hub_on_padded_batch():
    hub = keras_hub.models.BertBackbone(**TINY)
    ours = from_keras_hub(hub)
    inputs = random_inputs(ours)
    expected, actual = hub(inputs), ours(inputs)
    for key in ("sequence_output", "pooled_output"):
        assert np.abs(np.asarray(expected[key]) - np.asarray(actual[key])).max() <= 1e-5
    back = to_keras_hub(ours)
    for a, b in zip(back.get_weights(), hub.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_segment_and_position_embeddings_matter():
    backbone = BertBackbone(**TINY)
    inputs = random_inputs(backbone)
    base = np.asarray(backbone(inputs)["sequence_output"])
    flipped = dict(inputs, segment_ids=1 - inputs["segment_ids"])
    assert np.abs(np.asarray(backbone(flipped)["sequence_output"]) - base).max() > 1e-3


@pytest.mark.parametrize(
    "override, message",
    [
        (dict(hidden_dim=18, num_heads=4), "hidden_dim=18 is not divisible by num_heads=4"),
        (dict(num_layers=0), "num_layers=0 must be a positive integer"),
        (dict(dropout=1.5), "dropout=1.5"),
        (dict(activation="swishy"), "activation='swishy'"),
    ],
)
def test_invalid_config_names_the_argument(override, message):
    with pytest.raises(ValueError, match=message):
        BertBackbone(**{**TINY, **override})
