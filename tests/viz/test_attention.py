"""Attention maps of every family: the replay matches the backbone, rows are distributions."""

import numpy as np
import pytest
from matplotlib.figure import Figure

from keras_bert_zoo import viz
from keras_bert_zoo.models import AlbertBackbone, BartBackbone, BertBackbone, RobertaBackbone

TINY = dict(vocabulary_size=50, num_heads=2, hidden_dim=16, intermediate_dim=32, dropout=0.0)
IDS = np.array([[2, 7, 9, 11, 3, 0, 0], [2, 5, 3, 0, 0, 0, 0]], "int32")
MASK = (IDS > 0).astype("int32")


def _inputs(family):
    if family == "bart":
        return {"encoder_token_ids": IDS, "encoder_padding_mask": MASK,
                "decoder_token_ids": IDS, "decoder_padding_mask": MASK}
    if family == "roberta":
        return {"token_ids": np.where(MASK > 0, IDS, 1), "padding_mask": MASK}
    return {"token_ids": IDS, "segment_ids": np.zeros_like(IDS), "padding_mask": MASK}


BACKBONES = {
    "bert": lambda: BertBackbone(num_layers=2, **TINY),
    "albert": lambda: AlbertBackbone(num_layers=4, num_groups=2, num_inner_repetitions=2,
                                     embedding_dim=8, **TINY),
    "roberta": lambda: RobertaBackbone(num_layers=2, **TINY),
    "bart": lambda: BartBackbone(num_layers=2, **TINY),
}
BLOCKS = {"bert": 2, "albert": 8, "roberta": 2, "bart": 2}  # ALBERT: 4 layers x 2 inner blocks


@pytest.mark.parametrize("family", sorted(BACKBONES))
def test_replay_reproduces_the_backbone_and_rows_sum_to_one(family):
    backbone = BACKBONES[family]()
    inputs = _inputs(family)
    states = viz.encoder_states(backbone, inputs)
    scores = states["attention_scores"]
    assert scores.shape == (BLOCKS[family], 2, 2, 7, 7)
    assert states["hidden_states"].shape == (BLOCKS[family] + 1, 2, 7, 16)

    output = backbone(inputs)
    expected = output["encoder_sequence_output" if family == "bart" else "sequence_output"]
    keep = MASK.astype(bool)
    np.testing.assert_allclose(states["hidden_states"][-1][keep], np.asarray(expected)[keep],
                               atol=1e-5)

    # Softmax over the keys: each query row sums to 1 over the unpadded keys, 0 on padding.
    key_mask = keep[None, :, None, None, :]
    np.testing.assert_allclose(np.where(key_mask, scores, 0).sum(-1), 1.0, rtol=1e-5)
    assert np.abs(np.where(key_mask, 0, scores)).max() < 1e-6
    np.testing.assert_array_equal(viz.attention_scores(backbone, inputs), scores)


def test_sentence_attention_cuts_to_the_real_tokens():
    from keras_bert_zoo.tokenizers import Preprocessor, WordPieceTokenizer

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    preprocessor = Preprocessor(WordPieceTokenizer(specials + ["the", "cat", "sat", "."]),
                                sequence_length=12)
    backbone = BertBackbone(num_layers=2, **dict(TINY, vocabulary_size=9))
    scores, tokens = viz.sentence_attention(backbone, preprocessor, "The cat sat.")
    assert tokens == ["[CLS]", "the", "cat", "sat", ".", "[SEP]"]
    assert scores.shape == (2, 2, 6, 6)
    np.testing.assert_allclose(scores.sum(-1), 1.0, rtol=1e-5)

    pair_scores, pair_tokens = viz.sentence_attention(backbone, preprocessor, ("the cat", "sat"))
    assert pair_tokens == ["[CLS]", "the", "cat", "[SEP]", "sat", "[SEP]"]
    assert pair_scores.shape == (2, 2, 6, 6)


def test_plot_attention_grid_single_and_mean(tmp_path):
    rng = np.random.default_rng(0)
    scores = rng.random((3, 4, 5, 5)).astype("float32")
    scores /= scores.sum(-1, keepdims=True)
    tokens = ["[CLS]", "a", "b", "c", "[SEP]"]

    grid = viz.plot_attention(scores, tokens)
    assert isinstance(grid, Figure) and len(grid.axes) == 3 * 4
    single = viz.plot_attention(scores, tokens, layer=-1, head=2)
    assert len(single.axes) == 2  # the heatmap and its colorbar
    assert [t.get_text() for t in single.axes[0].get_xticklabels()] == tokens
    np.testing.assert_allclose(single.axes[0].images[0].get_array(), scores[2, 2])
    mean = viz.plot_attention(scores, tokens, layer=0, head="mean")
    np.testing.assert_allclose(mean.axes[0].images[0].get_array(), scores[0].mean(0), rtol=1e-6)

    png = viz.save_figure(grid, str(tmp_path / "grid.png"))
    svg = viz.save_figure(single, str(tmp_path / "sub" / "single.svg"))
    assert open(png, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    assert "<svg" in open(svg).read(1000)


def test_bad_inputs_are_named(tmp_path):
    with pytest.raises(ValueError, match="do not match 3 tokens"):
        viz.plot_attention(np.ones((1, 1, 4, 4)), ["a", "b", "c"])
    with pytest.raises(ValueError, match=r"\.png or \.svg"):
        viz.save_figure(Figure(), str(tmp_path / "x.jpg"))
