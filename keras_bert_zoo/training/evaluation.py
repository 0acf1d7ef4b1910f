"""Held-out evaluation of a pretraining run, checkpoint by checkpoint."""

import dataclasses
import glob
import json
import os

import tensorflow as tf


def load_run_config(run_dir):
    """The `PretrainConfig` a run was started with (from `run_dir/config.json`)."""
    from keras_bert_zoo.training.pretrain import PretrainConfig

    path = os.path.join(run_dir, "config.json")
    if not os.path.exists(path):
        raise FileNotFoundError(f"{run_dir!r} is not a pretraining run: no config.json")
    with open(path) as f:
        values = json.load(f)
    names = {f.name for f in dataclasses.fields(PretrainConfig)}
    return PretrainConfig(**{k: v for k, v in values.items() if k in names})


def evaluate_checkpoints(run_dir, heldout, *, batches=16, seed=12345):
    """Evaluates every kept checkpoint of a run on held-out text.

    Args:
        run_dir: a pretraining output directory (config.json, tokenizer/, checkpoints/).
        heldout: a glob of text files the run did not train on.
        batches: held-out batches per checkpoint (the same batches for every checkpoint).
        seed: masking seed of the held-out batches.

    Returns:
        A list of dicts, one per checkpoint in step order: `step` and the task's metrics
        (`mlm_accuracy`, `sentence_accuracy`, `token_accuracy`, losses), plus
        `unigram_baseline`: the accuracy of always predicting the most frequent target.
    """
    from keras_bert_zoo.data.datasets import pretraining_dataset
    from keras_bert_zoo.models import preset_config
    from keras_bert_zoo.tokenizers import load_tokenizer
    from keras_bert_zoo.training.pretrain import OBJECTIVES, build_pretrainer

    config = load_run_config(run_dir)
    files = sorted(glob.glob(heldout))
    if not files:
        raise FileNotFoundError(f"no files match heldout={heldout!r}")
    tokenizer = load_tokenizer(os.path.join(run_dir, "tokenizer"))
    family, _ = preset_config(config.model)
    objective = OBJECTIVES[family]
    data = pretraining_dataset(
        objective, files, tokenize_fn=tokenizer.tokenize,
        special_ids=tokenizer.special_token_ids, vocabulary_size=tokenizer.vocabulary_size,
        sequence_length=config.seq_len, batch_size=config.batch_size,
        max_predictions_per_seq=config.max_predictions_per_seq, seed=seed,
        continuation_table=tokenizer.continuation_table(),
        ngram_max=3 if objective == "mlm_sop" else 1,
    ).take(batches).cache()
    counts = {}
    key_ids, key_weights = ("target_ids", "target_weights") if family == "bart" else (
        "mask_ids", "mask_weights")
    for _, y in data:
        ids, weights = y[key_ids].numpy(), y[key_weights].numpy()
        for token in ids[weights > 0].tolist():
            counts[token] = counts.get(token, 0) + 1
    baseline = max(counts.values()) / sum(counts.values()) if counts else 0.0

    _, task = build_pretrainer(config, tokenizer.vocabulary_size, tf.distribute.get_strategy())
    task.optimizer.build(task.trainable_variables)
    checkpoint = tf.train.Checkpoint(model=task, optimizer=task.optimizer)
    state = tf.train.get_checkpoint_state(os.path.join(run_dir, "checkpoints"))
    if state is None:
        raise FileNotFoundError(f"no checkpoints in {run_dir!r}")
    rows = []
    for path in state.all_model_checkpoint_paths:
        checkpoint.restore(path).expect_partial()
        metrics = task.evaluate(data, verbose=0, return_dict=True)
        rows.append({"step": int(task.optimizer.iterations.numpy()),
                     **{k: float(v) for k, v in metrics.items()},
                     "unigram_baseline": baseline})
    return sorted(rows, key=lambda row: row["step"])


def markdown_table(rows, columns=("step", "mlm_accuracy", "unigram_baseline", "loss")):
    """Formats `evaluate_checkpoints` rows as a Markdown table."""
    columns = [c for c in columns if c in rows[0]] if rows else list(columns)
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        cells = [str(row[c]) if c == "step" else f"{row[c]:.4f}" for c in columns]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
