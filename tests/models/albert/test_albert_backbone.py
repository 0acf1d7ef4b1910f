import keras_hub
import numpy as np
import pytest

from keras_bert_zoo.convert import from_keras_hub
from keras_bert_zoo.models import AlbertBackbone
from tests.backbone_checks import random_inputs, run_backbone_checks

TINY = dict(vocabulary_size=64, num_layers=4, num_heads=2, embedding_dim=8, hidden_dim=16,
            intermediate_dim=32, max_sequence_length=24)


def test_common_checks(tmp_path):
    run_backbone_checks(AlbertBackbone, TINY, tmp_path, ["sequence_output", "pooled_output"])


def test_cross_layer_sharing_keeps_one_block():
    shared = AlbertBackbone(**TINY)  # num_groups=1: 4 layers, one block of weights
    two = AlbertBackbone(**TINY, num_groups=2)
    block = shared.get_layer("transformer_layer_0").count_params()
    assert two.count_params() - shared.count_params() == block
    assert [layer.name for layer in shared.layers].count("transformer_layer_0") == 1
    # Factorized embedding: token table is E wide, projected to H.
    assert shared.token_embedding.embeddings.shape == (64, 8)


@pytest.mark.parametrize("groups, inner", [(1, 1), (2, 2)])
def test_parity_with_keras_hub_on_padded_batch(groups, inner):
    hub = keras_hub.models.AlbertBackbone(**TINY, num_groups=groups, num_inner_repetitions=inner)
    ours = from_keras_hub(hub)
    inputs = random_inputs(ours)
    expected, actual = hub(inputs), ours(inputs)
    for key in ("sequence_output", "pooled_output"):
        assert np.abs(np.asarray(expected[key]) - np.asarray(actual[key])).max() <= 1e-5


@pytest.mark.parametrize(
    "override, message",
    [
        (dict(embedding_dim=32), "embedding_dim=32 is larger than hidden_dim=16"),
        (dict(num_groups=3), "num_layers=4 is not divisible by num_groups=3"),
        (dict(hidden_dim=18, embedding_dim=8, num_heads=4), "not divisible by num_heads=4"),
    ],
)
def test_invalid_config_names_the_argument(override, message):
    with pytest.raises(ValueError, match=message):
        AlbertBackbone(**{**TINY, **override})
