"""Export a fine-tuned model as a SavedModel that takes raw strings, as a new model version.

    python recipes/export.py --model_dir=runs/sst2 --export_dir=exports/sst2   # exports/sst2/1
    python recipes/export.py --model_dir=runs/sst2 --export_dir=exports/sst2   # exports/sst2/2
    python recipes/export.py --model_dir=runs/sst2 --export_dir=exports/sst2 --version=7 \
        --warmup_file=sample_requests.txt

--export_dir is the model base path TensorFlow Serving reads (--model_base_path): each export
is a numbered subdirectory, never replaced. Load one anywhere with only TensorFlow and
TensorFlow Text:
    import tensorflow as tf, tensorflow_text
    serve = tf.saved_model.load("exports/sst2/1").signatures["serving_default"]
    serve(text=tf.constant(["a great film"]))

--warmup_file (or --warmup_requests=N alone, for N built-in sample texts) adds
assets.extra/tf_serving_warmup_requests, which TensorFlow Serving runs when it loads the model.
"""

import os
import sys

from absl import flags

from keras_bert_zoo import cli

FLAGS = flags.FLAGS
flags.DEFINE_string("model_dir", "", "A fine-tuning output dir (model.keras + tokenizer/).")
flags.DEFINE_string("export_dir", "", "Model base path: the export goes to a new numbered "
                    "subdirectory, written atomically.")
flags.DEFINE_integer("version", None, "Version number (subdirectory) to write; default: one "
                     "more than the largest existing version, or 1. An existing one is refused.")
flags.DEFINE_string("warmup_file", "", "TF Serving warm-up examples, one request per line "
                    "(pair models: text<TAB>text_pair; QA: question<TAB>context).")
flags.DEFINE_integer("warmup_requests", 0, "Warm-up requests to write (at most 1000): the first "
                     "N lines of --warmup_file, or N built-in sample texts without it; 0: every "
                     "line of --warmup_file.")


def main(argv):
    del argv
    if not FLAGS.model_dir or not FLAGS.export_dir:
        sys.exit("error: --model_dir and --export_dir are required")
    if FLAGS.version is not None and FLAGS.version < 1:
        sys.exit(f"error: --version={FLAGS.version} must be a positive integer")
    if FLAGS.warmup_requests < 0:
        sys.exit(f"error: --warmup_requests={FLAGS.warmup_requests} must be positive")
    warmup = FLAGS.warmup_requests or None
    if FLAGS.warmup_file:
        if not os.path.isfile(FLAGS.warmup_file):
            sys.exit(f"error: no file at --warmup_file={FLAGS.warmup_file!r}")
        with open(FLAGS.warmup_file, encoding="utf-8", errors="replace") as f:
            warmup = [line.rstrip("\r\n") for line in f]
        warmup = warmup[:FLAGS.warmup_requests or None]
    cli.start_tensorflow()
    from keras_bert_zoo.export import export_model_dir

    try:
        path = export_model_dir(FLAGS.model_dir, FLAGS.export_dir, version=FLAGS.version,
                                warmup_texts=warmup)
    except (OSError, ValueError, TypeError) as error:  # incl. an existing version
        sys.exit(f"error: {error}")
    print(f"SavedModel version {os.path.basename(path)} written to {path}")


if __name__ == "__main__":
    cli.run(main)
