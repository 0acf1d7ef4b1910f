"""Optimizers and learning-rate schedules of the BERT recipes."""

import keras
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
        optimizer = keras.optimizers.AdamW(
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
