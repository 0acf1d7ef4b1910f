"""Multi-head attention with Keras' weights, computed as plain 2-D and batched matmuls.

`keras.layers.MultiHeadAttention` projects with `EinsumDense` ("abc,cde->abde"), which
TensorFlow runs as a matmul broadcast over the batch: its kernel gradient is a batched matmul
of `[batch, hidden, heads * head_dim]` products followed by a sum over the batch. Its attention
einsums ("aecd,abcd->acbe") add transposes of their own around the batched matmuls. This
subclass keeps the same sublayers, variables and names (checkpoints, converters and keras-hub
parity are unchanged) and computes the same function as

    q, k, v = x @ Wq + bq, x @ Wk + bk, x @ Wv + bv        (one [tokens, hidden] matmul each)
    probs = dropout(softmax(q k^T / sqrt(head_dim) + mask))  ([batch, heads, T, S])
    y = (probs v) @ Wo + bo

with the projections as single 2-D matmuls and the attention as two batched matmuls in
`[batch, heads, length, head_dim]` layout (on a 2-core CPU, bert_small in bfloat16: the
attention matmuls went from 16% to 3% of op time, the step ~5% faster). The attention
dropout is `keras_bert_zoo.layers.dropout` (16-bit draws, one fused pass), and the biases
are added with `keras_bert_zoo.layers.dense.bias_add` (float32-accumulated bias gradients
under 16-bit compute).

Cases outside the common one (inputs carrying Keras masks, attention over other axes, gated
attention, sliding windows, quantized projections) run Keras' own implementation.
"""

import keras
import tensorflow as tf
from keras import ops

from keras_bert_zoo.layers.dense import bias_add
from keras_bert_zoo.layers.dropout import dropout, fused_dropout_applies, keep_mask

_LARGE_NEGATIVE = -1e9  # what keras.layers.Softmax puts at masked positions


@tf.function(jit_compile=True)
def _softmax_dropout(scores, mask, keep, scale):
    """Masked softmax over the last axis (in float32), then dropout: (dropped, probs)."""
    x = tf.where(mask, tf.cast(scores, "float32"), _LARGE_NEGATIVE)
    probs = tf.where(mask, tf.nn.softmax(x, axis=-1), 0.0)  # fully masked rows give 0
    dropped = tf.where(keep, probs * scale, 0.0)
    return tf.cast(dropped, scores.dtype), tf.cast(probs, scores.dtype)


@tf.function(jit_compile=True)
def _softmax_dropout_grad(upstream, probs, keep, scale):
    upstream = tf.where(keep, tf.cast(upstream, "float32") * scale, 0.0)
    probs = tf.cast(probs, "float32")
    return probs * (upstream - tf.reduce_sum(upstream * probs, axis=-1, keepdims=True))


def _training_softmax_dropout(scores, attention_mask, dropout_layer):
    """Masked softmax + dropout as one XLA pass forward and one backward (training only).

    Keras runs them as about a dozen element-wise passes over the `[batch, heads, T, S]`
    scores (mask, softmax, mask, draw, compare, select; and their gradients). Inference never
    comes here, so exported graphs hold no XLA computation.
    """
    if attention_mask is None:
        mask = tf.ones((1, 1, 1, 1), "bool")
    else:
        mask = tf.expand_dims(tf.cast(attention_mask, "bool"), axis=1)  # [batch, 1, T, S]
    keep, scale = keep_mask(tf.shape(scores), dropout_layer.rate,
                            dropout_layer.seed_generator.next())
    scale = tf.constant(scale, "float32")

    @tf.custom_gradient
    def softmax_dropout(scores):
        dropped, probs = _softmax_dropout(scores, mask, keep, scale)

        def grad(upstream):
            return tf.cast(_softmax_dropout_grad(upstream, probs, keep, scale), scores.dtype)

        return dropped, grad

    return softmax_dropout(scores)


@keras.saving.register_keras_serializable(package="keras_bert_zoo")
class MultiHeadAttention(keras.layers.MultiHeadAttention):
    """`keras.layers.MultiHeadAttention` (same arguments and weights), faster on 3-D inputs."""

    def _fast_path_applies(self, query, value, key):
        dense = (self._query_dense, self._key_dense, self._value_dense, self._output_dense)
        return (
            all(len(t.shape) == 3 for t in (query, value, key))
            and tuple(self._attention_axes) == (1,)
            and not self._use_gate
            and getattr(self, "_sliding_window", None) is None
            and self._output_shape is None
            and all(getattr(layer, "quantization_mode", None) is None for layer in dense)
            and all(getattr(t, "_keras_mask", None) is None for t in (query, value, key))
        )

    def call(
        self,
        query,
        value,
        key=None,
        query_mask=None,
        value_mask=None,
        key_mask=None,
        attention_mask=None,
        return_attention_scores=False,
        training=None,
        use_causal_mask=False,
    ):
        if key is None:
            key = value
        if not self._fast_path_applies(query, value, key):
            return super().call(
                query, value, key=key, query_mask=query_mask, value_mask=value_mask,
                key_mask=key_mask, attention_mask=attention_mask,
                return_attention_scores=return_attention_scores, training=training,
                use_causal_mask=use_causal_mask,
            )
        attention_mask = self._compute_attention_mask(
            query, value, query_mask=query_mask, value_mask=value_mask, key_mask=key_mask,
            attention_mask=attention_mask, use_causal_mask=use_causal_mask,
        )
        batch_size, target_length = ops.shape(query)[0], ops.shape(query)[1]
        source_length = ops.shape(key)[1]
        heads = self._num_heads

        def project(layer, inputs, length, head_dim, perm):
            # [batch, length, hidden] -> [batch, heads, ...] via one 2-D matmul.
            hidden = inputs.shape[-1]
            kernel = ops.reshape(layer.kernel, (hidden, heads * head_dim))
            outputs = ops.matmul(ops.reshape(inputs, (-1, hidden)), kernel)
            if layer.bias is not None:
                outputs = bias_add(outputs, ops.reshape(layer.bias, (heads * head_dim,)))
            outputs = ops.reshape(outputs, (batch_size, length, heads, head_dim))
            return ops.transpose(outputs, perm)

        query = project(self._query_dense, query, target_length, self._key_dim, (0, 2, 1, 3))
        query = ops.multiply(query, ops.cast(self._inverse_sqrt_key_dim, query.dtype))
        key = project(self._key_dense, key, source_length, self._key_dim, (0, 2, 3, 1))
        value = project(self._value_dense, value, source_length, self._value_dim, (0, 2, 1, 3))

        scores = ops.matmul(query, key)  # [batch, heads, target, source]
        if (training and self._dropout > 0 and not return_attention_scores
                and fused_dropout_applies(scores, rate=self._dropout)
                and (attention_mask is None or len(attention_mask.shape) == 3)):
            probs = _training_softmax_dropout(scores, attention_mask, self._dropout_layer)
        else:
            scores = self._masked_softmax(scores, attention_mask)
            probs = dropout(scores, self._dropout_layer, training)
        context = ops.transpose(ops.matmul(probs, value), (0, 2, 1, 3))
        context = ops.reshape(context, (-1, heads * self._value_dim))

        output_layer = self._output_dense
        output_dim = output_layer.kernel.shape[-1]
        outputs = ops.matmul(context, ops.reshape(output_layer.kernel, (-1, output_dim)))
        if output_layer.bias is not None:
            outputs = bias_add(outputs, output_layer.bias)
        outputs = ops.reshape(outputs, (batch_size, target_length, output_dim))
        if return_attention_scores:
            return outputs, scores
        return outputs
