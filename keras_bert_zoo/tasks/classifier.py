"""Sentence and sentence-pair classification (and regression) from the [CLS] / <s> / </s> state."""

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from keras_bert_zoo.layers.embeddings import truncated_normal
from keras_bert_zoo.tasks.task import Task, _as_list, _is_strings

PROBLEM_TYPES = ("single_label", "multi_label", "regression")


@keras.saving.register_keras_serializable(package="keras_bert_zoo")
class ShiftRight(keras.layers.Layer):
    """Decoder inputs for BART classification: `[start] + tokens[:-1]` (start = `</s>`)."""

    def __init__(self, start_id=2, **kwargs):
        super().__init__(**kwargs)
        self.start_id = start_id

    def call(self, token_ids):
        start = ops.full_like(token_ids[:, :1], self.start_id)
        return ops.concatenate([start, token_ids[:, :-1]], axis=1)

    def get_config(self):
        return {**super().get_config(), "start_id": self.start_id}


@keras.saving.register_keras_serializable(package="keras_bert_zoo")
class LastToken(keras.layers.Layer):
    """The hidden state at the last non-padding position (BART's final `</s>`)."""

    def call(self, hidden, padding_mask):
        last = ops.sum(ops.cast(padding_mask, "int32"), axis=1) - 1
        last = ops.maximum(last, 0)
        return ops.take_along_axis(hidden, last[:, None, None], axis=1)[:, 0, :]


@keras.saving.register_keras_serializable(package="keras_bert_zoo")
class TextClassifier(Task):
    """A backbone plus a classification (or regression) head; returns float32 `logits`.

    - BERT and ALBERT classify from `pooled_output` (the pretrained tanh pooler over [CLS]).
    - RoBERTa has no pooler: fairseq's head, dropout -> dense + tanh over `<s>` -> dropout ->
      projection.
    - BART feeds the text to the encoder and, shifted right, to the decoder, and classifies the
      decoder state of the final `</s>` with the same dense + tanh head (as the BART paper). Its
      inputs are then `token_ids` and `padding_mask`, like RoBERTa's.

    Args:
        backbone: a `BertBackbone`, `AlbertBackbone`, `RobertaBackbone` or `BartBackbone`.
        num_classes: number of labels (1 for regression).
        class_names: optional label strings, kept in the config for exports.
        problem_type: "single_label" (softmax), "multi_label" (independent sigmoids) or
            "regression" (one real-valued output, STS-B style).
        dropout: dropout before the output projection.
        decoder_start_id: BART only: the decoder start token (`</s>` = 2 in BART's vocabulary).
        preprocessor: optional `keras_bert_zoo.tokenizers.Preprocessor`: `fit`, `evaluate`
            and `predict` then take raw texts (pairs as a tuple of two lists) and labels as
            ints or as `class_names`, and `save()` keeps the vocabulary.

    The keras-hub flow on a trained model directory (or `hf://org/name`, see
    `Task.from_preset`; `num_classes` is needed unless `class_names` give it or the directory
    holds a classifier)::

        model = TextClassifier.from_preset("all-MiniLM-L6-v2/", num_classes=2,
                                           sequence_length=128)
        model.compile()  # default loss, accuracy, AdamW 5e-5
        model.fit(texts, labels)
        model.predict(["a new text"])

    Example:
    >>> from keras_bert_zoo.models import BertBackbone
    >>> backbone = BertBackbone(vocabulary_size=50, num_layers=1, num_heads=2, hidden_dim=8,
    ...                         intermediate_dim=16)
    >>> ones = keras.ops.ones((2, 6), "int32")
    >>> model = TextClassifier(backbone, num_classes=3)
    >>> tuple(model({"token_ids": ones, "segment_ids": 0 * ones, "padding_mask": ones}).shape)
    (2, 3)
    """

    def __init__(self, backbone, num_classes, class_names=None, problem_type="single_label",
                 dropout=0.1, decoder_start_id=2, preprocessor=None, **kwargs):
        if problem_type not in PROBLEM_TYPES:
            raise ValueError(f"problem_type={problem_type!r}; choose one of {PROBLEM_TYPES}")
        if problem_type == "regression" and num_classes != 1:
            raise ValueError(f"regression predicts one value; got num_classes={num_classes}")
        if class_names is not None and len(class_names) != num_classes:
            raise ValueError(
                f"class_names has {len(class_names)} names but num_classes={num_classes}"
            )
        is_bart = "decoder_sequence_output" in backbone.output
        # === Layers ===
        self.backbone = backbone
        policy = backbone.dtype_policy
        self.head_dropout = keras.layers.Dropout(dropout, dtype=policy, name="head_dropout")
        self.pooler = None
        if "pooled_output" not in backbone.output:  # RoBERTa and BART heads
            self.pooler = keras.layers.Dense(
                backbone.hidden_dim, activation="tanh", kernel_initializer=truncated_normal(),
                dtype=policy, name="head_dense",
            )
        self.output_dense = keras.layers.Dense(
            num_classes, kernel_initializer=truncated_normal(), dtype="float32", name="logits"
        )

        # === Wiring ===
        if is_bart:
            token_ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
            padding_mask = keras.Input(shape=(None,), dtype="int32", name="padding_mask")
            inputs = {"token_ids": token_ids, "padding_mask": padding_mask}
            features = backbone({
                "encoder_token_ids": token_ids,
                "encoder_padding_mask": padding_mask,
                "decoder_token_ids": ShiftRight(decoder_start_id, name="shift_right")(token_ids),
                "decoder_padding_mask": padding_mask,
            })
            x = LastToken(name="last_token")(features["decoder_sequence_output"], padding_mask)
            x = self.pooler(self.head_dropout(x))
        else:
            inputs = dict(backbone.input)
            features = backbone(inputs)
            if self.pooler is None:
                x = features["pooled_output"]
            else:
                x = self.pooler(self.head_dropout(features["sequence_output"][:, 0, :]))
        logits = self.output_dense(self.head_dropout(x))
        super().__init__(inputs=inputs, outputs=logits, backbone_dtype=backbone.dtype_policy,
                         preprocessor=preprocessor, **kwargs)

        # === Config ===
        self.num_classes = num_classes
        self.class_names = list(class_names) if class_names is not None else None
        self.problem_type = problem_type
        self.dropout = dropout
        self.decoder_start_id = decoder_start_id

    def default_loss(self):
        """The loss matching `problem_type` (logits in, float32)."""
        if self.problem_type == "multi_label":
            return keras.losses.BinaryCrossentropy(from_logits=True)
        if self.problem_type == "regression":
            return keras.losses.MeanSquaredError()
        return keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def encode_labels(self, y):
        """Class names (single-label), or lists of them (multi-label), -> label ids / rows."""
        if self.problem_type == "multi_label" and isinstance(y, (list, tuple)) and y and \
                isinstance(y[0], (list, tuple, set)):
            index = self._class_index()
            hot = np.zeros((len(y), self.num_classes), "float32")
            for i, row in enumerate(y):
                self._check_names(row, index)
                hot[i, [index[name] for name in row]] = 1.0
            return hot
        if not _is_strings(y):
            return np.asarray(y)
        if self.problem_type != "single_label":
            raise ValueError(f"string labels need problem_type='single_label' (or lists of "
                             f"class names for 'multi_label'); got {self.problem_type!r}")
        names = [n.decode() if isinstance(n, bytes) else str(n) for n in _as_list(y)]
        index = self._class_index()
        self._check_names(names, index)
        return np.array([index[name] for name in names], "int32")

    def _class_index(self):
        if self.class_names is None:
            raise ValueError("labels are class names but this TextClassifier has no "
                             "class_names; pass class_names=[...] (one per class) or integer "
                             "labels")
        return {name: i for i, name in enumerate(self.class_names)}

    def _check_names(self, names, index):
        unknown = sorted(set(names) - set(index))
        if unknown:
            raise ValueError(f"unknown label {', '.join(map(repr, unknown[:5]))}; known "
                             f"class_names: {self.class_names}")

    def _label_lookup(self):
        self._class_index()  # raises without class names
        if self.problem_type != "single_label":
            raise ValueError("string labels in a dataset need problem_type='single_label'")
        names = list(self.class_names)
        table = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(tf.constant(names),
                                                tf.range(len(names), dtype=tf.int32)),
            default_value=-1,
        )

        def lookup(features, labels, *rest):
            ids = table.lookup(labels)
            check = tf.debugging.assert_non_negative(
                ids, message=f"a label is not among class_names {names}")
            with tf.control_dependencies([check]):
                ids = tf.identity(ids)
            return (features, ids, *rest)

        return lookup

    @classmethod
    def _preset_arguments(cls, kwargs):
        """`num_classes` is required, unless `class_names` or a regression give it."""
        kwargs = dict(kwargs)
        if kwargs.get("num_classes") is None:
            if kwargs.get("problem_type") == "regression":
                kwargs["num_classes"] = 1
            elif kwargs.get("class_names"):
                kwargs["num_classes"] = len(kwargs["class_names"])
            else:
                raise ValueError("TextClassifier.from_preset needs num_classes= (or "
                                 "class_names=)")
        return kwargs

    def _is_preset_head(self, kwargs):
        kwargs = dict(kwargs)
        return kwargs.pop("num_classes", None) in (None, self.num_classes) and not kwargs

    def default_metrics(self):
        if self.problem_type == "multi_label":
            return [keras.metrics.BinaryAccuracy(threshold=0.0, name="accuracy")]
        if self.problem_type == "regression":
            return [keras.metrics.MeanAbsoluteError(name="mae")]
        return [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]

    def get_config(self):
        return {
            **self._base_config(),
            "num_classes": self.num_classes,
            "class_names": self.class_names,
            "problem_type": self.problem_type,
            "dropout": self.dropout,
            "decoder_start_id": self.decoder_start_id,
        }
