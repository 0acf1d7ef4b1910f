"""Run configurations: everything a pretraining or fine-tuning run depends on, each field with
its default and its help text once. The commands' flags are generated from these fields
(`keras_bert_zoo.cli`), and `validate()` checks a configuration before TensorFlow is imported:
this module is plain Python.
"""

import dataclasses
import os

from keras_bert_zoo.presets import preset_config

STRATEGIES = ("default", "one_device", "mirrored", "multi_worker", "tpu")
PRECISIONS = {
    "none": "float32",
    "float32": "float32",
    "float16": "mixed_float16",
    "mixed_float16": "mixed_float16",
    "bfloat16": "mixed_bfloat16",
    "mixed_bfloat16": "mixed_bfloat16",
}
FINETUNE_TASKS = ("classify", "pair", "tag", "qa", "seq2seq")
PADDINGS = ("auto", "longest", "fixed")


def field(default, help, *, choices=None, flag=True):  # noqa: A002 (absl's argument name)
    """A dataclass field with the help text (and choices) of its command-line flag;
    `flag=False` for settings only the Python API and tests set."""
    metadata = {"help": help, "choices": choices, "flag": flag}
    if isinstance(default, (dict, list)):
        return dataclasses.field(default_factory=lambda: type(default)(default),
                                 metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def _check_choice(name, value, choices):
    if value not in choices:
        raise ValueError(f"--{name}={value!r}; choose one of {', '.join(choices)}")


def _check_positive(config, names):
    for name in names:
        value = getattr(config, name)
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ValueError(f"--{name}={value!r} must be a positive integer")


@dataclasses.dataclass
class PretrainConfig:
    """Everything a pretraining run depends on (the `kbz pretrain` / `recipes/pretrain.py`
    flags)."""

    model: str = field("bert_tiny", "Preset name (keras_bert_zoo.models.list_presets()).")
    output_dir: str = field("runs/pretrain", "Where everything is written.")
    corpus: str = field("", "Glob of text files (blank lines separate documents); default: the "
                        "embedded corpus (CPython's English documentation).")
    decode_errors: str = field("replace", "Invalid UTF-8 in the corpus: replace it by U+FFFD "
                               "with a warning, or stop naming file and line.",
                               choices=("replace", "strict"))
    tokenizer_dir: str = field("", "A saved tokenizer; if empty, train one on the corpus.")
    vocabulary_size: int = field(8000, "Size of the vocabulary to train.")
    seq_len: int = field(128, "Sequence length.")
    batch_size: int = field(32, "Global batch size (split over replicas).")
    max_steps: int = field(1000, "Training steps (batches) of the whole run.")
    learning_rate: float = field(5e-4, "Peak learning rate.")
    warmup_steps: int = field(100, "Linear warmup steps.")
    weight_decay: float = field(0.01, "Decoupled weight decay (not on LayerNorm or bias).")
    optimizer: str = field("adamw", "Optimizer.", choices=("adamw", "lamb"))
    mixed_precision: str = field("none", "Precision.", choices=("none", "float16", "bfloat16"))
    strategy: str = field("default", "tf.distribute strategy.", choices=STRATEGIES)
    jit_compile: str = field("auto", "XLA; auto = on for float32 on GPUs, off on CPU (slower "
                             "there).", choices=("auto", "true", "false"))
    seed: int = field(0, "Seed of vocabulary sampling, data order, masking and initialization.")
    checkpoint_every: int = field(200, "Steps between checkpoints.")
    keep_checkpoints: int = field(3, "Newest checkpoints kept.")
    log_every: int = field(50, "Steps between metrics.jsonl lines (metrics are means over them).")
    max_predictions_per_seq: int = field(20, "Masked positions per sequence.")
    whole_word_masking: bool = field(False, "Mask whole words.")
    sentence_loss_weight: float = field(1.0, "Weight of the NSP (BERT) / SOP (ALBERT) loss next "
                                        "to MLM's; small models learn SOP only with more "
                                        "(e.g. 10).")
    dropout: float = field(0.1, "Dropout rate.")
    model_overrides: dict = field({}, "JSON object of backbone arguments replacing the "
                                  "preset's, e.g. '{\"num_layers\": 2, \"hidden_dim\": 128}'.")
    overwrite: bool = field(False, "Delete the files of an earlier run in --output_dir (and "
                            "nothing else there) and start afresh, instead of resuming it.")
    verbose: str = field("auto", "Progress output: auto, 0, 1 or 2.", flag=False)
    # Input pipelines the global batch is split into (0 = one per replica, or, resuming, as
    # many as the run recorded). The data stream is a function of (seed, batch_size,
    # data_shards) only, whatever the devices and workers.
    data_shards: int = field(0, "Input pipelines (0: one per replica).", flag=False)

    def validate(self):
        """Raises ValueError naming the first bad field."""
        preset_config(self.model)
        if not isinstance(self.model_overrides, dict):
            raise ValueError(f"--model_overrides={self.model_overrides!r} must be a JSON object")
        _check_positive(self, ("vocabulary_size", "seq_len", "batch_size", "max_steps",
                               "checkpoint_every", "keep_checkpoints", "log_every",
                               "max_predictions_per_seq"))
        if self.seq_len < 8:
            raise ValueError(f"--seq_len={self.seq_len} is too short; use at least 8")
        if not self.sentence_loss_weight >= 0:
            raise ValueError(f"--sentence_loss_weight={self.sentence_loss_weight} must be >= 0")
        if not self.learning_rate > 0:
            raise ValueError(f"--learning_rate={self.learning_rate} must be positive")
        if not 0 <= self.warmup_steps <= self.max_steps:
            raise ValueError(
                f"--warmup_steps={self.warmup_steps} must be in [0, --max_steps={self.max_steps}]"
            )
        _check_choice("mixed_precision", self.mixed_precision, PRECISIONS)
        _check_choice("strategy", self.strategy, STRATEGIES)
        _check_choice("jit_compile", self.jit_compile, ("auto", "true", "false"))
        _check_choice("decode_errors", self.decode_errors, ("replace", "strict"))
        _check_choice("optimizer", self.optimizer, ("adamw", "lamb"))
        if not isinstance(self.data_shards, int) or self.data_shards < 0:
            raise ValueError(f"data_shards={self.data_shards!r} must be 0 (one per replica) "
                             "or a positive integer")
        if self.data_shards and self.batch_size % self.data_shards:
            raise ValueError(f"--batch_size={self.batch_size} is not divisible by "
                             f"data_shards={self.data_shards}")
        if self.max_predictions_per_seq >= self.seq_len:
            raise ValueError(
                f"--max_predictions_per_seq={self.max_predictions_per_seq} must be smaller "
                f"than --seq_len={self.seq_len}"
            )


@dataclasses.dataclass
class FinetuneConfig:
    """Everything a fine-tuning run depends on (the `kbz finetune` / `recipes/finetune.py`
    flags)."""

    task: str = field("classify", "Task.", choices=FINETUNE_TASKS)
    pretrained: str = field("", "Pretrain output dir or Hugging Face model dir.")
    output_dir: str = field("runs/finetune", "Where everything is written.")
    train_file: str = field("", "CSV, TSV (GLUE layout) or JSONL with named columns; CoNLL for "
                            "--task=tag, SQuAD JSON for --task=qa.")
    dev_file: str = field("", "Same format; default: 10% of the training file.")
    dataset: str = field("", "Built-in real data instead of files: tweets or bbc.")
    text_column: str = field("text", "Column of the (first) text; seq2seq: the source.")
    text_pair_column: str = field("text_pair", "Column of the second text (--task=pair).")
    label_column: str = field("label", "Column of the label ('a|b' for multi-label); seq2seq: "
                              "the target.")
    problem_type: str = field("single_label", "Classification kind.",
                              choices=("single_label", "multi_label", "regression"))
    seq_len: int = field(128, "Maximum sequence length; longer texts are truncated.")
    padding: str = field("auto", "Pad each batch to its longest text, with batches grouped by "
                         "length (longest), or every batch to --seq_len (fixed); auto: fixed "
                         "on TPUs, longest elsewhere.", choices=PADDINGS)
    pad_to_multiple_of: int = field(8, "With --padding=longest, round each batch's length up "
                                    "to a multiple of this (bounds the number of shapes).")
    target_len: int = field(32, "seq2seq: target length in tokens (with <s>, </s>).")
    batch_size: int = field(32, "Global batch size.")
    epochs: int = field(3, "Epochs.")
    learning_rate: float = field(5e-5, "Peak learning rate.")
    warmup_fraction: float = field(0.1, "Fraction of steps used for warmup.")
    weight_decay: float = field(0.01, "Decoupled weight decay (not on LayerNorm or bias).")
    dropout: float = field(0.1, "Head dropout.")
    mixed_precision: str = field("none", "Precision.", choices=("none", "float16", "bfloat16"))
    strategy: str = field("default", "tf.distribute strategy.", choices=STRATEGIES)
    seed: int = field(0, "Seed.")
    checkpoint_every: int = field(500, "Steps between checkpoints.")
    max_train_examples: int = field(0, "Use only this many training examples (0: all).")
    eval_every: int = field(0, "Also evaluate the dev set every N steps (0: once per epoch).")
    keep_best: str = field("", "Keep the model of the best dev value of this metric (e.g. "
                           "accuracy, macro_f1, f1, rougeL; losses and mse are minimized) "
                           "instead of the last one; empty: keep the last.")
    overwrite: bool = field(False, "Delete the files of an earlier run in --output_dir (and "
                            "nothing else there) and start afresh, instead of resuming it.")
    verbose: str = field("auto", "Progress output: auto, 0, 1 or 2.", flag=False)

    def validate(self):
        """Raises ValueError (FileNotFoundError for paths) naming the first bad field."""
        _check_choice("task", self.task, FINETUNE_TASKS)
        if not self.pretrained:
            raise ValueError("--pretrained is required: a pretrain output directory or a "
                             "Hugging Face model directory")
        if not os.path.isdir(self.pretrained):
            raise FileNotFoundError(f"--pretrained={self.pretrained!r} is not a directory")
        if not (self.train_file or self.dataset):
            raise ValueError("give --train_file (with --dev_file) or --dataset=tweets|bbc")
        if self.dataset and self.task not in ("classify",):
            raise ValueError(f"--dataset={self.dataset} is a classification set; use "
                             "--task=classify")
        if self.dataset:
            _check_choice("dataset", self.dataset, ("tweets", "bbc"))
        _check_positive(self, ("seq_len", "batch_size", "epochs", "checkpoint_every",
                               "pad_to_multiple_of"))
        _check_choice("padding", self.padding, PADDINGS)
        if self.eval_every < 0:
            raise ValueError(f"--eval_every={self.eval_every} must be 0 (once per epoch) or "
                             "positive")
        if not self.learning_rate > 0:
            raise ValueError(f"--learning_rate={self.learning_rate} must be positive")
        if not 0 <= self.warmup_fraction < 1:
            raise ValueError(f"--warmup_fraction={self.warmup_fraction} must be in [0, 1)")
        _check_choice("problem_type", self.problem_type,
                      ("single_label", "multi_label", "regression"))
        _check_choice("mixed_precision", self.mixed_precision, PRECISIONS)
        _check_choice("strategy", self.strategy, STRATEGIES)

    def resolved_padding(self):
        """"fixed" or "longest": what --padding=auto means for --strategy (XLA on TPUs
        compiles one program per batch shape, so they keep one shape)."""
        if self.padding != "auto":
            return self.padding
        return "fixed" if self.strategy == "tpu" else "longest"


def flag_fields(config_class):
    """The fields of `config_class` that are command-line flags."""
    return [f for f in dataclasses.fields(config_class) if f.metadata.get("flag", True)]
