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

    @classmethod
    def from_preset(cls, handle, *, random_init=False, dtype=None, download=None, **kwargs):
        """Builds a backbone from a model handle (see `keras_bert_zoo.models.loading`).

        Args:
            handle: a local Hugging Face model directory, a local keras-hub preset directory,
                a directory written by this package (pretraining, conversion or fine-tuning
                run), `hf://org/name`, or a preset
                name from `list_presets()` (random weights: needs `random_init=True`).
            random_init: allow a preset name (presets carry no weights).
            dtype: a dtype policy name, e.g. "mixed_float16".
            download: `repo_id -> directory` for `hf://` handles (default
                `huggingface_hub.snapshot_download`).
            **kwargs: preset names only: constructor arguments overriding the preset's.

        Example::

            backbone = BertBackbone.from_preset("path/to/all-MiniLM-L6-v2")
        """
        from keras_bert_zoo.models import loading

        if loading.is_preset_name(handle):
            loading.check_preset(handle, random_init)
            from keras_bert_zoo.models import build

            backbone = build(handle, **kwargs)
            backbone = loading.with_dtype(backbone, dtype)
        else:
            if kwargs:
                raise TypeError(f"unexpected arguments for a model directory: "
                                f"{', '.join(sorted(kwargs))} (only preset names take overrides)")
            directory = loading.resolve_handle(handle, download)
            backbone, _ = loading.load_backbone(directory, dtype=dtype, with_preprocessor=False)
        if not isinstance(backbone, cls):
            raise ValueError(f"{handle!r} holds a {type(backbone).__name__}, not a "
                             f"{cls.__name__}; use Backbone.from_preset to accept any family")
        return backbone
