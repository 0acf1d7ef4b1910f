"""Pretraining step throughput: our Pretrainer vs keras-hub's BertMaskedLM, one JSON line.

Same dimensions, data and optimizer on both sides: BERT vocabulary (30522), sequence length
128, batch 32, 20 masked positions, dropout 0.1, AdamW with warmup/decay, weight decay 0.01
except on LayerNorm and biases, and global clipnorm 1.0. Ours is `create_optimizer` (Keras'
AdamW update through TensorFlow's fused ApplyAdam kernel); keras-hub gets
`keras.optimizers.AdamW` built by hand with the same schedule and settings, what a keras-hub
user writes. keras-hub's `BertMaskedLM` has no NSP head, so "ours" is the Pretrainer with
`sentence_head=False`; "ours_nsp" (MLM + NSP) is reported next to it.

Each side is compiled once per (precision, XLA) variant, warmed up, then timed in rounds of
`--steps` steps, alternating sides inside the same process so that both see the same machine
load; the reported step time is the median over rounds. The matmul peak (a warm 2048x2048
matmul in the compute dtype) is measured in the same run and MFU = achieved / peak.

    python bench/pretrain_throughput.py                      # the full table (slow)
    python bench/pretrain_throughput.py --configs bert_small --variants bf16,f32_xla
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
import json  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import keras  # noqa: E402

SEQUENCE_LENGTH, BATCH_SIZE, NUM_MASKED, VOCABULARY_SIZE = 128, 32, 20, 30522
CONFIGS = {
    "bert_tiny": dict(num_layers=2, hidden_dim=128, num_heads=2, intermediate_dim=512),
    "bert_small": dict(num_layers=4, hidden_dim=512, num_heads=8, intermediate_dim=2048),
}
# name -> (dtype policy, jit_compile)
VARIANTS = {
    "f32": ("float32", False),
    "f32_xla": ("float32", True),
    "bf16": ("mixed_bfloat16", False),
    "bf16_xla": ("mixed_bfloat16", True),
    "f16": ("mixed_float16", False),
}
# CPU float16 matmuls have no oneDNN kernels (tens of seconds per bert_small step): one round.
REDUCED = {("bert_small", "f16"): dict(steps=1, rounds=1, warmup=1)}
COMPUTE_DTYPE = {"float32": "float32", "mixed_bfloat16": "bfloat16", "mixed_float16": "float16"}


def batch(seed=0):
    """One fixed batch, as from the packed pretraining pipeline (full-length sequences)."""
    rng = np.random.default_rng(seed)
    token_ids = rng.integers(5, VOCABULARY_SIZE, (BATCH_SIZE, SEQUENCE_LENGTH)).astype("int32")
    segment_ids = (np.arange(SEQUENCE_LENGTH) >= SEQUENCE_LENGTH // 2).astype("int32")
    positions = np.sort(
        np.stack([rng.choice(np.arange(1, SEQUENCE_LENGTH - 1), NUM_MASKED, replace=False)
                  for _ in range(BATCH_SIZE)]), axis=1).astype("int32")
    weights = np.ones((BATCH_SIZE, NUM_MASKED), "float32")
    weights[:, -1] = 0.0  # 19 of 20 slots used: 15% of 128
    x = {
        "token_ids": token_ids,
        "segment_ids": np.broadcast_to(segment_ids, token_ids.shape).copy(),
        "padding_mask": np.ones_like(token_ids),
        "mask_positions": positions,
    }
    mask_ids = rng.integers(5, VOCABULARY_SIZE, (BATCH_SIZE, NUM_MASKED)).astype("int32")
    return x, mask_ids, weights, rng.integers(0, 2, (BATCH_SIZE,)).astype("int32")


def optimizer(stock=False):
    from keras_bert_zoo.training.optimizers import (NO_DECAY_NAMES, WarmupPolynomialDecay,
                                                    create_optimizer)

    if not stock:
        return create_optimizer(learning_rate=1e-4, total_steps=100_000, warmup_steps=1_000)
    opt = keras.optimizers.AdamW(WarmupPolynomialDecay(1e-4, 1_000, 100_000),
                                 weight_decay=0.01, epsilon=1e-6, global_clipnorm=1.0)
    opt.exclude_from_weight_decay(var_names=NO_DECAY_NAMES)
    return opt


def build_ours(config, policy, jit, nsp=False):
    from keras_bert_zoo.models import BertBackbone
    from keras_bert_zoo.tasks import Pretrainer

    backbone = BertBackbone(vocabulary_size=VOCABULARY_SIZE, dropout=0.1, dtype=policy,
                            max_sequence_length=512, **CONFIGS[config])
    model = Pretrainer(backbone, sentence_head=nsp)
    model.compile(optimizer=optimizer(), jit_compile=jit)
    x, mask_ids, weights, label = batch()
    y = {"mask_ids": mask_ids, "mask_weights": weights}
    if nsp:
        y["sentence_label"] = label
    return model, (x, y)


def build_keras_hub(config, policy, jit):
    import keras_hub

    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=VOCABULARY_SIZE, dropout=0.1, max_sequence_length=512, dtype=policy,
        **CONFIGS[config])
    model = keras_hub.models.BertMaskedLM(backbone, preprocessor=None)
    model.compile(optimizer=optimizer(stock=True), jit_compile=jit)
    x, mask_ids, weights, _ = batch()
    return model, (x, mask_ids, weights)


def training_flops(config):
    """Matmul FLOPs of one training step (forward + 2x backward), the usual 6*N*D count."""
    c = CONFIGS[config]
    h, f, layers = c["hidden_dim"], c["intermediate_dim"], c["num_layers"]
    tokens = BATCH_SIZE * SEQUENCE_LENGTH
    masked = BATCH_SIZE * NUM_MASKED
    encoder = layers * (4 * h * h + 2 * h * f) * tokens
    attention = layers * 2 * SEQUENCE_LENGTH * h * tokens  # QK^T and PV
    head = (h * h + h * VOCABULARY_SIZE) * masked
    return 6 * (encoder + attention + head)


def matmul_peak(dtype, n=2048, repeats=10):
    a = tf.random.normal((n, n), dtype="float32")
    a = tf.cast(a, dtype)
    b = tf.cast(tf.random.normal((n, n)), dtype)
    run = tf.function(lambda a, b: tf.reduce_sum(tf.cast(tf.matmul(a, b)[:1, :1], "float32")))
    run(a, b)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        run(a, b).numpy()
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best / 1e9


class Runner:
    """A compiled model plus an infinite iterator over one fixed batch."""

    def __init__(self, model, data):
        self.model = model
        self.iterator = iter(tf.data.Dataset.from_tensors(data).repeat().prefetch(2))
        model.make_train_function()

    def run(self, steps):
        start = time.perf_counter()
        for _ in range(steps):
            logs = self.model.train_function(self.iterator)
        float(logs.get_value()["loss"] if hasattr(logs, "get_value") else logs["loss"])
        return (time.perf_counter() - start) / steps


def compare(config, variant, sides, *, steps, rounds, warmup):
    policy, jit = VARIANTS[variant]
    builders = {
        "ours": lambda: build_ours(config, policy, jit),
        "ours_nsp": lambda: build_ours(config, policy, jit, nsp=True),
        "keras_hub": lambda: build_keras_hub(config, policy, jit),
    }
    runners = {}
    for side in sides:
        keras.utils.set_random_seed(0)
        runners[side] = Runner(*builders[side]())
        runners[side].run(warmup)
    times = {side: [] for side in sides}
    for r in range(rounds):
        order = sides if r % 2 == 0 else sides[::-1]
        for side in order:
            times[side].append(runners[side].run(steps))
    tokens = BATCH_SIZE * SEQUENCE_LENGTH
    flops = training_flops(config)
    out = {}
    for side in sides:
        median = statistics.median(times[side])
        out[side] = {
            "step_ms": round(1e3 * median, 1),
            "step_ms_min": round(1e3 * min(times[side]), 1),
            "tokens_per_s": round(tokens / median),
            "examples_per_s": round(BATCH_SIZE / median, 2),
            "gflop_per_s": round(flops / median / 1e9, 1),
        }
    del runners
    gc.collect()
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--configs", default="bert_tiny,bert_small")
    parser.add_argument("--variants", default="f32,f32_xla,bf16,bf16_xla,f16")
    parser.add_argument("--sides", default="ours,keras_hub,ours_nsp")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    args = parser.parse_args()
    sides = args.sides.split(",")
    variants = args.variants.split(",")

    dtypes = sorted({COMPUTE_DTYPE[VARIANTS[v][0]] for v in variants})
    peaks = {d: matmul_peak(d) for d in dtypes}
    result = {"sequence_length": SEQUENCE_LENGTH, "batch_size": BATCH_SIZE,
              "masked_positions": NUM_MASKED, "steps_per_round": args.steps,
              "rounds": args.rounds, "statistic": "median over rounds", "results": {}}
    for config in args.configs.split(","):
        result["results"][config] = {}
        for variant in variants:
            repeat = dict(steps=args.steps, rounds=args.rounds, warmup=args.warmup)
            repeat.update(REDUCED.get((config, variant), {}))
            try:
                measured = compare(config, variant, sides, **repeat)
            except Exception as e:  # e.g. a precision the CPU kernels do not support
                result["results"][config][variant] = {"error": f"{type(e).__name__}: {e}"[:200]}
                continue
            peak = peaks[COMPUTE_DTYPE[VARIANTS[variant][0]]]
            for side in measured.values():
                side["mfu"] = round(side["gflop_per_s"] / peak, 3)
            if (config, variant) in REDUCED:
                measured["repeats"] = REDUCED[(config, variant)]
            if "ours" in measured and "keras_hub" in measured:
                measured["ratio_ours_over_keras_hub"] = round(
                    measured["ours"]["tokens_per_s"] / measured["keras_hub"]["tokens_per_s"], 3)
            result["results"][config][variant] = measured
            print(json.dumps({config: {variant: measured}}), file=sys.stderr, flush=True)
    # Peaks again at the end; the larger of the two is the machine's peak in this run.
    for d in dtypes:
        peaks[d] = max(peaks[d], matmul_peak(d))
    result["matmul_peak_gflop_per_s"] = {d: round(p, 1) for d, p in peaks.items()}
    for config, variants_out in result["results"].items():
        for variant, measured in variants_out.items():
            peak = peaks[COMPUTE_DTYPE[VARIANTS[variant][0]]]
            for side in measured.values():
                if isinstance(side, dict) and "gflop_per_s" in side:
                    side["mfu"] = round(side["gflop_per_s"] / peak, 3)
        best = {}
        for side in sides:
            candidates = [(m[side]["tokens_per_s"], v) for v, m in variants_out.items()
                          if side in m]
            if candidates:
                best[side] = dict(zip(("tokens_per_s", "variant"), max(candidates)))
        if "ours" in best and "keras_hub" in best:
            best["ratio_ours_over_keras_hub"] = round(
                best["ours"]["tokens_per_s"] / best["keras_hub"]["tokens_per_s"], 3)
        variants_out["best"] = best
    print(json.dumps(result))


if __name__ == "__main__":
    main()
