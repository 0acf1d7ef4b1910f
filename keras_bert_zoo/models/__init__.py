"""Backbones of the four families and the preset table.

Example:
>>> import keras_bert_zoo as kbz
>>> "bert_base" in kbz.models.list_presets()
True
>>> kbz.models.build("bert_tiny", vocabulary_size=1000).num_layers
2
"""

from keras_bert_zoo.models.albert import AlbertBackbone
from keras_bert_zoo.models.backbone import Backbone
from keras_bert_zoo.models.bart import BartBackbone
from keras_bert_zoo.models.bert import BertBackbone
from keras_bert_zoo.models.roberta import RobertaBackbone
from keras_bert_zoo.presets import PRESETS, list_presets, preset_config

BACKBONES = {
    "bert": BertBackbone,
    "albert": AlbertBackbone,
    "roberta": RobertaBackbone,
    "bart": BartBackbone,
}


def build(name, **overrides):
    """Builds the backbone of preset `name`, randomly initialized, with any constructor
    argument overridden. Presets are architectures only and carry no weights: load trained
    weights from a model directory (`convert.from_huggingface`, a pretraining run).

    Args:
        name: a preset name from `list_presets()`.
        **overrides: constructor arguments replacing the preset's (e.g. `vocabulary_size`,
            `dropout`, `max_sequence_length`).
    """
    family, config = preset_config(name)
    cls = BACKBONES[family]
    config.update(overrides)
    return cls(**config)


def family_of(backbone):
    """Returns the family name ("bert", "albert", "roberta", "bart") of a backbone."""
    for family, cls in BACKBONES.items():
        if isinstance(backbone, cls):
            return family
    raise ValueError(f"{type(backbone).__name__} is not a keras_bert_zoo backbone")


__all__ = [
    "AlbertBackbone",
    "Backbone",
    "BartBackbone",
    "BertBackbone",
    "PRESETS",
    "RobertaBackbone",
    "build",
    "family_of",
    "list_presets",
    "preset_config",
]
