"""Runs recipes/pretrain.py in this process, with test-only controls applied before TF starts.

    python tests/training/run_pretrain.py [--logical_cpus=2] [--wait_for=PATH] RUN [--then RUN]...

    RUN: [--data_shards=2] [--dump=weights.npz] [--step_delay=0.2] [--state=state.json]
         [--overflow_batch=2] [--record=batches.npz | --replay=batches.npz] -- <recipe flags>

The runs go one after the other in this process, each as the recipe's command line (flags
parsed again, Keras session cleared, the recipe seeds everything itself), so that they share
one TensorFlow start-up. --logical_cpus (possible only before TF initializes) and --wait_for
(start the first run only once PATH exists) belong to the first RUN and hold for the process.
A run that fails is reported and the next one still starts; the exit code is then 1.

--logical_cpus splits the CPU into logical devices, --data_shards overrides
`PretrainConfig.data_shards`, --dump saves the trained task's weights on every worker (the
recipe itself exports only on the chief), --step_delay sleeps after each step so that a test
can kill the process mid-run. --dump and --state files appear complete or not at all.

--state writes a JSON of what the weights alone do not show: the optimizer's class, and after
every batch the optimizer step, the loss scale as each local replica holds it and the largest
weight change; at the end, the largest difference between the local replicas' copies of a
variable. --overflow_batch multiplies the gradient of the *last* replica's loss by 2**24 in that
batch (counted from 0 in this run): its float16 backward pass overflows to inf while the other
replicas' gradients stay finite. On one device the last replica is the whole batch.

--record saves the batches each input pipeline (`pretraining_dataset`, one per data shard)
gave this run, a run from step 0, with the arguments the pipeline was built from. --replay
answers `pretraining_dataset` with those batches instead of building the pipeline, after
checking that the recipe asked for the same shard with the same arguments: building and
starting the real pipeline is most of a tiny run's cost. Everything around it (sharding of
the global batch, distribution over replicas and workers, skipping on resume) runs as usual;
a replayed run trains on exactly the batches of the recorded one, and ends when they do.
"""

import argparse
import hashlib
import importlib
import inspect
import json
import os
import runpy
import sys
import time
import traceback

RECIPE = os.path.join(os.path.dirname(__file__), "..", "..", "recipes", "pretrain.py")
OVERFLOW_FACTOR = 2.0**24  # times the 2**15 loss scale: far beyond float16's 65504
PROCESS_FLAGS = ("logical_cpus", "wait_for")


def parse_runs(argv):
    """[(run flags namespace, recipe flags)] from `RUN [--then RUN]...`."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--logical_cpus", type=int, default=1)
    parser.add_argument("--wait_for", default="")
    parser.add_argument("--data_shards", type=int, default=0)
    parser.add_argument("--dump", default="")
    parser.add_argument("--step_delay", type=float, default=0.0)
    parser.add_argument("--state", default="")
    parser.add_argument("--overflow_batch", type=int, default=-1)
    parser.add_argument("--record", default="")
    parser.add_argument("--replay", default="")
    groups = [[]]
    for arg in argv:
        if arg == "--then":
            groups.append([])
        else:
            groups[-1].append(arg)
    runs = []
    for group in groups:
        ours, recipe_flags = group, []
        if "--" in group:
            split = group.index("--")
            ours, recipe_flags = group[:split], group[split + 1:]
        args = parser.parse_args(ours)
        if runs and any(getattr(args, name) != parser.get_default(name)
                        for name in PROCESS_FLAGS):
            parser.error(f"{', '.join(PROCESS_FLAGS)} go with the first run only")
        if args.record and args.replay:
            parser.error("--record and --replay exclude each other")
        runs.append((args, recipe_flags))
    return runs


def replace_atomically(path, write):
    """`write(temporary path)`, then the file appears at `path` in one step."""
    temporary = f"{path}.tmp{os.path.splitext(path)[1]}"  # np.savez keeps a .npz name as is
    write(temporary)
    os.replace(temporary, path)


def write_json(value, path):
    with open(path, "w") as f:
        json.dump(value, f)


def main():
    runs = parse_runs(sys.argv[1:])
    first = runs[0][0]

    import keras
    import numpy as np
    import tensorflow as tf
    from absl import flags as absl_flags

    from keras_bert_zoo import cli

    if first.logical_cpus > 1:
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * first.logical_cpus
        )

    # The modules (the packages re-export functions of the same names).
    pretrain_module = importlib.import_module("keras_bert_zoo.training.pretrain")
    datasets_module = importlib.import_module("keras_bert_zoo.data.datasets")

    original_pretrain = pretrain_module.pretrain
    original_fit = pretrain_module.fit_resumable
    original_build = pretrain_module.build_pretrainer
    original_dataset = datasets_module.pretraining_dataset
    args = argparse.Namespace()  # the current run's flags
    state = {}
    overflow = []  # [tf.Variable], set before each batch (created after the strategy)
    recorded = {}  # shard -> {"arguments", "structure", "columns", "batches": [[array]]}

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

    def dataset_arguments(arguments):
        """The pipeline's arguments as JSON-able text; the tokenizer by its table and ids."""
        described = {}
        for name, value in sorted(arguments.items()):
            if name == "tokenize_fn":
                continue  # the tokenizer shows in special_ids, vocabulary_size and the table
            if name == "continuation_table":
                value = None if value is None else hashlib.sha256(
                    np.asarray(value).tobytes()).hexdigest()
            if name == "input_context" and value is not None:
                value = [value.input_pipeline_id, value.num_input_pipelines,
                         value.num_replicas_in_sync]
            described[name] = repr(value)
        return described

    def pretraining_dataset(*call_args, **call_kwargs):
        arguments = inspect.signature(original_dataset).bind(*call_args, **call_kwargs)
        arguments = dict(arguments.arguments)
        context = arguments.get("input_context")
        shard = str(0 if context is None else context.input_pipeline_id)
        if args.replay:
            with np.load(args.replay) as saved:
                record = json.loads(str(saved["record"]))[shard]
                columns = [saved[f"{shard}/{i}"] for i in range(record["columns"])]
            asked = dataset_arguments(arguments)
            if record["arguments"] != asked:
                differences = {name: (record["arguments"].get(name), asked.get(name))
                               for name in {*record["arguments"], *asked}
                               if record["arguments"].get(name) != asked.get(name)}
                raise ValueError(f"shard {shard} was recorded from other arguments "
                                 f"(name: (recorded, asked)): {differences}")
            x, y = tf.nest.pack_sequence_as(record["structure"], columns)
            return tf.data.Dataset.from_tensor_slices((x, y))
        dataset = original_dataset(**arguments)
        if not args.record:
            return dataset
        spec = dataset.element_spec
        if not (isinstance(spec, tuple) and len(spec) == 2
                and all(isinstance(part, dict) for part in spec)):
            raise TypeError(f"--record takes (x, y) dicts of tensors, not {spec}")
        structure = [{key: 0 for key in part} for part in spec]  # as JSON keeps it
        record = recorded[shard] = {  # the last pipeline of a shard is the one fit reads
            "arguments": dataset_arguments(arguments), "structure": structure,
            "columns": len(tf.nest.flatten(structure)), "batches": [],
        }

        def keep(*flat):
            record["batches"].append([t.numpy() for t in flat])
            return True

        def tap(*element):
            kept = tf.py_function(keep, tf.nest.flatten(element), tf.bool)
            with tf.control_dependencies([kept]):
                return tf.nest.map_structure(tf.identity, element)

        return dataset.map(tap)  # in order: a map without parallel calls

    def write_record(path):
        arrays, described = {}, {}
        for shard, record in recorded.items():
            for i in range(record["columns"]):
                arrays[f"{shard}/{i}"] = np.stack([batch[i] for batch in record["batches"]])
            described[shard] = {k: v for k, v in record.items() if k != "batches"}
        arrays["record"] = np.array(json.dumps(described))
        replace_atomically(path, lambda temporary: np.savez(temporary, **arrays))

    def pretrain(config):
        if args.data_shards:
            config.data_shards = args.data_shards
        result = original_pretrain(config)
        if args.dump:
            weights = result["task"].get_weights()
            replace_atomically(args.dump, lambda temporary: np.savez(temporary, *weights))
        if args.state:
            replace_atomically(args.state, lambda temporary: write_json(state, temporary))
        if args.record:
            write_record(args.record)
        return result

    pretrain_module.pretrain = pretrain
    pretrain_module.fit_resumable = fit_resumable
    pretrain_module.build_pretrainer = build_pretrainer
    datasets_module.pretraining_dataset = pretraining_dataset  # pretrain.py imports it per call
    recipe = runpy.run_path(RECIPE, run_name="pretrain_recipe")  # flags and main, not run yet
    while first.wait_for and not os.path.exists(first.wait_for):
        time.sleep(0.05)
    failed = False
    for index, (run_args, recipe_flags) in enumerate(runs):
        vars(args).clear()
        vars(args).update(vars(run_args))
        state.clear()
        overflow.clear()
        recorded.clear()
        keras.utils.clear_session()
        absl_flags.FLAGS.unparse_flags()
        print(f"run {index + 1} of {len(runs)}", flush=True)
        try:
            cli.run(recipe["main"], argv=[RECIPE, *recipe_flags])
        except SystemExit as exit:  # absl ends every run with sys.exit
            if exit.code not in (None, 0):
                print(f"run {index + 1} exited with {exit.code!r}", flush=True)
                failed = True
        except Exception:
            traceback.print_exc()
            print(f"run {index + 1} failed", flush=True)
            failed = True
    sys.stdout.flush()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
