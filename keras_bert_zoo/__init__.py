"""keras_bert_zoo: pretrain, fine-tune and ship BERT-family models with Keras 3 on TensorFlow."""

import os

# Keras 3 picks its backend at import; this package is built on TensorFlow.
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

from keras_bert_zoo import layers  # noqa: E402
from keras_bert_zoo import models  # noqa: E402

__version__ = "0.1.0"

__all__ = ["layers", "models", "__version__"]
