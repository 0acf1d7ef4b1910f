"""Optimizers and learning-rate schedules of the BERT recipes."""

import keras
import tensorflow as tf
from keras import ops

# LayerNorm scales/offsets and every bias are excluded from weight decay (BERT, RoBERTa).
NO_DECAY_NAMES = ["gamma", "beta", "bias"]


@keras.saving.register_keras_serializable(package="keras_bert_zoo")
class WarmupPolynomialDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warmup from 0 to `peak_learning_rate`, then polynomial decay to `end_learning_rate`.

    `power=1` is the linear decay of BERT and RoBERTa.

    Example:
    >>> schedule = WarmupPolynomialDecay(1e-3, warmup_steps=10, total_steps=110)
    >>> [round(float(schedule(s)), 6) for s in (0, 5, 10, 60, 110, 500)]
    [0.0, 0.0005, 0.001, 0.0005, 0.0, 0.0]
    """

    def __init__(self, peak_learning_rate, warmup_steps, total_steps, end_learning_rate=0.0,
                 power=1.0):
        if total_steps <= 0 or warmup_steps < 0:
            raise ValueError(
                f"total_steps={total_steps} must be positive and warmup_steps={warmup_steps} "
                "non-negative"
            )
        self.peak_learning_rate = peak_learning_rate
        self.warmup_steps = warmup_steps
        self.total_steps = total_steps
        self.end_learning_rate = end_learning_rate
        self.power = power

    def __call__(self, step):
        step = ops.cast(step, "float32")
        warmup = ops.cast(max(self.warmup_steps, 1), "float32")
        warm = self.peak_learning_rate * step / warmup
        decay_steps = ops.cast(max(self.total_steps - self.warmup_steps, 1), "float32")
        progress = ops.clip((step - self.warmup_steps) / decay_steps, 0.0, 1.0)
        decayed = (self.peak_learning_rate - self.end_learning_rate) * (
            1.0 - progress
        ) ** self.power + self.end_learning_rate
        if self.warmup_steps == 0:
            return decayed
        return ops.where(step < self.warmup_steps, warm, decayed)

    def get_config(self):
        return {
            "peak_learning_rate": self.peak_learning_rate,
            "warmup_steps": self.warmup_steps,
            "total_steps": self.total_steps,
            "end_learning_rate": self.end_learning_rate,
            "power": self.power,
        }


def _handle(variable):
    return (variable.value if isinstance(variable, keras.Variable) else variable).handle


@keras.saving.register_keras_serializable(package="keras_bert_zoo")
class AdamW(keras.optimizers.AdamW):
    """`keras.optimizers.AdamW` (same arguments, variables and update) with each variable's
    Adam step done by TensorFlow's fused `ApplyAdam` kernel.

    Keras runs the update of a variable as about ten element-wise passes over it (two moments,
    square root, division, each reading and writing the whole tensor): for bert_small's 29M
    parameters ~70 ms of a CPU training step against ~36 ms here, global clipping included
    (each gradient's squared norm is one L2Loss pass). The kernel computes Keras'
    formula (`m += (g - m)(1 - beta_1)`, `v += (g^2 - v)(1 - beta_2)`,
    `var -= lr sqrt(1 - beta_2^t) / (1 - beta_1^t) m / (sqrt(v) + epsilon)`), with no
    compilation; the decoupled weight decay is applied just before it, as Keras does. Keras
    calls `update_step` once per variable on one device and under every `tf.distribute`
    strategy alike (TPUs and XLA-compiled steps included: the kernel has an XLA lowering), so
    the same code runs in all of them. AMSGrad falls back to Keras' implementation.
    """

    def _apply_weight_decay(self, variables):
        if self.amsgrad:
            super()._apply_weight_decay(variables)
        # Otherwise the decay is applied in `update_step`, next to the Adam step.

    def _clip_gradients(self, grads):
        if self.clipnorm or not self.global_clipnorm or self.global_clipnorm <= 0:
            return super()._clip_gradients(grads)
        # Keras' clip_by_global_norm, with each squared norm from one L2Loss kernel (one pass)
        # instead of a square and a sum; like Keras and TF, sparse gradients count their values.
        present = [g.values if isinstance(g, tf.IndexedSlices) else g
                   for g in grads if g is not None]
        if not present:
            return grads
        norm = tf.sqrt(tf.add_n([2.0 * tf.cast(tf.nn.l2_loss(g), "float32") for g in present]))
        clip = tf.cast(self.global_clipnorm, "float32")
        scale = clip * tf.minimum(1.0 / norm, 1.0 / clip) + (norm - norm)  # NaN if not finite
        return [None if g is None else g * tf.cast(scale, g.dtype) for g in grads]

    def update_step(self, gradient, variable, learning_rate):
        if self.amsgrad:
            return super().update_step(gradient, variable, learning_rate)
        dtype = variable.dtype
        lr = tf.cast(learning_rate, dtype)
        if self.weight_decay and self._use_weight_decay(variable):
            variable.assign_sub(variable * tf.cast(self.weight_decay, dtype) * lr)
        index = self._get_variable_index(variable)
        step = tf.cast(self.iterations + 1, dtype)
        beta_1, beta_2 = tf.cast(self.beta_1, dtype), tf.cast(self.beta_2, dtype)
        tf.raw_ops.ResourceApplyAdam(
            var=_handle(variable),
            m=_handle(self._momentums[index]),
            v=_handle(self._velocities[index]),
            beta1_power=tf.pow(beta_1, step),
            beta2_power=tf.pow(beta_2, step),
            lr=lr,
            beta1=beta_1,
            beta2=beta_2,
            epsilon=tf.cast(self.epsilon, dtype),
            grad=tf.cast(tf.convert_to_tensor(gradient), dtype),
        )


def create_optimizer(name="adamw", *, learning_rate, total_steps, warmup_steps=0,
                     weight_decay=0.01, end_learning_rate=0.0, power=1.0, clipnorm=1.0,
                     beta_1=0.9, beta_2=0.999, epsilon=1e-6):
    """AdamW (or LAMB for large batches) with warmup + decay, clipping and no decay on
    LayerNorm and bias variables.

    Args:
        name: "adamw" or "lamb".
        learning_rate: peak learning rate.
        total_steps: steps of the whole run (decay reaches `end_learning_rate` there).
        warmup_steps: linear warmup steps.
        weight_decay: decoupled weight decay (0.01 in BERT and RoBERTa).
        clipnorm: clip gradients by global norm (None to disable).
        beta_1, beta_2, epsilon: Adam moments (RoBERTa: beta_2=0.98).

    Example:
    >>> opt = create_optimizer(learning_rate=1e-4, total_steps=100, warmup_steps=10)
    >>> type(opt).__name__
    'AdamW'
    """
    schedule = WarmupPolynomialDecay(learning_rate, warmup_steps, total_steps,
                                     end_learning_rate, power)
    if name == "adamw":
        optimizer = AdamW(
            learning_rate=schedule, weight_decay=weight_decay, beta_1=beta_1, beta_2=beta_2,
            epsilon=epsilon, global_clipnorm=clipnorm,
        )
    elif name == "lamb":
        optimizer = keras.optimizers.Lamb(
            learning_rate=schedule, weight_decay=weight_decay, beta_1=beta_1, beta_2=beta_2,
            epsilon=epsilon, global_clipnorm=clipnorm,
        )
    else:
        raise ValueError(f"optimizer {name!r} is not supported; choose 'adamw' or 'lamb'")
    optimizer.exclude_from_weight_decay(var_names=NO_DECAY_NAMES)
    return optimizer
