"""recipes/pretrain.py end to end at tiny size, resume, and clear errors for bad flags."""

import json
import os
import subprocess
import sys

import keras
import pytest

import keras_bert_zoo  # noqa: F401  (registers the classes stored in .keras files)

RECIPE = os.path.join(os.path.dirname(__file__), "..", "..", "recipes", "pretrain.py")
TINY = json.dumps({"num_layers": 1, "hidden_dim": 32, "num_heads": 2, "intermediate_dim": 64})


def run(*flags, timeout=600):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run([sys.executable, RECIPE, *flags], capture_output=True, text=True,
                          timeout=timeout, env=env)


@pytest.mark.slow
def test_pretrain_writes_everything_and_resumes(tmp_path):
    out = str(tmp_path / "run")
    flags = ["--model=bert_tiny", f"--output_dir={out}", "--max_steps=6", "--warmup_steps=2",
             "--checkpoint_every=3", "--log_every=3", "--batch_size=8", "--seq_len=32",
             "--vocabulary_size=500", f"--model_overrides={TINY}"]
    first = run(*flags)
    assert first.returncode == 0, first.stderr[-3000:]
    for name in ("checkpoints", "logs", "metrics.jsonl", "tokenizer", "backbone.keras",
                 "config.json"):
        assert os.path.exists(os.path.join(out, name)), name
    records = [json.loads(line) for line in open(os.path.join(out, "metrics.jsonl"))]
    assert [r["step"] for r in records] == [3, 6]
    backbone = keras.saving.load_model(os.path.join(out, "backbone.keras"), safe_mode=True)
    assert backbone.num_layers == 1 and backbone.hidden_dim == 32

    # The same command with more steps continues from step 6, with the same vocabulary.
    vocab_before = open(os.path.join(out, "tokenizer", "vocab.txt")).read()
    second = run(*[f for f in flags if not f.startswith("--max_steps")], "--max_steps=9")
    assert second.returncode == 0, second.stderr[-3000:]
    records = [json.loads(line) for line in open(os.path.join(out, "metrics.jsonl"))]
    assert [r["step"] for r in records] == [3, 6, 9]
    assert open(os.path.join(out, "tokenizer", "vocab.txt")).read() == vocab_before


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--model=bert_huge"], "unknown preset 'bert_huge'"),
        (["--max_steps=10", "--warmup_steps=20"], "--warmup_steps=20 must be in"),
        (["--corpus=/nonexistent/*.txt", "--max_steps=2", "--warmup_steps=0"],
         "no files match --corpus='/nonexistent/*.txt'"),
        (["--model_overrides=[1, 2]"], "must be a JSON object"),
        (["--model_overrides={bad json"], "error:"),
        (["--mixed_precision=fp8"], "mixed_precision"),
    ],
)
def test_bad_flags_exit_with_one_clear_line(tmp_path, flags, message):
    result = run(f"--output_dir={tmp_path}", *flags, timeout=300)
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr
