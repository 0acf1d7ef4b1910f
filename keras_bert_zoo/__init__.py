"""keras_bert_zoo: pretrain, fine-tune and ship BERT-family models with Keras 3 on TensorFlow.

`import keras_bert_zoo` is cheap until TensorFlow is needed: the submodules (`models`,
`tasks`, ...) load together on first use (`kbz.models`), or as soon as Keras is imported (at
once if it already is), so the package's layers, backbones and tasks are registered with
Keras before any `keras.saving.load_model` can ask for them. The command line
(`keras_bert_zoo.cli`) and the run configurations (`keras_bert_zoo.configs`) import no
TensorFlow: a bad flag is answered before TensorFlow starts.
"""

import importlib
import os
import sys

# Keras 3 picks its backend at import; this package is built on TensorFlow.
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

__version__ = "0.1.0"

_SUBMODULES = ("convert", "data", "export", "layers", "models", "tasks", "tokenizers",
               "training", "viz")

__all__ = [*_SUBMODULES, "__version__"]


def _import_all():
    for name in _SUBMODULES:
        importlib.import_module(f"{__name__}.{name}")


def __getattr__(name):
    if name in _SUBMODULES:
        _import_all()
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_SUBMODULES))


class _AfterKerasImport:
    """A `sys.meta_path` finder that loads the whole package right after `keras` is imported
    (and then removes itself): registration with Keras must not wait for a first use."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "keras":
            return None
        sys.meta_path.remove(self)
        import importlib.util

        spec = importlib.util.find_spec("keras")
        if spec is None or spec.loader is None:
            return spec
        exec_module = spec.loader.exec_module

        def exec_then_register(module):
            exec_module(module)
            # Imported by one of our own modules: that import chain loads what it uses, and
            # loading the rest from inside it would be circular.
            if not any(name.startswith(f"{__name__}.") for name in sys.modules):
                _import_all()

        spec.loader.exec_module = exec_then_register
        return spec


if "keras" in sys.modules:
    _import_all()
elif not any(isinstance(finder, _AfterKerasImport) for finder in sys.meta_path):
    sys.meta_path.insert(0, _AfterKerasImport())
