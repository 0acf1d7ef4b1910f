"""Runs recipes/pretrain.py in this process, with test-only controls applied before TF starts.

    python tests/training/run_pretrain.py [--logical_cpus=2] [--data_shards=2]
        [--dump=weights.npz] [--step_delay=0.2] -- <recipe flags>

--logical_cpus splits the CPU into logical devices (possible only before TF initializes),
--data_shards overrides `PretrainConfig.data_shards`, --dump saves the trained task's weights
on every worker (the recipe itself exports only on the chief), --step_delay sleeps after each
step so that a test can kill the process mid-run.
"""

import argparse
import importlib
import os
import runpy
import sys
import time

RECIPE = os.path.join(os.path.dirname(__file__), "..", "..", "recipes", "pretrain.py")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--logical_cpus", type=int, default=1)
    parser.add_argument("--data_shards", type=int, default=0)
    parser.add_argument("--dump", default="")
    parser.add_argument("--step_delay", type=float, default=0.0)
    ours, recipe_flags = sys.argv[1:], []
    if "--" in ours:
        split = ours.index("--")
        ours, recipe_flags = ours[:split], ours[split + 1:]
    args = parser.parse_args(ours)

    import keras
    import numpy as np
    import tensorflow as tf

    if args.logical_cpus > 1:
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * args.logical_cpus
        )

    # The module (the package re-exports a function of the same name).
    pretrain_module = importlib.import_module("keras_bert_zoo.training.pretrain")

    original_pretrain = pretrain_module.pretrain
    original_fit = pretrain_module.fit_resumable

    class Delay(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            time.sleep(args.step_delay)

    def fit_resumable(*fit_args, **kwargs):
        if args.step_delay:
            kwargs["callbacks"] = [Delay()]
        return original_fit(*fit_args, **kwargs)

    def pretrain(config):
        if args.data_shards:
            config.data_shards = args.data_shards
        result = original_pretrain(config)
        if args.dump:
            weights = result["task"].get_weights()
            np.savez(args.dump, *weights)
        return result

    pretrain_module.pretrain = pretrain
    pretrain_module.fit_resumable = fit_resumable
    sys.argv = [RECIPE, *recipe_flags]
    runpy.run_path(RECIPE, run_name="__main__")


if __name__ == "__main__":
    main()
