"""Predict with an exported SavedModel: lines from stdin or a file in, JSON lines out.

    echo "a great film" | python recipes/predict.py --export_dir=exports/sst2
    python recipes/predict.py --export_dir=exports/sst2/1 --input=texts.txt --batch_size=64

--export_dir is a model base path (its newest numbered version is used, as TensorFlow Serving
does) or a directory that holds saved_model.pb itself. For pair models each input line is
`text<TAB>text_pair`. Needs only TensorFlow and TensorFlow Text at run time.
"""

import json
import os
import re
import sys

from absl import flags

from keras_bert_zoo import cli

FLAGS = flags.FLAGS
flags.DEFINE_string("export_dir", "", "A model base path written by recipes/export.py (its "
                    "newest version is used) or one SavedModel directory.")
flags.DEFINE_string("input", "-", "A text file, one input per line; '-' for stdin.")
flags.DEFINE_integer("batch_size", 32, "Lines per call.")


def _batches(stream, size):
    batch = []
    for line in stream:
        batch.append(line.rstrip("\n"))
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _saved_model_dir(path):
    """`path` if it holds a SavedModel, else its largest numbered subdirectory, or None.

    Written out here, not imported from keras_bert_zoo, so that predicting needs only
    TensorFlow and TensorFlow Text.
    """
    if any(os.path.isfile(os.path.join(path, name))
           for name in ("saved_model.pb", "saved_model.pbtxt")):
        return path
    versions = [name for name in os.listdir(path)
                if re.fullmatch(r"[0-9]+", name) and os.path.isdir(os.path.join(path, name))]
    return os.path.join(path, max(versions, key=int)) if versions else None


def main(argv):
    del argv
    if not FLAGS.export_dir or not os.path.isdir(FLAGS.export_dir):
        sys.exit(f"error: --export_dir={FLAGS.export_dir!r} is not a SavedModel directory")
    export_dir = _saved_model_dir(FLAGS.export_dir)
    if export_dir is None:
        sys.exit(f"error: --export_dir={FLAGS.export_dir!r} holds neither saved_model.pb nor "
                 "numbered version directories: pass a directory written by recipes/export.py")
    if FLAGS.batch_size <= 0:
        sys.exit(f"error: --batch_size={FLAGS.batch_size} must be positive")
    cli.start_tensorflow()
    import tensorflow as tf
    import tensorflow_text  # noqa: F401  (registers the tokenizer ops)

    serve = tf.saved_model.load(export_dir).signatures["serving_default"]
    input_names = sorted(serve.structured_input_signature[1])
    stream = sys.stdin if FLAGS.input == "-" else open(FLAGS.input, encoding="utf-8",
                                                       errors="replace")
    with stream:
        for lines in _batches(stream, FLAGS.batch_size):
            if input_names == ["text", "text_pair"]:
                parts = [line.split("\t", 1) + [""] for line in lines]
                args = {"text": [p[0] for p in parts], "text_pair": [p[1] for p in parts]}
            elif len(input_names) == 1:
                args = {input_names[0]: lines}
            else:
                parts = [line.split("\t", len(input_names) - 1) for line in lines]
                parts = [p + [""] * (len(input_names) - len(p)) for p in parts]
                args = {name: [p[i] for p in parts] for i, name in enumerate(input_names)}
            outputs = serve(**{k: tf.constant(v, tf.string) for k, v in args.items()})
            for i in range(len(lines)):
                record = {"input": lines[i]}
                for key, value in outputs.items():
                    item = value[i].numpy()
                    if isinstance(item, bytes):
                        item = item.decode("utf-8", "replace")
                    elif hasattr(item, "tolist"):
                        item = item.tolist()
                        if isinstance(item, list) and item and isinstance(item[0], bytes):
                            item = [x.decode("utf-8", "replace") for x in item]
                    record[key] = item
                print(json.dumps(record, ensure_ascii=False))


if __name__ == "__main__":
    cli.run(main)
