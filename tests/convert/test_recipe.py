"""recipes/convert.py end to end on tiny checkpoints (in-process), and its error exit."""

import importlib.util
import os
import re
import subprocess
import sys

import keras
import pytest

from keras_bert_zoo.tokenizers import load_preprocessor
from tests.convert.checkpoints import (
    google_variables,
    hf_state,
    write_google_checkpoint,
    write_hf_folder,
)

RECIPE = os.path.join(os.path.dirname(__file__), "..", "..", "recipes", "convert.py")


@pytest.fixture(scope="module")
def recipe():
    spec = importlib.util.spec_from_file_location("convert_recipe", RECIPE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    def run(*args):
        module.FLAGS.unparse_flags()
        module.FLAGS(["convert.py", *args])
        module.run([])

    return run


def _differences(text):
    return [float(x) for x in re.findall(r"max abs difference.*?: ([-+0-9.e]+) \(", text)]


def test_huggingface_folder(tmp_path, trained_tokenizers, recipe, capsys):
    tokenizer = trained_tokenizers["bert"]
    source = write_hf_folder(tmp_path / "hf", "bert", tokenizer,
                             hf_state("bert", tokenizer.vocabulary_size, heads=False))
    out = str(tmp_path / "out")
    recipe("--source=huggingface", f"--model_dir={source}", f"--output_dir={out}",
           "--check_text=Hello world.", "--check_text=The class returns values.")
    printed = capsys.readouterr().out
    assert "keras-hub's own Hugging Face importer" in printed
    diffs = _differences(printed)
    assert len(diffs) == 2 and max(diffs) < 1e-5
    backbone = keras.saving.load_model(os.path.join(out, "backbone.keras"), safe_mode=True)
    assert backbone.num_layers == 2
    assert load_preprocessor(out).tokenizer.get_vocabulary() == tokenizer.get_vocabulary()


def test_google_checkpoint(tmp_path, trained_tokenizers, recipe, capsys):
    tokenizer = trained_tokenizers["albert"]
    prefix = write_google_checkpoint(str(tmp_path / "g"), "albert",
                                     google_variables("albert", tokenizer.vocabulary_size),
                                     tokenizer)
    out = str(tmp_path / "out")
    recipe("--source=google", f"--checkpoint={prefix}", f"--output_dir={out}",
           "--sequence_length=24")
    printed = capsys.readouterr().out
    assert "in-memory conversion" in printed
    assert max(_differences(printed)) < 1e-6
    assert load_preprocessor(out).sequence_length == 24


def test_bad_input_exits_with_one_line(tmp_path):
    result = subprocess.run(
        [sys.executable, RECIPE, "--source=huggingface", f"--model_dir={tmp_path}/missing",
         f"--output_dir={tmp_path}/out"],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: no config.json in"), result.stderr[-2000:]
