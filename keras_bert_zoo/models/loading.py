"""Model handles -> backbones, preprocessors and saved tasks: what every `from_preset` reads.

A handle is one of:
- a local Hugging Face model directory (`config.json` + `model.safetensors` + tokenizer files);
- a local keras-hub preset directory (`config.json` naming a keras-hub backbone,
  `model.weights.h5`, `tokenizer.json` + assets), read with keras-hub's loaders and converted;
- a directory written by this package: a pretraining run (`backbone.keras` + `tokenizer/`), a
  conversion (`backbone.keras` + tokenizer files beside it) or a fine-tuning run
  (`model.keras` + `tokenizer/`);
- `hf://org/name`: downloaded with `huggingface_hub.snapshot_download`, then read as above;
- a preset name from `list_presets()`: an architecture only, built with random weights when
  `random_init=True` is passed (presets carry no weights).
"""

import json
import os

import keras

from keras_bert_zoo.presets import PRESETS

HF_SCHEME = "hf://"
BACKBONE_FILE = "backbone.keras"
TASK_FILE = "model.keras"
TOKENIZER_DIR = "tokenizer"
# Preprocessor length when neither the call nor the handle says (keras-hub's default).
DEFAULT_SEQUENCE_LENGTH = 512


def _snapshot_download(repo_id):
    from huggingface_hub import snapshot_download

    return snapshot_download(repo_id=repo_id)


def is_preset_name(handle):
    return isinstance(handle, str) and handle in PRESETS


def check_preset(handle, random_init):
    """Refuses a preset name unless `random_init`: it names an architecture, not weights."""
    if not random_init:
        raise ValueError(
            f"{handle!r} is a preset: an architecture without weights. Pass a model "
            "directory or hf://org/name for trained weights, or random_init=True to train "
            "from scratch"
        )


def resolve_handle(handle, download=None):
    """Returns the local directory of a handle (downloading `hf://org/name`).

    Args:
        handle: a local directory or `hf://org/name`.
        download: `repo_id -> local directory`; default `huggingface_hub.snapshot_download`.
    """
    if isinstance(handle, os.PathLike):
        handle = os.fspath(handle)
    if not isinstance(handle, str):
        raise TypeError(f"a model handle is a directory or 'hf://org/name', got "
                        f"{type(handle).__name__}")
    if handle.startswith(HF_SCHEME):
        repo_id = handle[len(HF_SCHEME):].strip("/")
        try:
            return (download or _snapshot_download)(repo_id)
        except Exception as e:  # offline, missing package, unknown repo: one line
            reason = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise OSError(
                f"could not download {handle!r} ({type(e).__name__}: {reason}); download it "
                "yourself (e.g. `huggingface-cli download " + repo_id + "`) and pass the "
                "local directory"
            ) from None
    if os.path.isdir(handle):
        return handle
    if "://" in handle:
        raise ValueError(f"unknown scheme in {handle!r}; use a local directory or "
                         "hf://org/name")
    raise FileNotFoundError(
        f"{handle!r} is neither a directory, hf://org/name nor a preset name "
        f"(one of {', '.join(PRESETS)})"
    )


def layout(directory):
    """'task' (fine-tuning run), 'backbone' (pretraining run or conversion), 'keras_hub' (a
    keras-hub preset) or 'huggingface'."""
    from keras_bert_zoo.convert.keras_hub import is_keras_hub_preset

    if os.path.exists(os.path.join(directory, TASK_FILE)):
        return "task"
    if os.path.exists(os.path.join(directory, BACKBONE_FILE)):
        return "backbone"
    if is_keras_hub_preset(directory):
        return "keras_hub"
    if os.path.exists(os.path.join(directory, "config.json")):
        return "huggingface"
    raise FileNotFoundError(
        f"{directory!r} has none of {TASK_FILE} (a fine-tuning run), {BACKBONE_FILE} (a "
        "pretraining run or conversion) or config.json (a Hugging Face model or a keras-hub "
        "preset)"
    )


def load_task(directory):
    """The task saved in a fine-tuning run directory, loaded in safe mode."""
    return keras.saving.load_model(os.path.join(directory, TASK_FILE), safe_mode=True)


def _tokenizer_dir(directory):
    nested = os.path.join(directory, TOKENIZER_DIR)
    return nested if os.path.isdir(nested) else directory


def load_preprocessor_from(directory, sequence_length=None, backbone=None):
    """The preprocessor of a directory of this package (see `load_backbone`)."""
    from keras_bert_zoo.tokenizers import Preprocessor, load_tokenizer
    from keras_bert_zoo.tokenizers.preprocessor import CONFIG_FILENAME, load_preprocessor

    tokenizer_dir = _tokenizer_dir(directory)
    if os.path.exists(os.path.join(tokenizer_dir, CONFIG_FILENAME)):
        preprocessor = load_preprocessor(tokenizer_dir)
        if sequence_length is None or sequence_length == preprocessor.sequence_length:
            return preprocessor
        return Preprocessor(preprocessor.tokenizer, sequence_length=sequence_length,
                            family=preprocessor.family, padding=preprocessor.padding,
                            pad_to_multiple_of=preprocessor.pad_to_multiple_of)
    if sequence_length is None:
        limit = backbone.max_sequence_length if backbone is not None else None
        sequence_length = min(DEFAULT_SEQUENCE_LENGTH, limit or DEFAULT_SEQUENCE_LENGTH)
    return Preprocessor(load_tokenizer(tokenizer_dir), sequence_length=sequence_length)


def with_dtype(backbone, dtype):
    """The backbone itself, or a copy under another dtype policy (same weights)."""
    if dtype is None or keras.dtype_policies.get(dtype).name == backbone.dtype_policy.name:
        return backbone
    config = backbone.get_config()
    config["dtype"] = dtype
    clone = type(backbone).from_config(config)
    clone.set_weights(backbone.get_weights())
    return clone


def load_backbone(directory, *, sequence_length=None, dtype=None, with_preprocessor=True):
    """`(backbone, preprocessor)` of a local directory (any layout of the module docstring).

    The preprocessor is None when `with_preprocessor=False`.
    """
    kind = layout(directory)
    preprocessor = None
    if kind == "keras_hub":
        from keras_bert_zoo.convert.keras_hub import from_keras_hub_preset

        backbone, preprocessor = from_keras_hub_preset(directory,
                                                       sequence_length=sequence_length)
    elif kind == "huggingface":
        from keras_bert_zoo.convert import from_huggingface

        backbone, preprocessor = from_huggingface(directory, sequence_length=sequence_length)
    else:
        if kind == "task":
            backbone = load_task(directory).backbone
        else:
            backbone = keras.saving.load_model(os.path.join(directory, BACKBONE_FILE),
                                               safe_mode=True)
        if with_preprocessor:
            preprocessor = load_preprocessor_from(directory, sequence_length, backbone)
    return with_dtype(backbone, dtype), preprocessor


def load_preprocessor_handle(directory, sequence_length=None):
    """The preprocessor of a local directory, without loading weights when it can."""
    kind = layout(directory)
    if kind == "keras_hub":
        import keras_hub

        from keras_bert_zoo.convert.keras_hub import (_preset_sequence_length,
                                                      tokenizer_from_keras_hub)
        from keras_bert_zoo.tokenizers import Preprocessor

        tokenizer, family = tokenizer_from_keras_hub(
            keras_hub.models.Tokenizer.from_preset(directory))
        sequence_length = sequence_length or _preset_sequence_length(directory)
        if sequence_length is None:
            with open(os.path.join(directory, "config.json"), encoding="utf-8") as f:
                limit = json.load(f)["config"].get("max_sequence_length", DEFAULT_SEQUENCE_LENGTH)
            sequence_length = min(DEFAULT_SEQUENCE_LENGTH, limit)
        return Preprocessor(tokenizer, sequence_length=sequence_length, family=family)
    if kind == "huggingface":
        from keras_bert_zoo.convert.huggingface import (_read_json, _read_tokenizer_max_length,
                                                         backbone_config, load_hf_tokenizer)
        from keras_bert_zoo.tokenizers import Preprocessor

        family, args = backbone_config(_read_json(os.path.join(directory, "config.json")))
        if sequence_length is None:
            limit = args["max_sequence_length"]
            sequence_length = min(_read_tokenizer_max_length(directory) or limit, limit)
        return Preprocessor(load_hf_tokenizer(directory, family),
                            sequence_length=sequence_length, family=family)
    backbone = None
    if sequence_length is None and not os.path.exists(
            os.path.join(_tokenizer_dir(directory), "preprocessor_config.json")):
        backbone, _ = load_backbone(directory, with_preprocessor=False)
    return load_preprocessor_from(directory, sequence_length, backbone)
