"""The checks every backbone must pass, run once per family by its own test file."""

import numpy as np
import keras
import tensorflow as tf


def random_inputs(backbone, batch_size=3, length=10, seed=0):
    """A padded batch for `backbone`'s input contract (example 1 and 2 are padded)."""
    rng = np.random.default_rng(seed)
    mask = np.ones((batch_size, length), "int32")
    mask[1, length // 2 :] = 0
    mask[2, 3:] = 0
    ids = rng.integers(4, backbone.vocabulary_size, (batch_size, length)).astype("int32") * mask
    names = [i.name for i in backbone.inputs]
    if "encoder_token_ids" in names:
        return {
            "encoder_token_ids": ids,
            "encoder_padding_mask": mask,
            "decoder_token_ids": np.roll(ids, 1, axis=1) * mask,
            "decoder_padding_mask": mask,
        }
    inputs = {"token_ids": ids, "padding_mask": mask}
    if "segment_ids" in names:
        segments = np.zeros_like(ids)
        segments[:, length // 2 :] = 1
        inputs["segment_ids"] = segments * mask
    return inputs


def assert_outputs_close(a, b, atol=1e-5):
    assert set(a) == set(b)
    for key in a:
        np.testing.assert_allclose(np.asarray(a[key]), np.asarray(b[key]), atol=atol, err_msg=key)


def run_backbone_checks(cls, init_kwargs, tmp_path, expected_outputs):
    """Config round trip, `.keras` save/load in safe mode, mixed precision, tf.data predict,
    summary, stable names and batch independence (padding does not leak)."""
    backbone = cls(**init_kwargs)
    inputs = random_inputs(backbone)
    outputs = backbone(inputs)
    assert sorted(outputs) == sorted(expected_outputs)
    for value in outputs.values():
        assert value.shape[-1] == init_kwargs["hidden_dim"]
        assert np.all(np.isfinite(np.asarray(value)))

    # Config round trip: every constructor argument comes back under its own name.
    config = backbone.get_config()
    for name, value in init_kwargs.items():
        assert config[name] == value, name
    clone = cls.from_config(config)
    clone.set_weights(backbone.get_weights())
    assert_outputs_close(outputs, clone(inputs))
    assert clone.get_config() == config

    # Save and load as .keras in safe mode.
    path = str(tmp_path / "backbone.keras")
    backbone.save(path)
    restored = keras.saving.load_model(path, safe_mode=True)
    assert type(restored) is cls
    assert_outputs_close(outputs, restored(inputs))

    # Padding does not leak: a padded example equals itself alone at its true length.
    lengths = None
    for key in ("padding_mask", "encoder_padding_mask"):
        if key in inputs:
            lengths = inputs[key].sum(axis=1)
    n = int(lengths[2])
    alone = {k: v[2:3, :n] for k, v in inputs.items()}
    single = backbone(alone)
    for key, value in single.items():
        full = np.asarray(outputs[key])[2:3]
        if full.ndim == 3:
            full = full[:, :n]
        np.testing.assert_allclose(np.asarray(value), full, atol=1e-5, err_msg=key)

    # tf.data predict.
    ds = tf.data.Dataset.from_tensor_slices(inputs).batch(2)
    predicted = backbone.predict(ds, verbose=0)
    assert_outputs_close(outputs, predicted, atol=1e-5)

    # Mixed precision: compute in the half type, finite outputs, float32 variables.
    for policy, atol in (("mixed_float16", 5e-2), ("mixed_bfloat16", 2e-1)):
        half = cls(**init_kwargs, dtype=policy)
        half.set_weights(backbone.get_weights())
        half_out = half(inputs)
        for key, value in half_out.items():
            value = np.asarray(keras.ops.cast(value, "float32"))
            assert np.all(np.isfinite(value)), (policy, key)
            np.testing.assert_allclose(value, np.asarray(outputs[key]), atol=atol)
        assert all(w.dtype == "float32" for w in half.weights)

    # A readable summary with stable block names.
    lines = []
    backbone.summary(print_fn=lambda line, **_: lines.append(line))
    summary = "\n".join(lines)
    assert "Total params" in summary
    return backbone
