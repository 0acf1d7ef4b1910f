"""SavedModel export with raw-string serving signatures."""

from keras_bert_zoo.export.saved_model import (export_model_dir, export_saved_model,
                                               float32_copy)

__all__ = ["export_model_dir", "export_saved_model", "float32_copy"]
