"""Original TF1 BERT and ALBERT checkpoints, checked against a numpy forward pass."""

import logging
import os

import numpy as np
import pytest
import tensorflow as tf

from keras_bert_zoo.convert import from_google_checkpoint
from keras_bert_zoo.models import AlbertBackbone, BertBackbone
from keras_bert_zoo.tasks import Pretrainer
from tests.convert import reference
from tests.convert.checkpoints import GOOGLE_CONFIGS, google_variables, write_google_checkpoint
from tests.convert.conftest import TEXTS

LENGTH = 32


def _checkpoint(tmp_path, family, tokenizers, heads=True, change=None):
    variables = google_variables(family, tokenizers[family].vocabulary_size, heads=heads)
    if change is not None:
        change(variables)
    prefix = write_google_checkpoint(str(tmp_path / family), family, variables,
                                     tokenizers[family])
    return prefix, variables


def _expected(family, variables, inputs):
    c = GOOGLE_CONFIGS[family]
    config = {"family": family, "eps": 1e-12, "heads": c["num_attention_heads"],
              "act": "gelu_tanh",  # modeling.py's gelu
              "num_layers": c["num_hidden_layers"], "num_groups": c.get("num_hidden_groups"),
              "inner": c.get("inner_group_num")}
    params = reference.params_from_google(variables, config)
    return reference.encoder(params, config, inputs["token_ids"], inputs["padding_mask"],
                             inputs["segment_ids"])


@pytest.mark.parametrize("family", ["bert", "albert"])
@pytest.mark.parametrize("by_directory", [False, True])
def test_matches_numpy_reference(tmp_path, trained_tokenizers, family, by_directory):
    prefix, variables = _checkpoint(tmp_path, family, trained_tokenizers)
    source = os.path.dirname(prefix) if by_directory else prefix
    model, preprocessor = from_google_checkpoint(source, with_heads=True, sequence_length=LENGTH)
    assert isinstance(model, Pretrainer)
    assert isinstance(model.backbone, AlbertBackbone if family == "albert" else BertBackbone)
    assert model.backbone.activation == "gelu_approximate"
    x = preprocessor((tf.constant(TEXTS), tf.constant(["Yes.", "No way.", "Maybe"])))
    inputs = {k: np.asarray(v) for k, v in x.items()}
    _, sequence, pooled = _expected(family, variables, inputs)
    positions = np.array([[0, 2, 5]] * len(TEXTS), "int32")
    outputs = model(dict(inputs, mask_positions=positions))
    backbone_outputs = model.backbone(inputs)
    mask = inputs["padding_mask"].astype(bool)
    np.testing.assert_allclose(np.asarray(backbone_outputs["sequence_output"])[mask],
                               sequence[mask], atol=1e-4)
    np.testing.assert_allclose(np.asarray(backbone_outputs["pooled_output"]), pooled, atol=1e-4)

    v = variables
    logits = reference.mlm_logits(
        sequence, v["cls/predictions/transform/dense/kernel"],
        v["cls/predictions/transform/dense/bias"],
        (v["cls/predictions/transform/LayerNorm/gamma"],
         v["cls/predictions/transform/LayerNorm/beta"]),
        v["cls/predictions/output_bias"], v["bert/embeddings/word_embeddings"], "gelu_tanh",
        1e-12)
    np.testing.assert_allclose(np.asarray(outputs["mlm_logits"]),
                               np.take_along_axis(logits, positions[..., None], axis=1),
                               atol=1e-4)
    # run_pretraining.py: logits = matmul(pooled, output_weights, transpose_b=True) + bias
    sentence = pooled @ v["cls/seq_relationship/output_weights"].T + \
        v["cls/seq_relationship/output_bias"]
    np.testing.assert_allclose(np.asarray(outputs["sentence_logits"]), sentence, atol=1e-4)


def test_backbone_only_drops_and_reports_heads(tmp_path, trained_tokenizers, caplog):
    prefix, _ = _checkpoint(tmp_path, "bert", trained_tokenizers)
    with caplog.at_level(logging.WARNING, logger="keras_bert_zoo.convert"):
        backbone, preprocessor = from_google_checkpoint(prefix)
    assert isinstance(backbone, BertBackbone)
    assert "cls/seq_relationship/output_weights" in caplog.text
    assert "adam_m" not in caplog.text  # optimizer slots are skipped, not reported
    assert preprocessor.tokenizer.lowercase  # inferred from the (uncased) vocabulary


def test_missing_variable_is_named(tmp_path, trained_tokenizers):
    prefix, _ = _checkpoint(
        tmp_path, "albert", trained_tokenizers,
        change=lambda v: v.pop("bert/encoder/transformer/group_1/inner_group_0/LayerNorm_1/beta"))
    with pytest.raises(ValueError, match="group_1/inner_group_0/LayerNorm_1/beta"):
        from_google_checkpoint(prefix)


def test_unexpected_variable_is_named(tmp_path, trained_tokenizers):
    prefix, _ = _checkpoint(
        tmp_path, "bert", trained_tokenizers,
        change=lambda v: v.update({"output_weights": np.zeros((3, 16), "float32")}))
    with pytest.raises(ValueError, match=r"unexpected weight\(s\) output_weights"):
        from_google_checkpoint(prefix)


def test_misshaped_variable_is_named(tmp_path, trained_tokenizers):
    def change(v):
        v["bert/encoder/layer_1/attention/self/key/kernel"] = np.zeros((16, 8), "float32")

    prefix, _ = _checkpoint(tmp_path, "bert", trained_tokenizers, change=change)
    with pytest.raises(ValueError, match=r"layer_1/attention/self/key/kernel has shape \(16, 8\)"):
        from_google_checkpoint(prefix)


def test_missing_files_are_named(tmp_path, trained_tokenizers):
    with pytest.raises(FileNotFoundError, match="no TF checkpoint"):
        from_google_checkpoint(str(tmp_path / "nothing" / "model.ckpt-1"))
    prefix, _ = _checkpoint(tmp_path, "bert", trained_tokenizers)
    os.remove(os.path.join(os.path.dirname(prefix), "vocab.txt"))
    with pytest.raises(FileNotFoundError, match="vocab_path"):
        from_google_checkpoint(prefix)
