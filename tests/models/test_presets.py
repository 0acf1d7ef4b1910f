"""Every preset's parameter count, from our own arithmetic and from the original releases."""

import keras
import pytest

import keras_bert_zoo as kbz


def _encoder_block(h, i):
    attention = 4 * (h * h + h)  # query, key, value, output projections with biases
    feed_forward = (h * i + i) + (i * h + h)
    layer_norms = 2 * (2 * h)
    return attention + feed_forward + layer_norms


def _decoder_block(h, i):
    return 2 * 4 * (h * h + h) + (h * i + i) + (i * h + h) + 3 * (2 * h)


def expected_params(family, c):
    v, h, n = c["vocabulary_size"], c["hidden_dim"], c["num_layers"]
    i = c["intermediate_dim"]
    if family == "bert":
        embeddings = (v + 512 + 2) * h + 2 * h
        return embeddings + n * _encoder_block(h, i) + (h * h + h)
    if family == "albert":
        e = c["embedding_dim"]
        embeddings = (v + 512 + 2) * e + 2 * e + (e * h + h)
        return embeddings + _encoder_block(h, i) + (h * h + h)  # one shared block
    if family == "roberta":
        return (v + 514) * h + 2 * h + n * _encoder_block(h, i)
    if family == "bart":
        positions = 2 * (1026 * h + 2 * h)
        return v * h + positions + n * (_encoder_block(h, i) + _decoder_block(h, i))
    raise AssertionError(family)


# Counts of the released models (Hugging Face `num_parameters()` of the original checkpoints),
# minus parts our backbones leave to heads: RoBERTa's pooler (590,592 / 1,049,600) and its
# one-row token-type table (768 / 1,024), which the converter folds into the position table.
PUBLISHED = {
    "bert_tiny": 4_385_920,
    "bert_mini": 11_170_560,
    "bert_small": 28_763_648,
    "bert_medium": 41_373_184,
    "bert_base": 109_482_240,
    "bert_large": 335_141_888,
    "albert_base": 11_683_584,
    "albert_large": 17_683_968,
    "albert_xlarge": 58_724_864,
    "albert_xxlarge": 222_595_584,
    "roberta_base": 124_645_632 - 590_592 - 768,
    "roberta_large": 355_359_744 - 1_049_600 - 1_024,
    "bart_base": 139_420_416,
    "bart_large": 406_291_456,
}


def test_list_presets_names_every_size():
    assert kbz.models.list_presets() == sorted(PUBLISHED)


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_preset_parameter_count(name):
    family, config = kbz.models.preset_config(name)
    # The real backbone, built without drawing its initial weights: count_params() sums the
    # shapes of the variables build() created, so the count is the model's own.
    with keras.StatelessScope(initialize_variables=False):
        backbone = kbz.models.build(name)
    keras.utils.clear_session()  # forget the variables left uninitialized
    assert backbone.count_params() == expected_params(family, config) == PUBLISHED[name]


def test_build_applies_overrides():
    backbone = kbz.models.build("bert_tiny", vocabulary_size=1000, dropout=0.0)
    assert backbone.vocabulary_size == 1000 and backbone.dropout == 0.0
    assert backbone.num_layers == 2 and backbone.hidden_dim == 128 and backbone.num_heads == 2


def test_unknown_preset_lists_known_ones():
    with pytest.raises(ValueError, match="unknown preset 'bert_huge'.*bert_tiny"):
        kbz.models.build("bert_huge")
