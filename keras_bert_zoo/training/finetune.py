"""Fine-tuning: a pretrained backbone + labelled data -> a trained task, dev metrics, files."""

import json
import math
import os
import sys
import warnings

import keras
import numpy as np
import tensorflow as tf

from keras_bert_zoo.configs import FINETUNE_TASKS, FinetuneConfig  # noqa: F401  (API)
from keras_bert_zoo.data.bucketing import packed_batches, text_batches
from keras_bert_zoo.training.loop import fit_resumable, is_chief
from keras_bert_zoo.training.optimizers import create_optimizer
from keras_bert_zoo.training.precision import dtype_policy
from keras_bert_zoo.training.run_dir import (FINETUNE, prepare_run_dir, save_atomic,
                                             write_json_atomic)
from keras_bert_zoo.training.strategy import get_strategy

TASKS = FINETUNE_TASKS


def encode_labels(labels, class_names=None):
    """Maps label strings to ids; returns `(ids, class_names)` (sorted names by default)."""
    class_names = list(class_names) if class_names else sorted(set(labels))
    index = {name: i for i, name in enumerate(class_names)}
    unknown = sorted(set(labels) - set(index))
    if unknown:
        raise ValueError(f"labels {unknown[:5]} are not among class_names {class_names}")
    return np.array([index[label] for label in labels], "int32"), class_names


def encode_multi_labels(labels, class_names=None):
    """Lists of labels (or `a|b` strings) -> multi-hot float32 rows, and the class names."""
    lists = [label.split("|") if isinstance(label, str) else list(label) for label in labels]
    names = list(class_names) if class_names else sorted({x for row in lists for x in row if x})
    index = {name: i for i, name in enumerate(names)}
    hot = np.zeros((len(lists), len(names)), "float32")
    for i, row in enumerate(lists):
        for label in row:
            if label:
                if label not in index:
                    raise ValueError(f"label {label!r} is not among class_names {names}")
                hot[i, index[label]] = 1.0
    return hot, names


def classification_dataset(preprocessor, texts, labels=None, *, batch_size=32, shuffle=False,
                           seed=0, texts_pair=None, repeat=False):
    """Texts (or pairs) and labels -> batched `(inputs, labels)` tokenized in-graph.

    With `shuffle`, the order is a seeded reshuffle per epoch and, when the preprocessor pads
    to the longest text (its default), examples are batched by length
    (`keras_bert_zoo.data.bucketing`): the stream is the same on every run, so a resumed run
    can `skip` to where it stopped. Without, batches keep the order of the texts.
    """
    features = (list(texts),) if texts_pair is None else (list(texts), list(texts_pair))
    ds = tf.data.Dataset.from_tensor_slices((features,) if labels is None
                                            else (features, np.asarray(labels)))
    if shuffle:
        ds = ds.shuffle(len(texts), seed=seed, reshuffle_each_iteration=True)
    if shuffle and preprocessor.padding == "longest":
        # Grouped one pass at a time (`keras_bert_zoo.data.bucketing`); with `repeat` a pass
        # drops its last, smaller batch.
        ds = text_batches(ds, preprocessor, batch_size=batch_size, seed=seed,
                          drop_remainder=repeat)
        return ds.repeat() if repeat else ds
    if repeat:
        ds = ds.repeat()
    return text_batches(ds, preprocessor, batch_size=batch_size, drop_remainder=repeat)


def split_train_dev(texts, labels, *, dev_fraction=0.1, seed=0, limit=None, pairs=None):
    """A seeded shuffle split into (train_texts, train_labels, dev_texts, dev_labels)
    (plus train/dev pairs when `pairs` is given)."""
    order = np.random.default_rng(seed).permutation(len(texts))
    if limit:
        order = order[:limit]
    n_dev = max(1, int(len(order) * dev_fraction))
    dev, train = order[:n_dev], order[n_dev:]
    pick = lambda seq, idx: [seq[i] for i in idx]  # noqa: E731
    out = (pick(texts, train), pick(labels, train), pick(texts, dev), pick(labels, dev))
    if pairs is not None:
        out += (pick(pairs, train), pick(pairs, dev))
    return out


def classification_metrics(problem_type, logits, labels, class_names=None):
    """Dev metrics with the majority-class baseline, from logits and integer/multi-hot labels."""
    logits = np.asarray(logits, "float64")
    if problem_type == "regression":
        pred, gold = logits[:, 0], np.asarray(labels, "float64")
        pearson = float(np.corrcoef(pred, gold)[0, 1]) if len(gold) > 1 else float("nan")
        rank = lambda v: np.argsort(np.argsort(v))  # noqa: E731
        spearman = float(np.corrcoef(rank(pred), rank(gold))[0, 1]) if len(gold) > 1 else 0.0
        return {"pearson": pearson, "spearman": spearman,
                "mse": float(np.mean((pred - gold) ** 2))}
    if problem_type == "multi_label":
        pred = logits > 0
        gold = np.asarray(labels) > 0.5
        tp = float((pred & gold).sum())
        precision = tp / max(pred.sum(), 1)
        recall = tp / max(gold.sum(), 1)
        f1 = 2 * precision * recall / max(precision + recall, 1e-12)
        return {"micro_f1": f1, "exact_match": float((pred == gold).all(1).mean())}
    pred = logits.argmax(-1)
    gold = np.asarray(labels)
    f1s = []
    for c in range(logits.shape[-1]):
        tp = float(((pred == c) & (gold == c)).sum())
        p = tp / max((pred == c).sum(), 1)
        r = tp / max((gold == c).sum(), 1)
        f1s.append(2 * p * r / max(p + r, 1e-12))
    majority = float(np.bincount(gold, minlength=logits.shape[-1]).max() / len(gold))
    return {"accuracy": float((pred == gold).mean()), "macro_f1": float(np.mean(f1s)),
            "majority_baseline": majority}


def load_pretrained(directory, *, sequence_length, dtype=None, padding="longest",
                    pad_to_multiple_of=8):
    """`(backbone, preprocessor)` from a pretrain output dir (`backbone.keras` + `tokenizer/`),
    a `recipes/convert.py` output dir (`backbone.keras` + tokenizer files beside it) or a
    Hugging Face model dir (`config.json` + `model.safetensors` + tokenizer files); the
    preprocessor pads as `padding` and `pad_to_multiple_of` say (see `Preprocessor`)."""
    from keras_bert_zoo.tokenizers import Preprocessor, load_tokenizer

    if os.path.exists(os.path.join(directory, "backbone.keras")):
        backbone = keras.saving.load_model(os.path.join(directory, "backbone.keras"),
                                           safe_mode=True)
        tokenizer_dir = os.path.join(directory, "tokenizer")
        if not os.path.isdir(tokenizer_dir):
            tokenizer_dir = directory  # written by recipes/convert.py
        tokenizer, family = load_tokenizer(tokenizer_dir), None
    elif os.path.exists(os.path.join(directory, "config.json")):
        from keras_bert_zoo.convert import from_huggingface

        backbone, converted = from_huggingface(directory, sequence_length=sequence_length)
        tokenizer, family = converted.tokenizer, converted.family
    else:
        raise FileNotFoundError(
            f"{directory!r} has neither backbone.keras (a pretrain or convert run) nor "
            "config.json (a Hugging Face model)"
        )
    preprocessor = Preprocessor(tokenizer, sequence_length=sequence_length, family=family,
                                padding=padding, pad_to_multiple_of=pad_to_multiple_of)
    if dtype and dtype != "float32":
        config = backbone.get_config()
        config["dtype"] = dtype
        clone = type(backbone).from_config(config)
        clone.set_weights(backbone.get_weights())
        backbone = clone
    return backbone, preprocessor


def _load_pretrained(config, policy):
    return load_pretrained(config.pretrained, sequence_length=config.seq_len, dtype=policy,
                           padding=config.resolved_padding(),
                           pad_to_multiple_of=config.pad_to_multiple_of)


def _classification_data(config):
    """(train texts, train pairs, train labels, dev texts, dev pairs, dev labels)."""
    if config.dataset:
        from keras_bert_zoo.data.corpora import bbc_news, tweets_sentiment

        if config.dataset == "tweets":
            texts, labels = tweets_sentiment()
        else:
            texts, labels, _ = bbc_news()
        tx, ty, dx, dy = split_train_dev(texts, labels, seed=config.seed,
                                         limit=config.max_train_examples or None)
        return tx, None, ty, dx, None, dy

    pair = config.task == "pair"
    columns = [config.text_column, config.label_column]
    if pair:
        columns.insert(1, config.text_pair_column)
    train, dev = _read_tables(config, columns)
    get = lambda table, col: table[col] if pair or col != config.text_pair_column else None  # noqa
    return (train[config.text_column], get(train, config.text_pair_column),
            train[config.label_column], dev[config.text_column],
            get(dev, config.text_pair_column), dev[config.label_column])


def _hold_out(size, seed):
    """Seeded (train indices, dev indices): 10% (at least one example) held out."""
    order = np.random.default_rng(seed).permutation(size)
    n_dev = max(1, size // 10)
    return order[n_dev:], order[:n_dev]


def _split_examples(train, dev, seed):
    """`(train, dev)` example lists; without dev examples, 10% of train are held out."""
    if dev:
        return train, dev
    train_idx, dev_idx = _hold_out(len(train), seed)
    return [train[i] for i in train_idx], [train[i] for i in dev_idx]


def _read_tables(config, columns):
    """`(train, dev)` tables of `columns` from --train_file and --dev_file (or 10% of train),
    with the training table cut to --max_train_examples."""
    from keras_bert_zoo.data.tables import read_table

    train = read_table(config.train_file, columns)
    if config.dev_file:
        dev = read_table(config.dev_file, columns)
    else:
        train_idx, dev_idx = _hold_out(len(train[columns[0]]), config.seed)
        dev = {k: [v[i] for i in dev_idx] for k, v in train.items()}
        train = {k: [v[i] for i in train_idx] for k, v in train.items()}
    if config.max_train_examples:
        train = {k: v[: config.max_train_examples] for k, v in train.items()}
    return train, dev


def _array_dataset(arrays, config, per_token_labels=False):
    """Packed arrays `(inputs dict, labels[, weights])` -> the seeded, repeated batch stream,
    grouped by length with --padding=longest."""
    return packed_batches(arrays, config.batch_size, seed=config.seed,
                          padding=config.resolved_padding(),
                          pad_to_multiple_of=config.pad_to_multiple_of,
                          per_token_labels=per_token_labels)


def _finetune_tagger(config, strategy, policy):
    """CoNLL files -> TokenTagger; dev metrics: entity F1 (BIO) and word accuracy."""
    from keras_bert_zoo.data.formats import read_conll
    from keras_bert_zoo.tasks.tagger import TokenTagger, align_labels, entity_f1, \
        predict_word_tags

    if not config.train_file:
        raise ValueError("--task=tag needs --train_file (CoNLL: a token and its tag per line)")
    train, dev = _split_examples(read_conll(config.train_file),
                                 read_conll(config.dev_file) if config.dev_file else None,
                                 config.seed)
    if config.max_train_examples:
        train = train[: config.max_train_examples]
    tags = sorted({t for _, sentence_tags in train for t in sentence_tags})
    tag_names = (["O"] if "O" in tags else []) + [t for t in tags if t != "O"]
    with strategy.scope():
        backbone, preprocessor = _load_pretrained(config, policy)
        model = TokenTagger(backbone, num_tags=len(tag_names), tag_names=tag_names,
                            dropout=config.dropout)
        inputs, labels, weights = align_labels([w for w, _ in train], [t for _, t in train],
                                               preprocessor.tokenizer, config.seq_len,
                                               tag_names=tag_names)
        steps_per_epoch = max(1, len(train) // config.batch_size)
        total = steps_per_epoch * config.epochs
        model.compile(optimizer=create_optimizer(
            learning_rate=config.learning_rate, total_steps=total,
            warmup_steps=int(total * config.warmup_fraction), weight_decay=config.weight_decay))
    inputs = {k: v for k, v in inputs.items() if k in model.input}
    gold = [t for _, t in dev]

    def evaluate(model):
        predicted = predict_word_tags(model, preprocessor.tokenizer, [w for w, _ in dev],
                                      config.seq_len, default="O")
        scores = entity_f1(gold, predicted)
        words = sum(len(t) for t in gold)
        correct = sum(p == g for ps, gs in zip(predicted, gold) for p, g in zip(ps, gs))
        return {"entity_f1": scores["f1"], "entity_precision": scores["precision"],
                "entity_recall": scores["recall"], "word_accuracy": correct / max(words, 1)}

    metrics = _fit(model, config, strategy, total, steps_per_epoch,
                   lambda skip: _array_dataset((inputs, labels, weights), config,
                                               per_token_labels=True).skip(skip), evaluate)
    metrics.update({"tag_names": tag_names, "train_examples": len(train),
                    "dev_examples": len(dev)})
    return model, preprocessor, metrics


def _finetune_qa(config, strategy, policy):
    """SQuAD JSON -> SpanQuestionAnswerer; dev metrics: official EM and F1."""
    from keras_bert_zoo.data.formats import read_squad
    from keras_bert_zoo.tasks.span_qa import SpanQuestionAnswerer, decode_answers, \
        squad_evaluate, squad_features

    if not config.train_file:
        raise ValueError("--task=qa needs --train_file (SQuAD v1.1 or v2.0 JSON)")
    train, dev = _split_examples(read_squad(config.train_file),
                                 read_squad(config.dev_file) if config.dev_file else None,
                                 config.seed)
    if config.max_train_examples:
        train = train[: config.max_train_examples]
    with strategy.scope():
        backbone, preprocessor = _load_pretrained(config, policy)
        model = SpanQuestionAnswerer(backbone, dropout=config.dropout)
        features = squad_features(train, preprocessor, doc_stride=config.seq_len // 2,
                                  training=True)
        windows = len(features.example_index)
        steps_per_epoch = max(1, windows // config.batch_size)
        total = steps_per_epoch * config.epochs
        model.compile(optimizer=create_optimizer(
            learning_rate=config.learning_rate, total_steps=total,
            warmup_steps=int(total * config.warmup_fraction), weight_decay=config.weight_decay))
    dev_features = squad_features(dev, preprocessor, doc_stride=config.seq_len // 2)

    def evaluate(model):
        out = model.predict(dev_features.inputs, verbose=0, batch_size=config.batch_size)
        answers = decode_answers(dev_features, out["start_logits"], out["end_logits"], dev)
        return squad_evaluate(dev, {e.id: a.text for e, a in zip(dev, answers)})

    metrics = _fit(model, config, strategy, total, steps_per_epoch,
                   lambda skip: _array_dataset((features.inputs, features.labels),
                                               config).skip(skip),
                   evaluate)
    metrics.update({"train_examples": len(train), "dev_examples": len(dev),
                    "train_windows": windows})
    return model, preprocessor, metrics


def _finetune_seq2seq(config, strategy, policy):
    """JSONL/CSV/TSV source/target pairs -> Seq2SeqGenerator; dev metrics: ROUGE, token acc."""
    from keras_bert_zoo.models import BartBackbone
    from keras_bert_zoo.tasks.seq2seq import Seq2SeqGenerator, rouge, seq2seq_dataset

    if not config.train_file:
        raise ValueError("--task=seq2seq needs --train_file with source/target columns")
    columns = [config.text_column, config.label_column]
    train, dev = _read_tables(config, columns)
    sources, targets = train[columns[0]], train[columns[1]]
    with strategy.scope():
        backbone, preprocessor = _load_pretrained(config, policy)
        if not isinstance(backbone, BartBackbone):
            raise ValueError(f"--task=seq2seq needs a BART backbone, got "
                             f"{type(backbone).__name__}")
        model = Seq2SeqGenerator(backbone, preprocessor=preprocessor)
        steps_per_epoch = max(1, len(sources) // config.batch_size)
        total = steps_per_epoch * config.epochs
        model.compile(optimizer=create_optimizer(
            learning_rate=config.learning_rate, total_steps=total,
            warmup_steps=int(total * config.warmup_fraction), weight_decay=config.weight_decay,
            beta_2=0.98))

    def make_dataset(skip):
        ds = seq2seq_dataset(preprocessor.tokenizer, sources, targets,
                             source_length=config.seq_len, target_length=config.target_len,
                             batch_size=config.batch_size, shuffle=True, seed=config.seed,
                             drop_remainder=True, pad_to_multiple_of=(
                                 config.pad_to_multiple_of
                                 if config.resolved_padding() == "longest" else None))
        return ds.repeat().skip(skip)

    def evaluate(model):  # generates the dev targets: slower than the other tasks
        generated = model.generate(dev[columns[0]], max_length=config.target_len - 2)
        metrics = rouge(list(generated), dev[columns[1]])
        metrics["examples"] = [{"source": s_[:200], "target": t, "generated": g}
                               for s_, t, g in list(zip(dev[columns[0]], dev[columns[1]],
                                                        generated))[:5]]
        return metrics

    metrics = _fit(model, config, strategy, total, steps_per_epoch, make_dataset, evaluate)
    metrics.update({"train_examples": len(sources), "dev_examples": len(dev[columns[0]])})
    return model, preprocessor, metrics


# The dev metrics of each task, evaluated after every epoch (and every --eval_every steps),
# logged as `dev_<name>` and the names --keep_best accepts. Classification is keyed by its
# problem type.
DEV_METRICS = {
    "single_label": ("accuracy", "macro_f1"),
    "multi_label": ("micro_f1", "exact_match"),
    "regression": ("pearson", "spearman", "mse"),
    "tag": ("entity_f1", "entity_precision", "entity_recall", "word_accuracy"),
    "qa": ("exact_match", "f1"),
    "seq2seq": ("rouge1", "rouge2", "rougeL"),
}


def dev_metric_names(config):
    """The dev metrics `config.task` (and its `problem_type`) reports, in logging order."""
    return DEV_METRICS[config.task if config.task in DEV_METRICS else config.problem_type]


def lower_is_better(name):
    """Whether a smaller value of dev metric `name` is better (losses and errors)."""
    return "loss" in name or name in ("mse",)


def check_keep_best(config, names=None):
    """Raises ValueError unless `config.keep_best` is empty or one of the task's dev metrics."""
    names = dev_metric_names(config) if names is None else names
    if config.keep_best and config.keep_best not in names:
        kind = (f"--task={config.task}" if config.task in DEV_METRICS else
                f"--task={config.task} --problem_type={config.problem_type}")
        raise ValueError(f"--keep_best={config.keep_best!r} is not a dev metric of {kind}; "
                         f"choose one of {', '.join(names)}")


def _improves(value, best, lower):
    """Whether dev `value` beats the best so far (a dict with `value`, or None); NaN never does,
    and a tie keeps the earlier model."""
    if best is None:
        return True
    if math.isnan(value):
        return False
    if math.isnan(best["value"]):
        return True
    return value < best["value"] if lower else value > best["value"]


class _DevEvaluator(keras.callbacks.Callback):
    """Evaluates the dev set at every epoch end and every `eval_every` steps.

    Each evaluation appends `{"step": s, "dev_<name>": value, ...}` to metrics.jsonl, writes the
    same scalars to TensorBoard (logs/dev, beside the training curves of the same names) and
    prints one line. With `keep_best`, an improvement is saved to best.keras and best.json,
    which a resumed run reads back; evaluations already in metrics.jsonl are not redone.

    Evaluation predicts in inference mode between training steps and draws no randomness, so
    training follows the same trajectory with or without it, resumed or not. Mid-run
    evaluations run after the step's own logging (at the next batch or Keras epoch boundary);
    the last step's runs in `finish`, after `fit_resumable` has returned.
    """

    def __init__(self, model, evaluate, *, output_dir, names, steps_per_epoch, eval_every,
                 max_steps, keep_best, chief, verbose):
        super().__init__()
        self.set_model(model)
        self.evaluate, self.names, self.keep_best = evaluate, names, keep_best
        self.steps_per_epoch, self.eval_every = steps_per_epoch, eval_every
        self.max_steps = max_steps
        self.output_dir, self.chief = output_dir, chief
        self.quiet = verbose in (0, "0")
        # With a progress line drawn in place (as fit_resumable's verbose=1), end it first.
        self.in_place = verbose in (1, "1") or (verbose == "auto" and sys.stdout.isatty())
        self.best_path = os.path.join(output_dir, "best.keras")
        self.best_json = os.path.join(output_dir, "best.json")
        # Read on every worker: a multi-worker run shares its output directory (it resumes
        # from the same checkpoints), and every worker must take the same evaluations.
        self.done = self._evaluated_steps()
        self.best = self._read_best() if keep_best else None
        self.best_weights = None  # a non-chief worker's copy of the best weights
        self.results = {}  # step -> dev metrics, of the last and the best evaluation
        self.writer = None
        self.step = self.begin = 0
        self.pending = None

    def _evaluated_steps(self):
        path = os.path.join(self.output_dir, "metrics.jsonl")
        steps = set()
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                for line in f:
                    try:
                        record = json.loads(line)
                    except json.JSONDecodeError:  # a line torn by a crash
                        continue
                    if isinstance(record, dict) and any(k.startswith("dev_") for k in record):
                        steps.add(record.get("step"))
        return steps

    def _read_best(self):
        if not os.path.exists(self.best_json):
            return None
        with open(self.best_json, encoding="utf-8") as f:
            best = json.load(f)
        return best if best.get("metric") == self.keep_best else None

    def due(self, step):
        return step > 0 and step not in self.done and (
            step % self.steps_per_epoch == 0 or (self.eval_every and step % self.eval_every == 0))

    def resume_at(self, step):
        """Sets the step training starts from (fit_resumable's, given to `make_dataset`)."""
        self.step = step

    def on_train_begin(self, logs=None):
        if self.due(self.step):  # a crash came between this step's checkpoint and evaluation
            self._run(self.step, after_progress=False)

    def on_train_batch_begin(self, batch, logs=None):
        self.begin = batch
        self._flush()

    def on_train_batch_end(self, batch, logs=None):
        self.step += batch - self.begin + 1  # as fit_resumable counts
        if self.due(self.step) and self.step < self.max_steps:  # the last step: `finish`
            self.pending = self.step

    def on_epoch_end(self, epoch, logs=None):
        self._flush()

    def _flush(self):
        if self.pending is not None:
            step, self.pending = self.pending, None
            self._run(step, after_progress=True)

    def _run(self, step, after_progress):
        result = self.evaluate(self.model)
        scalars = {name: float(result[name]) for name in self.names if name in result}
        improved = False
        if self.keep_best:
            if self.keep_best not in scalars:
                raise ValueError(f"--keep_best={self.keep_best!r} is not among the dev "
                                 f"metrics {', '.join(scalars)}; choose one of them")
            value = scalars[self.keep_best]
            improved = _improves(value, self.best, lower_is_better(self.keep_best))
            if improved:
                self.best = {"step": step, "metric": self.keep_best, "value": value}
                if self.chief:  # best.json last: it never names a model not yet saved
                    save_atomic(self.model, self.best_path)
                    write_json_atomic(self.best_json, self.best)
                else:
                    self.best_weights = self.model.get_weights()
        keep = {step} | ({self.best["step"]} if self.best else set())
        self.results = {s: r for s, r in self.results.items() if s in keep}
        self.results[step] = result
        self.done.add(step)
        if self.chief:
            self._log(step, scalars, improved, after_progress)

    def _log(self, step, scalars, improved, after_progress):
        with open(os.path.join(self.output_dir, "metrics.jsonl"), "a") as f:
            f.write(json.dumps({"step": step, **{f"dev_{k}": v for k, v in scalars.items()}})
                    + "\n")
        if self.writer is None:
            self.writer = tf.summary.create_file_writer(
                os.path.join(self.output_dir, "logs", "dev"))
        with self.writer.as_default(step=step):
            for name, value in scalars.items():
                tf.summary.scalar(name, value)
        self.writer.flush()
        if not self.quiet:
            line = f"dev @ step {step}: " + ", ".join(f"{k} {v:.4g}" for k, v in scalars.items())
            line += " (best)" if improved else ""
            print(("\n" if after_progress and self.in_place else "") + line, flush=True)

    def finish(self, step):
        """Evaluates the model at `step` (the run's last) unless done, puts the kept model's
        weights in place, and returns its dev metrics with `step` (and the best's record)."""
        if step not in self.done or (self.keep_best and self.best is None):
            self._run(step, after_progress=False)  # (no best: best.json was removed)
        if not self.keep_best:
            kept, extra = step, {}
        else:
            kept = self.best["step"]
            extra = {"best_step": kept, "keep_best": self.keep_best,
                     "best_value": self.best["value"]}
            if self.best_weights is not None:
                self.model.set_weights(self.best_weights)
            elif kept != step:
                if not os.path.exists(self.best_path):
                    raise FileNotFoundError(
                        f"{self.best_json} names step {kept} but {self.best_path} is missing; "
                        "rerun with --overwrite to train afresh")
                with warnings.catch_warnings():  # the .keras files hold no optimizer state
                    warnings.filterwarnings("ignore", "Skipping variable loading for optimizer")
                    self.model.load_weights(self.best_path)
        result = self.results.get(kept)
        if result is None:  # evaluated before a restart
            result = self.evaluate(self.model)
        return {**result, "step": kept, **extra}


def _fit(model, config, strategy, total, steps_per_epoch, make_dataset, evaluate):
    """Trains `model` to step `total` with dev evaluations; returns the dev metrics of the kept
    model (the best by `config.keep_best`, else the last) with its `step`."""
    names = dev_metric_names(config)
    evaluator = _DevEvaluator(model, evaluate, output_dir=config.output_dir, names=names,
                              steps_per_epoch=steps_per_epoch, eval_every=config.eval_every,
                              max_steps=total, keep_best=config.keep_best,
                              chief=is_chief(strategy), verbose=config.verbose)

    def dataset(skip):  # fit_resumable asks for the stream from the step it resumes at
        evaluator.resume_at(skip)
        return make_dataset(skip)

    # Batches padded to their longest text have no fixed token count.
    fixed = config.resolved_padding() == "fixed"
    step = fit_resumable(model, dataset, output_dir=config.output_dir, max_steps=total,
                         checkpoint_every=min(config.checkpoint_every, steps_per_epoch),
                         log_every=max(1, min(50, steps_per_epoch)),
                         tokens_per_step=config.batch_size * config.seq_len if fixed else 0,
                         examples_per_step=config.batch_size, strategy=strategy,
                         verbose=config.verbose, callbacks=[evaluator])
    return evaluator.finish(step)


def _save(config, strategy, model, preprocessor, metrics):
    if is_chief(strategy):
        save_atomic(model, os.path.join(config.output_dir, "model.keras"))
        preprocessor.save(os.path.join(config.output_dir, "tokenizer"))  # + preprocessor config
        write_json_atomic(os.path.join(config.output_dir, "metrics.json"), metrics)


# What a fine-tuning run writes in its output directory besides finetune_config.json.
OWNED_ENTRIES = ("checkpoints", "logs", "metrics.jsonl", "model.keras", "model.keras.tmp.keras",
                 "tokenizer", "metrics.json", "metrics.json.tmp", "best.keras",
                 "best.keras.tmp.keras", "best.json", "best.json.tmp")


def prepare_output_dir(config, strategy):
    """Checks `config.output_dir` before anything is written (`run_dir.prepare_run_dir`):
    resumes only the same run, or starts afresh with `config.overwrite`."""
    prepare_run_dir(config, FINETUNE, lambda saved: OWNED_ENTRIES,
                    reads=[config.pretrained, config.train_file, config.dev_file],
                    chief=is_chief(strategy))


def finetune(config):
    """Fine-tunes the task of `config.task`; returns a summary dict.

    The dev set is evaluated after every epoch and every `config.eval_every` steps (dev_ lines
    in OUTPUT_DIR/metrics.jsonl, TensorBoard OUTPUT_DIR/logs/dev). Writes
    OUTPUT_DIR/model.keras (the best model by `config.keep_best`, kept meanwhile in
    OUTPUT_DIR/best.keras and best.json, else the last), OUTPUT_DIR/tokenizer/ (tokenizer files
    and the preprocessor's config), OUTPUT_DIR/metrics.json (the dev metrics of that model and
    the `step` it is from), the training checkpoints/logs and OUTPUT_DIR/finetune_config.json,
    against which a rerun is checked.
    """
    from keras_bert_zoo.tasks import TextClassifier

    config.validate()
    check_keep_best(config)
    strategy = get_strategy(config.strategy)
    prepare_output_dir(config, strategy)
    keras.utils.set_random_seed(config.seed)
    policy = dtype_policy(config.mixed_precision)
    if config.task in ("tag", "qa", "seq2seq"):
        run = {"tag": _finetune_tagger, "qa": _finetune_qa,
               "seq2seq": _finetune_seq2seq}[config.task]
        model, preprocessor, metrics = run(config, strategy, policy)
        metrics["task"] = config.task
        _save(config, strategy, model, preprocessor, metrics)
        return {"metrics": metrics, "model": model, "preprocessor": preprocessor}
    tx, tp, ty, dx, dp, dy = _classification_data(config)
    if config.problem_type == "multi_label":
        train_labels, class_names = encode_multi_labels(ty)
        dev_labels, _ = encode_multi_labels(dy, class_names)
    elif config.problem_type == "regression":
        train_labels = np.array([float(v) for v in ty], "float32")
        dev_labels = np.array([float(v) for v in dy], "float32")
        class_names = None
    else:
        train_labels, class_names = encode_labels(ty)
        dev_labels, _ = encode_labels(dy, class_names)
    with strategy.scope():
        backbone, preprocessor = _load_pretrained(config, policy)
        model = TextClassifier(
            backbone,
            num_classes=1 if config.problem_type == "regression" else len(class_names),
            class_names=class_names, problem_type=config.problem_type, dropout=config.dropout,
        )
        steps_per_epoch = max(1, len(tx) // config.batch_size)
        total = steps_per_epoch * config.epochs
        model.compile(
            optimizer=create_optimizer(learning_rate=config.learning_rate, total_steps=total,
                                       warmup_steps=int(total * config.warmup_fraction),
                                       weight_decay=config.weight_decay),
            loss=model.default_loss(),
            metrics=model.default_metrics(),
        )

    def make_dataset(skip):
        ds = classification_dataset(preprocessor, tx, train_labels, texts_pair=tp,
                                    batch_size=config.batch_size, shuffle=True,
                                    seed=config.seed, repeat=True)
        return ds.skip(skip)

    dev_ds = classification_dataset(preprocessor, dx, texts_pair=dp,
                                     batch_size=config.batch_size)

    def evaluate(model):
        logits = model.predict(dev_ds, verbose=0)
        return classification_metrics(config.problem_type, logits, dev_labels, class_names)

    metrics = _fit(model, config, strategy, total, steps_per_epoch, make_dataset, evaluate)
    metrics.update({"task": config.task, "train_examples": len(tx), "dev_examples": len(dx),
                    "steps": total, "class_names": class_names})
    _save(config, strategy, model, preprocessor, metrics)
    return {"metrics": metrics, "model": model, "preprocessor": preprocessor}
