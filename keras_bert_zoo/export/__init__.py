"""SavedModel export with raw-string serving signatures."""

from keras_bert_zoo.export.saved_model import (build_classifier_module, export_model_dir,
                                               export_saved_model, float32_copy,
                                               new_version_dir)
from keras_bert_zoo.export.embedder_export import build_embedder_module, export_embedder  # noqa
from keras_bert_zoo.export.seq2seq_export import build_seq2seq_module, export_seq2seq  # noqa
from keras_bert_zoo.export.warmup import read_warmup_requests  # noqa

__all__ = [
    "build_classifier_module",
    "build_embedder_module",
    "build_seq2seq_module",
    "export_embedder",
    "export_model_dir",
    "export_saved_model",
    "export_seq2seq",
    "float32_copy",
    "new_version_dir",
    "read_warmup_requests",
]
