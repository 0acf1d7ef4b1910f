"""Hugging Face checkpoints (safetensors) <-> our backbones, as name tables plus shape asserts.

Reads the local folder layout of `save_pretrained`: `config.json`, `model.safetensors` (or
sharded `model-0000x-of-0000y.safetensors` with `model.safetensors.index.json`) and the slow
tokenizer files (`vocab.txt` for BERT, `spiece.model` for ALBERT, `vocab.json` + `merges.txt`
for RoBERTa and BART). Only safetensors are read unless `allow_pickle=True`: a
`pytorch_model.bin` is a pickle, and unpickling runs whatever code the file contains.

Choices worth knowing:
- RoBERTa: HF adds a 1-row `token_type_embeddings` table to every token; our RoBERTa has no
  segment table, so that row is folded into the position table (exact, padding included).
  HF's RoBERTa pooler is dropped (ours has none; fairseq RoBERTa has none either, so the
  released weights' pooler was never trained) and reported. Export writes a zero
  `token_type_embeddings` row and no pooler (HF's `RobertaModel` then initializes a pooler
  itself, with a warning; `RobertaForMaskedLM` and classifiers do not use one).
- BART: the table is `max_position_embeddings + 2` rows in HF (offset inside the layer), so
  our `max_sequence_length = max_position_embeddings`; RoBERTa's config counts the 2 rows
  already, so `max_sequence_length = max_position_embeddings - 2`.
- Weights known to be heads (`cls.*`, `predictions.*`, `sop_classifier.*`, `lm_head.*`,
  `final_logits_bias`) are loaded into a Pretrainer with `with_heads=True`, otherwise dropped
  and reported. Any other unused weight is an error.
"""

import json
import logging
import os
import shutil
import tempfile

import numpy as np

from keras_bert_zoo.convert._weights import (
    HEADS_BIAS,
    LINEAR,
    OUT,
    QKV,
    SAME,
    Transform,
    assign,
    extract,
    format_names,
    variables_by_path,
)
from keras_bert_zoo.models import (
    AlbertBackbone,
    BartBackbone,
    BertBackbone,
    RobertaBackbone,
)

logger = logging.getLogger("keras_bert_zoo.convert")

SAFETENSORS_FILE = "model.safetensors"
SAFETENSORS_INDEX = "model.safetensors.index.json"
PICKLE_FILE = "pytorch_model.bin"
PICKLE_INDEX = "pytorch_model.bin.index.json"

_PREFIX = {"bert": "bert.", "albert": "albert.", "roberta": "roberta.", "bart": "model."}
_ARCHITECTURE = {
    "bert": "BertModel",
    "albert": "AlbertModel",
    "roberta": "RobertaModel",
    "bart": "BartModel",
}
_TOKENIZER_CLASS = {
    "bert": "BertTokenizer",
    "albert": "AlbertTokenizer",
    "roberta": "RobertaTokenizer",
    "bart": "BartTokenizer",
}
# Buffers some checkpoints save next to the weights: constants, not parameters.
_BUFFERS = ("embeddings.position_ids", "embeddings.token_type_ids")

_ACTIVATIONS = {
    "gelu": "gelu",  # erf form
    "gelu_new": "gelu_approximate",  # tanh form
    "gelu_pytorch_tanh": "gelu_approximate",
    "gelu_fast": "gelu_approximate",
    "relu": "relu",
}
_ACTIVATION_NAMES = {"gelu": "gelu", "gelu_approximate": "gelu_new", "relu": "relu"}

# LayerNorm + MLM (+ sentence) head weights of the pretraining models (no model prefix).
_HEADS = {
    "bert": ("cls.",),
    "albert": ("predictions.", "sop_classifier."),
    "roberta": ("lm_head.",),
    "bart": ("lm_head.", "final_logits_bias"),
}


# === Name tables: (HF name, our variable path, transform) ===================================

def _attention(hf, hf_output, ours, names=("query", "key", "value")):
    """Query/key/value/output rows of one attention layer."""
    rows = []
    for hf_name, our_name in zip(names, ("query", "key", "value")):
        rows += [
            (f"{hf}.{hf_name}.weight", f"{ours}/{our_name}/kernel", QKV),
            (f"{hf}.{hf_name}.bias", f"{ours}/{our_name}/bias", HEADS_BIAS),
        ]
    return rows + [
        (f"{hf_output}.weight", f"{ours}/attention_output/kernel", OUT),
        (f"{hf_output}.bias", f"{ours}/attention_output/bias", SAME),
    ]


def _dense(hf, ours):
    return [(f"{hf}.weight", f"{ours}/kernel", LINEAR), (f"{hf}.bias", f"{ours}/bias", SAME)]


def _norm(hf, ours):
    return [(f"{hf}.weight", f"{ours}/gamma", SAME), (f"{hf}.bias", f"{ours}/beta", SAME)]


def _bert_layer(i):
    hf, ours = f"encoder.layer.{i}", f"transformer_layer_{i}"
    return (
        _attention(f"{hf}.attention.self", f"{hf}.attention.output.dense",
                   f"{ours}/self_attention_layer")
        + _norm(f"{hf}.attention.output.LayerNorm", f"{ours}/self_attention_layer_norm")
        + _dense(f"{hf}.intermediate.dense", f"{ours}/feedforward_intermediate_dense")
        + _dense(f"{hf}.output.dense", f"{ours}/feedforward_output_dense")
        + _norm(f"{hf}.output.LayerNorm", f"{ours}/feedforward_layer_norm")
    )


def _albert_layer(g, j, k):
    hf, ours = f"encoder.albert_layer_groups.{g}.albert_layers.{j}", f"transformer_layer_{k}"
    return (
        _attention(f"{hf}.attention", f"{hf}.attention.dense", f"{ours}/self_attention_layer")
        + _norm(f"{hf}.attention.LayerNorm", f"{ours}/self_attention_layer_norm")
        + _dense(f"{hf}.ffn", f"{ours}/feedforward_intermediate_dense")
        + _dense(f"{hf}.ffn_output", f"{ours}/feedforward_output_dense")
        + _norm(f"{hf}.full_layer_layer_norm", f"{ours}/feedforward_layer_norm")
    )


_BART_QKV = ("q_proj", "k_proj", "v_proj")


def _bart_layer(side, i):
    hf, ours = f"{side}.layers.{i}", f"{side}_transformer_layer_{i}"
    self_attention = "self_attention_layer" if side == "encoder" else "self_attention"
    rows = _attention(f"{hf}.self_attn", f"{hf}.self_attn.out_proj", f"{ours}/{self_attention}",
                      names=_BART_QKV)
    rows += _norm(f"{hf}.self_attn_layer_norm", f"{ours}/self_attention_layer_norm")
    if side == "decoder":
        rows += _attention(f"{hf}.encoder_attn", f"{hf}.encoder_attn.out_proj",
                           f"{ours}/cross_attention", names=_BART_QKV)
        rows += _norm(f"{hf}.encoder_attn_layer_norm", f"{ours}/cross_attention_layer_norm")
    return (
        rows
        + _dense(f"{hf}.fc1", f"{ours}/feedforward_intermediate_dense")
        + _dense(f"{hf}.fc2", f"{ours}/feedforward_output_dense")
        + _norm(f"{hf}.final_layer_norm", f"{ours}/feedforward_layer_norm")
    )


def weight_table(backbone):
    """The (HF name, our variable path, transform) rows of a backbone, HF names unprefixed.

    Example:
    >>> backbone = BertBackbone(vocabulary_size=10, num_layers=1, num_heads=2, hidden_dim=8,
    ...                         intermediate_dim=16)
    >>> weight_table(backbone)[5]
    ('encoder.layer.0.attention.self.query.weight',
     'transformer_layer_0/self_attention_layer/query/kernel', qkv)
    """
    if isinstance(backbone, BartBackbone):
        shared = backbone.token_embedding.embeddings
        token = next(p for p, v in variables_by_path(backbone).items() if v is shared)
        rows = [("shared.weight", token, SAME)]
        for side in ("encoder", "decoder"):
            rows += [
                (f"{side}.embed_positions.weight",
                 f"{side}_embeddings/position_embedding/embeddings", SAME),
            ] + _norm(f"{side}.layernorm_embedding", f"{side}_embeddings/layer_norm")
        for i in range(backbone.num_layers):
            rows += _bart_layer("encoder", i)
        for i in range(backbone.num_layers):
            rows += _bart_layer("decoder", i)
        return rows
    rows = [
        ("embeddings.word_embeddings.weight", "embeddings/token_embedding/embeddings", SAME),
        ("embeddings.position_embeddings.weight", "embeddings/position_embedding/embeddings",
         SAME),
    ]
    if not isinstance(backbone, RobertaBackbone):
        rows.append(("embeddings.token_type_embeddings.weight",
                     "embeddings/segment_embedding/embeddings", SAME))
    rows += _norm("embeddings.LayerNorm", "embeddings/layer_norm")
    if isinstance(backbone, AlbertBackbone):
        rows += _dense("encoder.embedding_hidden_mapping_in", "embeddings/projection")
        for g in range(backbone.num_groups):
            for j in range(backbone.num_inner_repetitions):
                rows += _albert_layer(g, j, g * backbone.num_inner_repetitions + j)
        rows += _dense("pooler", "pooler")
    else:
        for i in range(backbone.num_layers):
            rows += _bert_layer(i)
        if isinstance(backbone, BertBackbone):
            rows += _dense("pooler.dense", "pooler")
    return rows


def head_table(family, sentence_head):
    """Rows of the pretraining heads (MLM transform, LayerNorm, output bias; NSP/SOP)."""
    if family == "bart":
        return [("final_logits_bias", "lm_bias/bias", _ROW)]
    mlm = {"bert": "cls.predictions.transform", "albert": "predictions",
           "roberta": "lm_head"}[family]
    norm = {"bert": "LayerNorm", "albert": "LayerNorm", "roberta": "layer_norm"}[family]
    bias = {"bert": "cls.predictions.bias", "albert": "predictions.bias",
            "roberta": "lm_head.bias"}[family]
    rows = _dense(f"{mlm}.dense", "mlm_head/transform")
    rows += _norm(f"{mlm}.{norm}", "mlm_head/layer_norm")
    rows.append((bias, "mlm_head/output_bias", SAME))
    if sentence_head:
        name = {"bert": "cls.seq_relationship", "albert": "sop_classifier.classifier"}[family]
        rows += _dense(name, "sentence_head")
    return rows


# BART's final_logits_bias is [1, vocab].
_ROW = Transform("row", lambda x, shape: x.reshape(shape), lambda v: v.reshape(1, -1))

# Copies of other weights: HF ties them, some checkpoints still store them.
_TIED = {
    "bert": ("cls.predictions.decoder.weight", "cls.predictions.decoder.bias"),
    "albert": ("predictions.decoder.weight", "predictions.decoder.bias"),
    "roberta": ("lm_head.decoder.weight", "lm_head.decoder.bias"),
    "bart": ("lm_head.weight", "encoder.embed_tokens.weight", "decoder.embed_tokens.weight"),
}


# === Config =================================================================================

def _activation(config, key, default="gelu"):
    name = config.get(key, default)
    if name not in _ACTIVATIONS:
        raise ValueError(
            f"config.json: {key}={name!r} is not supported; supported: {sorted(_ACTIVATIONS)}"
        )
    return _ACTIVATIONS[name]


def _require(config, key, expected, why):
    if key in config and config[key] != expected:
        raise ValueError(f"config.json: {key}={config[key]!r} is not supported ({why})")


def backbone_config(config):
    """Maps a HF `config.json` dict to `(family, our constructor arguments)`."""
    family = config.get("model_type")
    if family not in _ARCHITECTURE:
        raise ValueError(
            f"config.json: model_type={family!r} is not supported; supported: "
            f"{', '.join(_ARCHITECTURE)}"
        )
    if family == "bart":
        for a, b in (("encoder_layers", "decoder_layers"),
                     ("encoder_attention_heads", "decoder_attention_heads"),
                     ("encoder_ffn_dim", "decoder_ffn_dim")):
            if config[a] != config[b]:
                raise ValueError(
                    f"config.json: {a}={config[a]} != {b}={config[b]}; BartBackbone has the "
                    "same depth, heads and width in the encoder and decoder"
                )
        _require(config, "scale_embedding", False,
                 "BartBackbone does not scale embeddings by sqrt(d_model)")
        _require(config, "normalize_before", False, "pre-LN (mBART) blocks")
        _require(config, "add_final_layer_norm", False, "a final LayerNorm (mBART)")
        _require(config, "normalize_embedding", True, "BART normalizes the embeddings")
        _require(config, "tie_word_embeddings", True, "untied output embeddings")
        return family, dict(
            vocabulary_size=config["vocab_size"],
            num_layers=config["encoder_layers"],
            num_heads=config["encoder_attention_heads"],
            hidden_dim=config["d_model"],
            intermediate_dim=config["encoder_ffn_dim"],
            dropout=config.get("dropout", 0.1),
            max_sequence_length=config["max_position_embeddings"],
            activation=_activation(config, "activation_function"),
        )
    _require(config, "tie_word_embeddings", True, "untied output embeddings")
    _require(config, "position_embedding_type", "absolute", "only absolute positions")
    _require(config, "is_decoder", False, "decoder (causal) BERTs")
    _require(config, "add_cross_attention", False, "cross-attention")
    args = dict(
        vocabulary_size=config["vocab_size"],
        num_layers=config["num_hidden_layers"],
        num_heads=config["num_attention_heads"],
        hidden_dim=config["hidden_size"],
        intermediate_dim=config["intermediate_size"],
        # transformers' defaults where a config leaves a key out: ALBERT's differ.
        dropout=config.get("hidden_dropout_prob", 0.0 if family == "albert" else 0.1),
        max_sequence_length=config["max_position_embeddings"],
        activation=_activation(config, "hidden_act",
                               "gelu_new" if family == "albert" else "gelu"),
        layer_norm_epsilon=config.get("layer_norm_eps", 1e-12),
    )
    if family == "roberta":
        _require(config, "pad_token_id", RobertaBackbone.padding_index,
                 "positions are numbered from the padding id 1")
        offset = RobertaBackbone.padding_index + 1
        args["max_sequence_length"] -= offset  # the HF count includes the 2 reserved rows
    else:
        args["num_segments"] = config.get("type_vocab_size", 2)
    if family == "albert":
        args.update(
            embedding_dim=config.get("embedding_size", 128),
            num_groups=config.get("num_hidden_groups", 1),
            num_inner_repetitions=config.get("inner_group_num", 1),
        )
    return family, args


def huggingface_config(backbone, tokenizer=None):
    """The HF `config.json` dict of one of our backbones."""
    family = _family(backbone)
    special = tokenizer.special_token_ids if tokenizer is not None else {}
    if family == "bart":
        return {
            "architectures": [_ARCHITECTURE[family]],
            "model_type": "bart",
            "vocab_size": backbone.vocabulary_size,
            "d_model": backbone.hidden_dim,
            "encoder_layers": backbone.num_layers,
            "decoder_layers": backbone.num_layers,
            "num_hidden_layers": backbone.num_layers,
            "encoder_attention_heads": backbone.num_heads,
            "decoder_attention_heads": backbone.num_heads,
            "encoder_ffn_dim": backbone.intermediate_dim,
            "decoder_ffn_dim": backbone.intermediate_dim,
            "activation_function": _ACTIVATION_NAMES[backbone.activation],
            "dropout": backbone.dropout,
            "attention_dropout": 0.0,
            "activation_dropout": 0.0,
            "max_position_embeddings": backbone.max_sequence_length,
            "scale_embedding": False,
            "init_std": 0.02,
            "is_encoder_decoder": True,
            "pad_token_id": special.get("pad", 1),
            "bos_token_id": special.get("bos", 0),
            "eos_token_id": special.get("eos", 2),
            "decoder_start_token_id": special.get("eos", 2),
            "forced_eos_token_id": special.get("eos", 2),
            "torch_dtype": "float32",
        }
    config = {
        "architectures": [_ARCHITECTURE[family]],
        "model_type": family,
        "vocab_size": backbone.vocabulary_size,
        "hidden_size": backbone.hidden_dim,
        "num_hidden_layers": backbone.num_layers,
        "num_attention_heads": backbone.num_heads,
        "intermediate_size": backbone.intermediate_dim,
        "hidden_act": _ACTIVATION_NAMES[backbone.activation],
        "hidden_dropout_prob": backbone.dropout,
        "attention_probs_dropout_prob": backbone.dropout,
        "max_position_embeddings": backbone.max_sequence_length,
        "type_vocab_size": getattr(backbone, "num_segments", 1),
        "layer_norm_eps": backbone.layer_norm_epsilon,
        "initializer_range": 0.02,
        "position_embedding_type": "absolute",
        "pad_token_id": special.get("pad", 0),
        "torch_dtype": "float32",
    }
    if family == "roberta":
        config["max_position_embeddings"] += RobertaBackbone.padding_index + 1
        config.update(pad_token_id=special.get("pad", 1), bos_token_id=special.get("bos", 0),
                      eos_token_id=special.get("eos", 2))
    if family == "albert":
        config.update(
            embedding_size=backbone.embedding_dim,
            num_hidden_groups=backbone.num_groups,
            inner_group_num=backbone.num_inner_repetitions,
            classifier_dropout_prob=backbone.dropout,
        )
    return config


def _family(backbone):
    for family, cls in (("albert", AlbertBackbone), ("roberta", RobertaBackbone),
                        ("bart", BartBackbone), ("bert", BertBackbone)):
        if isinstance(backbone, cls):
            return family
    raise ValueError(f"{type(backbone).__name__} is not a keras_bert_zoo backbone")


# === Reading weights ========================================================================

def read_weights(model_dir, allow_pickle=False):
    """Reads every tensor of a HF model folder into a dict of numpy arrays.

    Args:
        model_dir: the folder.
        allow_pickle: also read `pytorch_model.bin` (needs PyTorch). Unpickling a file can run
            arbitrary code: only for files from a source you trust.
    """
    from safetensors.numpy import load_file

    def path(name):
        return os.path.join(model_dir, name)

    if os.path.exists(path(SAFETENSORS_FILE)):
        files = [path(SAFETENSORS_FILE)]
    elif os.path.exists(path(SAFETENSORS_INDEX)):
        files = _shards(path(SAFETENSORS_INDEX))
    elif os.path.exists(path(PICKLE_FILE)) or os.path.exists(path(PICKLE_INDEX)):
        name = PICKLE_FILE if os.path.exists(path(PICKLE_FILE)) else PICKLE_INDEX
        if not allow_pickle:
            raise ValueError(
                f"{path(name)} is a pickle file and {model_dir!r} has no {SAFETENSORS_FILE}. "
                "Unpickling can run arbitrary code, so it is refused by default: get the "
                "safetensors version of the model, or pass allow_pickle=True (needs PyTorch) "
                "if you trust where the file comes from"
            )
        return _read_pickle(path(name))
    else:
        raise FileNotFoundError(
            f"no {SAFETENSORS_FILE} (or {SAFETENSORS_INDEX}) in {model_dir!r}; expected a "
            "Hugging Face model folder written by save_pretrained"
        )
    tensors = {}
    for file in files:
        for name, value in load_file(file).items():
            tensors[name] = value
    return tensors


def _shards(index_path):
    with open(index_path, encoding="utf-8") as f:
        weight_map = json.load(f)["weight_map"]
    directory = os.path.dirname(index_path)
    files = [os.path.join(directory, f) for f in sorted(set(weight_map.values()))]
    for file in files:
        if not os.path.exists(file):
            raise FileNotFoundError(f"{index_path} lists {file}, which does not exist")
    return files


def _read_pickle(path):
    try:
        import torch
    except ImportError:
        raise ImportError(
            f"allow_pickle=True needs PyTorch (torch) to read {path}; install torch, or "
            "convert the checkpoint to safetensors"
        ) from None
    files = _shards(path) if path.endswith(".json") else [path]
    tensors = {}
    for file in files:
        state = torch.load(file, map_location="cpu", weights_only=True)
        for name, value in state.items():
            tensors[name] = value.float().numpy()
    return tensors


def _strip_prefix(tensors, family):
    """Removes the model prefix (`bert.`, `albert.`, `roberta.`, `model.`) and renames the
    old `LayerNorm.gamma/beta` to `weight/bias` (as transformers does when loading)."""
    prefix = _PREFIX[family]
    out = {}
    for name, value in tensors.items():
        short = name[len(prefix):] if name.startswith(prefix) else name
        if short.endswith(".gamma"):
            short = short[: -len("gamma")] + "weight"
        elif short.endswith(".beta"):
            short = short[: -len("beta")] + "bias"
        if short in out:
            raise ValueError(f"weights {name} and {short} both present; which one is meant?")
        out[short] = np.asarray(value)
    return out


def _fold_roberta_token_type(tensors, report):
    """Adds HF RoBERTa's token type row 0 to every position row (our RoBERTa has no segments).

    HF adds `token_type_embeddings[0]` to every token when no token_type_ids are given, so
    the sum is exact. Further rows (never used by RoBERTa) are dropped and reported.
    """
    name = "embeddings.token_type_embeddings.weight"
    if name not in tensors:
        return
    table = tensors.pop(name)
    positions = "embeddings.position_embeddings.weight"
    if positions in tensors and table.ndim == 2 and table.shape[1:] == tensors[positions].shape[1:]:
        tensors[positions] = tensors[positions] + table[0]
        report["folded"].append(f"{name}[0] into {positions}")
        if table.shape[0] > 1:
            report["dropped"].append(f"{name}[1:] ({table.shape[0] - 1} unused rows)")
    else:
        tensors[name] = table  # let the shape check name it


def _resolve_bart_embeddings(tensors):
    """BART stores the shared token table as `shared.weight`, sometimes also (or only) as
    the tied `encoder.embed_tokens.weight` / `decoder.embed_tokens.weight`."""
    if "shared.weight" not in tensors:
        for alias in ("encoder.embed_tokens.weight", "decoder.embed_tokens.weight"):
            if alias in tensors:
                tensors["shared.weight"] = tensors[alias]
                break


# === Tokenizer ==============================================================================

def _read_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def load_hf_tokenizer(model_dir, family):
    """Builds our tokenizer from the HF tokenizer files of `model_dir`."""
    from keras_bert_zoo import tokenizers

    config_path = os.path.join(model_dir, "tokenizer_config.json")
    config = _read_json(config_path) if os.path.exists(config_path) else {}
    if "class" in config and "files" in config:  # written by our Tokenizer.save
        return tokenizers.load_tokenizer(model_dir)

    def need(name):
        path = os.path.join(model_dir, name)
        if not os.path.exists(path):
            raise FileNotFoundError(
                f"no {name} in {model_dir!r}: the {family} tokenizer needs it"
            )
        return path

    if family == "bert":
        vocab = need("vocab.txt")
        lowercase = config.get("do_lower_case")
        if lowercase is None:
            lowercase = vocabulary_is_uncased(vocab)
            logger.info("tokenizer_config.json has no do_lower_case; from the vocabulary: %s",
                        lowercase)
        return tokenizers.WordPieceTokenizer(
            vocab,
            lowercase=bool(lowercase),
            strip_accents=config.get("strip_accents"),
            split_on_cjk=config.get("tokenize_chinese_chars", True),
        )
    if family == "albert":
        return tokenizers.SentencePieceTokenizer(
            need("spiece.model"),
            lowercase=config.get("do_lower_case", True),
            keep_accents=config.get("keep_accents", False),
            remove_space=config.get("remove_space", True),
        )
    if config.get("add_prefix_space"):
        raise ValueError(
            f"{config_path}: add_prefix_space=true is not supported by BytePairTokenizer"
        )
    return tokenizers.BytePairTokenizer(need("vocab.json"), need("merges.txt"), family=family)


def vocabulary_is_uncased(vocab_path):
    """True when no token of a vocab.txt (special [..] tokens aside) has upper-case letters."""
    with open(vocab_path, encoding="utf-8") as f:
        tokens = [line.strip() for line in f]
    return not any(t.lower() != t for t in tokens if not (t.startswith("[") and t.endswith("]")))


def _write_hf_tokenizer(tokenizer, family, out_dir, max_length):
    """Writes the slow-tokenizer files of HF plus its tokenizer_config.json."""
    with tempfile.TemporaryDirectory() as tmp:
        tokenizer.save(tmp)  # vocabulary files under their usual names
        saved = _read_json(os.path.join(tmp, "tokenizer_config.json"))
        for filename in saved["files"].values():
            shutil.copyfile(os.path.join(tmp, filename), os.path.join(out_dir, filename))
    special = tokenizer.special_tokens
    config = {"tokenizer_class": _TOKENIZER_CLASS[family], "model_max_length": max_length}
    names = {"cls": "cls_token", "sep": "sep_token", "mask": "mask_token", "pad": "pad_token",
             "unk": "unk_token", "bos": "bos_token", "eos": "eos_token"}
    special_map = {names[role]: token for role, token in special.items()}
    config.update(special_map)
    if family == "bert":
        config.update(do_lower_case=tokenizer.lowercase, strip_accents=tokenizer.strip_accents,
                      tokenize_chinese_chars=tokenizer.split_on_cjk, do_basic_tokenize=True)
    elif family == "albert":
        config.update(do_lower_case=tokenizer.lowercase, keep_accents=tokenizer.keep_accents,
                      remove_space=tokenizer.remove_space)
    else:
        config.update(add_prefix_space=False, errors="replace")
    for name, content in (("tokenizer_config.json", config),
                          ("special_tokens_map.json", special_map)):
        with open(os.path.join(out_dir, name), "w", encoding="utf-8") as f:
            json.dump(content, f, indent=2, ensure_ascii=False)
            f.write("\n")


# === Public API =============================================================================

def from_huggingface(model_dir, *, allow_pickle=False, with_heads=False, sequence_length=None):
    """Loads a Hugging Face BERT, ALBERT, RoBERTa or BART folder as our backbone.

    Reads `config.json`, `model.safetensors` and the tokenizer files. Every weight is placed by
    a name table with shape checks: a missing, unexpected or mis-shaped weight raises a
    ValueError naming it. Dropped weights (RoBERTa's pooler, heads when `with_heads=False`) are
    logged on the `keras_bert_zoo.convert` logger.

    Args:
        model_dir: local folder written by `save_pretrained` (weights with or without the
            `bert.` / `albert.` / `roberta.` / `model.` prefix).
        allow_pickle: read `pytorch_model.bin` when there is no safetensors file. Needs PyTorch
            and runs the unpickler on the file: only for files you trust.
        with_heads: return a `Pretrainer` (BERT/ALBERT/RoBERTa: MLM head, plus NSP/SOP when
            present) or a `DenoisingPretrainer` (BART) with the checkpoint's head weights,
            instead of the backbone.
        sequence_length: length of the preprocessor outputs; defaults to the tokenizer's
            `model_max_length` capped at the backbone's `max_sequence_length`.

    Returns:
        `(backbone, preprocessor)` (`(pretrainer, preprocessor)` with `with_heads=True`).

    Example::

        backbone, preprocessor = from_huggingface("all-MiniLM-L6-v2/")
        outputs = backbone(preprocessor(tf.constant(["A man plays the guitar."])))
    """
    model_dir = os.fspath(model_dir)
    config_path = os.path.join(model_dir, "config.json")
    if not os.path.exists(config_path):
        raise FileNotFoundError(
            f"no config.json in {model_dir!r}; expected a Hugging Face model folder"
        )
    try:
        family, args = backbone_config(_read_json(config_path))
    except KeyError as e:
        raise ValueError(f"{config_path}: missing key {e.args[0]!r}") from None
    tensors = _strip_prefix(read_weights(model_dir, allow_pickle=allow_pickle), family)
    report = {"folded": [], "dropped": []}
    if family == "roberta":
        _fold_roberta_token_type(tensors, report)
    if family == "bart":
        _resolve_bart_embeddings(tensors)

    cls = {"bert": BertBackbone, "albert": AlbertBackbone, "roberta": RobertaBackbone,
           "bart": BartBackbone}[family]
    backbone = cls(**args)
    table = weight_table(backbone)
    model = backbone
    head_names = [n for n in tensors if n.startswith(_HEADS[family])]
    if with_heads:
        model, table = _with_heads(backbone, family, table, head_names, model_dir)
    used = {name for name, _, _ in table}
    ignored = set(_BUFFERS) | set(_TIED[family]) | set(head_names)
    if family == "roberta":
        ignored |= {"pooler.dense.weight", "pooler.dense.bias"}
    assign(model, table, tensors, source=model_dir, ignored=ignored)
    # Buffers and tied copies are not weights of their own; everything else unused is reported.
    dropped = sorted(set(tensors) - used - set(_BUFFERS) - set(_TIED[family]))
    report["dropped"].extend(dropped)
    _log_report(model_dir, family, report)

    tokenizer = load_hf_tokenizer(model_dir, family)
    if sequence_length is None:
        max_length = _read_tokenizer_max_length(model_dir)
        sequence_length = min(max_length or backbone.max_sequence_length,
                              backbone.max_sequence_length)
    from keras_bert_zoo.tokenizers import Preprocessor

    preprocessor = Preprocessor(tokenizer, sequence_length=sequence_length, family=family)
    return model, preprocessor


def _with_heads(backbone, family, table, head_names, model_dir):
    from keras_bert_zoo.tasks import DenoisingPretrainer, Pretrainer

    if not head_names:
        raise ValueError(
            f"with_heads=True but {model_dir!r} has no pretraining head weights (names "
            f"starting with {', '.join(_HEADS[family])}); it holds only a base model"
        )
    if family == "bart":
        return DenoisingPretrainer(backbone), table + head_table(family, False)
    sentence = {"bert": "cls.seq_relationship.weight",
                "albert": "sop_classifier.classifier.weight"}.get(family)
    has_sentence = sentence in head_names
    model = Pretrainer(backbone, sentence_head=has_sentence)
    return model, table + head_table(family, has_sentence)


def _read_tokenizer_max_length(model_dir):
    path = os.path.join(model_dir, "tokenizer_config.json")
    if not os.path.exists(path):
        return None
    value = _read_json(path).get("model_max_length")
    # HF writes a huge sentinel when there is no limit.
    return int(value) if isinstance(value, (int, float)) and value < 1e6 else None


def _log_report(model_dir, family, report):
    for item in report["folded"]:
        logger.info("%s: folded %s", model_dir, item)
    if report["dropped"]:
        logger.warning(
            "%s: %d weight(s) not used by the converted %s model: %s", model_dir,
            len(report["dropped"]), family, format_names(report["dropped"]),
        )


def to_huggingface(backbone, preprocessor, out_dir):
    """Writes a backbone (and its tokenizer) as a Hugging Face model folder.

    Writes `model.safetensors` with the key names and torch layouts of HF's `BertModel`,
    `AlbertModel`, `RobertaModel` or `BartModel` (no prefix, float32), `config.json`, and
    the slow-tokenizer files with `tokenizer_config.json` and `special_tokens_map.json`.
    RoBERTa gets a zero `token_type_embeddings` row and no pooler (ours has none).

    Args:
        backbone: one of our backbones, or a `Pretrainer` / `DenoisingPretrainer` (then
            the pretraining head weights are written too, in the `*ForPreTraining` /
            `*ForMaskedLM` / `*ForConditionalGeneration` naming).
        preprocessor: a `Preprocessor` or a tokenizer (None to write no tokenizer files).
        out_dir: output folder (created).

    Example::

        to_huggingface(backbone, preprocessor, "exported/")
        backbone, preprocessor = from_huggingface("exported/")
    """
    from safetensors.numpy import save_file

    model = backbone
    backbone = getattr(model, "backbone", model)
    family = _family(backbone)
    tokenizer = getattr(preprocessor, "tokenizer", preprocessor)
    os.makedirs(out_dir, exist_ok=True)

    tensors = extract(backbone, weight_table(backbone))
    if family == "roberta":
        tensors["embeddings.token_type_embeddings.weight"] = np.zeros(
            (1, backbone.hidden_dim), "float32"
        )
    config = huggingface_config(backbone, tokenizer)
    if model is not backbone:
        sentence = getattr(model, "sentence_head", None) is not None
        tensors = {_PREFIX[family] + k: v for k, v in tensors.items()}
        tensors.update(extract(model, head_table(family, sentence)))
        config["architectures"] = [_head_architecture(family, sentence)]
    save_file(tensors, os.path.join(out_dir, SAFETENSORS_FILE), metadata={"format": "pt"})
    with open(os.path.join(out_dir, "config.json"), "w", encoding="utf-8") as f:
        json.dump(config, f, indent=2, sort_keys=True)
        f.write("\n")
    if tokenizer is not None:
        max_length = getattr(preprocessor, "sequence_length", backbone.max_sequence_length)
        _write_hf_tokenizer(tokenizer, family, out_dir, max_length)
    return out_dir


def _head_architecture(family, sentence):
    if family == "bart":
        return "BartForConditionalGeneration"
    if family == "roberta":
        return "RobertaForMaskedLM"
    name = {"bert": "Bert", "albert": "Albert"}[family]
    return f"{name}ForPreTraining" if sentence else f"{name}ForMaskedLM"
