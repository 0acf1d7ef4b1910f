"""Tiny checkpoints in the original layouts (HF safetensors, Google TF1), from random weights.

Names and shapes are written out here from the reference code (transformers' modeling_*.py,
google-research/bert and albert modeling.py), independently of keras_bert_zoo.convert.
"""

import json
import os

import numpy as np

HF_CONFIGS = {
    "bert": dict(model_type="bert", architectures=["BertForPreTraining"], hidden_size=16,
                 num_hidden_layers=2, num_attention_heads=2, intermediate_size=32,
                 hidden_act="gelu", hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1,
                 max_position_embeddings=40, type_vocab_size=2, layer_norm_eps=1e-12,
                 pad_token_id=0),
    "albert": dict(model_type="albert", architectures=["AlbertForPreTraining"], hidden_size=16,
                   embedding_size=8, num_hidden_layers=4, num_hidden_groups=2, inner_group_num=2,
                   num_attention_heads=2, intermediate_size=32, hidden_act="gelu_new",
                   hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
                   max_position_embeddings=40, type_vocab_size=2, layer_norm_eps=1e-12,
                   pad_token_id=0),
    "roberta": dict(model_type="roberta", architectures=["RobertaForMaskedLM"], hidden_size=16,
                    num_hidden_layers=2, num_attention_heads=2, intermediate_size=32,
                    hidden_act="gelu", hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1,
                    max_position_embeddings=42, type_vocab_size=1, layer_norm_eps=1e-5,
                    pad_token_id=1, bos_token_id=0, eos_token_id=2),
    "bart": dict(model_type="bart", architectures=["BartForConditionalGeneration"], d_model=16,
                 encoder_layers=2, decoder_layers=2, encoder_attention_heads=2,
                 decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32,
                 activation_function="gelu", dropout=0.1, max_position_embeddings=40,
                 scale_embedding=False, pad_token_id=1, bos_token_id=0, eos_token_id=2,
                 decoder_start_token_id=2, num_hidden_layers=2),
}


class _Random:
    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)
        self.tensors = {}

    def __call__(self, name, *shape, scale=0.2, offset=0.0):
        self.tensors[name] = (offset + scale * self.rng.standard_normal(shape)).astype("float32")

    def linear(self, name, out_dim, in_dim):  # torch.nn.Linear: weight [out, in]
        self(f"{name}.weight", out_dim, in_dim)
        self(f"{name}.bias", out_dim, scale=0.05)

    def norm(self, name, dim):
        self(f"{name}.weight", dim, scale=0.1, offset=1.0)
        self(f"{name}.bias", dim, scale=0.05)


def hf_state(family, vocab_size, heads=True, seed=0):
    """A random state dict of `<Family>ForPreTraining/ForMaskedLM/ForConditionalGeneration`."""
    c = HF_CONFIGS[family]
    r = _Random(seed)
    if family == "bart":
        h, f = c["d_model"], c["encoder_ffn_dim"]
        r("model.shared.weight", vocab_size, h)
        for side in ("encoder", "decoder"):
            r(f"model.{side}.embed_positions.weight", c["max_position_embeddings"] + 2, h)
            r.norm(f"model.{side}.layernorm_embedding", h)
            for i in range(c[f"{side}_layers"]):
                s = f"model.{side}.layers.{i}"
                attentions = ["self_attn"] + (["encoder_attn"] if side == "decoder" else [])
                for a in attentions:
                    for p in ("q_proj", "k_proj", "v_proj", "out_proj"):
                        r.linear(f"{s}.{a}.{p}", h, h)
                    r.norm(f"{s}.{a}_layer_norm", h)
                r.linear(f"{s}.fc1", f, h)
                r.linear(f"{s}.fc2", h, f)
                r.norm(f"{s}.final_layer_norm", h)
        if heads:
            r("final_logits_bias", 1, vocab_size)
        return r.tensors

    p = {"bert": "bert.", "albert": "albert.", "roberta": "roberta."}[family]
    h, f = c["hidden_size"], c["intermediate_size"]
    e = c.get("embedding_size", h)
    r(f"{p}embeddings.word_embeddings.weight", vocab_size, e)
    r(f"{p}embeddings.position_embeddings.weight", c["max_position_embeddings"], e)
    r(f"{p}embeddings.token_type_embeddings.weight", c["type_vocab_size"], e)
    r.norm(f"{p}embeddings.LayerNorm", e)
    if family == "albert":
        r.linear(f"{p}encoder.embedding_hidden_mapping_in", h, e)
        for g in range(c["num_hidden_groups"]):
            for j in range(c["inner_group_num"]):
                s = f"{p}encoder.albert_layer_groups.{g}.albert_layers.{j}"
                for n in ("query", "key", "value", "dense"):
                    r.linear(f"{s}.attention.{n}", h, h)
                r.norm(f"{s}.attention.LayerNorm", h)
                r.linear(f"{s}.ffn", f, h)
                r.linear(f"{s}.ffn_output", h, f)
                r.norm(f"{s}.full_layer_layer_norm", h)
        r.linear(f"{p}pooler", h, h)
    else:
        for i in range(c["num_hidden_layers"]):
            s = f"{p}encoder.layer.{i}"
            for n in ("query", "key", "value"):
                r.linear(f"{s}.attention.self.{n}", h, h)
            r.linear(f"{s}.attention.output.dense", h, h)
            r.norm(f"{s}.attention.output.LayerNorm", h)
            r.linear(f"{s}.intermediate.dense", f, h)
            r.linear(f"{s}.output.dense", h, f)
            r.norm(f"{s}.output.LayerNorm", h)
        r.linear(f"{p}pooler.dense", h, h)  # RoBERTa's too: dropped on import
    if heads:
        mlm = {"bert": "cls.predictions", "albert": "predictions", "roberta": "lm_head"}[family]
        transform = {"bert": "cls.predictions.transform"}.get(family, mlm)
        r.linear(f"{transform}.dense", e, h)
        r.norm(f"{transform}.{'layer_norm' if family == 'roberta' else 'LayerNorm'}", e)
        r(f"{mlm}.bias", vocab_size, scale=0.05)
        if family == "bert":
            r.linear("cls.seq_relationship", 2, h)
        if family == "albert":
            r.linear("sop_classifier.classifier", 2, h)
    return r.tensors


def write_tokenizer_files(tokenizer, family, directory, config=None):
    """The HF slow-tokenizer files of a trained tokenizer, written by hand."""
    if family == "bert":
        with open(os.path.join(directory, "vocab.txt"), "w", encoding="utf-8") as f:
            f.writelines(t + "\n" for t in tokenizer.get_vocabulary())
    elif family == "albert":
        with open(os.path.join(directory, "spiece.model"), "wb") as f:
            f.write(tokenizer.proto)
    else:
        vocab = {t: i for i, t in enumerate(tokenizer.get_vocabulary())}
        with open(os.path.join(directory, "vocab.json"), "w", encoding="utf-8") as f:
            json.dump(vocab, f)
        merges = tokenizer.get_config()["merges"]
        with open(os.path.join(directory, "merges.txt"), "w", encoding="utf-8") as f:
            f.write("#version: 0.2\n" + "".join(m + "\n" for m in merges))
    if config is not None:
        with open(os.path.join(directory, "tokenizer_config.json"), "w") as f:
            json.dump(config, f)


def write_hf_folder(directory, family, tokenizer, tensors, config_overrides=None):
    from safetensors.numpy import save_file

    os.makedirs(directory, exist_ok=True)
    config = dict(HF_CONFIGS[family], vocab_size=tokenizer.vocabulary_size,
                  **(config_overrides or {}))
    with open(os.path.join(directory, "config.json"), "w") as f:
        json.dump(config, f)
    save_file(tensors, os.path.join(directory, "model.safetensors"))
    write_tokenizer_files(tokenizer, family, directory)
    return str(directory)


# === Google TF1 =============================================================================

GOOGLE_CONFIGS = {
    "bert": dict(hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                 intermediate_size=32, hidden_act="gelu", hidden_dropout_prob=0.1,
                 attention_probs_dropout_prob=0.1, max_position_embeddings=40, type_vocab_size=2,
                 initializer_range=0.02),
    "albert": dict(hidden_size=16, embedding_size=8, num_hidden_layers=4, num_hidden_groups=2,
                   inner_group_num=2, num_attention_heads=2, intermediate_size=32,
                   hidden_act="gelu", hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
                   max_position_embeddings=40, type_vocab_size=2, initializer_range=0.02,
                   down_scale_factor=1, gap_size=0, net_structure_type=0, num_memory_blocks=0),
}


def google_variables(family, vocab_size, heads=True, seed=1):
    """Random variables named as in google-research/bert and albert modeling.py ([in, out])."""
    c = GOOGLE_CONFIGS[family]
    rng = np.random.default_rng(seed)
    t = {}

    def var(name, *shape, scale=0.2, offset=0.0):
        t[name] = (offset + scale * rng.standard_normal(shape)).astype("float32")

    def dense(scope, in_dim, out_dim):
        var(f"{scope}/kernel", in_dim, out_dim)
        var(f"{scope}/bias", out_dim, scale=0.05)

    def norm(scope, dim):
        var(f"{scope}/gamma", dim, scale=0.1, offset=1.0)
        var(f"{scope}/beta", dim, scale=0.05)

    h, f = c["hidden_size"], c["intermediate_size"]
    e = c.get("embedding_size", h)
    var("bert/embeddings/word_embeddings", vocab_size, e)
    var("bert/embeddings/token_type_embeddings", c["type_vocab_size"], e)
    var("bert/embeddings/position_embeddings", c["max_position_embeddings"], e)
    norm("bert/embeddings/LayerNorm", e)
    if family == "albert":
        dense("bert/encoder/embedding_hidden_mapping_in", e, h)
        for g in range(c["num_hidden_groups"]):
            for j in range(c["inner_group_num"]):
                s = f"bert/encoder/transformer/group_{g}/inner_group_{j}"
                for n in ("query", "key", "value"):
                    dense(f"{s}/attention_1/self/{n}", h, h)
                dense(f"{s}/attention_1/output/dense", h, h)
                norm(f"{s}/LayerNorm", h)
                dense(f"{s}/ffn_1/intermediate/dense", h, f)
                dense(f"{s}/ffn_1/intermediate/output/dense", f, h)
                norm(f"{s}/LayerNorm_1", h)
    else:
        for i in range(c["num_hidden_layers"]):
            s = f"bert/encoder/layer_{i}"
            for n in ("query", "key", "value"):
                dense(f"{s}/attention/self/{n}", h, h)
            dense(f"{s}/attention/output/dense", h, h)
            norm(f"{s}/attention/output/LayerNorm", h)
            dense(f"{s}/intermediate/dense", h, f)
            dense(f"{s}/output/dense", f, h)
            norm(f"{s}/output/LayerNorm", h)
    dense("bert/pooler/dense", h, h)
    if heads:
        dense("cls/predictions/transform/dense", h, e)
        norm("cls/predictions/transform/LayerNorm", e)
        var("cls/predictions/output_bias", vocab_size, scale=0.05)
        var("cls/seq_relationship/output_weights", 2, h)
        var("cls/seq_relationship/output_bias", 2, scale=0.05)
    return t


def write_google_checkpoint(directory, family, variables, tokenizer, with_optimizer=True):
    """Writes `model.ckpt-7` (+ Adam slots and global_step), the config and the vocabulary."""
    import tensorflow as tf

    os.makedirs(directory, exist_ok=True)
    names, values = list(variables), list(variables.values())
    if with_optimizer:
        for name, value in variables.items():
            for slot in ("adam_m", "adam_v"):
                names.append(f"{name}/{slot}")
                values.append(np.full_like(value, 0.5))
        names.append("global_step")
        values.append(np.array(7, "int64"))
    prefix = os.path.join(directory, "model.ckpt-7")
    tf.raw_ops.SaveV2(prefix=prefix, tensor_names=names, shape_and_slices=[""] * len(names),
                      tensors=[tf.constant(v) for v in values])
    config = dict(GOOGLE_CONFIGS[family], vocab_size=tokenizer.vocabulary_size)
    with open(os.path.join(directory, f"{family}_config.json"), "w") as f:
        json.dump(config, f)
    if family == "bert":
        with open(os.path.join(directory, "vocab.txt"), "w", encoding="utf-8") as f:
            f.writelines(t + "\n" for t in tokenizer.get_vocabulary())
    else:
        with open(os.path.join(directory, "30k-clean.model"), "wb") as f:
            f.write(tokenizer.proto)
    return prefix
