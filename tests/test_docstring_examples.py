"""Every docstring example in the public modules runs and prints what it says."""

import doctest
import importlib
import pkgutil

import pytest

import keras_bert_zoo


def _modules():
    # The recipes are scripts that define absl flags on import (tested as commands).
    for info in pkgutil.walk_packages(keras_bert_zoo.__path__, "keras_bert_zoo."):
        if not info.name.startswith("keras_bert_zoo.recipes."):
            yield info.name


@pytest.mark.parametrize("name", sorted(_modules()))
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {name}"
