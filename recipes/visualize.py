"""Pictures of a trained or imported model, and of its training run.

    python recipes/visualize.py --model_dir=runs/quickstart/pretrain --output_dir=runs/viz
    python recipes/visualize.py --model_dir=path/to/all-MiniLM-L6-v2 --output_dir=runs/viz

--model_dir is a pretrain output directory (backbone.keras + tokenizer/) or a Hugging Face
model directory (config.json + model.safetensors + tokenizer files). Writes to OUTPUT_DIR:
  attention_grid.png         every layer and head for --sentence (rows: queries, cols: keys)
  attention_layer{L}_head{H}.png   one labelled token-to-token map (--layer, --head)
  similarity_{word}.png      cosine similarity of --word's vector across the contexts
  training_curves.png        loss, MLM accuracy, learning rate (if MODEL_DIR/metrics.jsonl or
                             --metrics exists)
  summary.json               the files, tokens and the sense separation of the contexts
"""

import json
import os
import sys

from absl import flags

from keras_bert_zoo import cli

FLAGS = flags.FLAGS
flags.DEFINE_string("model_dir", "", "Pretrain output dir or Hugging Face model dir.")
flags.DEFINE_string("metrics", "", "A metrics.jsonl to plot; default MODEL_DIR/metrics.jsonl.")
flags.DEFINE_string("output_dir", "runs/visualize", "Where the pictures are written.")
flags.DEFINE_string("sentence", "The cat sat on the mat because it was tired.",
                    "Sentence of the attention maps.")
flags.DEFINE_string("word", "apple", "Word whose contextual vectors are compared.")
flags.DEFINE_string("contexts_file", "", "TSV lines `sense<TAB>sentence` containing --word; "
                    "default: ten 'apple' sentences (fruit / company).")
flags.DEFINE_integer("layer", -1, "Attention block of the detailed map (negative: from the end).")
flags.DEFINE_string("head", "0", "Head of the detailed map, or 'mean'.")
flags.DEFINE_integer("similarity_layer", -1, "Hidden state for the similarity (0: embeddings).")
flags.DEFINE_integer("seq_len", 64, "Sequence length.")
flags.DEFINE_enum("format", "png", ["png", "svg"], "Image format.")
flags.DEFINE_integer("dpi", 90, "Resolution of PNG files.")


def read_contexts(path):
    contexts = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if line.strip():
                if "\t" not in line:
                    raise ValueError(f"{path}:{number}: expected `sense<TAB>sentence`")
                sense, sentence = line.rstrip("\n").split("\t", 1)
                contexts.append((sense, sentence))
    return contexts


def main(argv):
    del argv
    cli.start_tensorflow()
    from keras_bert_zoo import viz
    from keras_bert_zoo.training.finetune import load_pretrained

    out, ext = FLAGS.output_dir, FLAGS.format
    written = {}
    summary = {}

    def save(fig, name):
        written[name] = viz.save_figure(fig, os.path.join(out, f"{name}.{ext}"), dpi=FLAGS.dpi)

    try:
        if FLAGS.model_dir:
            backbone, preprocessor = load_pretrained(FLAGS.model_dir,
                                                     sequence_length=FLAGS.seq_len)
            # Attention: the whole grid, then one map with token labels.
            scores, tokens = viz.sentence_attention(backbone, preprocessor, FLAGS.sentence)
            save(viz.plot_attention(scores, tokens), "attention_grid")
            head = FLAGS.head if FLAGS.head == "mean" else int(FLAGS.head)
            layer = range(scores.shape[0])[FLAGS.layer]
            save(viz.plot_attention(scores, tokens, layer=layer, head=head),
                 f"attention_layer{layer}_head{head}")
            summary["tokens"] = tokens

            # The same word in different contexts.
            contexts = (read_contexts(FLAGS.contexts_file) if FLAGS.contexts_file
                        else viz.APPLE_CONTEXTS)
            senses = [sense for sense, _ in contexts]
            matrix = viz.contextual_similarity(backbone, preprocessor,
                                               [s for _, s in contexts], FLAGS.word,
                                               layer=FLAGS.similarity_layer)
            separation = viz.sense_separation(matrix, senses)
            save(viz.plot_similarity(
                matrix, viz.context_labels(contexts),
                title=f"{FLAGS.word!r} in context (within - across senses: {separation:+.3f})"),
                f"similarity_{FLAGS.word}")
            summary["sense_separation"] = separation

        metrics = FLAGS.metrics or (os.path.join(FLAGS.model_dir, "metrics.jsonl")
                                    if FLAGS.model_dir else "")
        if metrics and os.path.exists(metrics):
            save(viz.plot_training_curves(metrics), "training_curves")
        elif FLAGS.metrics:
            raise FileNotFoundError(f"--metrics={FLAGS.metrics!r} does not exist")
        if not written:
            raise ValueError("nothing to draw: give --model_dir and/or --metrics")
    except (FileNotFoundError, ValueError) as error:
        sys.exit(f"error: {error}")

    summary["files"] = written
    with open(os.path.join(out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)
    for name, path in written.items():
        print(f"{name}: {path}")
    if "sense_separation" in summary:
        print(f"sense separation of {FLAGS.word!r}: {summary['sense_separation']:+.3f}")


if __name__ == "__main__":
    cli.run(main)
