"""The base of every task: a functional model over a backbone, with the backbone's precision,
an optional preprocessor (raw strings in `fit` / `evaluate` / `predict`) and `compile()`
defaults."""

import keras
import numpy as np
import tensorflow as tf

from keras_bert_zoo.data.bucketing import text_batches

DEFAULT_BATCH_SIZE = 32  # Keras' default for arrays
DEFAULT_LEARNING_RATE = 5e-5  # keras-hub's Task.compile default for fine-tuning


def _is_strings(x):
    """Whether `x` is a string, or a list / array of strings (a batch of texts)."""
    if isinstance(x, (str, bytes)):
        return True
    if isinstance(x, np.ndarray):
        return x.dtype.kind in "USO" and (x.dtype.kind != "O" or
                                          (x.size and isinstance(x.flat[0], (str, bytes))))
    if isinstance(x, tf.Tensor):
        return x.dtype == tf.string
    if isinstance(x, list):
        return bool(x) and isinstance(x[0], (str, bytes))
    return False


def _is_text_input(x):
    """Texts, or a pair of texts as a tuple `(texts_a, texts_b)`."""
    if isinstance(x, tuple) and len(x) == 2:
        return _is_strings(x[0]) and _is_strings(x[1])
    return _is_strings(x)


def _as_list(x):
    if isinstance(x, (str, bytes)):
        return [x]
    if isinstance(x, tf.Tensor):
        x = x.numpy()
    return np.asarray(x).reshape(-1) if isinstance(x, np.ndarray) else list(x)


def _dataset_has_strings(spec):
    flat = tf.nest.flatten(spec)
    return bool(flat) and isinstance(flat[0], tf.TensorSpec) and flat[0].dtype == tf.string


class Task(keras.Model):
    """A functional `keras.Model` holding a `backbone`, computing in the backbone's dtype policy.

    The policy matters beyond the layers: under "mixed_float16", `compile()` wraps the
    optimizer in a `LossScaleOptimizer` only if the model itself carries that policy.
    Subclasses store their constructor arguments and list them in `get_config()`; the backbone
    and the optional `preprocessor` (a `keras_bert_zoo.tokenizers.Preprocessor`, vocabulary
    included) are serialized as nested layers, so `.keras` files load in safe mode and predict
    from strings.

    With a preprocessor, `fit`, `evaluate` and `predict` also take raw text: a string, a list
    or array of strings, a pair `(texts_a, texts_b)`, or a `tf.data.Dataset` of them; the
    texts are tokenized in a `tf.data` pipeline batched by `batch_size` (default 32) and, in
    `fit`, shuffled each epoch when `shuffle=True` (Keras' default; seeded by
    `keras.utils.set_random_seed`). Each batch is padded to its longest text (the
    preprocessor's default `padding="longest"`), and `fit` with `shuffle=True` batches texts
    of similar length together (`keras_bert_zoo.data.bucketing`); predictions are those of
    fixed padding.
    """

    def __init__(self, *args, backbone_dtype=None, preprocessor=None, **kwargs):
        kwargs.pop("dtype", None)
        super().__init__(*args, **kwargs)
        if backbone_dtype is not None:
            self.dtype_policy = keras.dtype_policies.get(backbone_dtype)
        self.preprocessor = preprocessor

    def _base_config(self):
        config = {
            "name": self.name,
            "trainable": self.trainable,
            "backbone": keras.layers.serialize(self.backbone),
        }
        if getattr(self, "preprocessor", None) is not None:
            config["preprocessor"] = keras.layers.serialize(self.preprocessor)
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["backbone"] = keras.layers.deserialize(config["backbone"])
        if isinstance(config.get("preprocessor"), dict):
            config["preprocessor"] = keras.layers.deserialize(config["preprocessor"])
        return cls(**config)

    # Presets --------------------------------------------------------------------------------
    @classmethod
    def from_preset(cls, handle, *, sequence_length=None, random_init=False, dtype=None,
                    download=None, **kwargs):
        """A task with the backbone and the matching preprocessor of a model handle.

        Args:
            handle: a local Hugging Face model directory or keras-hub preset directory, a
                directory written by this package (pretraining or conversion: a new head on
                its backbone; a saved task of this class: that task, unless `kwargs` ask for
                another head), `hf://org/name`, or a preset name (random weights, no
                preprocessor: needs `random_init=True`).
            sequence_length: length of the preprocessor's outputs.
            random_init: allow a preset name (presets carry no weights).
            dtype: a dtype policy name for the backbone, e.g. "mixed_float16".
            download: `repo_id -> directory` for `hf://` handles.
            **kwargs: the task's own constructor arguments (e.g. `num_classes`).
        """
        from keras_bert_zoo.models import Backbone, loading

        if loading.is_preset_name(handle):
            backbone = Backbone.from_preset(handle, random_init=random_init, dtype=dtype)
            return cls(backbone, **cls._preset_arguments(kwargs))
        directory = loading.resolve_handle(handle, download)
        if loading.layout(directory) == "task":
            task = loading.load_task(directory)
            if isinstance(task, cls) and dtype is None and task._is_preset_head(kwargs):
                if task.preprocessor is None or sequence_length is not None:
                    task.preprocessor = loading.load_preprocessor_from(directory,
                                                                       sequence_length)
                return task
        backbone, preprocessor = loading.load_backbone(directory, sequence_length=sequence_length,
                                                       dtype=dtype)
        return cls(backbone, preprocessor=preprocessor, **cls._preset_arguments(kwargs))

    @classmethod
    def _preset_arguments(cls, kwargs):
        """`from_preset`'s keyword arguments -> the constructor's for a new head (subclasses
        fill in what the head needs, or say which argument is missing)."""
        return dict(kwargs)

    def _is_preset_head(self, kwargs):
        """Whether this saved task already is the head `from_preset(**kwargs)` asks for."""
        return not kwargs

    # Compile defaults -----------------------------------------------------------------------
    def default_loss(self):
        """The loss `compile()` uses by default (None: the task computes its own)."""
        return None

    def default_metrics(self):
        """The metrics `compile()` uses by default."""
        return None

    def default_optimizer(self):
        """AdamW at a constant 5e-5 (keras-hub's fine-tuning default), weight decay 0.01
        except on LayerNorm and bias variables, global gradient clipping at 1.0. For warmup
        and decay over a known number of steps pass
        `keras_bert_zoo.training.create_optimizer(...)` instead."""
        from keras_bert_zoo.training.optimizers import NO_DECAY_NAMES, AdamW

        optimizer = AdamW(learning_rate=DEFAULT_LEARNING_RATE, weight_decay=0.01, epsilon=1e-6,
                          global_clipnorm=1.0)
        optimizer.exclude_from_weight_decay(var_names=NO_DECAY_NAMES)
        return optimizer

    def compile(self, optimizer="auto", loss="auto", metrics="auto", **kwargs):
        """`keras.Model.compile` where "auto" (the default) picks the task's optimizer, loss
        and metrics (`default_optimizer()`, `default_loss()`, `default_metrics()`)."""
        if isinstance(optimizer, str) and optimizer == "auto":
            optimizer = self.default_optimizer()
        if isinstance(loss, str) and loss == "auto":
            loss = self.default_loss()
        if isinstance(metrics, str) and metrics == "auto":
            metrics = self.default_metrics()
        super().compile(optimizer=optimizer, loss=loss, metrics=metrics, **kwargs)

    def compile_from_config(self, config):
        # Keras skips compiling on load when `compile` is overridden; ours takes its arguments.
        from keras_bert_zoo.training.optimizers import NO_DECAY_NAMES, AdamW

        config = keras.saving.deserialize_keras_object(config)
        if isinstance(config.get("optimizer"), AdamW):  # its exclusions are not in its config
            config["optimizer"].exclude_from_weight_decay(var_names=NO_DECAY_NAMES)
        self.compile(**config)

    # Saving ---------------------------------------------------------------------------------
    def save(self, filepath, overwrite=True, include_optimizer=False, **kwargs):
        """`keras.Model.save` without the optimizer's state unless `include_optimizer=True`.

        The file keeps the compile settings, so a loaded task is compiled with a fresh
        optimizer; the optimizer's moments (twice the weights' size) are left out.
        """
        optimizer = getattr(self, "optimizer", None)
        if include_optimizer or optimizer is None:
            return super().save(filepath, overwrite=overwrite, **kwargs)
        # An unbuilt copy: the file then holds what a freshly compiled task has (step 0).
        self.optimizer = type(optimizer).from_config(optimizer.get_config())
        try:
            return super().save(filepath, overwrite=overwrite, **kwargs)
        finally:
            self.optimizer = optimizer

    # Strings in -----------------------------------------------------------------------------
    def encode_labels(self, y):
        """Labels as given by a user -> what the loss takes (subclasses map class names)."""
        return y

    def _require_preprocessor(self):
        if self.preprocessor is None:
            raise ValueError(
                f"got raw strings but this {type(self).__name__} has no preprocessor; pass "
                f"preprocessor= to it, or build it with {type(self).__name__}.from_preset(...)"
            )

    def _text_dataset(self, x, y=None, sample_weight=None, *, batch_size=None, shuffle=False):
        """Texts (and labels) -> a batched tf.data pipeline of preprocessed inputs."""
        self._require_preprocessor()
        features = (tuple(_as_list(t) for t in x) if isinstance(x, tuple)
                    else (_as_list(x),))
        size = len(features[0])
        if len(features) == 2 and len(features[1]) != size:
            raise ValueError(f"a pair needs as many second texts as first ones; got {size} "
                             f"and {len(features[1])}")
        elements = [features]
        if y is not None:
            y = self.encode_labels(y)
            if len(y) != size:
                raise ValueError(f"got {size} texts but {len(y)} labels")
            elements.append(np.asarray(y))
            if sample_weight is not None:
                elements.append(np.asarray(sample_weight, "float32"))
        ds = tf.data.Dataset.from_tensor_slices(tuple(elements))
        seed = None
        if shuffle:  # drawn from the global seed (keras.utils.set_random_seed)
            seed = int(np.random.randint(2**31 - 1))
            ds = ds.shuffle(size, seed=seed, reshuffle_each_iteration=True)
        return text_batches(ds, self.preprocessor, batch_size=batch_size or DEFAULT_BATCH_SIZE,
                            seed=seed)

    def _map_preprocessor(self, ds):
        preprocessor = self.preprocessor

        def pack(features, *rest):
            features = tuple(features) if isinstance(features, (tuple, list)) else (features,)
            inputs = preprocessor(features if len(features) == 2 else features[0])
            return (inputs, *rest) if rest else inputs

        return ds.map(pack, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)

    def _string_dataset(self, ds, batch_size, with_labels):
        """A tf.data.Dataset of texts ((texts[, labels[, weights]]) -> preprocessed inputs."""
        self._require_preprocessor()
        spec = ds.element_spec
        features_spec = spec[0] if with_labels and isinstance(spec, tuple) else spec
        if tf.nest.flatten(features_spec)[0].shape.rank == 0:
            ds = ds.batch(batch_size or DEFAULT_BATCH_SIZE)
        if with_labels and isinstance(spec, tuple) and len(spec) > 1:
            label_spec = spec[1]
            if isinstance(label_spec, tf.TensorSpec) and label_spec.dtype == tf.string:
                ds = ds.map(self._label_lookup())
        return self._map_preprocessor(ds)

    def _label_lookup(self):
        raise ValueError(f"{type(self).__name__} takes no string labels")

    def _convert(self, x, y=None, sample_weight=None, *, batch_size=None, shuffle=False,
                 with_labels=True):
        """`(x, y, sample_weight, batch_size)` for Keras: strings become a dataset."""
        if isinstance(x, tf.data.Dataset):
            if _dataset_has_strings(x.element_spec):
                return self._string_dataset(x, batch_size, with_labels), None, None, None
            return x, y, sample_weight, batch_size
        if _is_text_input(x):
            ds = self._text_dataset(x, y if with_labels else None, sample_weight,
                                    batch_size=batch_size, shuffle=shuffle)
            return ds, None, None, None
        if with_labels and y is not None and _is_strings(y):
            y = self.encode_labels(y)
        return x, y, sample_weight, batch_size

    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None,
            validation_split=0.0, validation_data=None, shuffle=True, sample_weight=None,
            **kwargs):
        """`keras.Model.fit`, also taking raw texts and class names (see the class docstring)."""
        texts = _is_text_input(x)
        x, y, sample_weight, batch_size = self._convert(x, y, sample_weight,
                                                        batch_size=batch_size, shuffle=shuffle)
        if validation_data is not None and not isinstance(validation_data, tf.data.Dataset):
            vx, vy, *vw = validation_data
            vx, vy, vw, _ = self._convert(vx, vy, vw[0] if vw else None, batch_size=batch_size)
            validation_data = vx if vy is None else (vx, vy) if vw is None else (vx, vy, vw)
        elif isinstance(validation_data, tf.data.Dataset):
            validation_data, *_ = self._convert(validation_data, batch_size=batch_size)
        if texts and validation_split:
            raise ValueError("validation_split does not apply to texts; pass "
                             "validation_data=(texts, labels)")
        if isinstance(x, tf.data.Dataset):
            shuffle = False  # a dataset is shuffled by itself (ours above when asked)
        return super().fit(x, y, batch_size=batch_size, epochs=epochs, verbose=verbose,
                           callbacks=callbacks, validation_split=validation_split,
                           validation_data=validation_data, shuffle=shuffle,
                           sample_weight=sample_weight, **kwargs)

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None,
                 **kwargs):
        """`keras.Model.evaluate`, also taking raw texts and class names."""
        x, y, sample_weight, batch_size = self._convert(x, y, sample_weight,
                                                        batch_size=batch_size)
        return super().evaluate(x, y, batch_size=batch_size, verbose=verbose,
                                sample_weight=sample_weight, **kwargs)

    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None):
        """`keras.Model.predict`, also taking raw texts."""
        x, _, _, batch_size = self._convert(x, batch_size=batch_size, with_labels=False)
        return super().predict(x, batch_size=batch_size, verbose=verbose, steps=steps,
                               callbacks=callbacks)
