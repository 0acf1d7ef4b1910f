import json
import os
import subprocess
import sys

import pytest

from keras_bert_zoo.data.corpora import write_default_corpus
from keras_bert_zoo.training.evaluation import evaluate_checkpoints, markdown_table
from keras_bert_zoo.training.pretrain import PretrainConfig, pretrain

TINY = {"num_layers": 1, "hidden_dim": 32, "num_heads": 2, "intermediate_dim": 64}


@pytest.mark.slow
def test_every_kept_checkpoint_is_evaluated_on_held_out_text(tmp_path):
    files = write_default_corpus(str(tmp_path / "corpus"), num_files=3, max_documents=60)
    os.makedirs(tmp_path / "heldout")
    os.replace(files[-1], tmp_path / "heldout" / "part.txt")
    run = str(tmp_path / "run")
    pretrain(PretrainConfig(model="bert_tiny", output_dir=run, corpus=str(tmp_path / "corpus/*"),
                            vocabulary_size=800, seq_len=32, batch_size=8, max_steps=30,
                            warmup_steps=3, learning_rate=3e-3, checkpoint_every=10,
                            keep_checkpoints=5, model_overrides=TINY, dropout=0.0, verbose=0))

    # The recipe evaluates through evaluate_checkpoints; its rows are checked here.
    recipe = os.path.join(os.path.dirname(__file__), "..", "..", "recipes",
                          "evaluate_pretraining.py")
    result = subprocess.run([sys.executable, recipe, f"--run_dir={run}",
                             f"--heldout={tmp_path / 'heldout' / '*'}", "--batches=4"],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    rows = json.load(open(os.path.join(run, "heldout_metrics.json")))
    assert [row["step"] for row in rows] == [10, 20, 30]
    assert all(0.0 <= row["mlm_accuracy"] <= 1.0 for row in rows)
    assert rows[-1]["loss"] < rows[0]["loss"]  # later checkpoints fit held-out text better
    assert len({row["unigram_baseline"] for row in rows}) == 1  # the same held-out batches
    table = markdown_table(rows)
    assert table.splitlines()[0] == "| step | mlm_accuracy | unigram_baseline | loss |"
    assert len(table.splitlines()) == 5
    printed = result.stdout.strip().splitlines()
    assert printed[0].startswith("| step | mlm_accuracy |") and len(printed) == 5, result.stdout


def test_missing_run_or_files_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a pretraining run"):
        evaluate_checkpoints(str(tmp_path), "*.txt")
