"""Plain-numpy forward passes of BERT, ALBERT, RoBERTa and BART, written from the papers and
the reference code (transformers' modeling_*.py, google-research/bert modeling.py), to check
converted models against something that shares no code with them.

Parameters come as a neutral structure of numpy arrays with kernels in `x @ w` orientation:
`params_from_huggingface` and `params_from_google` build it from checkpoint dicts.
"""

import math

import numpy as np


# === Building blocks ========================================================================

def layer_norm(x, gamma, beta, eps):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * gamma + beta


_erf = np.vectorize(math.erf)


def activation(x, name):
    if name == "gelu":  # erf form
        return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))
    if name in ("gelu_new", "gelu_tanh"):  # tanh form
        return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))
    raise ValueError(name)


def softmax(x):
    x = x - x.max(-1, keepdims=True)
    e = np.exp(x)
    return e / e.sum(-1, keepdims=True)


def attention(x_q, x_kv, p, heads, allowed):
    """Multi-head attention; `allowed` is bool (batch, len_q, len_kv)."""
    batch, len_q, hidden = x_q.shape
    d = p["q_w"].shape[1] // heads

    def split(x):
        return x.reshape(batch, x.shape[1], heads, d).transpose(0, 2, 1, 3)

    q = split(x_q @ p["q_w"] + p["q_b"])
    k = split(x_kv @ p["k_w"] + p["k_b"])
    v = split(x_kv @ p["v_w"] + p["v_b"])
    scores = q @ k.transpose(0, 1, 3, 2) / math.sqrt(d)
    scores = np.where(allowed[:, None], scores, -1e30)
    context = (softmax(scores) @ v).transpose(0, 2, 1, 3).reshape(batch, len_q, -1)
    return context @ p["o_w"] + p["o_b"]


def encoder_layer(h, p, heads, allowed, act, eps):
    """Post-LN block: attention, add & norm, feed-forward, add & norm."""
    h = layer_norm(h + attention(h, h, p["attention"], heads, allowed), *p["ln1"], eps)
    f = activation(h @ p["ffn_in_w"] + p["ffn_in_b"], act) @ p["ffn_out_w"] + p["ffn_out_b"]
    return layer_norm(h + f, *p["ln2"], eps)


def key_mask(mask):
    return np.broadcast_to(mask[:, None, :].astype(bool), mask.shape + mask.shape[-1:])


# === Models =================================================================================

def encoder(params, config, token_ids, mask, segment_ids=None):
    """BERT / ALBERT / RoBERTa encoder. Returns (embedding_output, sequence, pooled or None)."""
    family, eps = config["family"], config["eps"]
    e = params["embeddings"]
    if family == "roberta":  # fairseq make_positions: padding_idx=1, real tokens from 2
        positions = np.cumsum(mask, axis=1) * mask + 1
    else:
        positions = np.broadcast_to(np.arange(token_ids.shape[1]), token_ids.shape)
    if segment_ids is None:
        segment_ids = np.zeros_like(token_ids)
    x = e["word"][token_ids] + e["position"][positions] + e["segment"][segment_ids]
    x = layer_norm(x, e["ln_g"], e["ln_b"], eps)
    embedded = x
    if family == "albert":
        x = x @ e["proj_w"] + e["proj_b"]
    allowed = key_mask(mask)
    layers = params["layers"]
    if family == "albert":
        per_group = config["num_layers"] // config["num_groups"]
        for i in range(config["num_layers"]):
            for p in layers[i // per_group]:  # the inner group, in order
                x = encoder_layer(x, p, config["heads"], allowed, config["act"], eps)
    else:
        for p in layers:
            x = encoder_layer(x, p, config["heads"], allowed, config["act"], eps)
    pooled = None
    if params.get("pooler_w") is not None:
        pooled = np.tanh(x[:, 0] @ params["pooler_w"] + params["pooler_b"])
    return embedded, x, pooled


def bart(params, config, encoder_ids, encoder_mask, decoder_ids, decoder_mask):
    """BART encoder-decoder (post-LN, learned positions offset by 2)."""
    eps, heads, act = 1e-5, config["heads"], config["act"]

    def embed(side, ids):
        positions = np.arange(ids.shape[1]) + 2
        x = params["shared"][ids] + params[side]["position"][positions]
        return layer_norm(x, *params[side]["ln"], eps)

    x = embed("encoder", encoder_ids)
    for p in params["encoder"]["layers"]:
        x = encoder_layer(x, p, heads, key_mask(encoder_mask), act, eps)
    length = decoder_ids.shape[1]
    causal = np.tril(np.ones((length, length), bool))[None] & key_mask(decoder_mask)
    cross = np.broadcast_to(encoder_mask[:, None, :].astype(bool),
                            (encoder_mask.shape[0], length, encoder_mask.shape[1]))
    y = embed("decoder", decoder_ids)
    for p in params["decoder"]["layers"]:
        y = layer_norm(y + attention(y, y, p["attention"], heads, causal), *p["ln1"], eps)
        y = layer_norm(y + attention(y, x, p["cross"], heads, cross), *p["ln_cross"], eps)
        f = activation(y @ p["ffn_in_w"] + p["ffn_in_b"], act) @ p["ffn_out_w"] + p["ffn_out_b"]
        y = layer_norm(y + f, *p["ln2"], eps)
    return x, y


# === Parameters from checkpoints ============================================================

def _hf_attention(t, q, k, v, o):
    return {"q_w": t[f"{q}.weight"].T, "q_b": t[f"{q}.bias"],
            "k_w": t[f"{k}.weight"].T, "k_b": t[f"{k}.bias"],
            "v_w": t[f"{v}.weight"].T, "v_b": t[f"{v}.bias"],
            "o_w": t[f"{o}.weight"].T, "o_b": t[f"{o}.bias"]}


def _hf_norm(t, name):
    return (t[f"{name}.weight"], t[f"{name}.bias"])


def params_from_huggingface(tensors, family, config=None):
    """Neutral parameters from a HF state dict (torch layouts; any model prefix removed)."""
    prefix = {"bert": "bert.", "albert": "albert.", "roberta": "roberta.", "bart": "model."}
    t = {k[len(prefix[family]):] if k.startswith(prefix[family]) else k: v
         for k, v in tensors.items()}
    if family == "bart":
        out = {"shared": t["shared.weight"]}
        for side in ("encoder", "decoder"):
            layers = []
            n = 1 + max(int(k.split(".")[2]) for k in t if k.startswith(f"{side}.layers."))
            for i in range(n):
                s = f"{side}.layers.{i}"
                p = {
                    "attention": _hf_attention(t, f"{s}.self_attn.q_proj", f"{s}.self_attn.k_proj",
                                               f"{s}.self_attn.v_proj", f"{s}.self_attn.out_proj"),
                    "ln1": _hf_norm(t, f"{s}.self_attn_layer_norm"),
                    "ffn_in_w": t[f"{s}.fc1.weight"].T, "ffn_in_b": t[f"{s}.fc1.bias"],
                    "ffn_out_w": t[f"{s}.fc2.weight"].T, "ffn_out_b": t[f"{s}.fc2.bias"],
                    "ln2": _hf_norm(t, f"{s}.final_layer_norm"),
                }
                if side == "decoder":
                    p["cross"] = _hf_attention(
                        t, f"{s}.encoder_attn.q_proj", f"{s}.encoder_attn.k_proj",
                        f"{s}.encoder_attn.v_proj", f"{s}.encoder_attn.out_proj")
                    p["ln_cross"] = _hf_norm(t, f"{s}.encoder_attn_layer_norm")
                layers.append(p)
            out[side] = {"position": t[f"{side}.embed_positions.weight"],
                         "ln": _hf_norm(t, f"{side}.layernorm_embedding"), "layers": layers}
        return out

    out = {"embeddings": {
        "word": t["embeddings.word_embeddings.weight"],
        "position": t["embeddings.position_embeddings.weight"],
        "segment": t["embeddings.token_type_embeddings.weight"],
        "ln_g": t["embeddings.LayerNorm.weight"], "ln_b": t["embeddings.LayerNorm.bias"],
    }}
    if family == "albert":
        out["embeddings"]["proj_w"] = t["encoder.embedding_hidden_mapping_in.weight"].T
        out["embeddings"]["proj_b"] = t["encoder.embedding_hidden_mapping_in.bias"]
        groups = []
        for g in range(config["num_groups"]):
            inner = []
            for j in range(config["inner"]):
                s = f"encoder.albert_layer_groups.{g}.albert_layers.{j}"
                inner.append({
                    "attention": _hf_attention(t, f"{s}.attention.query", f"{s}.attention.key",
                                               f"{s}.attention.value", f"{s}.attention.dense"),
                    "ln1": _hf_norm(t, f"{s}.attention.LayerNorm"),
                    "ffn_in_w": t[f"{s}.ffn.weight"].T, "ffn_in_b": t[f"{s}.ffn.bias"],
                    "ffn_out_w": t[f"{s}.ffn_output.weight"].T,
                    "ffn_out_b": t[f"{s}.ffn_output.bias"],
                    "ln2": _hf_norm(t, f"{s}.full_layer_layer_norm"),
                })
            groups.append(inner)
        out["layers"] = groups
        out["pooler_w"], out["pooler_b"] = t["pooler.weight"].T, t["pooler.bias"]
        return out
    layers = []
    n = 1 + max(int(k.split(".")[2]) for k in t if k.startswith("encoder.layer."))
    for i in range(n):
        s = f"encoder.layer.{i}"
        layers.append({
            "attention": _hf_attention(t, f"{s}.attention.self.query", f"{s}.attention.self.key",
                                       f"{s}.attention.self.value",
                                       f"{s}.attention.output.dense"),
            "ln1": _hf_norm(t, f"{s}.attention.output.LayerNorm"),
            "ffn_in_w": t[f"{s}.intermediate.dense.weight"].T,
            "ffn_in_b": t[f"{s}.intermediate.dense.bias"],
            "ffn_out_w": t[f"{s}.output.dense.weight"].T, "ffn_out_b": t[f"{s}.output.dense.bias"],
            "ln2": _hf_norm(t, f"{s}.output.LayerNorm"),
        })
    out["layers"] = layers
    if "pooler.dense.weight" in t and family == "bert":
        out["pooler_w"], out["pooler_b"] = t["pooler.dense.weight"].T, t["pooler.dense.bias"]
    return out


def _tf_attention(t, scope, output):
    return {"q_w": t[f"{scope}/query/kernel"], "q_b": t[f"{scope}/query/bias"],
            "k_w": t[f"{scope}/key/kernel"], "k_b": t[f"{scope}/key/bias"],
            "v_w": t[f"{scope}/value/kernel"], "v_b": t[f"{scope}/value/bias"],
            "o_w": t[f"{output}/kernel"], "o_b": t[f"{output}/bias"]}


def _tf_norm(t, scope):
    return (t[f"{scope}/gamma"], t[f"{scope}/beta"])


def params_from_google(t, config):
    """Neutral parameters from an original TF1 BERT/ALBERT checkpoint dict ([in, out])."""
    out = {"embeddings": {
        "word": t["bert/embeddings/word_embeddings"],
        "position": t["bert/embeddings/position_embeddings"],
        "segment": t["bert/embeddings/token_type_embeddings"],
        "ln_g": t["bert/embeddings/LayerNorm/gamma"], "ln_b": t["bert/embeddings/LayerNorm/beta"],
    }, "pooler_w": t["bert/pooler/dense/kernel"], "pooler_b": t["bert/pooler/dense/bias"]}
    if config["family"] == "albert":
        out["embeddings"]["proj_w"] = t["bert/encoder/embedding_hidden_mapping_in/kernel"]
        out["embeddings"]["proj_b"] = t["bert/encoder/embedding_hidden_mapping_in/bias"]
        groups = []
        for g in range(config["num_groups"]):
            inner = []
            for j in range(config["inner"]):
                s = f"bert/encoder/transformer/group_{g}/inner_group_{j}"
                inner.append({
                    "attention": _tf_attention(t, f"{s}/attention_1/self",
                                               f"{s}/attention_1/output/dense"),
                    "ln1": _tf_norm(t, f"{s}/LayerNorm"),
                    "ffn_in_w": t[f"{s}/ffn_1/intermediate/dense/kernel"],
                    "ffn_in_b": t[f"{s}/ffn_1/intermediate/dense/bias"],
                    "ffn_out_w": t[f"{s}/ffn_1/intermediate/output/dense/kernel"],
                    "ffn_out_b": t[f"{s}/ffn_1/intermediate/output/dense/bias"],
                    "ln2": _tf_norm(t, f"{s}/LayerNorm_1"),
                })
            groups.append(inner)
        out["layers"] = groups
        return out
    layers = []
    for i in range(config["num_layers"]):
        s = f"bert/encoder/layer_{i}"
        layers.append({
            "attention": _tf_attention(t, f"{s}/attention/self", f"{s}/attention/output/dense"),
            "ln1": _tf_norm(t, f"{s}/attention/output/LayerNorm"),
            "ffn_in_w": t[f"{s}/intermediate/dense/kernel"],
            "ffn_in_b": t[f"{s}/intermediate/dense/bias"],
            "ffn_out_w": t[f"{s}/output/dense/kernel"], "ffn_out_b": t[f"{s}/output/dense/bias"],
            "ln2": _tf_norm(t, f"{s}/output/LayerNorm"),
        })
    out["layers"] = layers
    return out


def mlm_logits(hidden, transform_w, transform_b, ln, bias, word, act, eps):
    """BERT's MLM head on every position: dense + act + LayerNorm, tied output + bias."""
    x = layer_norm(activation(hidden @ transform_w + transform_b, act), *ln, eps)
    return x @ word.T + bias
