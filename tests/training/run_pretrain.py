"""Runs recipes/pretrain.py in this process, with test-only controls applied before TF starts.

    python tests/training/run_pretrain.py [--logical_cpus=2] [--data_shards=2]
        [--dump=weights.npz] [--step_delay=0.2] [--state=state.json] [--overflow_batch=2]
        -- <recipe flags>

--logical_cpus splits the CPU into logical devices (possible only before TF initializes),
--data_shards overrides `PretrainConfig.data_shards`, --dump saves the trained task's weights
on every worker (the recipe itself exports only on the chief), --step_delay sleeps after each
step so that a test can kill the process mid-run.

--state writes a JSON of what the weights alone do not show: the optimizer's class, and after
every batch the optimizer step, the loss scale as each local replica holds it and the largest
weight change; at the end, the largest difference between the local replicas' copies of a
variable. --overflow_batch multiplies the gradient of the *last* replica's loss by 2**24 in that
batch (counted from 0 in this run): its float16 backward pass overflows to inf while the other
replicas' gradients stay finite. On one device the last replica is the whole batch.
"""

import argparse
import importlib
import json
import os
import runpy
import sys
import time

RECIPE = os.path.join(os.path.dirname(__file__), "..", "..", "recipes", "pretrain.py")
OVERFLOW_FACTOR = 2.0**24  # times the 2**15 loss scale: far beyond float16's 65504


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--logical_cpus", type=int, default=1)
    parser.add_argument("--data_shards", type=int, default=0)
    parser.add_argument("--dump", default="")
    parser.add_argument("--step_delay", type=float, default=0.0)
    parser.add_argument("--state", default="")
    parser.add_argument("--overflow_batch", type=int, default=-1)
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
    original_build = pretrain_module.build_pretrainer
    state = {}
    overflow = []  # [tf.Variable], set before each batch (created after the strategy)

    class Delay(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            time.sleep(args.step_delay)

    class Overflow(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.batches = 0

        def on_train_batch_begin(self, batch, logs=None):
            overflow[0].assign(self.batches == args.overflow_batch)
            self.batches += 1

    class Trace(keras.callbacks.Callback):
        def __init__(self, strategy):
            super().__init__()
            self.strategy = strategy

        def on_train_begin(self, logs=None):
            self.weights = self.model.get_weights()
            state["trace"] = []

        def on_train_batch_end(self, batch, logs=None):
            optimizer = self.model.optimizer
            weights = self.model.get_weights()
            scale = getattr(optimizer, "dynamic_scale", None)
            state["trace"].append({
                "iterations": int(optimizer.iterations.numpy()),
                "loss_scale": None if scale is None else [
                    float(v) for v in self.strategy.experimental_local_results(scale.value)],
                "max_update": largest_difference(weights, self.weights),
                "finite": all(bool(np.isfinite(w).all()) for w in weights),
            })
            self.weights = weights

        def on_train_end(self, logs=None):
            optimizer = self.model.optimizer
            spread = 0.0  # between the local replicas' copies of each variable
            for variable in self.model.trainable_variables + optimizer.variables:
                copies = [np.asarray(c) for c in
                          self.strategy.experimental_local_results(variable.value)]
                spread = max(spread, largest_difference(copies, [copies[0]] * len(copies)))
            state["replica_spread"] = spread
            state["local_replicas"] = len(
                self.strategy.experimental_local_results(optimizer.iterations.value))

    def largest_difference(arrays, others):
        """max |a - b| over all elements; inf if any is not finite (nan must not hide)."""
        difference = float(np.max([np.abs(a - b).max(initial=0.0)
                                   for a, b in zip(arrays, others)]))  # np.max keeps nan
        return difference if np.isfinite(difference) else float("inf")

    def build_pretrainer(config, vocabulary_size, strategy):
        backbone, task = original_build(config, vocabulary_size, strategy)
        state["optimizer"] = type(task.optimizer).__name__
        state["inner_optimizer"] = type(
            getattr(task.optimizer, "inner_optimizer", task.optimizer)).__name__
        if args.overflow_batch >= 0:
            overflow.append(tf.Variable(False, trainable=False))
            compute_loss = task.compute_loss

            @tf.custom_gradient
            def amplify_gradient(loss, factor):
                return tf.identity(loss), lambda dy: (dy * factor, tf.zeros_like(factor))

            def overflowing_loss(x=None, y=None, y_pred=None, sample_weight=None,
                                 training=True):
                loss = compute_loss(x, y, y_pred, sample_weight, training=training)
                context = tf.distribute.get_replica_context()
                last = tf.equal(tf.cast(context.replica_id_in_sync_group, tf.int32),
                                context.num_replicas_in_sync - 1)
                factor = tf.where(tf.logical_and(last, overflow[0]), OVERFLOW_FACTOR, 1.0)
                return amplify_gradient(loss, tf.cast(factor, loss.dtype))

            task.compute_loss = overflowing_loss
        return backbone, task

    def fit_resumable(*fit_args, **kwargs):
        callbacks = []
        if args.step_delay:
            callbacks.append(Delay())
        if args.overflow_batch >= 0:
            callbacks.append(Overflow())
        if args.state:
            callbacks.append(Trace(kwargs["strategy"]))
        kwargs["callbacks"] = callbacks
        return original_fit(*fit_args, **kwargs)

    def pretrain(config):
        if args.data_shards:
            config.data_shards = args.data_shards
        result = original_pretrain(config)
        if args.dump:
            weights = result["task"].get_weights()
            np.savez(args.dump, *weights)
        if args.state:
            with open(args.state, "w") as f:
                json.dump(state, f)
        return result

    pretrain_module.pretrain = pretrain
    pretrain_module.fit_resumable = fit_resumable
    pretrain_module.build_pretrainer = build_pretrainer
    sys.argv = [RECIPE, *recipe_flags]
    runpy.run_path(RECIPE, run_name="__main__")


if __name__ == "__main__":
    main()
