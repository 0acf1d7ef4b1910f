import keras_hub
import numpy as np

from keras_bert_zoo.convert import from_keras_hub, to_keras_hub
from keras_bert_zoo.models import RobertaBackbone
from tests.backbone_checks import random_inputs, run_backbone_checks

TINY = dict(vocabulary_size=64, num_layers=2, num_heads=2, hidden_dim=16, intermediate_dim=32,
            max_sequence_length=24)


def test_common_checks(tmp_path):
    backbone = run_backbone_checks(RobertaBackbone, TINY, tmp_path, ["sequence_output"])
    assert sorted(i.name for i in backbone.inputs) == ["padding_mask", "token_ids"]
    # padding_idx + 1 extra rows, as the original (514 for max length 512).
    position_table = backbone.get_layer("embeddings").position_embedding.position_embeddings
    assert position_table.shape == (24 + 2, 16)


def test_parity_with_keras_hub_on_padded_batch():
    hub = keras_hub.models.RobertaBackbone(**TINY)
    ours = from_keras_hub(hub)
    inputs = random_inputs(ours)
    expected = np.asarray(hub(inputs))
    actual = np.asarray(ours(inputs)["sequence_output"])
    # keras-hub numbers padding tokens 0..L-1 too; the original puts them at padding_idx, so
    # the two agree at every real token (padding outputs are never used).
    mask = inputs["padding_mask"][..., None].astype(bool)
    assert np.abs(np.where(mask, expected - actual, 0)).max() <= 1e-5
    back = to_keras_hub(ours)
    for a, b in zip(back.get_weights(), hub.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_positions_follow_fairseq_numbering():
    backbone = RobertaBackbone(**TINY)
    table = np.asarray(backbone.get_layer("embeddings").position_embedding.position_embeddings)
    # Left padding does not shift positions: the original counts only real tokens.
    ids = np.array([[5, 6, 7, 8]], "int32")
    right = backbone({"token_ids": ids, "padding_mask": np.ones_like(ids)})["sequence_output"]
    left_ids = np.array([[1, 1, 5, 6, 7, 8]], "int32")
    left_mask = np.array([[0, 0, 1, 1, 1, 1]], "int32")
    left = backbone({"token_ids": left_ids, "padding_mask": left_mask})["sequence_output"]
    np.testing.assert_allclose(np.asarray(left)[:, 2:], np.asarray(right), atol=1e-5)
    assert table.shape[0] == 26
