"""Export a fine-tuned model as a SavedModel that takes raw strings.

    python recipes/export.py --model_dir=runs/sst2 --export_dir=exports/sst2

Load it anywhere with only TensorFlow and TensorFlow Text:
    import tensorflow as tf, tensorflow_text
    serve = tf.saved_model.load("exports/sst2").signatures["serving_default"]
    serve(text=tf.constant(["a great film"]))
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("model_dir", "", "A fine-tuning output dir (model.keras + tokenizer/).")
flags.DEFINE_string("export_dir", "", "Destination directory (replaced atomically).")


def main(argv):
    del argv
    if not FLAGS.model_dir or not FLAGS.export_dir:
        sys.exit("error: --model_dir and --export_dir are required")
    from keras_bert_zoo.export import export_model_dir

    try:
        path = export_model_dir(FLAGS.model_dir, FLAGS.export_dir)
    except (FileNotFoundError, ValueError, TypeError) as error:
        sys.exit(f"error: {error}")
    print(f"SavedModel written to {path}")


if __name__ == "__main__":
    app.run(main)
