"""Throughput of the pretraining input pipelines (examples/s), one JSON line.

Every objective at sequence length 128, batch 32, on the embedded default corpus, with an
in-graph tensorflow_text FastWordpieceTokenizer over a vocabulary built from the corpus.
Next to each pipeline: the examples/s its training step consumes, measured in the same run
with the smallest model of the matching family (2 layers of 128, float32 with XLA, the
fastest consumer here, over the corpus vocabulary: bigger models consume less), fed a cached
batch of that pipeline. Pipeline and step are timed in alternating rounds (medians). The ratio
pipeline / consumption must stay well above 1.

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
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tensorflow_text as tf_text  # noqa: E402

from keras_bert_zoo.data.corpora import default_corpus_texts, write_default_corpus  # noqa: E402
from keras_bert_zoo.data.datasets import pretraining_dataset  # noqa: E402

# 60 timed batches per round: the sentence-pair objectives build their examples a window of 64
# documents at a time (~25 batches), so a round must span several windows to be honest.
SEQUENCE_LENGTH, BATCH_SIZE, BATCHES, WARMUP = 128, 32, 180, 3
TRAIN_STEPS, TRAIN_WARMUP, ROUNDS = 12, 3, 3
TINY = dict(num_layers=2, hidden_dim=128, num_heads=2, intermediate_dim=512,
            max_sequence_length=SEQUENCE_LENGTH)
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


def train_step(objective, ds, vocabulary_size):
    """A compiled training step of the objective's smallest model, fed a cached batch of `ds`;
    returns `run(steps) -> examples/s`."""
    import keras

    from keras_bert_zoo.models import BartBackbone, BertBackbone, RobertaBackbone
    from keras_bert_zoo.tasks import DenoisingPretrainer, Pretrainer
    from keras_bert_zoo.training.optimizers import create_optimizer

    keras.utils.set_random_seed(0)
    if objective == "denoising":
        model = DenoisingPretrainer(BartBackbone(vocabulary_size=vocabulary_size, **TINY))
    elif objective == "mlm":
        model = Pretrainer(RobertaBackbone(vocabulary_size=vocabulary_size, **TINY),
                           sentence_head=False)
    else:
        model = Pretrainer(BertBackbone(vocabulary_size=vocabulary_size, **TINY))
    model.compile(optimizer=create_optimizer(learning_rate=1e-4, total_steps=1000),
                  jit_compile=True)
    model.make_train_function()
    iterator = iter(ds.take(1).cache().repeat())

    def run(steps):
        start = time.perf_counter()
        for _ in range(steps):
            logs = model.train_function(iterator)
        float((logs.get_value() if hasattr(logs, "get_value") else logs)["loss"])
        return steps * BATCH_SIZE / (time.perf_counter() - start)

    run(TRAIN_WARMUP)
    return run


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
        "denoising": dict(special_ids=bart_ids, continuation_table=table),  # whole words
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
            consume = train_step(objective, ds, len(vocabulary))
            # Pipeline and training step alternate, so both see the same machine load. Each
            # round starts a fresh iterator (dropped before the step runs), so no batches
            # prefetched in the background are counted.
            produced, consumed = [], []
            for _ in range(ROUNDS):
                iterator = iter(ds)
                for _ in range(WARMUP):
                    next(iterator)
                start = time.perf_counter()
                for _ in range(BATCHES // ROUNDS):
                    next(iterator)
                produced.append(BATCHES // ROUNDS * BATCH_SIZE / (time.perf_counter() - start))
                del iterator
                consumed.append(consume(TRAIN_STEPS // ROUNDS))
            produced, consumed = statistics.median(produced), statistics.median(consumed)
            result[objective] = round(produced, 1)
            result[f"{objective}_train_step_consumes"] = round(consumed, 1)
            result[f"{objective}_ratio"] = round(produced / consumed, 2)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
