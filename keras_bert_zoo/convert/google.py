"""Original Google TF1 checkpoints (google-research/bert and google-research/albert) -> ours.

A name table plus shape asserts, like the Hugging Face converter. The checkpoint is read with
`tf.train.load_checkpoint`, so no graph or TF1 code runs. Optimizer state (`*/adam_m`,
`*/adam_v`, `global_step`) is skipped by name; any other unused variable is an error unless it
is a known pretraining head (`cls/predictions/*`, `cls/seq_relationship/*`), which is loaded
into a `Pretrainer` with `with_heads=True` and otherwise dropped and logged.

Both original code bases compute GELU with the tanh approximation (their `hidden_act: "gelu"`)
and LayerNorm with epsilon 1e-12, so converted models use `activation="gelu_approximate"`.
"""

import glob
import json
import logging
import os
import re

from keras_bert_zoo.convert._weights import (
    HEADS_BIAS,
    LINEAR,
    SAME,
    TF_OUT,
    TF_QKV,
    assign,
    format_names,
)
from keras_bert_zoo.convert.huggingface import vocabulary_is_uncased
from keras_bert_zoo.models import AlbertBackbone, BertBackbone

logger = logging.getLogger("keras_bert_zoo.convert")

_OPTIMIZER = re.compile(r"(/adam_m|/adam_v)$|^global_step$|^_CHECKPOINTABLE_OBJECT_GRAPH$")
_HEADS = ("cls/predictions/", "cls/seq_relationship/")
_CONFIG_FILES = ("bert_config.json", "albert_config.json")
_ACTIVATIONS = {
    "gelu": "gelu_approximate",  # modeling.py's gelu is the tanh approximation
    "relu": "relu",
}


# === Name tables: (checkpoint variable, our variable path, transform) =======================

def _dense(tf, ours, transform=SAME):
    return [(f"{tf}/kernel", f"{ours}/kernel", transform), (f"{tf}/bias", f"{ours}/bias", SAME)]


def _norm(tf, ours):
    return [(f"{tf}/gamma", f"{ours}/gamma", SAME), (f"{tf}/beta", f"{ours}/beta", SAME)]


def _block(attention, attention_output, attention_norm, intermediate, output, output_norm, ours):
    """The rows of one post-LN encoder block, given the checkpoint's scope names."""
    rows = []
    for name in ("query", "key", "value"):
        rows += [
            (f"{attention}/{name}/kernel", f"{ours}/self_attention_layer/{name}/kernel", TF_QKV),
            (f"{attention}/{name}/bias", f"{ours}/self_attention_layer/{name}/bias", HEADS_BIAS),
        ]
    return (
        rows
        + [
            (f"{attention_output}/kernel", f"{ours}/self_attention_layer/attention_output/kernel",
             TF_OUT),
            (f"{attention_output}/bias", f"{ours}/self_attention_layer/attention_output/bias",
             SAME),
        ]
        + _norm(attention_norm, f"{ours}/self_attention_layer_norm")
        + _dense(intermediate, f"{ours}/feedforward_intermediate_dense")
        + _dense(output, f"{ours}/feedforward_output_dense")
        + _norm(output_norm, f"{ours}/feedforward_layer_norm")
    )


def weight_table(backbone):
    """The (checkpoint variable, our variable path, transform) rows of a BERT/ALBERT backbone.

    Example:
    >>> backbone = BertBackbone(vocabulary_size=10, num_layers=1, num_heads=2, hidden_dim=8,
    ...                         intermediate_dim=16)
    >>> weight_table(backbone)[5]
    ('bert/encoder/layer_0/attention/self/query/kernel',
     'transformer_layer_0/self_attention_layer/query/kernel', tf_qkv)
    """
    rows = [
        ("bert/embeddings/word_embeddings", "embeddings/token_embedding/embeddings", SAME),
        ("bert/embeddings/position_embeddings", "embeddings/position_embedding/embeddings", SAME),
        ("bert/embeddings/token_type_embeddings", "embeddings/segment_embedding/embeddings",
         SAME),
    ] + _norm("bert/embeddings/LayerNorm", "embeddings/layer_norm")
    if isinstance(backbone, AlbertBackbone):
        rows += _dense("bert/encoder/embedding_hidden_mapping_in", "embeddings/projection")
        for g in range(backbone.num_groups):
            for j in range(backbone.num_inner_repetitions):
                tf = f"bert/encoder/transformer/group_{g}/inner_group_{j}"
                rows += _block(
                    attention=f"{tf}/attention_1/self",
                    attention_output=f"{tf}/attention_1/output/dense",
                    attention_norm=f"{tf}/LayerNorm",
                    intermediate=f"{tf}/ffn_1/intermediate/dense",
                    output=f"{tf}/ffn_1/intermediate/output/dense",
                    output_norm=f"{tf}/LayerNorm_1",
                    ours=f"transformer_layer_{g * backbone.num_inner_repetitions + j}",
                )
    else:
        for i in range(backbone.num_layers):
            tf = f"bert/encoder/layer_{i}"
            rows += _block(
                attention=f"{tf}/attention/self",
                attention_output=f"{tf}/attention/output/dense",
                attention_norm=f"{tf}/attention/output/LayerNorm",
                intermediate=f"{tf}/intermediate/dense",
                output=f"{tf}/output/dense",
                output_norm=f"{tf}/output/LayerNorm",
                ours=f"transformer_layer_{i}",
            )
    return rows + _dense("bert/pooler/dense", "pooler")


def head_table(sentence_head):
    """Rows of the MLM head (and the NSP/SOP head) of the original pretraining graph."""
    rows = _dense("cls/predictions/transform/dense", "mlm_head/transform")
    rows += _norm("cls/predictions/transform/LayerNorm", "mlm_head/layer_norm")
    rows.append(("cls/predictions/output_bias", "mlm_head/output_bias", SAME))
    if sentence_head:
        rows += [
            # [2, hidden] in the checkpoint: used as `matmul(x, w, transpose_b=True)`.
            ("cls/seq_relationship/output_weights", "sentence_head/kernel", LINEAR),
            ("cls/seq_relationship/output_bias", "sentence_head/bias", SAME),
        ]
    return rows


# === Files and config =======================================================================

def find_checkpoint(checkpoint_prefix_or_dir):
    """Returns the checkpoint prefix of a prefix (`.../model.ckpt-100`) or a folder."""
    path = os.fspath(checkpoint_prefix_or_dir)
    if os.path.isdir(path):
        import tensorflow as tf

        latest = tf.train.latest_checkpoint(path)
        if latest:
            return latest
        indexes = sorted(glob.glob(os.path.join(path, "*.index")))
        if len(indexes) == 1:
            return indexes[0][: -len(".index")]
        if not indexes:
            raise FileNotFoundError(f"no TF checkpoint (*.index) in {path!r}")
        names = ", ".join(os.path.basename(i) for i in indexes)
        raise ValueError(
            f"{path!r} holds several checkpoints ({names}) and no 'checkpoint' file; pass the "
            "prefix of one, e.g. "
            f"{indexes[-1][: -len('.index')]!r}"
        )
    if path.endswith(".index"):
        path = path[: -len(".index")]
    if not os.path.exists(path + ".index"):
        raise FileNotFoundError(
            f"no TF checkpoint at {path!r} (expected {path}.index and its data files)"
        )
    return path


def _find_file(directory, names, what, argument):
    for name in names:
        path = os.path.join(directory, name)
        if os.path.exists(path):
            return path
    raise FileNotFoundError(
        f"no {what} ({' or '.join(names)}) in {directory!r}; pass {argument}=..."
    )


def backbone_config(config, family):
    """Maps a `bert_config.json` / `albert_config.json` dict to our constructor arguments."""
    act = config.get("hidden_act", "gelu")
    if act not in _ACTIVATIONS:
        raise ValueError(f"hidden_act={act!r} is not supported; supported: {sorted(_ACTIVATIONS)}")
    args = dict(
        vocabulary_size=config["vocab_size"],
        num_layers=config["num_hidden_layers"],
        num_heads=config["num_attention_heads"],
        hidden_dim=config["hidden_size"],
        intermediate_dim=config["intermediate_size"],
        dropout=config.get("hidden_dropout_prob", 0.1),
        max_sequence_length=config.get("max_position_embeddings", 512),
        num_segments=config.get("type_vocab_size", 2),
        activation=_ACTIVATIONS[act],
        layer_norm_epsilon=1e-12,  # tf.contrib.layers.layer_norm in both code bases
    )
    if family == "albert":
        if config.get("net_structure_type", 0) != 0:
            raise ValueError(
                f"net_structure_type={config['net_structure_type']} is not supported; only the "
                "standard ALBERT structure (0)"
            )
        args.update(
            embedding_dim=config.get("embedding_size", 128),
            num_groups=config.get("num_hidden_groups", 1),
            num_inner_repetitions=config.get("inner_group_num", 1),
        )
    return args


def read_checkpoint(prefix):
    """{variable name: numpy array} of a TF checkpoint, optimizer slots excluded."""
    import tensorflow as tf

    reader = tf.train.load_checkpoint(prefix)
    names = reader.get_variable_to_shape_map()
    skipped = sorted(n for n in names if _OPTIMIZER.search(n))
    if skipped:
        logger.info("%s: skipped %d optimizer variable(s)", prefix, len(skipped))
    return {n: reader.get_tensor(n) for n in names if not _OPTIMIZER.search(n)}


# === Public API =============================================================================

def from_google_checkpoint(
    checkpoint_prefix_or_dir,
    *,
    config_path=None,
    vocab_path=None,
    with_heads=False,
    lowercase=None,
    sequence_length=None,
):
    """Loads an original TF1 BERT or ALBERT checkpoint as our backbone.

    Args:
        checkpoint_prefix_or_dir: a prefix such as `uncased_L-12_H-768_A-12/bert_model.ckpt`
            or `model.ckpt-125000`, or the folder holding it.
        config_path: `bert_config.json` / `albert_config.json`; by default looked up next to
            the checkpoint. ALBERT is recognized by `embedding_size` in the config.
        vocab_path: `vocab.txt` (BERT) or the SentencePiece model (ALBERT `30k-clean.model`);
            by default looked up next to the checkpoint.
        with_heads: return a `Pretrainer` holding the checkpoint's MLM head (and NSP/SOP head
            when present) instead of the backbone.
        lowercase: BERT only. None infers it from the vocabulary (uncased vocabularies have no
            upper-case tokens); the original code takes it as the `do_lower_case` flag.
        sequence_length: length of the preprocessor outputs (default: max_sequence_length).

    Returns:
        `(backbone, preprocessor)` (`(pretrainer, preprocessor)` with `with_heads=True`).

    Example::

        backbone, preprocessor = from_google_checkpoint("uncased_L-12_H-768_A-12/")
    """
    from keras_bert_zoo import tokenizers

    prefix = find_checkpoint(checkpoint_prefix_or_dir)
    directory = os.path.dirname(prefix)
    config_path = config_path or _find_file(directory, _CONFIG_FILES, "model config",
                                            "config_path")
    with open(config_path, encoding="utf-8") as f:
        config = json.load(f)
    tensors = read_checkpoint(prefix)
    is_albert = "embedding_size" in config or any("embedding_hidden_mapping_in" in n
                                                  for n in tensors)
    family = "albert" if is_albert else "bert"
    try:
        args = backbone_config(config, family)
    except KeyError as e:
        raise ValueError(f"{config_path}: missing key {e.args[0]!r}") from None
    backbone = (AlbertBackbone if is_albert else BertBackbone)(**args)

    table = weight_table(backbone)
    model = backbone
    head_names = [n for n in tensors if n.startswith(_HEADS)]
    if with_heads:
        from keras_bert_zoo.tasks import Pretrainer

        if "cls/predictions/output_bias" not in tensors:
            raise ValueError(
                f"with_heads=True but {prefix} has no cls/predictions/* variables (MLM head)"
            )
        sentence = "cls/seq_relationship/output_weights" in tensors
        model = Pretrainer(backbone, sentence_head=sentence)
        table = table + head_table(sentence)
    assign(model, table, tensors, source=prefix, ignored=head_names)
    dropped = sorted(set(tensors) - {name for name, _, _ in table})
    if dropped:
        logger.warning("%s: %d variable(s) not used by the converted %s model: %s", prefix,
                       len(dropped), family, format_names(dropped))

    if is_albert:
        vocab_path = vocab_path or _find_sentencepiece(directory)
        tokenizer = tokenizers.SentencePieceTokenizer(vocab_path)
    else:
        vocab_path = vocab_path or _find_file(directory, ("vocab.txt",), "vocabulary",
                                              "vocab_path")
        if lowercase is None:
            lowercase = vocabulary_is_uncased(vocab_path)
        tokenizer = tokenizers.WordPieceTokenizer(vocab_path, lowercase=lowercase)
    preprocessor = tokenizers.Preprocessor(
        tokenizer, sequence_length=sequence_length or backbone.max_sequence_length,
        family=family,
    )
    return model, preprocessor


def _find_sentencepiece(directory):
    models = sorted(glob.glob(os.path.join(directory, "*.model")))
    if "30k-clean.model" in map(os.path.basename, models):
        return os.path.join(directory, "30k-clean.model")
    if len(models) == 1:
        return models[0]
    raise FileNotFoundError(
        f"no single SentencePiece model (30k-clean.model or *.model) in {directory!r}; "
        "pass vocab_path=..."
    )
