"""Weights in and out: keras-hub backbones, Hugging Face folders and original Google checkpoints."""

from keras_bert_zoo.convert.google import from_google_checkpoint
from keras_bert_zoo.convert.huggingface import from_huggingface, to_huggingface
from keras_bert_zoo.convert.keras_hub import from_keras_hub, to_keras_hub

__all__ = [
    "from_google_checkpoint",
    "from_huggingface",
    "from_keras_hub",
    "to_huggingface",
    "to_keras_hub",
]
