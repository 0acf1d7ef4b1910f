"""Pretrain a BERT-family model from raw text.

    python recipes/pretrain.py --model=bert_tiny --corpus='docs/*.txt' --output_dir=runs/x

Writes OUTPUT_DIR/checkpoints/, logs/ (TensorBoard), metrics.jsonl, tokenizer/ and, at the end,
backbone.keras, and config.json. Rerunning the same command resumes from the last checkpoint;
a rerun with another config stops, unless --overwrite starts afresh.
"""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("model", "bert_tiny", "Preset name (see keras_bert_zoo.models.list_presets()).")
flags.DEFINE_string("corpus", "", "Glob of text files (blank lines separate documents); "
                    "default: the embedded corpus (CPython's English documentation).")
flags.DEFINE_enum("decode_errors", "replace", ["replace", "strict"], "Invalid UTF-8 in the "
                  "corpus: replace it by U+FFFD with a warning, or stop naming file and line.")
flags.DEFINE_string("output_dir", "runs/pretrain", "Where everything is written.")
flags.DEFINE_string("tokenizer_dir", "", "A saved tokenizer; if empty, train one on the corpus.")
flags.DEFINE_integer("vocabulary_size", 8000, "Size of the vocabulary to train.")
flags.DEFINE_integer("seq_len", 128, "Sequence length.")
flags.DEFINE_integer("batch_size", 32, "Global batch size (split over replicas).")
flags.DEFINE_integer("max_steps", 1000, "Training steps (batches) of the whole run.")
flags.DEFINE_float("learning_rate", 5e-4, "Peak learning rate.")
flags.DEFINE_integer("warmup_steps", 100, "Linear warmup steps.")
flags.DEFINE_float("weight_decay", 0.01, "Decoupled weight decay (not on LayerNorm or bias).")
flags.DEFINE_enum("optimizer", "adamw", ["adamw", "lamb"], "Optimizer.")
flags.DEFINE_enum("mixed_precision", "none", ["none", "float16", "bfloat16"], "Precision.")
flags.DEFINE_enum("strategy", "default", ["default", "one_device", "mirrored", "multi_worker",
                                          "tpu"], "tf.distribute strategy.")
flags.DEFINE_enum("jit_compile", "auto", ["auto", "true", "false"],
                  "XLA; auto = on for float32 on GPUs, off on CPU (slower there).")
flags.DEFINE_integer("seed", 0, "Seed of data order, masking and initialization.")
flags.DEFINE_integer("checkpoint_every", 200, "Steps between checkpoints.")
flags.DEFINE_integer("keep_checkpoints", 3, "Newest checkpoints kept.")
flags.DEFINE_integer("log_every", 50, "Steps between metrics.jsonl lines.")
flags.DEFINE_integer("max_predictions_per_seq", 20, "Masked positions per sequence.")
flags.DEFINE_bool("whole_word_masking", False, "Mask whole words.")
flags.DEFINE_float("sentence_loss_weight", 1.0, "Weight of the NSP (BERT) / SOP (ALBERT) loss "
                   "next to MLM's; small models learn SOP only with more (e.g. 10).")
flags.DEFINE_float("dropout", 0.1, "Dropout rate.")
flags.DEFINE_string("model_overrides", "{}", "JSON object of backbone arguments replacing the "
                    "preset's, e.g. '{\"num_layers\": 2, \"hidden_dim\": 128}'.")
flags.DEFINE_bool("overwrite", False, "Delete the files of an earlier run in --output_dir "
                  "(and nothing else there) and start afresh, instead of resuming it.")


def main(argv):
    del argv
    import keras

    from keras_bert_zoo.training.pretrain import PretrainConfig, pretrain

    config = PretrainConfig(**{name: FLAGS[name].value for name in (
        "model", "corpus", "decode_errors", "output_dir", "tokenizer_dir", "vocabulary_size",
        "seq_len", "batch_size", "max_steps", "learning_rate", "warmup_steps", "weight_decay",
        "optimizer", "mixed_precision", "strategy", "jit_compile", "seed", "checkpoint_every",
        "keep_checkpoints", "log_every", "max_predictions_per_seq", "whole_word_masking",
        "sentence_loss_weight", "dropout", "overwrite")})
    try:
        config.model_overrides = json.loads(FLAGS.model_overrides)
        config.validate()
    except ValueError as error:  # json.JSONDecodeError is a ValueError
        sys.exit(f"error: {error}")
    keras.utils.set_random_seed(config.seed)
    try:
        result = pretrain(config)
    except (FileNotFoundError, ValueError) as error:
        sys.exit(f"error: {error}")
    print(f"trained to step {result['step']} ({result['objective']}); last metrics: "
          f"{result['last_metrics']}")
    print(f"backbone: {result['backbone']}\ntokenizer: {result['tokenizer_dir']}\n"
          f"metrics: {result['metrics']}")


if __name__ == "__main__":
    app.run(main)
