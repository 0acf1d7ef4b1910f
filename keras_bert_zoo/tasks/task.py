"""The base of every task: a functional model over a backbone, with the backbone's precision."""

import keras


class Task(keras.Model):
    """A functional `keras.Model` holding a `backbone`, computing in the backbone's dtype policy.

    The policy matters beyond the layers: under "mixed_float16", `compile()` wraps the
    optimizer in a `LossScaleOptimizer` only if the model itself carries that policy.
    Subclasses store their constructor arguments and list them in `get_config()`; the backbone
    is serialized as a nested layer, so `.keras` files load in safe mode.
    """

    def __init__(self, *args, backbone_dtype=None, **kwargs):
        kwargs.pop("dtype", None)
        super().__init__(*args, **kwargs)
        if backbone_dtype is not None:
            self.dtype_policy = keras.dtype_policies.get(backbone_dtype)

    def _base_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "backbone": keras.layers.serialize(self.backbone),
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["backbone"] = keras.layers.deserialize(config["backbone"])
        return cls(**config)
