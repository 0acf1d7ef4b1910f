"""Pretrain a BERT-family model from raw text.

    kbz pretrain --model=bert_tiny --corpus='docs/*.txt' --output_dir=runs/x
    python recipes/pretrain.py --model=bert_tiny --corpus='docs/*.txt' --output_dir=runs/x

Writes OUTPUT_DIR/checkpoints/, logs/ (TensorBoard), metrics.jsonl, tokenizer/, config.json
and, at the end, backbone.keras. Rerunning the same command resumes from the last checkpoint;
a rerun with another config stops, unless --overwrite starts afresh. The flags are the fields
of keras_bert_zoo.configs.PretrainConfig.
"""

from keras_bert_zoo import cli
from keras_bert_zoo.configs import PretrainConfig

cli.define_config_flags(PretrainConfig)


def main(argv):
    del argv
    config = cli.config_from_flags(PretrainConfig)  # checked before TensorFlow starts
    cli.start_tensorflow()
    import keras

    from keras_bert_zoo.training.pretrain import pretrain

    keras.utils.set_random_seed(config.seed)
    try:
        result = pretrain(config)
    except (FileNotFoundError, ValueError) as error:
        cli.fail(error)
    print(f"trained to step {result['step']} ({result['objective']}); last metrics: "
          f"{result['last_metrics']}")
    print(f"backbone: {result['backbone']}\ntokenizer: {result['tokenizer_dir']}\n"
          f"metrics: {result['metrics']}")


if __name__ == "__main__":
    cli.run(main)
