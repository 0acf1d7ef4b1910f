"""Pretraining tasks: MLM (+ NSP or SOP) for encoders, denoising seq2seq for BART."""

import keras
import tensorflow as tf
from keras import ops

from keras_bert_zoo.layers.compilation import inside_xla_function
from keras_bert_zoo.layers.embeddings import truncated_normal
from keras_bert_zoo.tasks.task import Task
from keras_bert_zoo.layers.heads import MaskedLMHead
from keras_bert_zoo.training.distribution import global_sum


def _weighted_cross_entropy(labels, logits, weights, label_smoothing=0.0):
    """sum(weights * CE) / sum(weights) over the global batch; logits in float32."""
    logits = ops.cast(logits, "float32")
    weights = ops.cast(weights, "float32")
    if label_smoothing:
        vocab = ops.shape(logits)[-1]
        one_hot = ops.one_hot(labels, vocab, dtype="float32")
        losses = keras.losses.categorical_crossentropy(
            one_hot, logits, from_logits=True, label_smoothing=label_smoothing
        )
    else:
        losses = keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True)
    denominator = ops.maximum(global_sum(ops.sum(weights)), 1e-5)
    return ops.sum(losses * weights) / denominator


@tf.function(jit_compile=True)
def _masked_lm_forward(labels, logits, weights):
    """`(sum(weights * CE), sum(weights), log_norm)`; NaN losses for labels out of range."""
    vocab = tf.shape(logits)[-1]
    row_max = tf.reduce_max(logits, axis=-1)
    log_norm = tf.math.log(
        tf.reduce_sum(tf.exp(logits - row_max[..., None]), axis=-1)) + row_max
    valid = (labels >= 0) & (labels < vocab)
    picked = tf.gather(logits, tf.where(valid, labels, 0), batch_dims=labels.shape.rank)
    losses = tf.where(valid, log_norm - picked, float("nan"))
    return tf.reduce_sum(losses * weights), tf.reduce_sum(weights), log_norm


@tf.function(jit_compile=True)
def _masked_lm_backward(labels, logits, weights, log_norm, upstream):
    """d sum(weights * CE) / d logits = (softmax(logits) - one_hot(labels)) * weights."""
    is_label = tf.equal(tf.range(tf.shape(logits)[-1]), labels[..., None])
    probs = tf.exp(logits - log_norm[..., None])
    return (probs - tf.cast(is_label, logits.dtype)) * (weights * upstream)[..., None]


def _masked_lm_cross_entropy(labels, logits, weights):
    """Weighted MLM cross-entropy sum and arg-max hits over the float32 logits.

    The (batch, num_masked, vocab) float32 logits are the largest activation of a pretraining
    step. The loss is one XLA pass forward (log-normalizer and label logits) and one backward
    (softmax minus one-hot, recomputed from the saved log-normalizer): 20 ms against 40 for a
    bert_small batch when the gradient came from XLA's `sparse_softmax_cross_entropy`, which
    writes its backprop tensor in the forward pass. The arg max runs as TensorFlow's own op,
    whose kernel is 3x faster on CPU than XLA's variadic reduction. Traced into a step that
    XLA compiles whole, the loss is TF's own ops, which XLA fuses faster than these.
    Returns `(sum(weights * CE), sum(weights), hits)` with `hits = argmax(logits) == labels`.
    """
    labels = tf.cast(labels, tf.int32)
    weights = tf.cast(weights, tf.float32)
    hits = tf.stop_gradient(tf.cast(
        tf.equal(tf.argmax(logits, axis=-1, output_type=tf.int32), labels), tf.float32))
    if inside_xla_function():  # a whole-step XLA program fuses TF's own ops faster
        losses = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
        return tf.reduce_sum(losses * weights), tf.reduce_sum(weights), hits

    @tf.custom_gradient
    def cross_entropy(logits):
        loss_sum, weight_sum, log_norm = _masked_lm_forward(labels, logits, weights)

        def gradient(d_loss_sum, d_weight_sum):
            del d_weight_sum  # the weights are data
            return _masked_lm_backward(labels, logits, weights, log_norm, d_loss_sum)

        return (loss_sum, weight_sum), gradient

    loss_sum, weight_sum = cross_entropy(logits)
    return loss_sum, weight_sum, hits


@keras.saving.register_keras_serializable(package="keras_bert_zoo")
class Pretrainer(Task):
    """Masked-LM pretraining over an encoder backbone, with an optional 2-way sentence head.

    BERT uses the sentence head for next-sentence prediction (NSP), ALBERT for sentence-order
    prediction (SOP): the head is the same, only the data differs. RoBERTa trains MLM only
    (`sentence_head=False`). Inputs are the backbone's plus `mask_positions`
    (`[batch, num_masked]`); outputs `mlm_logits` (`[batch, num_masked, vocab]`, float32) and
    `sentence_logits` (`[batch, 2]`). Targets are a dict with `mask_ids`, `mask_weights` (0 for
    padded prediction slots) and `sentence_label`. The loss is the weighted MLM cross-entropy
    plus `sentence_loss_weight` times the sentence cross-entropy, each averaged over the
    *global* batch.

    Args:
        backbone: a `BertBackbone`, `AlbertBackbone` or `RobertaBackbone`.
        sentence_head: add the NSP/SOP head on `pooled_output`.
        sentence_loss_weight: weight of the sentence loss (1 in BERT and ALBERT). Small models
            need more: the MLM gradient drowns SOP's in the shared encoder (a 2-layer ALBERT
            stays at chance on held-out SOP with 1 and learns it with 10; see
            docs/pretraining.md).

    Example:
    >>> from keras_bert_zoo.models import BertBackbone
    >>> backbone = BertBackbone(vocabulary_size=50, num_layers=1, num_heads=2, hidden_dim=8,
    ...                         intermediate_dim=16)
    >>> model = Pretrainer(backbone)
    >>> ones = keras.ops.ones((2, 6), "int32")
    >>> out = model({"token_ids": ones, "segment_ids": 0 * ones, "padding_mask": ones,
    ...              "mask_positions": ones[:, :2]})
    >>> tuple(out["mlm_logits"].shape), tuple(out["sentence_logits"].shape)
    ((2, 2, 50), (2, 2))
    """

    def __init__(self, backbone, sentence_head=True, sentence_loss_weight=1.0, **kwargs):
        if sentence_head and "pooled_output" not in backbone.output:
            raise ValueError(
                f"{type(backbone).__name__} has no pooled_output; use sentence_head=False"
            )
        if not sentence_loss_weight >= 0:
            raise ValueError(f"sentence_loss_weight={sentence_loss_weight} must be >= 0")
        # === Layers ===
        self.backbone = backbone
        self.mlm_head = MaskedLMHead(
            backbone.token_embedding,
            activation=getattr(backbone, "activation", "gelu_approximate"),
            layer_norm_epsilon=backbone.layer_norm_epsilon,
            dtype=backbone.dtype_policy,
            name="mlm_head",
        )
        self.sentence_head = None
        if sentence_head:
            self.sentence_head = keras.layers.Dense(
                2, kernel_initializer=truncated_normal(), dtype=backbone.dtype_policy,
                name="sentence_head",
            )

        # === Wiring ===
        inputs = dict(backbone.input)
        inputs["mask_positions"] = keras.Input(shape=(None,), dtype="int32",
                                               name="mask_positions")
        features = backbone({k: v for k, v in inputs.items() if k != "mask_positions"})
        outputs = {
            "mlm_logits": self.mlm_head(
                features["sequence_output"], mask_positions=inputs["mask_positions"]
            )
        }
        if self.sentence_head is not None:
            outputs["sentence_logits"] = self.sentence_head(features["pooled_output"])
        super().__init__(inputs=inputs, outputs=outputs,
                         backbone_dtype=backbone.dtype_policy, **kwargs)

        # === Config ===
        self.use_sentence_head = sentence_head
        self.sentence_loss_weight = float(sentence_loss_weight)
        # === Metrics ===
        self.mlm_loss_metric = keras.metrics.Mean(name="mlm_loss")
        # Weighted mean of arg-max hits: SparseCategoricalAccuracy's value, from the loss pass.
        self.mlm_accuracy = keras.metrics.Mean(name="mlm_accuracy")
        if sentence_head:
            self.sentence_loss_metric = keras.metrics.Mean(name="sentence_loss")
            self.sentence_accuracy = keras.metrics.SparseCategoricalAccuracy(
                name="sentence_accuracy"
            )

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        # The MLM accuracy comes out of the same fused pass as the loss, so it is updated here.
        loss_sum, weight_sum, hits = _masked_lm_cross_entropy(
            y["mask_ids"], ops.cast(y_pred["mlm_logits"], "float32"), y["mask_weights"])
        mlm_loss = loss_sum / ops.maximum(global_sum(weight_sum), 1e-5)
        # Each replica's loss is its share of the global mean; the metric logs the global mean.
        self.mlm_loss_metric.update_state(global_sum(mlm_loss))
        self.mlm_accuracy.update_state(hits, sample_weight=y["mask_weights"])
        loss = mlm_loss
        if self.sentence_head is not None:
            labels = y["sentence_label"]
            sentence_loss = _weighted_cross_entropy(
                labels, y_pred["sentence_logits"], ops.ones_like(labels, "float32")
            )
            self.sentence_loss_metric.update_state(global_sum(sentence_loss))
            loss = loss + self.sentence_loss_weight * sentence_loss
        return loss

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        if self.sentence_head is not None:
            self.sentence_accuracy.update_state(
                y["sentence_label"], ops.cast(y_pred["sentence_logits"], "float32")
            )
        return self.get_metrics_result()

    def get_config(self):
        return {
            **self._base_config(),
            "sentence_head": self.use_sentence_head,
            "sentence_loss_weight": self.sentence_loss_weight,
        }



@keras.saving.register_keras_serializable(package="keras_bert_zoo")
class DenoisingPretrainer(Task):
    """BART's denoising objective: reconstruct the original text from a noised encoder input.

    Teacher forcing: the decoder reads the target shifted right (starting with the decoder start
    token) and predicts every target token through the tied token embedding plus a bias. The
    loss is the cross-entropy on non-padding target tokens (`target_weights`), optionally
    label-smoothed; `token_accuracy` tracks the same positions.

    Args:
        backbone: a `BartBackbone`.
        label_smoothing: label smoothing of the cross-entropy (0.1 in BART fine-tuning).

    Example:
    >>> from keras_bert_zoo.models import BartBackbone
    >>> backbone = BartBackbone(vocabulary_size=50, num_layers=1, num_heads=2, hidden_dim=8,
    ...                         intermediate_dim=16)
    >>> ones = keras.ops.ones((2, 6), "int32")
    >>> out = DenoisingPretrainer(backbone)({"encoder_token_ids": ones,
    ...     "encoder_padding_mask": ones, "decoder_token_ids": ones, "decoder_padding_mask": ones})
    >>> tuple(out["logits"].shape)
    (2, 6, 50)
    """

    def __init__(self, backbone, label_smoothing=0.0, **kwargs):
        self.backbone = backbone
        self.lm_bias = LogitsBias(backbone.vocabulary_size, dtype=backbone.dtype_policy,
                                  name="lm_bias")
        inputs = dict(backbone.input)
        features = backbone(inputs)
        hidden = features["decoder_sequence_output"]
        logits = backbone.token_embedding(hidden, reverse=True)  # tied output projection
        outputs = {"logits": self.lm_bias(logits)}
        super().__init__(inputs=inputs, outputs=outputs,
                         backbone_dtype=backbone.dtype_policy, **kwargs)
        self.label_smoothing = label_smoothing
        self.token_accuracy = keras.metrics.SparseCategoricalAccuracy(name="token_accuracy")

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        return _weighted_cross_entropy(y["target_ids"], y_pred["logits"], y["target_weights"],
                                       self.label_smoothing)

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        self.token_accuracy.update_state(
            y["target_ids"], ops.cast(y_pred["logits"], "float32"),
            sample_weight=y["target_weights"],
        )
        return self.get_metrics_result()

    def get_config(self):
        return {
            **self._base_config(),
            "label_smoothing": self.label_smoothing,
        }



@keras.saving.register_keras_serializable(package="keras_bert_zoo")
class LogitsBias(keras.layers.Layer):
    """Adds a per-token bias and returns float32 logits (BART's `final_logits_bias`)."""

    def __init__(self, vocabulary_size, **kwargs):
        super().__init__(**kwargs)
        self.vocabulary_size = vocabulary_size

    def build(self, input_shape):
        self.bias = self.add_weight(name="bias", shape=(self.vocabulary_size,),
                                    initializer="zeros", dtype=self.variable_dtype)
        self.built = True

    def call(self, logits):
        return ops.cast(logits, "float32") + ops.cast(self.bias, "float32")

    def get_config(self):
        config = super().get_config()
        config["vocabulary_size"] = self.vocabulary_size
        return config
