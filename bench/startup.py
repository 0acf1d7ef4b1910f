"""Time from process start to the first finished training step, and peak RSS, one JSON line.

Each measurement is a fresh `python` process that imports the library, builds the pretraining
model (our Pretrainer with MLM only, or keras-hub's BertMaskedLM, same shapes as
bench/pretrain_throughput.py), compiles it with AdamW and runs `fit` for one step. The parent
times from spawning the process to the child's report (so interpreter start-up and imports
count) and the child reports its peak RSS. Ours and keras-hub's alternate; medians of
`--repeats` runs.

    python bench/startup.py
"""

import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]
sys.path.insert(0, os.path.dirname(_HERE))

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402

# (config, precision policy, jit_compile)
RUNS = [
    ("bert_tiny", "float32", False),
    ("bert_tiny", "float32", True),
    ("bert_small", "mixed_bfloat16", False),
]


def child(side, config, policy, jit):
    """Runs in the fresh process: imports, build, compile, one fit step, then reports."""
    import resource

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import tensorflow as tf

    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "pretrain_throughput", os.path.join(_HERE, "pretrain_throughput.py"))
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)

    if side == "ours":
        import keras_bert_zoo  # noqa: F401  (the full public import, as users do)

        model, (x, y) = bench.build_ours(config, policy, jit)
        data = tf.data.Dataset.from_tensors((x, y))
    else:
        model, (x, y, w) = bench.build_keras_hub(config, policy, jit)
        data = tf.data.Dataset.from_tensors((x, y, w))
    model.fit(data, epochs=1, verbose=0)
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"peak_rss_mb": round(peak_kb / 1024, 1)}), flush=True)


def spawn(side, config, policy, jit):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", KERAS_BACKEND="tensorflow")
    start = time.perf_counter()
    out = subprocess.run(
        [sys.executable, os.path.abspath(__file__), "--child", side, config, policy, str(jit)],
        env=env, capture_output=True, text=True, check=True,
    )
    seconds = time.perf_counter() - start
    report = json.loads(out.stdout.strip().splitlines()[-1])
    return seconds, report["peak_rss_mb"]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--child", nargs=4)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if args.child:
        side, config, policy, jit = args.child
        child(side, config, policy, jit == "True")
        return
    result = {"measure": "process start to first finished fit step", "repeats": args.repeats,
              "statistic": "median", "results": {}}
    for config, policy, jit in RUNS:
        runs = {"ours": [], "keras_hub": []}
        for r in range(args.repeats):
            for side in (("ours", "keras_hub") if r % 2 == 0 else ("keras_hub", "ours")):
                runs[side].append(spawn(side, config, policy, jit))
        key = f"{config}/{policy}/{'xla' if jit else 'no_xla'}"
        result["results"][key] = {
            side: {"seconds": round(statistics.median(s for s, _ in v), 2),
                   "peak_rss_mb": round(statistics.median(m for _, m in v), 1)}
            for side, v in runs.items()
        }
        result["results"][key]["ratio_seconds_ours_over_keras_hub"] = round(
            result["results"][key]["ours"]["seconds"]
            / result["results"][key]["keras_hub"]["seconds"], 3)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
