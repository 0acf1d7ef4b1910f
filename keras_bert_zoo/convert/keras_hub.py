"""Move weights between keras-hub backbones and ours, as a table of layer names plus asserts;
read keras-hub preset directories."""

import json
import os

import numpy as np

from keras_bert_zoo.models import (
    AlbertBackbone,
    BartBackbone,
    BertBackbone,
    RobertaBackbone,
)


def _families():
    import keras_hub

    return {
        "BertBackbone": (keras_hub.models.BertBackbone, BertBackbone),
        "AlbertBackbone": (keras_hub.models.AlbertBackbone, AlbertBackbone),
        "RobertaBackbone": (keras_hub.models.RobertaBackbone, RobertaBackbone),
        "BartBackbone": (keras_hub.models.BartBackbone, BartBackbone),
    }


def _config_from_keras_hub(hub):
    config = {
        k: hub.get_config()[k]
        for k in (
            "vocabulary_size",
            "num_layers",
            "num_heads",
            "hidden_dim",
            "intermediate_dim",
            "dropout",
            "max_sequence_length",
        )
    }
    if hasattr(hub, "num_segments"):
        config["num_segments"] = hub.num_segments
    if hasattr(hub, "embedding_dim"):
        config["embedding_dim"] = hub.embedding_dim
        config["num_groups"] = hub.num_groups
        config["num_inner_repetitions"] = hub.num_inner_repetitions
    return config


def _layer_table(ours):
    """(keras-hub layer name, our layer path, position_offset) for every weighted layer."""
    if isinstance(ours, BartBackbone):
        off = ours.position_offset
        table = [
            ("token_embedding", "token_embedding", 0),
            ("encoder_position_embedding", "encoder_embeddings/position_embedding", off),
            ("encoder_embeddings_layer_norm", "encoder_embeddings/layer_norm", 0),
            ("decoder_position_embedding", "decoder_embeddings/position_embedding", off),
            ("decoder_embeddings_layer_norm", "decoder_embeddings/layer_norm", 0),
        ]
        for i in range(ours.num_layers):
            table.append((f"transformer_encoder_layer_{i}", f"encoder_transformer_layer_{i}", 0))
            table.append((f"transformer_decoder_layer_{i}", f"decoder_transformer_layer_{i}", 0))
        return table
    if isinstance(ours, RobertaBackbone):
        table = [
            ("embeddings/token_embedding", "embeddings/token_embedding", 0),
            ("embeddings/position_embedding", "embeddings/position_embedding", 2),
        ]
    else:
        table = [
            ("token_embedding", "embeddings/token_embedding", 0),
            ("position_embedding", "embeddings/position_embedding", 0),
            ("segment_embedding", "embeddings/segment_embedding", 0),
        ]
    table.append(("embeddings_layer_norm", "embeddings/layer_norm", 0))
    if isinstance(ours, AlbertBackbone):
        table.append(("embedding_projection", "embeddings/projection", 0))
        for g in range(ours.num_groups):
            for j in range(ours.num_inner_repetitions):
                name = f"transformer_layer_{g * ours.num_inner_repetitions + j}"
                table.append((f"group_{g}_inner_layer_{j}", name, 0))
    else:
        for i in range(ours.num_layers):
            table.append((f"transformer_layer_{i}", f"transformer_layer_{i}", 0))
    if not isinstance(ours, RobertaBackbone):
        table.append(("pooled_dense", "pooler", 0))
    return table


def _get(model, path):
    layer = model
    for part in path.split("/"):
        layer = layer.get_layer(part) if hasattr(layer, "get_layer") else getattr(layer, part)
    return layer


def _sublayer(layer, name):
    # Nested non-model layers are reached through attributes named like the layer.
    for attr in ("token_embedding", "position_embedding", "segment_embedding", "layer_norm",
                 "projection"):
        sub = getattr(layer, attr, None)
        if sub is not None and sub.name == name:
            return sub
    raise KeyError(name)


def _resolve(model, path):
    parts = path.split("/")
    if parts[0] == "token_embedding":
        layer = model.token_embedding  # shared, so called only inside the embedding layers
    else:
        layer = model.get_layer(parts[0])
    for part in parts[1:]:
        layer = _sublayer(layer, part)
    return layer


def _copy(src_layer, dst_layer, position_offset, reverse):
    src, dst = src_layer.get_weights(), dst_layer.get_weights()
    if len(src) != len(dst):
        raise ValueError(
            f"{src_layer.name} has {len(src)} weights but {dst_layer.name} has {len(dst)}"
        )
    out = []
    for s, d in zip(src, dst):
        if position_offset and not reverse:
            if s.shape[0] + position_offset > d.shape[0]:
                raise ValueError(
                    f"{src_layer.name}: {s.shape[0]} positions do not fit in {d.shape[0]} rows "
                    f"after an offset of {position_offset}"
                )
            new = np.zeros_like(d)
            new[position_offset : position_offset + s.shape[0]] = s
            s = new
        elif position_offset and reverse:
            s = s[position_offset : position_offset + d.shape[0]]
        if s.shape != d.shape:
            raise ValueError(f"{src_layer.name}: shape {s.shape} does not match {d.shape}")
        out.append(s)
    dst_layer.set_weights(out)


def from_keras_hub(hub_backbone):
    """Builds our backbone with the same architecture and weights as a keras-hub backbone.

    Args:
        hub_backbone: a `keras_hub.models.{Bert,Albert,Roberta,Bart}Backbone`.

    Returns:
        The matching `keras_bert_zoo` backbone. RoBERTa positions are renumbered the original
        way (from 2, padding at 1), so outputs agree at every non-padding position.
    """
    families = _families()
    name = type(hub_backbone).__name__
    if name not in families:
        raise ValueError(f"cannot convert {name}; supported: {sorted(families)}")
    _, ours_cls = families[name]
    config = _config_from_keras_hub(hub_backbone)
    if ours_cls is RobertaBackbone or ours_cls is BartBackbone:
        config["activation"] = "gelu"
    else:
        config["activation"] = "gelu_approximate"
    ours = ours_cls(**config)
    for hub_path, our_path, offset in _layer_table(ours):
        _copy(_get(hub_backbone, hub_path), _resolve(ours, our_path), offset, reverse=False)
    return ours


def to_keras_hub(backbone):
    """Builds the keras-hub backbone with the same weights as one of ours (inverse of
    `from_keras_hub`)."""
    families = {ours: hub for hub, ours in _families().values()}
    if type(backbone) not in families:
        raise ValueError(f"cannot convert {type(backbone).__name__} to keras-hub")
    hub_cls = families[type(backbone)]
    config = {
        k: v
        for k, v in backbone.get_config().items()
        if k not in ("name", "trainable", "dtype", "activation", "layer_norm_epsilon")
    }
    hub = hub_cls(**config)
    for hub_path, our_path, offset in _layer_table(backbone):
        _copy(_resolve(backbone, our_path), _get(hub, hub_path), offset, reverse=True)
    return hub


# keras-hub preset directories --------------------------------------------------------------
_TOKENIZER_FAMILIES = {"BertTokenizer": "bert", "AlbertTokenizer": "albert",
                       "RobertaTokenizer": "roberta", "BartTokenizer": "bart"}


def is_keras_hub_preset(directory):
    """Whether `directory` is a keras-hub preset (its `config.json` names a keras-hub class)."""
    try:
        with open(os.path.join(directory, "config.json"), encoding="utf-8") as f:
            config = json.load(f)
    except (OSError, ValueError):
        return False
    return isinstance(config, dict) and str(config.get("module", "")).startswith("keras_hub")


def tokenizer_from_keras_hub(hub_tokenizer):
    """Our tokenizer with the vocabulary (and merges, or SentencePiece model) and casing of a
    keras-hub `{Bert,Albert,Roberta,Bart}Tokenizer`; returns `(tokenizer, family)`."""
    from keras_bert_zoo.tokenizers import (BytePairTokenizer, SentencePieceTokenizer,
                                           WordPieceTokenizer)

    name = type(hub_tokenizer).__name__
    family = _TOKENIZER_FAMILIES.get(name)
    if family is None:
        raise ValueError(f"cannot read a keras-hub {name}; supported: "
                         f"{', '.join(sorted(_TOKENIZER_FAMILIES))}")
    if family == "bert":
        return WordPieceTokenizer(list(hub_tokenizer.get_vocabulary()),
                                  lowercase=bool(hub_tokenizer.lowercase),
                                  strip_accents=bool(hub_tokenizer.strip_accents)), family
    if family == "albert":
        return SentencePieceTokenizer(hub_tokenizer.proto), family
    vocabulary = hub_tokenizer.vocabulary
    return BytePairTokenizer(dict(vocabulary), list(hub_tokenizer.merges),
                             family=family), family


def from_keras_hub_preset(directory, *, sequence_length=None):
    """`(backbone, preprocessor)` of a local keras-hub preset directory (`config.json`,
    `model.weights.h5`, `tokenizer.json` and its assets): the backbone and tokenizer are read
    with keras-hub's own loaders, then converted (`from_keras_hub`, `tokenizer_from_keras_hub`).

    Args:
        directory: the preset directory, as written by keras-hub's `save_to_preset`.
        sequence_length: the preprocessor's length; default: the preset's
            `preprocessor.json` if it has one, else min(512, the backbone's maximum).
    """
    import keras_hub

    from keras_bert_zoo.tokenizers import Preprocessor

    with open(os.path.join(directory, "config.json"), encoding="utf-8") as f:
        class_name = json.load(f).get("class_name")
    if class_name not in _families():
        raise ValueError(f"{directory!r} holds a keras-hub {class_name}; supported: "
                         f"{', '.join(sorted(_families()))}")
    backbone = from_keras_hub(keras_hub.models.Backbone.from_preset(directory))
    if not os.path.exists(os.path.join(directory, "tokenizer.json")):
        raise FileNotFoundError(f"{directory!r} has no tokenizer.json: save the keras-hub "
                                "tokenizer with it (tokenizer.save_to_preset(directory))")
    tokenizer, family = tokenizer_from_keras_hub(
        keras_hub.models.Tokenizer.from_preset(directory))
    if sequence_length is None:
        sequence_length = _preset_sequence_length(directory) or min(
            512, backbone.max_sequence_length)
    return backbone, Preprocessor(tokenizer, sequence_length=sequence_length, family=family)


def _preset_sequence_length(directory):
    try:
        with open(os.path.join(directory, "preprocessor.json"), encoding="utf-8") as f:
            return json.load(f)["config"]["sequence_length"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
