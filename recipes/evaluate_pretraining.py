"""Held-out accuracy of every kept checkpoint of a pretraining run.

    python recipes/evaluate_pretraining.py --run_dir=runs/x --heldout='heldout/*.txt'

Prints a Markdown table (step, held-out MLM accuracy, the unigram baseline, loss) and writes
RUN_DIR/heldout_metrics.json. Train with --keep_checkpoints large enough to keep the steps you
want to compare.
"""

import json
import os
import sys

from absl import flags

from keras_bert_zoo import cli

FLAGS = flags.FLAGS
flags.DEFINE_string("run_dir", "", "A pretraining output directory.")
flags.DEFINE_string("heldout", "", "Glob of held-out text files (not used in training).")
flags.DEFINE_integer("batches", 16, "Held-out batches per checkpoint.")


def main(argv):
    del argv
    from keras_bert_zoo.training.evaluation import evaluate_checkpoints, markdown_table

    if not FLAGS.run_dir or not FLAGS.heldout:
        sys.exit("error: --run_dir and --heldout are required")
    cli.start_tensorflow()
    try:
        rows = evaluate_checkpoints(FLAGS.run_dir, FLAGS.heldout, batches=FLAGS.batches)
    except (FileNotFoundError, ValueError) as error:
        sys.exit(f"error: {error}")
    columns = ["step", "mlm_accuracy", "sentence_accuracy", "token_accuracy",
               "unigram_baseline", "loss"]
    print(markdown_table(rows, [c for c in columns if c in rows[0]]))
    with open(os.path.join(FLAGS.run_dir, "heldout_metrics.json"), "w") as f:
        json.dump(rows, f, indent=1)


if __name__ == "__main__":
    cli.run(main)
