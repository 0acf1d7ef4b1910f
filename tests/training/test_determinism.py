"""Same command, same seed: the same vocabulary files and bitwise the same weights, for every
objective (two runs into two fresh directories, each training its own vocabulary)."""

import filecmp
import os

import keras
import pytest

import keras_bert_zoo  # noqa: F401  (registers the classes stored in .keras files)
from keras_bert_zoo.data.corpora import write_default_corpus
from keras_bert_zoo.training.pretrain import OBJECTIVES, PretrainConfig, pretrain
from tests.training.test_resume import assert_bitwise_equal

TINY = {"num_layers": 1, "hidden_dim": 16, "num_heads": 2, "intermediate_dim": 32}
PRESETS = {"bert": "bert_tiny", "albert": "albert_base", "roberta": "roberta_base",
           "bart": "bart_base"}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    directory = tmp_path_factory.mktemp("corpus")
    write_default_corpus(str(directory), num_files=2, max_documents=30)
    return str(directory / "*.txt")


def _run(corpus, output_dir, family):
    overrides = dict(TINY, embedding_dim=16) if family == "albert" else TINY
    config = PretrainConfig(
        model=PRESETS[family], output_dir=output_dir, corpus=corpus, vocabulary_size=300,
        seq_len=32, batch_size=4, max_steps=3, warmup_steps=1, checkpoint_every=3, log_every=3,
        max_predictions_per_seq=4, seed=7, model_overrides=overrides, verbose=0)
    keras.utils.set_random_seed(config.seed)  # as the recipe does
    return pretrain(config)


@pytest.mark.parametrize("family", sorted(OBJECTIVES))
def test_two_runs_with_one_seed_are_identical(corpus, tmp_path, family):
    first = _run(corpus, str(tmp_path / "a"), family)
    second = _run(corpus, str(tmp_path / "b"), family)
    names = sorted(os.listdir(first["tokenizer_dir"]))
    assert names == sorted(os.listdir(second["tokenizer_dir"]))
    _, mismatch, errors = filecmp.cmpfiles(first["tokenizer_dir"], second["tokenizer_dir"],
                                           names, shallow=False)
    assert not mismatch and not errors, (mismatch, errors)
    assert_bitwise_equal(first["task"], second["task"])
    loaded = [keras.saving.load_model(r["backbone"], safe_mode=True) for r in (first, second)]
    assert_bitwise_equal(*loaded)
