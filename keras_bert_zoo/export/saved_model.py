"""SavedModels that take raw strings: the tokenizer runs inside the graph.

Loading an export needs only `tensorflow` and `tensorflow_text` (for the tokenizer ops):

    import tensorflow as tf, tensorflow_text  # noqa: F401  (registers the ops)
    model = tf.saved_model.load(path)
    model.signatures["serving_default"](text=tf.constant(["great movie"]))
"""

import os
import re
import shutil
import tempfile

import keras
import tensorflow as tf

from keras_bert_zoo.export.qa_export import build_qa_module
from keras_bert_zoo.export.tagger_export import build_tagger_module
from keras_bert_zoo.export.trimming import (DEFAULT_LENGTH_GROUP_SIZE, call_on_longest,
                                            check_length_group_size)
from keras_bert_zoo.export.warmup import (signature_input_names, warmup_inputs,
                                          write_warmup_file)
from keras_bert_zoo.tasks.classifier import TextClassifier
from keras_bert_zoo.tasks.span_qa import SpanQuestionAnswerer
from keras_bert_zoo.tasks.tagger import TokenTagger

SERVING_KEY = "serving_default"
TOKENIZED_KEY = "serve_tokenized"


def float32_copy(model):
    """A float32 copy of a task trained under a mixed-precision policy (same weights)."""
    if model.dtype_policy.name == "float32":
        return model
    config = model.get_config()
    backbone_config = dict(config["backbone"])
    backbone_config["config"] = dict(backbone_config["config"], dtype="float32")
    config["backbone"] = backbone_config
    clone = type(model).from_config(config)
    clone.set_weights(model.get_weights())
    return clone


class _ClassifierModule(tf.Module):
    def __init__(self, model, preprocessor, length_group_size):
        super().__init__()
        self.model = model
        self.preprocessor = preprocessor
        self.length_group_size = length_group_size
        names = model.class_names or [str(i) for i in range(model.num_classes)]
        self.class_names = tf.constant(names)
        self.problem_type = model.problem_type
        self.input_names = sorted(i.name for i in model.inputs)

    def _logits(self, inputs):
        inputs = {k: v for k, v in inputs.items() if k in self.input_names}
        return call_on_longest(self.model, inputs, self.preprocessor, per_token=False,
                               length_group_size=self.length_group_size)

    def _outputs(self, logits):
        logits = tf.cast(logits, tf.float32)
        if self.problem_type == "regression":
            return {"score": logits[:, 0]}
        if self.problem_type == "multi_label":
            probabilities = tf.sigmoid(logits)
        else:
            probabilities = tf.nn.softmax(logits, axis=-1)
        label_id = tf.argmax(probabilities, axis=-1, output_type=tf.int32)
        outputs = {
            "probabilities": probabilities,
            "label_id": label_id,
            "label": tf.gather(self.class_names, label_id),
        }
        if self.problem_type == "multi_label":
            outputs["predicted"] = probabilities > 0.5
        return outputs

    def tokenized(self, **inputs):
        inputs = {k: v for k, v in inputs.items() if k in self.input_names}
        return self._outputs(self.model(inputs, training=False))

    def single(self, text):
        return self._outputs(self._logits(self.preprocessor(text)))

    def pairs(self, text, text_pair):
        return self._outputs(self._logits(self.preprocessor((text, text_pair))))


def _umask():
    """The process umask, read without changing it where the OS allows (threads share it)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o077)  # briefly the strictest mask, never a looser one
    os.umask(mask)
    return mask


def _apply_umask(directory):
    """Gives a tree the permissions the umask gives new files: not mkdtemp's owner-only 0700.

    A model server often runs as another user, so it must be able to read the export.
    """
    mask = _umask()
    for root, dirs, files in os.walk(directory):
        os.chmod(root, 0o777 & ~mask)
        for name in files:
            path = os.path.join(root, name)
            if not os.path.islink(path):
                os.chmod(path, 0o666 & ~mask)


def _atomic_save(module, path, signatures, warmup_texts=None, *, overwrite=True):
    """Saves to a temporary sibling directory, then swaps it in: never a half-written export.

    `warmup_texts` (see `warmup.warmup_inputs`) adds TF Serving warm-up requests for
    `serving_default`, written before the swap. With `overwrite=False` an existing `path` is
    an error, checked before writing and again just before the swap.
    """
    path = os.path.abspath(path)
    if not overwrite and os.path.exists(path):
        raise FileExistsError(f"{path!r} already exists: export to another path")
    requests = None
    if warmup_texts is not None:  # checked before anything is written
        requests = warmup_inputs(warmup_texts, signature_input_names(signatures[SERVING_KEY]))
    parent = os.path.dirname(path)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".export-", dir=parent)
    try:
        tf.saved_model.save(module, tmp, signatures=signatures)
        if requests is not None:
            write_warmup_file(tmp, requests, signature_name=SERVING_KEY)
        _apply_umask(tmp)
        if os.path.exists(path):
            if not overwrite:
                raise FileExistsError(f"{path!r} appeared during the export: export to "
                                      "another path")
            old = tempfile.mkdtemp(prefix=".old-export-", dir=parent)
            os.rmdir(old)
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def _versions(base):
    """`{version: directory name}` of the numbered subdirectories of a model base path."""
    if not os.path.isdir(base):
        return {}
    return {int(name): name for name in os.listdir(base)
            if re.fullmatch(r"[0-9]+", name) and os.path.isdir(os.path.join(base, name))}


def new_version_dir(base, version=None):
    """The directory for a new version under a TF Serving model base path: `base/<version>`.

    TensorFlow Serving loads the numbered subdirectories of `--model_base_path` and serves
    the largest. Nothing is created here; `base` need not exist yet.

    Args:
        base: the model base path.
        version: a positive int; default: one more than the largest existing version, or 1.

    Raises `FileExistsError` if that version exists, or if `base` itself holds a SavedModel
    (an unversioned export, which the server would not see beside numbered ones).

    >>> base = tempfile.mkdtemp()
    >>> os.path.basename(new_version_dir(base))
    '1'
    >>> os.mkdir(os.path.join(base, "7"))
    >>> os.path.basename(new_version_dir(base))
    '8'
    """
    base = os.path.abspath(base)
    if os.path.exists(base) and not os.path.isdir(base):
        raise NotADirectoryError(f"{base!r} is a file, not a model base directory")
    if os.path.exists(os.path.join(base, "saved_model.pb")):
        raise FileExistsError(f"{base!r} holds an unversioned SavedModel: move its contents "
                              f"into {os.path.join(base, '1')!r} or export to another directory")
    versions = _versions(base)
    following = max(versions, default=0) + 1
    if version is None:
        return os.path.join(base, str(following))
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ValueError(f"version={version!r} must be a positive integer")
    if version in versions:
        raise FileExistsError(f"version {version} already exists at "
                              f"{os.path.join(base, versions[version])!r}: pass another "
                              f"version, or none for the next one ({following})")
    return os.path.join(base, str(version))


def export_saved_model(task_model, preprocessor=None, path=None, *, pair=None,
                       warmup_texts=None, overwrite=True,
                       length_group_size=DEFAULT_LENGTH_GROUP_SIZE, **options):
    """Writes a SavedModel whose `serving_default` signature takes raw `tf.string` texts.

    `export_saved_model(task, path)` uses the task's own preprocessor;
    `export_saved_model(task, preprocessor, path)` the one given.

    Args:
        task_model: a trained `TextClassifier`, `TokenTagger`, `SpanQuestionAnswerer`,
            `Seq2SeqGenerator` or `TextEmbedder`.
        preprocessor: the `keras_bert_zoo.tokenizers.Preprocessor` used in training; default:
            `task_model.preprocessor`.
        path: destination directory, written atomically (to a temporary sibling, then
            renamed) with the permissions the umask gives new files; an existing one is
            replaced unless `overwrite=False`. For TF Serving's numbered versions, pass
            `new_version_dir(base)` or use `export_model_dir`.
        pair: classify text pairs (`text`, `text_pair`); default: single texts.
        warmup_texts: also write `assets.extra/tf_serving_warmup_requests`, the warm-up
            requests TensorFlow Serving runs when it loads the model: a list of examples
            (strings, tuples in input order such as `(question, context)`, or dicts by input
            name; at most 1000), or an int N for N built-in sample examples; one request of
            batch size 1 per example (see `keras_bert_zoo.export.warmup`).
        overwrite: replace an existing `path` (default) or raise `FileExistsError`.
        length_group_size: with the preprocessor's `padding="longest"`, `serving_default`
            sorts a request by text length and runs the model on groups of this many
            examples, each cut to its longest member (`keras_bert_zoo.export.trimming`); 0
            runs the request as one batch cut to its longest member. Outputs are the same
            either way. Seq2seq exports generate for the whole request at once.
        **options: task options, listed below.

    Signatures (classifier):
        `serving_default(text[, text_pair])` -> `probabilities` (float32 `[batch, classes]`:
        softmax, or sigmoids for multi-label), `label_id` (int32 argmax), `label` (its class
        name), plus `predicted` (bool `[batch, classes]`, p > 0.5) for multi-label; regression
        returns `score` (float32 `[batch]`) only.
        `serve_tokenized(token_ids, [segment_ids,] padding_mask)` -> the same outputs, for
        clients that tokenize themselves (`segment_ids` only for BERT and ALBERT).
    Signatures of the other tasks:
        tagger: `serving_default(text)` -> `words`, `tags`, `tag_ids`, `num_words` (padded
        with "" / -1), `serve_words(words, num_words)`, `serve_tokenized(...)` -> `logits`,
        `tag_ids`; QA: `serving_default(question, context)` -> `answer`, `start_char`,
        `end_char` (-1 for no answer), `score`, searching every `doc_stride` window of long
        contexts, and `serve_tokenized(...)` (options: `doc_stride`, `max_answer_length`,
        `max_question_length`, `n_best_size`, `null_score_threshold`).
        seq2seq: `serving_default(text)` -> `generated_text`, `serve_tokenized(token_ids,
        padding_mask)` -> `generated_ids`, `generated_text` (options: `sampler` "greedy" or
        "beam", `max_length`, `num_beams`, `length_penalty`, `source_length`); embedder:
        `serving_default(text)` -> `embedding`, `serve_tokenized(...)` -> `embedding`.
    The model is exported in float32 even if it was trained under a mixed-precision policy.
    """
    # Imported here: these modules import helpers from this one.
    from keras_bert_zoo.export.embedder_export import build_embedder_module
    from keras_bert_zoo.export.seq2seq_export import build_seq2seq_module
    from keras_bert_zoo.tasks.embedder import TextEmbedder
    from keras_bert_zoo.tasks.seq2seq import Seq2SeqGenerator

    if path is None and isinstance(preprocessor, (str, os.PathLike)):
        preprocessor, path = None, preprocessor
    if path is None:
        raise TypeError("export_saved_model needs a destination: "
                        "export_saved_model(task, path)")
    if preprocessor is None:
        preprocessor = getattr(task_model, "preprocessor", None)
        if preprocessor is None:
            raise ValueError(f"this {type(task_model).__name__} has no preprocessor; pass one: "
                             "export_saved_model(task, preprocessor, path)")
    builders = ((Seq2SeqGenerator, build_seq2seq_module), (TextEmbedder, build_embedder_module),
                (TokenTagger, build_tagger_module), (SpanQuestionAnswerer, build_qa_module))
    check_length_group_size(length_group_size)
    for task_type, build in builders:
        if isinstance(task_model, task_type):
            if task_type is not Seq2SeqGenerator:
                options["length_group_size"] = length_group_size
            module, signatures = build(task_model, preprocessor, **options)
            return _atomic_save(module, path, signatures, warmup_texts, overwrite=overwrite)
    if not isinstance(task_model, TextClassifier):
        raise TypeError(f"export of {type(task_model).__name__} is not supported yet")
    if options:
        raise TypeError(f"unknown classifier export options: {', '.join(sorted(options))}")
    module, signatures = build_classifier_module(task_model, preprocessor, pair=pair,
                                                 length_group_size=length_group_size)
    return _atomic_save(module, path, signatures, warmup_texts, overwrite=overwrite)


def build_classifier_module(model, preprocessor, *, pair=False,
                            length_group_size=DEFAULT_LENGTH_GROUP_SIZE):
    """A `tf.Module` and its signatures for a `TextClassifier` (see `export_saved_model`):
    `serving_default(text[, text_pair])` and `serve_tokenized(...)`."""
    module = _ClassifierModule(float32_copy(model), preprocessor,
                               check_length_group_size(length_group_size))
    if pair:
        serving = tf.function(module.pairs).get_concrete_function(
            tf.TensorSpec([None], tf.string, name="text"),
            tf.TensorSpec([None], tf.string, name="text_pair"))
    else:
        serving = tf.function(module.single).get_concrete_function(
            tf.TensorSpec([None], tf.string, name="text"))
    specs = {name: tf.TensorSpec([None, None], tf.int32, name=name)
             for name in module.input_names}
    tokenized = tf.function(module.tokenized).get_concrete_function(**specs)
    return module, {SERVING_KEY: serving, TOKENIZED_KEY: tokenized}


def load_keras_task(path):
    """Loads a `.keras` task or backbone in safe mode (no arbitrary code)."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"no model at {path!r}")
    return keras.saving.load_model(path, safe_mode=True)


def export_model_dir(model_dir, export_dir, *, version=None, **options):
    """Exports a fine-tuning output directory (`model.keras` + `tokenizer/`) as a new version.

    Writes `export_dir/<version>/`, the layout TensorFlow Serving reads from
    `--model_base_path=export_dir`; an existing version is never replaced.

    Args:
        model_dir: written by `recipes/finetune.py` (or `keras_bert_zoo.training.finetune`).
        export_dir: the model base path; created if needed.
        version: a positive int; default: one more than the largest existing version, or 1.
            An existing version raises `FileExistsError` before anything is loaded or written.
        **options: passed to `export_saved_model` (e.g. `pair=True`, `warmup_texts=8`).
            A question-answering model reads long contexts with the windows its fine-tuning
            evaluated on (`doc_stride` = half the sequence length) unless `doc_stride` is given.

    Returns:
        The version directory written, e.g. `export_dir/1`.
    """
    from keras_bert_zoo.tokenizers import load_preprocessor

    path = new_version_dir(export_dir, version)  # refused before the model loads
    model = load_keras_task(os.path.join(model_dir, "model.keras"))
    preprocessor = load_preprocessor(os.path.join(model_dir, "tokenizer"))
    metrics_path = os.path.join(model_dir, "metrics.json")
    if os.path.exists(metrics_path):
        import json

        with open(metrics_path) as f:
            task = json.load(f).get("task")
        options.setdefault("pair", task == "pair")
        if task == "qa":  # keras_bert_zoo.training.finetune evaluates with these windows
            options.setdefault("doc_stride", preprocessor.sequence_length // 2)
    return export_saved_model(model, preprocessor, path, overwrite=False, **options)
