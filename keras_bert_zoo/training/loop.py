"""`fit` with resumable checkpoints, metrics.jsonl and TensorBoard logs."""

import collections
import json
import math
import os
import shutil
import sys
import tempfile
import time

import keras
import numpy as np
import tensorflow as tf

from keras_bert_zoo.training.distribution import aggregate_gradients_first


def is_chief(strategy):
    """True on the worker that writes checkpoints, logs and exports (worker 0 or the chief)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.cluster_spec().as_dict():
        return True
    task_type, task_id = resolver.task_type, resolver.task_id
    return task_type == "chief" or (
        task_type == "worker" and task_id == 0 and "chief" not in resolver.cluster_spec().jobs
    )


def _is_multi_worker(strategy):
    resolver = getattr(strategy, "cluster_resolver", None)
    return bool(resolver is not None and resolver.cluster_spec().as_dict())


class _StepCounter(keras.callbacks.Callback):
    """Counts the batches trained on: the run's step, and so its data position.

    `optimizer.iterations` is not that: a mixed_float16 step whose gradients overflow is
    skipped by the loss-scale optimizer, which uses up a batch without advancing it.
    """

    def __init__(self, variable):
        super().__init__()
        self.variable, self.begin = variable, 0

    def on_train_batch_begin(self, batch, logs=None):
        self.begin = batch

    def on_train_batch_end(self, batch, logs=None):
        self.variable.assign_add(batch - self.begin + 1)  # > 1 with steps_per_execution


class _Checkpointer(keras.callbacks.Callback):
    """Saves model + optimizer + step (the number of batches trained on, the data position)."""

    def __init__(self, manager, step, every, max_steps):
        super().__init__()
        self.manager, self.step, self.every, self.max_steps = manager, step, every, max_steps

    def on_train_batch_end(self, batch, logs=None):
        step = int(self.step.numpy())
        loss = (logs or {}).get("loss")
        finite = loss is None or bool(np.all(np.isfinite(np.asarray(loss, dtype="float64"))))
        # Never checkpoint weights a non-finite loss may have reached: the last good checkpoint
        # must stay the newest one. (Every worker sees the same reduced loss, so the collective
        # save is skipped everywhere at once.)
        if finite and (step % self.every == 0 or step >= self.max_steps):
            self.manager.save(checkpoint_number=step)
        if step >= self.max_steps:
            self.model.stop_training = True


class _PerStepMetrics(keras.callbacks.Callback):
    """Resets the model's metrics after every batch, so each batch's logs hold that batch's
    own values, not Keras' running mean since the start of the epoch (which would restart at
    every checkpoint interval). Runs after every other callback has read the logs."""

    def on_train_batch_end(self, batch, logs=None):
        self.model.reset_metrics()


def format_duration(seconds):
    """`75 -> "1:15"`, `3725 -> "1:02:05"`."""
    seconds = max(int(round(seconds)), 0)
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"


class _RunLogger(keras.callbacks.Callback):
    """The run's metrics: one JSON line per logging step in metrics.jsonl, the same values in
    TensorBoard, and one progress line for the whole run on the console.

    Every logged metric is the mean of its per-batch values over the last `every` steps (a
    moving window that does not restart at checkpoints or on resume of the same process);
    throughput is measured over the same window. The console shows step/total, the window's
    metrics, throughput and the time left: in place on a terminal (`verbose=1`), one line per
    logging step otherwise (`verbose=2`), nothing with `verbose=0`.
    """

    def __init__(self, path, log_dir, step, every, max_steps, *, tokens_per_step=0,
                 examples_per_step=0, nonfinite_patience=3, verbose=0, stream=None):
        super().__init__()
        self.path, self.step, self.every, self.max_steps = path, step, every, max_steps
        self.tokens_per_step, self.examples_per_step = tokens_per_step, examples_per_step
        self.writer = tf.summary.create_file_writer(log_dir) if log_dir else None
        self.nonfinite_patience, self.nonfinite = nonfinite_patience, 0
        self.verbose, self.stream = verbose, stream or sys.stdout
        self.window = collections.deque(maxlen=max(every, 1))  # (step, time, logs) per batch
        self.first_step = self.first_time = None
        self.last_draw = 0.0
        self.line_open = False

    def on_train_begin(self, logs=None):
        self.window.clear()
        self.first_step, self.first_time = int(self.step.numpy()), time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        step = int(self.step.numpy())
        values = {k: float(np.asarray(v, dtype="float64").mean()) for k, v in (logs or {}).items()}
        loss = values.get("loss", np.nan)
        if not math.isfinite(loss):
            self.nonfinite += 1
            if self.nonfinite >= self.nonfinite_patience:
                self._end_line()
                raise FloatingPointError(
                    f"loss is {loss} at step {step} for {self.nonfinite} logged steps in a row; "
                    "stopping (the last good checkpoint is kept). Lower the learning rate or "
                    "use --mixed_precision=bfloat16/none."
                )
        else:
            self.nonfinite = 0
        now = time.perf_counter()
        self.window.append((step, now, values))
        final = self.max_steps is not None and step >= self.max_steps
        if step % self.every == 0 or final:  # every `every` steps, and the last step
            record = self.record(step)
            self._write(record)
            if self.verbose == 2:
                self._print(self._line(record), newline=True)
        if self.verbose == 1 and (now - self.last_draw > 0.25 or final):
            self.last_draw = now
            self._print(self._line(self.record(step)), newline=False)

    def on_train_end(self, logs=None):
        self._end_line()

    def record(self, step):
        """The window's means at `step`, with learning rate and throughput."""
        record = {"step": step}
        keys = {k for _, _, values in self.window for k in values}
        for key in sorted(keys):
            seen = [values[key] for _, _, values in self.window if key in values]
            record[key] = float(np.mean(seen))
        record["learning_rate"] = float(np.asarray(self.model.optimizer.learning_rate))
        steps = self.window[-1][0] - self.window[0][0]
        elapsed = self.window[-1][1] - self.window[0][1]
        if steps <= 0 or elapsed <= 0:  # one batch in the window: time it from the start
            steps = self.window[-1][0] - self.first_step
            elapsed = self.window[-1][1] - self.first_time
        rate = steps / max(elapsed, 1e-9)
        if self.tokens_per_step:
            record["tokens_per_second"] = self.tokens_per_step * rate
        if self.examples_per_step:
            record["examples_per_second"] = self.examples_per_step * rate
        record["steps_per_second"] = rate
        return record

    def _write(self, record):
        if self.path:
            with open(self.path, "a") as f:
                f.write(json.dumps(record) + "\n")
        if self.writer is not None:
            with self.writer.as_default(step=record["step"]):
                for key, value in record.items():
                    if key != "step":
                        tf.summary.scalar(key, value)
            self.writer.flush()

    def _line(self, record):
        step, total = record["step"], self.max_steps
        parts = [f"step {step}/{total} {100 * step // max(total, 1):3d}%"]
        metrics = [k for k in record if k not in ("step", "learning_rate", "tokens_per_second",
                                                  "examples_per_second", "steps_per_second")]
        parts += [f"{k} {record[k]:.4g}" for k in metrics]
        if "tokens_per_second" in record:
            parts.append(f"{record['tokens_per_second']:,.0f} tokens/s")
        if "examples_per_second" in record:
            parts.append(f"{record['examples_per_second']:,.1f} examples/s")
        elapsed = time.perf_counter() - self.first_time
        rate = record["steps_per_second"]
        left = (total - step) / rate if rate > 0 else float("nan")
        timing = f"{format_duration(elapsed)} elapsed"
        if step < total and math.isfinite(left):
            timing += f", {format_duration(left)} left"
        parts.append(timing)
        return " | ".join(parts)

    def _print(self, line, newline):
        if newline:
            self._end_line()
            print(line, file=self.stream, flush=True)
        else:
            print("\r" + line + "\033[K", end="", file=self.stream, flush=True)
            self.line_open = True

    def _end_line(self):
        if self.line_open:
            print(file=self.stream, flush=True)
            self.line_open = False


def step_variable():
    """The int64 step counter `fit_resumable` checkpoints next to model and optimizer."""
    return tf.Variable(0, dtype=tf.int64, trainable=False, name="step")


class RandomState(tf.Module):
    """A model's dropout seed states, which Keras keeps outside its weights.

    Checkpointed with the model, a resumed run draws the dropout masks an uninterrupted one
    would; without them it would draw the masks of step 1 again.
    """

    def __init__(self, model):
        super().__init__(name="random_state")
        weights = {id(v) for v in model.weights}
        self.seed_states = [v for v in model.variables
                            if id(v) not in weights and v.path.endswith("seed_generator_state")]


def _checkpoint(model, step, random_state, saved=None):
    """The run's `tf.train.Checkpoint`; with `saved` (the top-level names a checkpoint holds),
    only the objects an older checkpoint was written with."""
    objects = {"model": model, "optimizer": model.optimizer, "step": step,
               "random_state": random_state}
    return tf.train.Checkpoint(**{name: obj for name, obj in objects.items()
                                  if obj is not None and (saved is None or name in saved)})


def restore_latest(model, checkpoint_dir, step=None, random_state=None):
    """Restores model + optimizer from the newest readable checkpoint in `checkpoint_dir`.

    A checkpoint that fails to read (truncated, corrupted) is reported by name and the previous
    one is tried. Returns the restored step (0 if there is none): the number of batches trained
    on, restored into `step` (a `step_variable()`) if given, and the dropout seed states into
    `random_state` (a `RandomState`) if given. Checkpoints written without them (by older
    versions) resume at the optimizer's `iterations`, with fresh seed states.
    """
    step = step if step is not None else step_variable()
    model.optimizer.build(model.trainable_variables)
    state = tf.train.get_checkpoint_state(checkpoint_dir)
    if state is None:
        return 0
    for path in reversed(list(state.all_model_checkpoint_paths)):
        step.assign(0)
        try:
            saved = {name.split("/")[0] for name, _ in tf.train.list_variables(path)}
            checkpoint = _checkpoint(model, step, random_state, saved)
            checkpoint.restore(path).assert_existing_objects_matched()
        except Exception as error:  # any unreadable checkpoint: report it, try the previous
            print(f"checkpoint {path} could not be read ({type(error).__name__}); "
                  "trying the previous one")
            continue
        if "step" not in saved:
            step.assign(int(model.optimizer.iterations.numpy()))
        return int(step.numpy())
    raise RuntimeError(f"no readable checkpoint in {checkpoint_dir}")


def fit_resumable(model, make_dataset, *, output_dir, max_steps, checkpoint_every=500,
                  keep_checkpoints=3, log_every=50, tokens_per_step=0, examples_per_step=0,
                  strategy=None, verbose="auto", nonfinite_patience=3, callbacks=()):
    """Trains a compiled `model` to `max_steps`, resuming from `output_dir/checkpoints`.

    Rerunning the same call after a crash restores model, optimizer, step and dropout seed
    states from the last checkpoint and continues with the same data and the same dropout
    masks: `make_dataset(skip_batches)` must return the
    deterministic batch stream with its first `skip_batches` batches removed.

    Distributed (`strategy` with several replicas or workers): every worker runs this same
    call. All of them restore from `output_dir/checkpoints`, so after a preemption the job is
    restarted with the same command on every worker (the equivalent of Keras'
    `BackupAndRestore`) and loses only the steps since the last checkpoint. Only the chief
    writes to `output_dir`; the other workers take part in the (collective) checkpoint saves
    into a temporary directory that is removed at the end. Gradients are summed over replicas
    before clipping (`distribution.aggregate_gradients_first`).

    Args:
        model: a compiled Keras model (built under `strategy.scope()` if distributed).
        make_dataset: `skip_batches -> tf.data.Dataset` of `(x, y)` batches (infinite or at
            least `max_steps` long).
        output_dir: writes `checkpoints/`, `logs/` (TensorBoard) and `metrics.jsonl`.
        max_steps: total optimizer steps of the run.
        checkpoint_every: steps between checkpoints (and Keras "epochs").
        keep_checkpoints: newest checkpoints kept.
        log_every: steps between metrics.jsonl lines; logged metrics are means over the last
            `log_every` batches.
        tokens_per_step: tokens in one global batch, for the tokens/s log.
        examples_per_step: examples in one global batch, for the examples/s log.
        strategy: the tf.distribute strategy (only the chief writes to `output_dir`).
        verbose: 0 = silent, 1 = one progress line updated in place, 2 = one line per logging
            step; "auto" = 1 on a terminal, else 2. Only the chief prints.
        nonfinite_patience: logged non-finite losses in a row that stop the run.
        callbacks: extra Keras callbacks.

    Returns:
        The step reached.
    """
    strategy = strategy or tf.distribute.get_strategy()
    chief = is_chief(strategy)
    checkpoint_every = min(checkpoint_every, max_steps)
    checkpoint_dir = os.path.join(output_dir, "checkpoints")
    scratch = None
    if not chief:  # saving is collective: workers write to a scratch dir that is removed
        scratch = tempfile.mkdtemp(prefix="worker_checkpoints_")
    if strategy.num_replicas_in_sync > 1:
        aggregate_gradients_first(model.optimizer)
    counter = step_variable()  # one per worker, outside the strategy: every worker counts
    random_state = RandomState(model)
    with strategy.scope():
        step = restore_latest(model, checkpoint_dir, counter, random_state)
    if step:
        print(f"resuming from the checkpoint at step {step} in {checkpoint_dir}", flush=True)
    if step >= max_steps:
        return step
    checkpoint = _checkpoint(model, counter, random_state)
    manager = tf.train.CheckpointManager(checkpoint, scratch or checkpoint_dir,
                                         max_to_keep=keep_checkpoints)
    callbacks = [_StepCounter(counter), _Checkpointer(manager, counter, checkpoint_every,
                                                      max_steps), *callbacks]
    if verbose == "auto":
        verbose = 1 if sys.stdout.isatty() else 2
    if chief:
        os.makedirs(output_dir, exist_ok=True)
    callbacks.append(_RunLogger(
        os.path.join(output_dir, "metrics.jsonl") if chief else None,
        os.path.join(output_dir, "logs") if chief else None, counter, log_every, max_steps,
        tokens_per_step=tokens_per_step, examples_per_step=examples_per_step,
        nonfinite_patience=nonfinite_patience, verbose=verbose if chief else 0))
    callbacks.append(_PerStepMetrics())  # last: the others read each batch's own logs
    _build_without_consuming_data(model, make_dataset, step)
    if _is_multi_worker(strategy):
        # Keras 3 reduces each step's logs with `strategy.reduce("MEAN", v, axis=0)` under
        # MultiWorkerMirroredStrategy, which fails on scalars: give them a batch axis.
        train_step = model.train_step
        model.train_step = lambda data: tf.nest.map_structure(
            lambda v: tf.reshape(v, [1]), train_step(data))
    epochs = math.ceil(max_steps / checkpoint_every)
    try:
        model.fit(
            make_dataset(step),
            epochs=epochs,
            initial_epoch=step // checkpoint_every,
            steps_per_epoch=checkpoint_every,
            callbacks=callbacks,
            verbose=0,  # _RunLogger prints one progress line for the whole run
            shuffle=False,  # the dataset is already in its seeded order
        )
    finally:
        model.__dict__.pop("_maybe_symbolic_build", None)
        model.__dict__.pop("train_step", None)
        if scratch:
            shutil.rmtree(scratch, ignore_errors=True)
    return int(counter.numpy())


def _build_without_consuming_data(model, make_dataset, step):
    """Builds a model compiled under a strategy from a throwaway copy of the data.

    Keras 3 (TF backend) builds such a model's metrics from the first batch of `fit`'s own
    iterator and, with `steps_per_epoch`, then trains from the second batch: every `fit` call
    would silently drop one batch and the data position would no longer be the step. Build
    from a separate iterator, then make `fit`'s build a no-op (restored after `fit`).
    """
    strategy = getattr(model, "_distribute_strategy", None)
    if strategy is None:
        return  # Keras defers building to the traced step: no batch is consumed
    batch = next(iter(make_dataset(step)))
    # One replica's part is enough to build (Keras' own cross-replica MEAN of the batch
    # fails on nested inputs under MultiWorkerMirroredStrategy).
    local = tf.nest.map_structure(
        lambda v: strategy.experimental_local_results(v)[0]
        if isinstance(v, tf.distribute.DistributedValues) else v, batch)
    with strategy.scope():
        model._symbolic_build(data_batch=local)
    model._maybe_symbolic_build = lambda *args, **kwargs: None
