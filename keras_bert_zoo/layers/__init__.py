"""Family-agnostic layers: embeddings, activations, and the transformer blocks (keras-hub's,
with a faster attention)."""

from keras_bert_zoo.layers.activations import get_activation
from keras_bert_zoo.layers.attention import MultiHeadAttention
from keras_bert_zoo.layers.dense import Dense, bias_add
from keras_bert_zoo.layers.dropout import Dropout
from keras_bert_zoo.layers.embeddings import TextEmbeddings, truncated_normal
from keras_bert_zoo.layers.normalization import LayerNormalization
from keras_bert_zoo.layers.transformer import TransformerDecoder, TransformerEncoder

__all__ = [
    "Dense",
    "Dropout",
    "LayerNormalization",
    "MultiHeadAttention",
    "TextEmbeddings",
    "TransformerDecoder",
    "TransformerEncoder",
    "bias_add",
    "get_activation",
    "truncated_normal",
]
