"""The base class every backbone shares: the input/output contract and config round trip."""

import inspect

import keras


def check_divisible(hidden_dim, num_heads):
    if hidden_dim % num_heads:
        raise ValueError(
            f"hidden_dim={hidden_dim} is not divisible by num_heads={num_heads}; "
            "each attention head gets hidden_dim // num_heads features"
        )


def check_positive(**values):
    for name, value in values.items():
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise ValueError(f"{name}={value!r} must be a positive integer")


def check_rate(**values):
    for name, value in values.items():
        if not 0.0 <= float(value) < 1.0:
            raise ValueError(f"{name}={value!r} must be in [0, 1)")


class Backbone(keras.Model):
    """A functional Keras model whose config is exactly its constructor arguments.

    Subclasses build their layers, wire them with `keras.Input`s named after the contract
    (`token_ids`, `padding_mask`, plus `segment_ids` where the family has them) and call
    `super().__init__(inputs=..., outputs={"sequence_output": ..., ...})`. Every constructor
    argument is stored under its own name, so `get_config()` and `from_config()` round trip
    and `.keras` files load in safe mode.
    """

    def __init__(self, *args, dtype=None, **kwargs):
        super().__init__(*args, **kwargs)
        if dtype is not None:
            # Functional models do not take a dtype; set the policy so that `compile` sees
            # "mixed_float16" and adds loss scaling.
            self.dtype_policy = keras.dtype_policies.get(dtype)

    @property
    def token_embedding(self):
        """The token embedding layer (a `keras_hub.layers.ReversibleEmbedding`), for tied heads."""
        return self._token_embedding

    def get_config(self):
        # A functional model's own config is a graph description; ours is the constructor.
        config = {"name": self.name, "trainable": self.trainable}
        config["dtype"] = keras.dtype_policies.serialize(self.dtype_policy)
        for name in inspect.signature(type(self).__init__).parameters:
            if name in ("self", "dtype", "kwargs"):
                continue
            config[name] = getattr(self, name)
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if "dtype" in config and isinstance(config["dtype"], dict):
            config["dtype"] = keras.dtype_policies.deserialize(config["dtype"])
        return cls(**config)
