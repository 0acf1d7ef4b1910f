"""Sentence and sentence-pair classification from the [CLS] / <s> representation."""

import keras

from keras_bert_zoo.layers.embeddings import truncated_normal
from keras_bert_zoo.tasks.task import Task


@keras.saving.register_keras_serializable(package="keras_bert_zoo")
class TextClassifier(Task):
    """A backbone plus a classification head; returns float32 `logits` `[batch, num_classes]`.

    BERT and ALBERT classify from `pooled_output` (the pretrained tanh pooler over [CLS]), as
    in their papers. RoBERTa has no pooler; its head is fairseq's: dropout, dense + tanh over
    `<s>`, dropout, projection.

    Args:
        backbone: a `BertBackbone`, `AlbertBackbone` or `RobertaBackbone`.
        num_classes: number of labels (1 for regression).
        class_names: optional label strings, kept in the config for exports.
        dropout: dropout before the output projection.

    Example:
    >>> from keras_bert_zoo.models import BertBackbone
    >>> backbone = BertBackbone(vocabulary_size=50, num_layers=1, num_heads=2, hidden_dim=8,
    ...                         intermediate_dim=16)
    >>> ones = keras.ops.ones((2, 6), "int32")
    >>> model = TextClassifier(backbone, num_classes=3)
    >>> tuple(model({"token_ids": ones, "segment_ids": 0 * ones, "padding_mask": ones}).shape)
    (2, 3)
    """

    def __init__(self, backbone, num_classes, class_names=None, dropout=0.1, **kwargs):
        if class_names is not None and len(class_names) != num_classes:
            raise ValueError(
                f"class_names has {len(class_names)} names but num_classes={num_classes}"
            )
        if "sequence_output" not in backbone.output:
            raise ValueError(f"{type(backbone).__name__} is not an encoder backbone")
        # === Layers ===
        self.backbone = backbone
        policy = backbone.dtype_policy
        self.head_dropout = keras.layers.Dropout(dropout, dtype=policy, name="head_dropout")
        self.pooler = None
        if "pooled_output" not in backbone.output:  # RoBERTa: fairseq's classification head
            self.pooler = keras.layers.Dense(
                backbone.hidden_dim, activation="tanh", kernel_initializer=truncated_normal(),
                dtype=policy, name="head_dense",
            )
        self.output_dense = keras.layers.Dense(
            num_classes, kernel_initializer=truncated_normal(), dtype="float32", name="logits"
        )

        # === Wiring ===
        inputs = dict(backbone.input)
        features = backbone(inputs)
        if self.pooler is None:
            x = features["pooled_output"]
        else:
            x = self.pooler(self.head_dropout(features["sequence_output"][:, 0, :]))
        logits = self.output_dense(self.head_dropout(x))
        super().__init__(inputs=inputs, outputs=logits,
                         backbone_dtype=backbone.dtype_policy, **kwargs)

        # === Config ===
        self.num_classes = num_classes
        self.class_names = list(class_names) if class_names is not None else None
        self.dropout = dropout

    def get_config(self):
        return {
            **self._base_config(),
            "num_classes": self.num_classes,
            "class_names": self.class_names,
            "dropout": self.dropout,
        }

