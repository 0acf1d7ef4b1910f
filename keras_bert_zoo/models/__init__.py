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
from keras_bert_zoo.models.presets import PRESETS
from keras_bert_zoo.models.roberta import RobertaBackbone

BACKBONES = {
    "bert": BertBackbone,
    "albert": AlbertBackbone,
    "roberta": RobertaBackbone,
    "bart": BartBackbone,
}


def list_presets():
    """Returns the preset names, e.g. `["albert_base", ..., "bert_tiny", ...]`."""
    return sorted(PRESETS)


def preset_config(name):
    """Returns `(family, constructor arguments)` of a preset, raising on an unknown name."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; known presets: {', '.join(list_presets())}")
    config = dict(PRESETS[name])
    return config.pop("family"), config


def build(name, **overrides):
    """Builds the backbone of preset `name`, with any constructor argument overridden.

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
    "RobertaBackbone",
    "build",
    "family_of",
    "list_presets",
    "preset_config",
]
