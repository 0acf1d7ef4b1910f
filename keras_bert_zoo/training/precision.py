"""Precision names used by the recipes, mapped to Keras dtype policies."""

from keras_bert_zoo.configs import PRECISIONS


def dtype_policy(name):
    """Returns the Keras dtype policy name for "none", "float16" or "bfloat16".

    Models built with `dtype=dtype_policy(...)` keep float32 variables and compute in the half
    type; losses and softmax stay in float32 (the heads return float32 logits). Under
    "mixed_float16", `Model.compile` wraps the optimizer in a `LossScaleOptimizer` (dynamic loss
    scaling), which the trainer checks.

    Example:
    >>> dtype_policy("bfloat16")
    'mixed_bfloat16'
    """
    if name not in PRECISIONS:
        raise ValueError(
            f"mixed_precision={name!r} is not supported; choose one of none, float16, bfloat16"
        )
    return PRECISIONS[name]
