"""Convert a Hugging Face folder or an original Google TF1 checkpoint to a keras_bert_zoo model.

    python recipes/convert.py --source=huggingface --model_dir=all-MiniLM-L6-v2/ \
        --output_dir=converted/

Writes `backbone.keras` and the preprocessor (tokenizer files, `tokenizer_config.json`,
`preprocessor_config.json`) to --output_dir, then checks the saved model: it reloads
`backbone.keras` and prints the largest difference of its outputs on --check_text against a
second, independent import of the same weights (keras-hub's own Hugging Face importer), or,
where none exists (Google checkpoints), against the in-memory conversion.
"""

import os
import sys

from absl import flags

from keras_bert_zoo import cli

flags.DEFINE_enum("source", None, ["huggingface", "google"], "Checkpoint format.")
flags.DEFINE_string("model_dir", None, "--source=huggingface: the model folder.")
flags.DEFINE_string("checkpoint", None, "--source=google: checkpoint prefix or folder.")
flags.DEFINE_string("output_dir", None, "Where to write backbone.keras and the tokenizer.")
flags.DEFINE_multi_string("check_text", ["The quick brown fox jumps over the lazy dog.",
                                         "Checkpoints are converted, then checked."],
                          "Texts of the check batch.")
flags.DEFINE_integer("sequence_length", None, "Preprocessor length (default: the model's).")
flags.DEFINE_bool("allow_pickle", False, "Read pytorch_model.bin (needs torch; runs pickle).")
flags.mark_flags_as_required(["source", "output_dir"])
FLAGS = flags.FLAGS


def main(argv):
    del argv
    if FLAGS.source == "huggingface" and not FLAGS.model_dir:
        raise ValueError("--source=huggingface needs --model_dir")
    if FLAGS.source == "google" and not FLAGS.checkpoint:
        raise ValueError("--source=google needs --checkpoint")
    cli.start_tensorflow()
    import keras
    import numpy as np
    import tensorflow as tf

    from keras_bert_zoo.convert import from_google_checkpoint, from_huggingface

    # === Convert ===
    if FLAGS.source == "huggingface":
        if not FLAGS.model_dir:
            raise ValueError("--source=huggingface needs --model_dir")
        backbone, preprocessor = from_huggingface(
            FLAGS.model_dir, allow_pickle=FLAGS.allow_pickle,
            sequence_length=FLAGS.sequence_length)
    else:
        if not FLAGS.checkpoint:
            raise ValueError("--source=google needs --checkpoint")
        backbone, preprocessor = from_google_checkpoint(
            FLAGS.checkpoint, sequence_length=FLAGS.sequence_length)

    # === Save ===
    os.makedirs(FLAGS.output_dir, exist_ok=True)
    path = os.path.join(FLAGS.output_dir, "backbone.keras")
    backbone.save(path)
    preprocessor.save(FLAGS.output_dir)
    print(f"wrote {path} and the {type(preprocessor.tokenizer).__name__} files "
          f"(sequence_length={preprocessor.sequence_length}) to {FLAGS.output_dir}")

    # === Check: the saved file against a second import ===
    saved = keras.saving.load_model(path, safe_mode=True)
    batch = {k: np.asarray(v) for k, v in preprocessor(tf.constant(FLAGS.check_text)).items()}
    if "encoder_token_ids" in [i.name for i in saved.inputs]:  # BART: same text on both sides
        batch = {f"{side}_{k}": v for side in ("encoder", "decoder") for k, v in batch.items()}
    mask = batch.get("padding_mask", batch.get("encoder_padding_mask")).astype(bool)
    other, label = _second_import(backbone), "keras-hub's own Hugging Face importer"
    if other is None:
        other, label = backbone, "the in-memory conversion (no independent reader)"
    ours, theirs = saved(batch), other(batch)
    for key in sorted(ours):
        a, b = np.asarray(ours[key]), np.asarray(theirs[key])
        diff = np.abs(a[mask] - b[mask]).max() if a.ndim == 3 else np.abs(a - b).max()
        print(f"check: {key} max abs difference, saved backbone.keras vs {label}: {diff:.3g} "
              f"({int(mask.sum())} tokens)")


def _second_import(backbone):
    """keras-hub's Hugging Face importer on the same folder (None for Google checkpoints)."""
    if FLAGS.source != "huggingface":
        return None
    import keras_hub

    from keras_bert_zoo.layers import get_activation

    hub_class = getattr(keras_hub.models, type(backbone).__name__)
    try:
        hub = hub_class.from_preset(FLAGS.model_dir)
    except Exception as e:  # keras-hub reads fewer layouts than we do
        print(f"check: keras-hub cannot read {FLAGS.model_dir} ({type(e).__name__}: {e})")
        return None
    # keras-hub fixes one GELU form per family; the HF config chooses (MiniLM: erf form).
    for layer in hub.layers:
        dense = getattr(layer, "_feedforward_intermediate_dense", None)
        if dense is not None:
            dense.activation = get_activation(backbone.activation)
    return hub


def run(argv):
    try:
        main(argv)
    except (FileNotFoundError, ValueError, ImportError, KeyError) as e:
        sys.exit(f"error: {e}")


if __name__ == "__main__":
    cli.run(run)
