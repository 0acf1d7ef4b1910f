"""Family-agnostic layers; the transformer blocks themselves come from keras_hub.layers."""

from keras_bert_zoo.layers.embeddings import TextEmbeddings, truncated_normal
from keras_bert_zoo.layers.activations import get_activation

__all__ = ["TextEmbeddings", "get_activation", "truncated_normal"]
