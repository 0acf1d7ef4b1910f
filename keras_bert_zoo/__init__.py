"""keras_bert_zoo: pretrain, fine-tune and ship BERT-family models with Keras 3 on TensorFlow."""

import os

# Keras 3 picks its backend at import; this package is built on TensorFlow.
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

from keras_bert_zoo import convert  # noqa: E402
from keras_bert_zoo import data  # noqa: E402
from keras_bert_zoo import export  # noqa: E402
from keras_bert_zoo import layers  # noqa: E402
from keras_bert_zoo import models  # noqa: E402
from keras_bert_zoo import tasks  # noqa: E402
from keras_bert_zoo import tokenizers  # noqa: E402
from keras_bert_zoo import training  # noqa: E402
from keras_bert_zoo import viz  # noqa: E402

__version__ = "0.1.0"

__all__ = ["convert", "data", "export", "layers", "models", "tasks", "tokenizers", "training",
           "viz", "__version__"]
