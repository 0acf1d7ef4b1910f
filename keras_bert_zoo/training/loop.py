"""`fit` with resumable checkpoints, metrics.jsonl and TensorBoard logs."""

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


class _MetricsLogger(keras.callbacks.Callback):
    """Appends one JSON line per logging step and mirrors it to TensorBoard."""

    def __init__(self, path, log_dir, step, every, tokens_per_step, nonfinite_patience,
                 max_steps=None):
        super().__init__()
        self.path, self.step, self.every, self.max_steps = path, step, every, max_steps
        self.tokens_per_step = tokens_per_step
        self.writer = tf.summary.create_file_writer(log_dir) if log_dir else None
        self.nonfinite_patience = nonfinite_patience
        self.nonfinite = 0
        self.last_time, self.last_step = None, None

    def on_train_begin(self, logs=None):
        self.last_time = time.perf_counter()
        self.last_step = int(self.step.numpy())

    def on_train_batch_end(self, batch, logs=None):
        logs = logs or {}
        step = int(self.step.numpy())
        loss = float(logs.get("loss", np.nan))
        if not math.isfinite(loss):
            self.nonfinite += 1
            if self.nonfinite >= self.nonfinite_patience:
                raise FloatingPointError(
                    f"loss is {loss} at step {step} for {self.nonfinite} logged steps in a row; "
                    "stopping (the last good checkpoint is kept). Lower the learning rate or "
                    "use --mixed_precision=bfloat16/none."
                )
        else:
            self.nonfinite = 0
        final = self.max_steps is not None and step >= self.max_steps
        if step % self.every and not final:  # log every `every` steps, and the last step
            return
        now = time.perf_counter()
        steps = max(step - self.last_step, 1)
        record = {"step": step}
        record.update({k: float(v) for k, v in logs.items()})
        lr = self.model.optimizer.learning_rate
        record["learning_rate"] = float(np.asarray(lr))
        record["tokens_per_second"] = self.tokens_per_step * steps / max(now - self.last_time, 1e-9)
        self.last_time, self.last_step = now, step
        if self.path:
            with open(self.path, "a") as f:
                f.write(json.dumps(record) + "\n")
        if self.writer is not None:
            with self.writer.as_default(step=step):
                for key, value in record.items():
                    if key != "step":
                        tf.summary.scalar(key, value)
            self.writer.flush()


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
                  keep_checkpoints=3, log_every=50, tokens_per_step=0, strategy=None,
                  verbose="auto", nonfinite_patience=3, callbacks=()):
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
        log_every: steps between metrics.jsonl lines.
        tokens_per_step: tokens in one global batch, for the tokens/s log.
        strategy: the tf.distribute strategy (only the chief writes to `output_dir`).
        verbose: Keras `fit` verbosity; "auto" = a progress bar on a terminal, else one line
            per checkpoint interval.
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
    if chief:
        os.makedirs(output_dir, exist_ok=True)
        callbacks.append(
            _MetricsLogger(os.path.join(output_dir, "metrics.jsonl"),
                           os.path.join(output_dir, "logs"), counter, log_every, tokens_per_step,
                           nonfinite_patience, max_steps)
        )
    else:
        callbacks.append(_MetricsLogger(None, None, counter, log_every, tokens_per_step,
                                        nonfinite_patience, max_steps))
    _build_without_consuming_data(model, make_dataset, step)
    if _is_multi_worker(strategy):
        # Keras 3 reduces each step's logs with `strategy.reduce("MEAN", v, axis=0)` under
        # MultiWorkerMirroredStrategy, which fails on scalars: give them a batch axis.
        train_step = model.train_step
        model.train_step = lambda data: tf.nest.map_structure(
            lambda v: tf.reshape(v, [1]), train_step(data))
    epochs = math.ceil(max_steps / checkpoint_every)
    if verbose == "auto":  # the progress bar on a terminal, one line per epoch in a log file
        verbose = 1 if sys.stdout.isatty() else 2
    try:
        model.fit(
            make_dataset(step),
            epochs=epochs,
            initial_epoch=step // checkpoint_every,
            steps_per_epoch=checkpoint_every,
            callbacks=callbacks,
            verbose=verbose,
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
