"""Weights in and out: keras-hub backbones (and, later, Hugging Face and Google checkpoints)."""

from keras_bert_zoo.convert.keras_hub import from_keras_hub, to_keras_hub

__all__ = ["from_keras_hub", "to_keras_hub"]
