"""Hugging Face folders in and out, checked against a numpy forward pass of the HF math."""

import json
import logging
import os

import keras_hub
import numpy as np
import pytest
import tensorflow as tf
from safetensors.numpy import load_file, save_file

from keras_bert_zoo.convert import from_huggingface, to_huggingface
from keras_bert_zoo.tasks import DenoisingPretrainer, Pretrainer
from tests.convert import reference
from tests.convert.checkpoints import HF_CONFIGS, hf_state, write_hf_folder
from tests.convert.conftest import TEXTS

FAMILIES = ["bert", "albert", "roberta", "bart"]
LENGTH = 32
ATOL = 1e-4  # float32 model vs float64 numpy


def _folder(tmp_path, family, tokenizers, heads=True, prefix=True, overrides=None, seed=0):
    tokenizer = tokenizers[family]
    tensors = hf_state(family, tokenizer.vocabulary_size, heads=heads, seed=seed)
    if not prefix:
        p = {"bert": "bert.", "albert": "albert.", "roberta": "roberta.", "bart": "model."}[family]
        tensors = {k[len(p):] if k.startswith(p) else k: v for k, v in tensors.items()}
    directory = write_hf_folder(tmp_path / family, family, tokenizer, tensors, overrides)
    return directory, tensors


def _inputs(preprocessor, family):
    if family in ("bert", "albert"):  # a batch of pairs: exercises segment ids
        x = preprocessor((tf.constant(TEXTS), tf.constant(["Yes.", "No way.", "Maybe"])))
    else:
        x = preprocessor(tf.constant(TEXTS))
    x = {k: np.asarray(v) for k, v in x.items()}
    if family == "bart":
        decoder = np.roll(x["token_ids"], 1, axis=1)
        decoder[:, 0] = 2  # decoder start token </s>
        return {"encoder_token_ids": x["token_ids"], "encoder_padding_mask": x["padding_mask"],
                "decoder_token_ids": decoder * x["padding_mask"] + 1 - x["padding_mask"],
                "decoder_padding_mask": x["padding_mask"]}
    return x


def _reference(family, tensors, inputs):
    c = HF_CONFIGS[family]
    if family == "bart":
        params = reference.params_from_huggingface(tensors, family)
        enc, dec = reference.bart(params, {"heads": 2, "act": "gelu"},
                                  inputs["encoder_token_ids"], inputs["encoder_padding_mask"],
                                  inputs["decoder_token_ids"], inputs["decoder_padding_mask"])
        return {"encoder_sequence_output": enc, "decoder_sequence_output": dec}
    config = {"family": family, "eps": c["layer_norm_eps"], "heads": 2, "act": c["hidden_act"],
              "num_layers": c["num_hidden_layers"], "num_groups": c.get("num_hidden_groups"),
              "inner": c.get("inner_group_num")}
    params = reference.params_from_huggingface(tensors, family, config)
    _, sequence, pooled = reference.encoder(params, config, inputs["token_ids"],
                                            inputs["padding_mask"], inputs.get("segment_ids"))
    out = {"sequence_output": sequence}
    if pooled is not None:
        out["pooled_output"] = pooled
    return out


def _mask(inputs):
    return inputs.get("padding_mask", inputs.get("encoder_padding_mask")).astype(bool)


def _assert_close(actual, expected, mask, atol=ATOL):
    assert sorted(actual) == sorted(expected)
    for key in expected:
        a, e = np.asarray(actual[key]), np.asarray(expected[key])
        if a.ndim == 3:
            a, e = a[mask], e[mask]  # non-padding positions
        np.testing.assert_allclose(a, e, atol=atol, err_msg=key)


@pytest.mark.parametrize("family", FAMILIES)
def test_matches_numpy_reference(tmp_path, trained_tokenizers, family):
    directory, tensors = _folder(tmp_path, family, trained_tokenizers)
    backbone, preprocessor = from_huggingface(directory, sequence_length=LENGTH)
    inputs = _inputs(preprocessor, family)
    assert _mask(inputs).sum(axis=1).min() < LENGTH  # some padding
    _assert_close(backbone(inputs), _reference(family, tensors, inputs), _mask(inputs))


@pytest.mark.parametrize("family", ["albert", "bart"])
def test_matches_keras_hub_importer(tmp_path, trained_tokenizers, family):
    # keras-hub's own HF converter: an independent name mapping (same activations here).
    directory, _ = _folder(tmp_path, family, trained_tokenizers, prefix=family == "albert")
    backbone, preprocessor = from_huggingface(directory, sequence_length=LENGTH)
    cls = {"albert": keras_hub.models.AlbertBackbone, "bart": keras_hub.models.BartBackbone}
    hub = cls[family].from_preset(directory)
    inputs = _inputs(preprocessor, family)
    expected = hub(inputs)
    _assert_close(backbone(inputs), {k: expected[k] for k in backbone.output}, _mask(inputs),
                  atol=1e-5)


def test_roberta_token_type_row_is_folded_and_pooler_reported(tmp_path, trained_tokenizers,
                                                              caplog):
    directory, tensors = _folder(tmp_path, "roberta", trained_tokenizers, heads=False)
    with caplog.at_level(logging.INFO, logger="keras_bert_zoo.convert"):
        backbone, _ = from_huggingface(directory)
    table = backbone.embeddings.position_embedding.position_embeddings.numpy()
    expected = (tensors["roberta.embeddings.position_embeddings.weight"]
                + tensors["roberta.embeddings.token_type_embeddings.weight"][0])
    np.testing.assert_allclose(table, expected, atol=1e-7)
    assert "pooler.dense.weight" in caplog.text and "token_type_embeddings" in caplog.text


def test_heads_are_dropped_and_reported_without_with_heads(tmp_path, trained_tokenizers, caplog):
    directory, _ = _folder(tmp_path, "bert", trained_tokenizers)
    with caplog.at_level(logging.WARNING, logger="keras_bert_zoo.convert"):
        backbone, _ = from_huggingface(directory)
    assert "cls.seq_relationship.weight" in caplog.text
    assert not isinstance(backbone, Pretrainer)


@pytest.mark.parametrize("family", FAMILIES)
def test_with_heads_matches_reference(tmp_path, trained_tokenizers, family):
    directory, tensors = _folder(tmp_path, family, trained_tokenizers)
    model, preprocessor = from_huggingface(directory, sequence_length=LENGTH, with_heads=True)
    inputs = _inputs(preprocessor, family)
    expected = _reference(family, tensors, inputs)
    t = {k.split(".", 1)[1] if k.startswith(("bert.", "albert.", "roberta.", "model.")) else k: v
         for k, v in tensors.items()}
    if family == "bart":
        assert isinstance(model, DenoisingPretrainer)
        logits = (expected["decoder_sequence_output"] @ t["shared.weight"].T
                  + t["final_logits_bias"][0])
        mask = inputs["decoder_padding_mask"].astype(bool)
        np.testing.assert_allclose(np.asarray(model(inputs)["logits"])[mask], logits[mask],
                                   atol=ATOL)
        return
    assert isinstance(model, Pretrainer)
    c = HF_CONFIGS[family]
    positions = np.array([[0, 1, 3]] * len(TEXTS), "int32")
    outputs = model(dict(inputs, mask_positions=positions))
    mlm = {"bert": "cls.predictions.transform", "albert": "predictions", "roberta": "lm_head"}
    m = mlm[family]
    norm = f"{m}.layer_norm" if family == "roberta" else f"{m}.LayerNorm"
    bias = {"bert": "cls.predictions.bias", "albert": "predictions.bias",
            "roberta": "lm_head.bias"}[family]
    logits = reference.mlm_logits(
        expected["sequence_output"], t[f"{m}.dense.weight"].T, t[f"{m}.dense.bias"],
        (t[f"{norm}.weight"], t[f"{norm}.bias"]), t[bias],
        t["embeddings.word_embeddings.weight"], c["hidden_act"], c["layer_norm_eps"])
    expected_mlm = np.take_along_axis(logits, positions[..., None], axis=1)
    np.testing.assert_allclose(np.asarray(outputs["mlm_logits"]), expected_mlm, atol=ATOL)
    sentence = {"bert": "cls.seq_relationship", "albert": "sop_classifier.classifier"}
    if family in sentence:
        s = sentence[family]
        expected_sentence = expected["pooled_output"] @ t[f"{s}.weight"].T + t[f"{s}.bias"]
        np.testing.assert_allclose(np.asarray(outputs["sentence_logits"]), expected_sentence,
                                   atol=ATOL)
    else:
        assert "sentence_logits" not in outputs


def test_with_heads_on_a_base_model_names_the_problem(tmp_path, trained_tokenizers):
    directory, _ = _folder(tmp_path, "bert", trained_tokenizers, heads=False)
    with pytest.raises(ValueError, match="no pretraining head weights"):
        from_huggingface(directory, with_heads=True)


# === Errors =================================================================================

def _rewrite(directory, change):
    path = os.path.join(directory, "model.safetensors")
    tensors = load_file(path)
    change(tensors)
    save_file(tensors, path)


def test_missing_weight_is_named(tmp_path, trained_tokenizers):
    directory, _ = _folder(tmp_path, "bert", trained_tokenizers)
    _rewrite(directory, lambda t: t.pop("bert.encoder.layer.1.output.dense.bias"))
    with pytest.raises(ValueError,
                       match=r"missing weight\(s\) encoder\.layer\.1\.output\.dense\.bias"):
        from_huggingface(directory)


def test_unexpected_weight_is_named(tmp_path, trained_tokenizers):
    directory, _ = _folder(tmp_path, "bert", trained_tokenizers)
    _rewrite(directory, lambda t: t.update({"classifier.weight": np.zeros((3, 16), "float32")}))
    with pytest.raises(ValueError, match=r"unexpected weight\(s\) classifier\.weight"):
        from_huggingface(directory)


def test_extra_layer_is_named(tmp_path, trained_tokenizers):
    directory, _ = _folder(tmp_path, "albert", trained_tokenizers,
                           overrides={"num_hidden_groups": 1})
    with pytest.raises(ValueError, match=r"encoder\.albert_layer_groups\.1\."):
        from_huggingface(directory)


def test_misshaped_weight_is_named(tmp_path, trained_tokenizers):
    directory, _ = _folder(tmp_path, "roberta", trained_tokenizers)
    _rewrite(directory, lambda t: t.update(
        {"roberta.encoder.layer.0.intermediate.dense.weight": np.zeros((16, 32), "float32")}))
    with pytest.raises(ValueError, match=r"encoder\.layer\.0\.intermediate\.dense\.weight has "
                                         r"shape \(16, 32\), expected \(32, 16\)"):
        from_huggingface(directory)


def test_pickle_is_refused_by_default(tmp_path, trained_tokenizers):
    directory, _ = _folder(tmp_path, "bert", trained_tokenizers)
    os.rename(os.path.join(directory, "model.safetensors"),
              os.path.join(directory, "pytorch_model.bin"))
    with pytest.raises(ValueError, match=r"pytorch_model\.bin is a pickle.*allow_pickle=True"):
        from_huggingface(directory)
    try:
        import torch  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="torch"):
            from_huggingface(directory, allow_pickle=True)


def test_missing_files_are_named(tmp_path, trained_tokenizers):
    with pytest.raises(FileNotFoundError, match="config.json"):
        from_huggingface(tmp_path)
    directory, _ = _folder(tmp_path, "bert", trained_tokenizers)
    os.remove(os.path.join(directory, "model.safetensors"))
    with pytest.raises(FileNotFoundError, match="model.safetensors"):
        from_huggingface(directory)


@pytest.mark.parametrize(
    "family, overrides, message",
    [
        ("bart", {"scale_embedding": True}, "scale_embedding=True"),
        ("bart", {"decoder_layers": 3}, "encoder_layers=2 != decoder_layers=3"),
        ("bart", {"normalize_before": True}, "normalize_before"),
        ("bert", {"hidden_act": "swish"}, "hidden_act='swish'"),
        ("bert", {"position_embedding_type": "relative_key"}, "position_embedding_type"),
        ("bert", {"model_type": "deberta"}, "model_type='deberta'"),
    ],
)
def test_unsupported_config_is_named(tmp_path, trained_tokenizers, family, overrides, message):
    directory, _ = _folder(tmp_path, family, trained_tokenizers, overrides=overrides)
    with pytest.raises(ValueError, match=message):
        from_huggingface(directory)


# === Export =================================================================================

def _hf_base_names(family, vocab_size):
    """Keys and shapes of HF's BertModel/AlbertModel/RobertaModel/BartModel state dicts."""
    p = {"bert": "bert.", "albert": "albert.", "roberta": "roberta.", "bart": "model."}[family]
    state = hf_state(family, vocab_size, heads=False)
    names = {k[len(p):]: v.shape for k, v in state.items()}
    if family == "roberta":  # no pooler is written (ours has none)
        names = {k: v for k, v in names.items() if not k.startswith("pooler.")}
    return names


@pytest.mark.parametrize("family", FAMILIES)
def test_round_trip(tmp_path, trained_tokenizers, family):
    directory, _ = _folder(tmp_path, family, trained_tokenizers)
    backbone, preprocessor = from_huggingface(directory, sequence_length=LENGTH)
    out = to_huggingface(backbone, preprocessor, str(tmp_path / "exported"))
    written = load_file(os.path.join(out, "model.safetensors"))
    assert {k: v.shape for k, v in written.items()} == _hf_base_names(
        family, preprocessor.tokenizer.vocabulary_size)
    config = json.load(open(os.path.join(out, "config.json")))
    assert config["model_type"] == family

    again, preprocessor_again = from_huggingface(out, sequence_length=LENGTH)
    inputs = _inputs(preprocessor, family)
    for key, value in _inputs(preprocessor_again, family).items():
        np.testing.assert_array_equal(value, inputs[key])
    expected, actual = backbone(inputs), again(inputs)
    for key in expected:
        np.testing.assert_array_equal(np.asarray(actual[key]), np.asarray(expected[key]))
    if family == "bart":  # keras-hub reads BartModel names (its RoBERTa/ALBERT want prefixes)
        hub = getattr(keras_hub.models, type(backbone).__name__).from_preset(out)
        _assert_close(hub(inputs), {k: expected[k] for k in hub.output}, _mask(inputs),
                      atol=1e-5)


@pytest.mark.parametrize("family", ["bert", "roberta"])
def test_round_trip_with_heads(tmp_path, trained_tokenizers, family):
    directory, _ = _folder(tmp_path, family, trained_tokenizers)
    model, preprocessor = from_huggingface(directory, with_heads=True)
    out = to_huggingface(model, preprocessor, str(tmp_path / "exported"))
    assert set(load_file(os.path.join(out, "model.safetensors"))) == set(
        load_file(os.path.join(directory, "model.safetensors"))) - {"roberta.pooler.dense.weight",
                                                                    "roberta.pooler.dense.bias"}
    again, _ = from_huggingface(out, with_heads=True)
    for a, b in zip(model.weights, again.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_sharded_safetensors_and_old_layer_norm_names(tmp_path, trained_tokenizers):
    directory, tensors = _folder(tmp_path, "bert", trained_tokenizers, heads=False)
    expected, _ = from_huggingface(directory)
    os.remove(os.path.join(directory, "model.safetensors"))
    # Old checkpoints name LayerNorm parameters gamma/beta; big ones are split in shards.
    renamed = {k.replace("LayerNorm.weight", "LayerNorm.gamma")
                .replace("LayerNorm.bias", "LayerNorm.beta"): v for k, v in tensors.items()}
    names = sorted(renamed)
    shards = {"model-00001-of-00002.safetensors": names[::2],
              "model-00002-of-00002.safetensors": names[1::2]}
    for file, keys in shards.items():
        save_file({k: renamed[k] for k in keys}, os.path.join(directory, file))
    index = {"metadata": {}, "weight_map": {k: f for f, keys in shards.items() for k in keys}}
    with open(os.path.join(directory, "model.safetensors.index.json"), "w") as f:
        json.dump(index, f)
    actual, _ = from_huggingface(directory)
    for a, b in zip(actual.weights, expected.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
