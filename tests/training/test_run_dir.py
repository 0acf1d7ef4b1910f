"""Run directories: a rerun resumes only the run its directory holds (fields that do not change
the training may differ), stops with the differing fields otherwise, and `overwrite` deletes
only the files the run wrote."""

import dataclasses
import hashlib
import importlib
import json
import os
import shutil
import subprocess
import sys

import keras
import pytest
import tensorflow as tf

import keras_bert_zoo  # noqa: F401  (registers the classes stored in .keras files)
from keras_bert_zoo.data.corpora import write_default_corpus
from keras_bert_zoo.training.finetune import FinetuneConfig, finetune
from keras_bert_zoo.training.pretrain import PretrainConfig, pretrain
from keras_bert_zoo.training.run_dir import (PRETRAIN, RunDirError, config_differences,
                                             config_record, read_config, write_json_atomic)
from tests.training.test_resume import write_pretrained, write_table

# The modules (the package re-exports functions of the same names).
pretrain_module = importlib.import_module("keras_bert_zoo.training.pretrain")
finetune_module = importlib.import_module("keras_bert_zoo.training.finetune")
RECIPE = os.path.join(os.path.dirname(__file__), "..", "..", "recipes", "pretrain.py")
TINY = {"num_layers": 1, "hidden_dim": 32, "num_heads": 2, "intermediate_dim": 64}


def tree_hashes(directory):
    """{relative path: sha256} of every file under `directory`."""
    hashes = {}
    for root, _, files in os.walk(directory):
        for name in files:
            path = os.path.join(root, name)
            with open(path, "rb") as f:
                hashes[os.path.relpath(path, directory)] = hashlib.sha256(f.read()).hexdigest()
    return hashes


def records(run):
    with open(os.path.join(run, "metrics.jsonl")) as f:
        return [json.loads(line) for line in f if line.strip()]


def tiny_config(corpus, output_dir, **changes):
    config = PretrainConfig(
        model="bert_tiny", output_dir=str(output_dir), corpus=corpus, vocabulary_size=200,
        seq_len=32, batch_size=4, max_steps=2, warmup_steps=0, checkpoint_every=2, log_every=2,
        max_predictions_per_seq=5, jit_compile="false", model_overrides=dict(TINY), verbose=0,
    )
    return dataclasses.replace(config, **changes)


def run_pretrain(config):
    keras.utils.set_random_seed(config.seed)  # as recipes/pretrain.py does
    return pretrain(config)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """(corpus glob, directory of a finished 2-step pretraining run); tests work on copies."""
    root = tmp_path_factory.mktemp("run_dir")
    write_default_corpus(str(root / "corpus"), num_files=1, max_documents=30)
    corpus = str(root / "corpus" / "*.txt")
    result = run_pretrain(tiny_config(corpus, root / "finished"))
    assert result["step"] == 2
    return corpus, root / "finished"


@pytest.fixture
def run(finished_run, tmp_path):
    """(corpus glob, a copy of the finished run of its own)."""
    corpus, finished = finished_run
    shutil.copytree(finished, tmp_path / "run")
    return corpus, tmp_path / "run"


def test_rerun_with_another_model_stops_and_touches_nothing(run):
    corpus, out = run
    before = tree_hashes(out)
    changed = tiny_config(corpus, out, vocabulary_size=300,
                          model_overrides={**TINY, "hidden_dim": 16})
    with pytest.raises(RunDirError) as error:
        run_pretrain(changed)
    message = str(error.value)
    assert "\n" not in message
    assert "vocabulary_size: 200 -> 300" in message
    assert '"hidden_dim": 32' in message and '"hidden_dim": 16' in message
    assert "--output_dir" in message and "--overwrite" in message
    assert isinstance(error.value, ValueError)  # the recipes print ValueErrors as one line
    assert tree_hashes(out) == before


def test_longer_run_resumes_and_records_the_new_config(run, capsys):
    corpus, out = run
    config = tiny_config(corpus, out, max_steps=4, log_every=1, checkpoint_every=1,
                         keep_checkpoints=2)
    result = run_pretrain(config)
    assert result["step"] == 4
    assert "resuming from the checkpoint at step 2" in capsys.readouterr().out
    assert [r["step"] for r in records(out)] == [2, 3, 4]  # continued, not restarted
    saved = read_config(os.path.join(out, "config.json"))
    assert saved == {**config_record(config), "data_shards": 1}
    assert "overwrite" not in saved
    assert sorted(os.listdir(out / "checkpoints")) == [
        "checkpoint", "ckpt-3.data-00000-of-00001", "ckpt-3.index",
        "ckpt-4.data-00000-of-00001", "ckpt-4.index"]


def test_overwrite_starts_afresh_and_keeps_the_users_files(run):
    corpus, out = run
    (out / "notes.txt").write_text("my notes")
    (out / "checkpoints" / "mine.txt").write_text("inside a run folder: the run's to delete")
    (out / "exports").mkdir()
    (out / "exports" / "model.txt").write_text("an export")
    config = tiny_config(corpus, out, vocabulary_size=300, max_steps=1, checkpoint_every=1,
                         log_every=1, model_overrides={**TINY, "hidden_dim": 16},
                         overwrite=True)
    result = run_pretrain(config)
    assert result["step"] == 1  # not resumed from the old step 2
    assert [r["step"] for r in records(out)] == [1]
    assert result["tokenizer"].vocabulary_size == 300  # trained again, not the old vocabulary
    assert result["task"].backbone.hidden_dim == 16
    assert (out / "notes.txt").read_text() == "my notes"
    assert (out / "exports" / "model.txt").read_text() == "an export"
    assert not (out / "checkpoints" / "mine.txt").exists()
    saved = read_config(os.path.join(out, "config.json"))
    assert saved["vocabulary_size"] == 300 and "overwrite" not in saved


def test_recipe_prints_one_error_line_and_exits_1(run):
    corpus, out = run
    before = tree_hashes(out)
    flags = [f"--corpus={corpus}", f"--output_dir={out}", "--vocabulary_size=200",
             "--seq_len=32", "--batch_size=4", "--max_steps=2", "--warmup_steps=0",
             "--max_predictions_per_seq=5", "--jit_compile=false",
             f"--model_overrides={json.dumps({**TINY, 'num_layers': 2})}"]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run([sys.executable, RECIPE, *flags], capture_output=True, text=True,
                            timeout=600, env=env)
    assert result.returncode == 1, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr[-3000:]
    assert '"num_layers": 1' in errors[0] and '"num_layers": 2' in errors[0]
    assert "--overwrite" in errors[0]
    # checkpoint_every, log_every and keep_checkpoints differ too (the flags' defaults): they
    # may, and are not named.
    assert "checkpoint_every" not in errors[0] and "log_every" not in errors[0]
    assert tree_hashes(out) == before


# Directories made by hand: the checks run before any training.


def prepare(config):
    return pretrain_module.prepare_output_dir(config, tf.distribute.get_strategy())


def write_run(out, **saved):
    """A pretraining directory as a run with the default embedded corpus leaves it."""
    os.makedirs(out / "checkpoints")
    (out / "checkpoints" / "checkpoint").write_text('model_checkpoint_path: "ckpt-2"\n')
    write_default_corpus(str(out / "corpus"), num_files=4, max_documents=8)
    os.makedirs(out / "tokenizer")
    (out / "tokenizer" / "vocab.txt").write_text("[PAD]\n")
    write_json_atomic(str(out / "config.json"),
                      {**config_record(PretrainConfig(output_dir=str(out))), **saved})


def test_overwrite_deletes_only_what_the_run_wrote(tmp_path):
    out = tmp_path / "run"
    write_run(out)
    (out / "corpus" / "mine.txt").write_text("a user's file in the corpus folder")
    (out / "README.md").write_text("a user's file")
    prepare(PretrainConfig(output_dir=str(out), model="albert_base", overwrite=True))
    assert sorted(tree_hashes(out)) == ["README.md", "config.json", "corpus/mine.txt"]
    assert read_config(str(out / "config.json"))["model"] == "albert_base"


def test_overwrite_keeps_a_tokenizer_the_run_read_and_a_corpus_it_reads(tmp_path):
    out = tmp_path / "run"
    write_run(out, tokenizer_dir=str(out / "tokenizer"))
    prepare(PretrainConfig(output_dir=str(out), tokenizer_dir=str(out / "tokenizer"),
                           overwrite=True))
    assert (out / "tokenizer" / "vocab.txt").exists() and not (out / "checkpoints").exists()

    write_run(tmp_path / "other")
    before = tree_hashes(tmp_path / "other")
    corpus = str(tmp_path / "other" / "corpus" / "*.txt")
    with pytest.raises(RunDirError, match="--overwrite would delete .*corpus-00000.txt"):
        prepare(PretrainConfig(output_dir=str(tmp_path / "other"), corpus=corpus,
                               overwrite=True))
    assert tree_hashes(tmp_path / "other") == before


def test_run_files_without_a_config_are_not_resumed(tmp_path):
    out = tmp_path / "run"
    os.makedirs(out / "checkpoints")
    (out / "checkpoints" / "checkpoint").write_text('model_checkpoint_path: "ckpt-9"\n')
    with pytest.raises(RunDirError, match="holds checkpoints but no config.json"):
        pretrain(PretrainConfig(output_dir=str(out)))
    assert sorted(tree_hashes(out)) == ["checkpoints/checkpoint"]


def test_a_config_alone_is_replaced(tmp_path):
    """A run that stopped on an error before writing anything else (a bad --corpus, say) does
    not block the corrected command."""
    out = tmp_path / "run"
    out.mkdir()
    write_json_atomic(str(out / "config.json"),
                      config_record(PretrainConfig(corpus="typo/*.txt")))
    config = prepare(PretrainConfig(output_dir=str(out), corpus="data/*.txt"))
    assert read_config(str(out / "config.json")) == config_record(config)


def test_resumed_run_keeps_the_recorded_data_shards(tmp_path):
    out = tmp_path / "run"
    write_run(out, data_shards=4, batch_size=8)
    config = prepare(PretrainConfig(output_dir=str(out), batch_size=8))
    assert config.data_shards == 4  # the same batches, on one device
    with pytest.raises(RunDirError, match="data_shards: 4 -> 2"):
        prepare(PretrainConfig(output_dir=str(out), batch_size=8, data_shards=2))


def test_config_differences_split_and_defaults():
    defaults = {"seed": 0, "max_steps": 10, "new_field": 1}
    saved = {"seed": 0, "max_steps": 10, "gone": 3}  # written before new_field existed
    record = {"seed": 1, "max_steps": 20, "new_field": 1}
    blocking, allowed = config_differences(saved, record, defaults, PRETRAIN.resumable)
    assert blocking == ["seed: 0 -> 1"] and allowed == ["max_steps: 10 -> 20"]
    assert "overwrite" not in config_record(PretrainConfig(overwrite=True))


def test_config_is_written_atomically(tmp_path, monkeypatch):
    path = str(tmp_path / "config.json")
    write_json_atomic(path, {"a": 1})

    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(json, "dump", fail)
    with pytest.raises(OSError, match="disk full"):
        write_json_atomic(path, {"a": 2})
    assert read_config(path) == {"a": 1} and os.listdir(tmp_path) == ["config.json"]
    (tmp_path / "config.json").write_text('{"a": ')  # damaged by hand
    with pytest.raises(RunDirError, match="cannot be read"):
        read_config(path)


# Fine-tuning: the same rules.


def test_finetune_rerun_rules(tmp_path):
    (tmp_path / "pretrained").mkdir()
    pretrained = write_pretrained(tmp_path / "pretrained")
    write_table(tmp_path / "train.csv")
    out = tmp_path / "run"
    # 44 training examples / batch 8: 5 steps per epoch.
    config = FinetuneConfig(task="classify", pretrained=pretrained, output_dir=str(out),
                            train_file=str(tmp_path / "train.csv"), seq_len=16, batch_size=8,
                            epochs=1, learning_rate=1e-3, checkpoint_every=5, verbose=0)
    assert finetune(config)["metrics"]["steps"] == 5
    assert read_config(str(out / "finetune_config.json")) == config_record(config)

    before = tree_hashes(out)
    with pytest.raises(RunDirError, match=r"learning_rate: 0.001 -> 0.0001.*--overwrite"):
        finetune(dataclasses.replace(config, learning_rate=1e-4))
    assert tree_hashes(out) == before

    longer = dataclasses.replace(config, epochs=2)
    assert finetune(longer)["metrics"]["steps"] == 10
    assert [r["step"] for r in records(out) if "loss" in r] == [5, 10]  # resumed at step 5
    assert read_config(str(out / "finetune_config.json"))["epochs"] == 2

    # --overwrite deletes the run's files, and not the user's (checked without training).
    (out / "notes.txt").write_text("my notes")
    finetune_module.prepare_output_dir(dataclasses.replace(config, overwrite=True),
                                       tf.distribute.get_strategy())
    assert sorted(tree_hashes(out)) == ["finetune_config.json", "notes.txt"]
