"""The recipes: absl-flag scripts, installed as `keras_bert_zoo.recipes` and run by the `kbz`
command (`kbz pretrain` runs `pretrain.py`)."""
