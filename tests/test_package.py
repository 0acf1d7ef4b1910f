"""`import keras_bert_zoo` loads no TensorFlow until it is needed, and still registers every
class with Keras before a model file can be loaded."""

import os
import subprocess
import sys

ROOT = os.path.join(os.path.dirname(__file__), "..")


def _python(code):
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=ROOT, timeout=300, env=dict(os.environ, PYTHONPATH=ROOT))
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout.split()


def test_import_loads_no_tensorflow():
    assert _python("import sys, keras_bert_zoo, keras_bert_zoo.console; "
                   "print('tensorflow' in sys.modules, 'keras' in sys.modules)") == [
        "False", "False"]


def test_classes_are_registered_whichever_is_imported_first():
    check = ("print(keras.saving.get_registered_object('keras_bert_zoo>TextClassifier') "
             "is not None)")
    # Registered once keras is imported, before any first use; a first use after that works.
    assert _python(f"import keras_bert_zoo as kbz; import keras; {check}; kbz.models; "
                   f"{check}") == ["True", "True"]
    assert _python(f"import keras, keras_bert_zoo; {check}") == ["True"]


def test_submodules_load_on_first_use():
    assert _python("import keras_bert_zoo as kbz; print(kbz.models.list_presets()[0], "
                   "'tasks' in dir(kbz))") == ["albert_base", "True"]


def test_a_missing_optional_dependency_names_its_extra():
    import pytest

    from keras_bert_zoo.extras import require

    with pytest.raises(ImportError, match=r"Plotting needs matplotlib: "
                                          r"pip install 'keras-bert-zoo\[viz\]'"):
        require("matplotlib_that_is_not_installed", "viz", "Plotting")
