"""Pretraining from raw text: vocab, data pipeline, model under a strategy, resumable fit."""

import dataclasses
import glob
import json
import os
import shutil
import tempfile

import keras
import tensorflow as tf

from keras_bert_zoo import models
from keras_bert_zoo.configs import PretrainConfig  # noqa: F401  (part of this module's API)
from keras_bert_zoo.training.distribution import jit_compile_per_replica
from keras_bert_zoo.training.loop import fit_resumable, is_chief
from keras_bert_zoo.training.optimizers import create_optimizer
from keras_bert_zoo.training.precision import dtype_policy
from keras_bert_zoo.training.run_dir import PRETRAIN, prepare_run_dir, read_config, save_atomic
from keras_bert_zoo.training.strategy import get_strategy

# The objective each family was pretrained with.
OBJECTIVES = {"bert": "mlm_nsp", "albert": "mlm_sop", "roberta": "mlm", "bart": "denoising"}


DEFAULT_CORPUS_FILES = 4  # files the embedded corpus is written as


def corpus_files(pattern, output_dir):
    """The sorted files of `pattern`, or the embedded default corpus written under output_dir
    (pass a scratch directory on non-chief workers)."""
    if not pattern:
        from keras_bert_zoo.data.corpora import write_default_corpus

        return write_default_corpus(os.path.join(output_dir, "corpus"),
                                    num_files=DEFAULT_CORPUS_FILES)
    files = sorted(glob.glob(pattern))
    if not files:
        raise FileNotFoundError(f"no files match --corpus={pattern!r}")
    return files


def check_utf8(files):
    """Raises ValueError naming the first file and line that is not valid UTF-8."""
    from keras_bert_zoo.tokenizers.trainers import read_lines

    for _ in read_lines(files, errors="strict", remedy="pass --decode_errors=replace"):
        pass


def prepare_tokenizer(family, config, files):
    """Loads `--tokenizer_dir`, or the one a previous run saved, or trains one on `files`."""
    from keras_bert_zoo.tokenizers import load_tokenizer, train_tokenizer

    saved = os.path.join(config.output_dir, "tokenizer")
    if config.tokenizer_dir:
        tokenizer = load_tokenizer(config.tokenizer_dir)
    elif os.path.exists(os.path.join(saved, "tokenizer_config.json")):
        tokenizer = load_tokenizer(saved)  # resuming: the vocabulary must not change
    else:
        # SentencePiece samples the lines of a large corpus: with the run's seed.
        seeded = {"seed": config.seed} if family == "albert" else {}
        tokenizer = train_tokenizer(family, files, config.vocabulary_size,
                                    errors=config.decode_errors, **seeded)
    if tokenizer.family != family:
        raise ValueError(
            f"tokenizer family {tokenizer.family!r} does not match --model={config.model} "
            f"({family})"
        )
    if is_chief(get_strategy_cached(config)):
        tokenizer.save(saved)
    return tokenizer


_STRATEGY = {}


def get_strategy_cached(config):
    # A strategy must be created once per process (multi-worker setup is collective).
    if config.strategy not in _STRATEGY:
        _STRATEGY[config.strategy] = get_strategy(config.strategy)
    return _STRATEGY[config.strategy]


def num_data_shards(config, strategy):
    """Input pipelines the global batch is split into; checks it fits batch and replicas."""
    replicas = strategy.num_replicas_in_sync
    shards = config.data_shards or replicas
    if shards % replicas:
        raise ValueError(f"data_shards={shards} is not a multiple of the {replicas} replicas")
    if config.batch_size % shards:
        raise ValueError(
            f"--batch_size={config.batch_size} (global) is not divisible by {shards} "
            f"({replicas} replicas); use a multiple of {shards}"
        )
    return shards


def make_dataset_fn(objective, files, tokenizer, config, strategy):
    """`skip_batches -> dataset` for `fit_resumable`, with global batch semantics.

    The global batch `i` is the concatenation over shards `s = 0..S-1` of batch `i` of shard
    `s`: an input pipeline over its share of the files (or of the documents, with fewer files
    than shards), seeded with `(seed, s)`, batched at `batch_size / S`. Replica `r` of `R`
    trains on shards `r*S/R ... (r+1)*S/R - 1`, and each worker builds only its replicas'
    shards (distinct files: a disjoint part of the stream). So the batches, and hence the
    updates, do not depend on how replicas are placed on devices and machines, and a single
    device with `data_shards=S` reproduces an `S`-replica run. A resumed run skips
    `skip_batches` batches in every shard.
    """
    from keras_bert_zoo.data.datasets import pretraining_dataset

    shards = num_data_shards(config, strategy)
    replicas = strategy.num_replicas_in_sync

    def shard_dataset(index, skip_batches):
        context = tf.distribute.InputContext(num_input_pipelines=shards,
                                             input_pipeline_id=index,
                                             num_replicas_in_sync=shards)
        ds = pretraining_dataset(
            objective,
            files,
            tokenize_fn=tokenizer.tokenize,
            special_ids=tokenizer.special_token_ids,
            vocabulary_size=tokenizer.vocabulary_size,
            sequence_length=config.seq_len,
            batch_size=config.batch_size // shards,
            max_predictions_per_seq=config.max_predictions_per_seq,
            seed=config.seed if shards == 1 else (config.seed, index),  # independent masks
            continuation_table=tokenizer.continuation_table(),
            whole_word=config.whole_word_masking,
            ngram_max=3 if objective == "mlm_sop" else 1,  # ALBERT's n-gram masking
            input_context=context if shards > 1 else None,
            decode_errors=config.decode_errors,
        )
        return ds.skip(skip_batches)

    def replica_dataset(replica, skip_batches):
        per_replica = shards // replicas
        parts = [shard_dataset(s, skip_batches)
                 for s in range(replica * per_replica, (replica + 1) * per_replica)]
        if len(parts) == 1:
            return parts[0]
        return tf.data.Dataset.zip(tuple(parts)).map(
            lambda *batches: tf.nest.map_structure(lambda *t: tf.concat(t, 0), *batches)
        )

    if replicas == 1 and not getattr(strategy, "cluster_resolver", None):
        return lambda skip_batches: replica_dataset(0, skip_batches)

    def worker_dataset(skip_batches, context):
        # This worker's replicas are a contiguous block; the strategy hands the elements of
        # the dataset to its local replicas in turn.
        local = context.num_replicas_in_sync // context.num_input_pipelines
        first = context.input_pipeline_id * local
        datasets = [replica_dataset(r, skip_batches) for r in range(first, first + local)]
        if local == 1:
            return datasets[0]
        return tf.data.Dataset.choose_from_datasets(
            datasets, tf.data.Dataset.range(local).repeat()
        )

    def distributed(skip_batches):
        return strategy.distribute_datasets_from_function(
            lambda context: worker_dataset(skip_batches, context)
        )

    return distributed


def _xla_by_default(policy):
    """`--jit_compile=auto`: XLA for float32 steps on GPUs. On CPU the step without XLA is the
    faster one in every precision (bert_small: 1,161 vs 1,353 ms in float32; oneDNN's bfloat16
    matmuls are twice XLA's), see docs/performance.md."""
    return policy == "float32" and bool(tf.config.list_logical_devices("GPU"))


def build_pretrainer(config, vocabulary_size, strategy):
    """The backbone and its pretraining task, compiled under `strategy.scope()`."""
    from keras_bert_zoo.tasks import DenoisingPretrainer, Pretrainer

    family, _ = models.preset_config(config.model)
    policy = dtype_policy(config.mixed_precision)
    jit = {"auto": _xla_by_default(policy), "true": True, "false": False}[config.jit_compile]
    with strategy.scope():
        backbone = models.build(
            config.model,
            vocabulary_size=vocabulary_size,
            dropout=config.dropout,
            **{"max_sequence_length": max(config.seq_len, 128), **config.model_overrides},
            dtype=policy,
        )
        if family == "bart":
            task = DenoisingPretrainer(backbone)
        else:
            task = Pretrainer(backbone, sentence_head=family in ("bert", "albert"),
                              sentence_loss_weight=config.sentence_loss_weight)
        optimizer = create_optimizer(
            config.optimizer,
            learning_rate=config.learning_rate,
            total_steps=config.max_steps,
            warmup_steps=config.warmup_steps,
            weight_decay=config.weight_decay,
            beta_2=0.98 if family in ("roberta", "bart") else 0.999,
        )
        distributed = strategy.num_replicas_in_sync > 1 or bool(
            getattr(strategy, "cluster_resolver", None)
        )
        # Keras' jit_compile would put the cross-replica all-reduce inside one XLA program,
        # which Mirrored/MultiWorkerMirrored cannot run: compile each replica's pass instead.
        task.compile(optimizer=optimizer, jit_compile=jit and not distributed)
        if jit and distributed and not isinstance(strategy, tf.distribute.TPUStrategy):
            jit_compile_per_replica(task)
    if policy == "mixed_float16" and not isinstance(
        task.optimizer, keras.optimizers.LossScaleOptimizer
    ):
        raise RuntimeError("mixed_float16 needs a LossScaleOptimizer; compile did not add one")
    return backbone, task


def owned_entries(config):
    """`saved config -> [entries]`: what a pretraining run writes in its output directory
    besides config.json; the tokenizer only when it was not read from there, the embedded
    corpus only when the run used it."""
    output_dir = config.output_dir

    def owned(saved):
        entries = ["checkpoints", "logs", "metrics.jsonl", "backbone.keras",
                   "backbone.keras.tmp.keras"]
        if saved is not None:
            read_from = saved.get("tokenizer_dir") or ""
            if not (read_from and os.path.realpath(read_from)
                    == os.path.realpath(os.path.join(output_dir, "tokenizer"))):
                entries.append("tokenizer")
            if not saved.get("corpus"):
                entries += [f"corpus/corpus-{i:05d}.txt" for i in range(DEFAULT_CORPUS_FILES)]
        return entries

    return owned


def prepare_output_dir(config, strategy):
    """Checks `config.output_dir` (`run_dir.prepare_run_dir`) and returns the config to run:
    with `data_shards` resolved to the number of input pipelines, as recorded in config.json.

    `data_shards=0` means the count the earlier run recorded when resuming (so the batches go
    on unchanged on another device layout), else one per replica.
    """
    saved = read_config(os.path.join(config.output_dir, PRETRAIN.config_file))
    if saved is not None and not saved.get("data_shards"):
        # Recorded before the count was: those runs had one input pipeline per replica.
        saved["data_shards"] = strategy.num_replicas_in_sync
    recorded = None if config.overwrite or saved is None else saved["data_shards"]
    shards = config.data_shards or recorded or strategy.num_replicas_in_sync
    config = dataclasses.replace(config, data_shards=shards)
    num_data_shards(config, strategy)  # fail before any work if the batch does not split
    reads = [config.tokenizer_dir, *(glob.glob(config.corpus) if config.corpus else [])]
    prepare_run_dir(config, PRETRAIN, owned_entries(config), reads=reads,
                    chief=is_chief(strategy), saved=saved)
    return config


def pretrain(config):
    """Runs (or resumes) a pretraining run; returns a summary dict with paths and metrics."""
    config.validate()
    family, _ = models.preset_config(config.model)
    objective = OBJECTIVES[family]
    strategy = get_strategy_cached(config)
    chief = is_chief(strategy)
    # Before anything is written: resume only the same run, or start afresh if asked.
    config = prepare_output_dir(config, strategy)
    # Non-chief workers write nothing under output_dir: their copy of the default corpus goes
    # to a scratch directory, removed at the end.
    scratch = None if chief else tempfile.mkdtemp(prefix="pretrain_worker_")
    try:
        files = corpus_files(config.corpus, scratch or config.output_dir)
        if config.decode_errors == "strict":  # fail now, not when training reaches the line
            check_utf8(files)
        tokenizer = prepare_tokenizer(family, config, files)
        backbone, task = build_pretrainer(config, tokenizer.vocabulary_size, strategy)
        make_dataset = make_dataset_fn(objective, files, tokenizer, config, strategy)
        step = fit_resumable(
            task,
            make_dataset,
            output_dir=config.output_dir,
            max_steps=config.max_steps,
            checkpoint_every=config.checkpoint_every,
            keep_checkpoints=config.keep_checkpoints,
            log_every=config.log_every,
            tokens_per_step=config.batch_size * config.seq_len,
            strategy=strategy,
            verbose=config.verbose,
        )
    finally:
        if scratch:
            shutil.rmtree(scratch, ignore_errors=True)
    backbone_path = os.path.join(config.output_dir, "backbone.keras")
    if chief:
        save_atomic(backbone, backbone_path)
    metrics_path = os.path.join(config.output_dir, "metrics.jsonl")
    last = {}
    if os.path.exists(metrics_path):
        with open(metrics_path) as f:
            lines = [line for line in f if line.strip()]
        if lines:
            last = json.loads(lines[-1])
    return {
        "step": step,
        "objective": objective,
        "backbone": backbone_path,
        "tokenizer_dir": os.path.join(config.output_dir, "tokenizer"),
        "metrics": metrics_path,
        "last_metrics": last,
        "task": task,
        "tokenizer": tokenizer,
        "files": files,
    }

