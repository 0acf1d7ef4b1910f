"""Throughput of the pretraining input pipelines (examples/s), one JSON line.

Every objective at sequence length 128, batch 32, on the embedded default corpus, with an
in-graph tensorflow_text FastWordpieceTokenizer over a vocabulary built from the corpus.

    python bench/input_pipeline.py
"""

import os
import sys

# bench/ holds scripts named like standard modules (tokenize.py): keep it off the path.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import collections  # noqa: E402
import json  # noqa: E402
import re  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tensorflow_text as tf_text  # noqa: E402

from keras_bert_zoo.data.corpora import default_corpus_texts, write_default_corpus  # noqa: E402
from keras_bert_zoo.data.datasets import pretraining_dataset  # noqa: E402

SEQUENCE_LENGTH, BATCH_SIZE, BATCHES, WARMUP = 128, 32, 40, 3
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def wordpiece(texts, num_words=8000):
    counts = collections.Counter()
    for text in texts:
        counts.update(re.findall(r"\w+|[^\w\s]", text.lower()))
    chars = sorted({c for word in counts for c in word})
    words = [w for w, _ in counts.most_common(num_words)]
    vocabulary = SPECIAL + list(dict.fromkeys(chars + words)) + ["##" + c for c in chars]
    tokenizer = tf_text.FastWordpieceTokenizer(
        vocabulary, token_out_type=tf.int32, unknown_token="[UNK]"
    )
    table = np.array([v.startswith("##") for v in vocabulary])
    return (lambda s: tokenizer.tokenize(tf_text.case_fold_utf8(s))), vocabulary, table


def main():
    texts = default_corpus_texts()
    tokenize, vocabulary, table = wordpiece(texts)
    bert_ids = {"pad": 0, "unk": 1, "cls": 2, "sep": 3, "mask": 4}
    bart_ids = {"pad": 0, "unk": 1, "bos": 2, "eos": 3, "mask": 4}
    runs = {
        "mlm_nsp": dict(special_ids=bert_ids),
        "mlm_sop": dict(
            special_ids=bert_ids, whole_word=True, ngram_max=3, continuation_table=table
        ),
        "mlm": dict(special_ids=bart_ids),
        "denoising": dict(special_ids=bart_ids),
    }
    result = {"sequence_length": SEQUENCE_LENGTH, "batch_size": BATCH_SIZE, "unit": "examples/s"}
    with tempfile.TemporaryDirectory() as directory:
        files = write_default_corpus(directory, num_files=4)
        for objective, kwargs in runs.items():
            ds = pretraining_dataset(
                objective,
                files,
                tokenize_fn=tokenize,
                vocabulary_size=len(vocabulary),
                sequence_length=SEQUENCE_LENGTH,
                batch_size=BATCH_SIZE,
                seed=0,
                **kwargs,
            )
            iterator = iter(ds)
            for _ in range(WARMUP):
                next(iterator)
            start = time.perf_counter()
            for _ in range(BATCHES):
                next(iterator)
            elapsed = time.perf_counter() - start
            result[objective] = round(BATCHES * BATCH_SIZE / elapsed, 1)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
