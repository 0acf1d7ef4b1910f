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
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}  # as a user has
    return subprocess.run([sys.executable, RECIPE, *flags], capture_output=True, text=True,
                          timeout=timeout, env=env)


# What TensorFlow, absl, Keras and matplotlib print that tells a user nothing.
NOISE = ("cuInit", "cudart_stub", "Could not find cuda drivers", "absl::InitializeLog",
         "Sharding callback duration", "Assets written to", "`shuffle=True` was passed",
         "font cache", "Epoch 1/", "rebuild TensorFlow")


@pytest.mark.slow
def test_pretrain_writes_everything_and_resumes(tmp_path):
    out = str(tmp_path / "run")
    flags = ["--model=bert_tiny", f"--output_dir={out}", "--max_steps=6", "--warmup_steps=2",
             "--checkpoint_every=3", "--log_every=3", "--batch_size=8", "--seq_len=32",
             "--vocabulary_size=500", f"--model_overrides={TINY}"]
    first = run(*flags)
    assert first.returncode == 0, first.stderr[-3000:]
    console = first.stdout + first.stderr
    assert not [noise for noise in NOISE if noise in console], console[-3000:]
    progress = [line for line in first.stdout.splitlines() if line.startswith("step ")]
    assert [line.split(" | ")[0] for line in progress] == ["step 3/6  50%", "step 6/6 100%"]
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
        (["--sentence_loss_weight=-0.5"], "--sentence_loss_weight=-0.5 must be >= 0"),
    ],
)
def test_bad_flags_exit_with_one_clear_line(tmp_path, flags, message):
    result = run(f"--output_dir={tmp_path}", *flags, timeout=300)
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def write_corpus_with_invalid_utf8(directory):
    """Two documents; line 3 of the file has bytes that are not UTF-8."""
    directory.mkdir()
    path = directory / "bad.txt"
    sentences = [f"The {w} model reads text and writes numbers number {i}." for i, w in
                 enumerate(["small", "large", "quick", "slow", "new", "old"] * 4)]
    lines = [" ".join(sentences[:6]).encode(), " ".join(sentences[6:12]).encode(),
             b"Caf\xe9 au lait \xff\xfe is not UTF-8 here. " + " ".join(sentences[12:]).encode(),
             b"", " ".join(sentences[::-1]).encode(), " ".join(sentences[1::2]).encode()]
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


CHEAP = ["--model=bert_tiny", "--max_steps=2", "--warmup_steps=0", "--checkpoint_every=2",
         "--log_every=2", "--batch_size=4", "--seq_len=32", "--vocabulary_size=200",
         "--max_predictions_per_seq=5", "--jit_compile=false", f"--model_overrides={TINY}"]


def test_strict_decode_errors_names_file_and_line(tmp_path):
    path = write_corpus_with_invalid_utf8(tmp_path / "corpus")
    result = run(f"--output_dir={tmp_path / 'run'}", f"--corpus={path}", "--decode_errors=strict",
                 *CHEAP, timeout=300)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == [f"error: {path}:3: invalid UTF-8 (invalid continuation byte at byte 3); "
                      "fix the file or pass --decode_errors=replace"], result.stderr[-2000:]
    assert not (tmp_path / "run" / "checkpoints").exists()  # failed before any training


@pytest.mark.slow
def test_replace_decode_errors_trains_and_warns_with_count(tmp_path):
    path = write_corpus_with_invalid_utf8(tmp_path / "corpus")
    result = run(f"--output_dir={tmp_path / 'run'}", f"--corpus={path}", *CHEAP, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "1 line(s) of the corpus had invalid UTF-8" in result.stderr  # the vocabulary
    # The data pipeline names the line each time it reads it.
    assert "replaced undecodable UTF-8 bytes at" in result.stderr and f"{path}:3" in result.stderr
    assert "trained to step 2" in result.stdout


@pytest.mark.parametrize("recipe, flags, message", [
    ("pretrain.py", ["--batch_size=-1"], "error: --batch_size=-1 must be a positive integer"),
    ("pretrain.py", ["--model=bert_huge"], "error: unknown preset 'bert_huge'"),
    ("pretrain.py", ["--no_such_flag=1"], "error: Unknown command line flag 'no_such_flag'"),
    ("finetune.py", ["--pretrained=/nonexistent", "--dataset=tweets"],
     "error: --pretrained='/nonexistent' is not a directory"),
    ("finetune.py", ["--task=ner"], "error: flag --task=ner: value should be one of"),
])
def test_a_bad_flag_is_answered_before_tensorflow_is_imported(recipe, flags, message):
    path = os.path.join(os.path.dirname(RECIPE), recipe)
    code = ("import runpy, sys\n"
            f"sys.argv = [{path!r}, *{flags!r}]\n"
            "try:\n"
            "    runpy.run_path(sys.argv[0], run_name='__main__')\n"
            "except SystemExit as exit:\n"
            "    if isinstance(exit.code, str):\n"  # what the interpreter would print
            "        print(exit.code, file=sys.stderr)\n"
            "    print('exit', exit.code not in (0, None), 'tensorflow' in sys.modules)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=300)
    assert result.stdout.split() == ["exit", "True", "False"], result.stdout + result.stderr
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]  # one line
    assert result.stderr.startswith(message), result.stderr
