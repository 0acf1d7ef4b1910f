"""recipes/visualize.py on a tiny pretraining directory: every picture written, clear errors."""

import json
import os
import subprocess
import sys

from keras_bert_zoo.models import BertBackbone
from keras_bert_zoo.tokenizers import WordPieceTokenizer

RECIPE = os.path.join(os.path.dirname(__file__), "..", "..", "recipes", "visualize.py")
WORDS = ["the", "cat", "sat", "on", "mat", "because", "it", "was", "tired", ".", "apple", "pie",
         "shares", "rose", "ate", "an"]


def run(*flags):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run([sys.executable, RECIPE, *flags], capture_output=True, text=True,
                          timeout=600, env=env)


def test_visualize_writes_every_picture(tmp_path):
    run_dir = tmp_path / "pretrain"
    tokenizer = WordPieceTokenizer(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + WORDS)
    backbone = BertBackbone(vocabulary_size=tokenizer.vocabulary_size, num_layers=2,
                            num_heads=2, hidden_dim=16, intermediate_dim=32)
    os.makedirs(run_dir)
    backbone.save(str(run_dir / "backbone.keras"))
    tokenizer.save(str(run_dir / "tokenizer"))
    with open(run_dir / "metrics.jsonl", "w") as f:
        for step in (10, 20, 30):
            f.write(json.dumps({"step": step, "loss": 5.0 / step, "mlm_accuracy": step / 100,
                                "learning_rate": 1e-3}) + "\n")
    contexts = tmp_path / "contexts.tsv"
    contexts.write_text("food\tthe cat ate an apple pie.\nfood\tan apple pie.\n"
                        "company\tapple shares rose.\n")

    out = tmp_path / "pictures"
    result = run(f"--model_dir={run_dir}", f"--output_dir={out}", "--layer=1", "--head=mean",
                 f"--contexts_file={contexts}", "--seq_len=16")
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert sorted(summary["files"]) == ["attention_grid", "attention_layer1_headmean",
                                        "similarity_apple", "training_curves"]
    for path in summary["files"].values():
        assert os.path.getsize(path) > 1000 and path.endswith(".png")
    assert summary["tokens"][:3] == ["[CLS]", "the", "cat"]
    assert "sense separation of 'apple'" in result.stdout

    svg = run(f"--metrics={run_dir / 'metrics.jsonl'}", f"--output_dir={tmp_path / 'svg'}",
              "--format=svg")
    assert svg.returncode == 0, svg.stderr[-3000:]
    assert sorted(os.listdir(tmp_path / "svg")) == ["summary.json", "training_curves.svg"]


def test_nothing_to_draw_is_one_line(tmp_path):
    result = run(f"--output_dir={tmp_path}")
    assert result.returncode != 0
    assert "error: nothing to draw" in result.stderr
