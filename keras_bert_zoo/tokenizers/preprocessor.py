"""Packing token ids into fixed-length model inputs, and a string -> inputs Preprocessor.

Layouts (ids, then segment ids for BERT/ALBERT):
    bert, albert:   [CLS] A [SEP] B [SEP]      0 0..0 0 1..1 1
    roberta, bart:  <s> A </s> </s> B </s>     (no segment ids)
Pairs too long are truncated "longest first" like the original BERT `_truncate_seq_pair`
(`keras_bert_zoo.data.packing`, shared with the pretraining data).
"""

import json
import os

import keras
import tensorflow as tf

from keras_bert_zoo.data.packing import (DEFAULT_PAD_TO_MULTIPLE_OF, pack_segments,
                                         trim_to_longest)
from keras_bert_zoo.tokenizers import families
from keras_bert_zoo.tokenizers.tokenizer import load_tokenizer

CONFIG_FILENAME = "preprocessor_config.json"

_LAYOUTS = {"bert": "bert", "albert": "bert", "roberta": "roberta", "bart": "roberta"}
PADDINGS = ("longest", "fixed")
def pack_inputs(
    segments_a,
    segments_b=None,
    *,
    sequence_length,
    cls_id,
    sep_id,
    pad_id,
    layout="bert",
):
    """Packs ragged token ids into fixed-length model inputs, truncating longest first.

    `keras_bert_zoo.data.pack_segments` (the one packer of the package) with the inputs a
    family's backbone takes: the "roberta" layout has no `segment_ids`.

    Args:
        segments_a: int RaggedTensor (batch, None), the first segments (no special tokens).
        segments_b: optional int RaggedTensor (batch, None), the second segments.
        sequence_length: the output length.
        cls_id, sep_id, pad_id: special token ids (<s>, </s>, <pad> for RoBERTa/BART).
        layout: "bert" ([CLS] A [SEP] B [SEP], with segment ids) or "roberta"
            (<s> A </s></s> B </s>).

    Returns:
        A dict of int32 tensors (batch, sequence_length): `token_ids`, `padding_mask`, and
        `segment_ids` for the "bert" layout.

    Example:
    >>> outputs = pack_inputs(tf.ragged.constant([[5, 6, 7]]), tf.ragged.constant([[8]]),
    ...                       sequence_length=6, cls_id=1, sep_id=2, pad_id=0)
    >>> outputs["token_ids"].numpy().tolist(), outputs["segment_ids"].numpy().tolist()
    ([[1, 5, 6, 2, 8, 2]], [[0, 0, 0, 0, 1, 1]])
    """
    outputs = pack_segments(segments_a, segments_b, sequence_length=sequence_length,
                            cls_id=cls_id, sep_id=sep_id, pad_id=pad_id, layout=layout)
    if layout == "roberta":
        del outputs["segment_ids"]
    return outputs


@keras.saving.register_keras_serializable(package="keras_bert_zoo")
class Preprocessor(keras.layers.Layer):
    """Strings (or pairs of strings) -> packed int32 model inputs, in-graph.

    Args:
        tokenizer: a WordPieceTokenizer, SentencePieceTokenizer or BytePairTokenizer.
        sequence_length: length of the outputs.
        family: "bert", "albert", "roberta" or "bart"; defaults to the tokenizer's.
        padding: "longest" (default): a batch is padded to its longest text, rounded up to a
            multiple of `pad_to_multiple_of`, at most `sequence_length` (see
            `trim_to_longest`); "fixed": always `sequence_length`, one shape for every batch
            (what XLA on TPUs wants).
        pad_to_multiple_of: the rounding of "longest" padding (default 8).

    Call with a `tf.string` batch (or scalar) of texts, or a tuple `(texts_a, texts_b)`.
    Returns `token_ids`, `padding_mask` and (BERT, ALBERT) `segment_ids`, all int32
    (batch, length); texts longer than `sequence_length` tokens are truncated.

    Example:
    >>> from keras_bert_zoo.tokenizers import WordPieceTokenizer
    >>> specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    >>> tokenizer = WordPieceTokenizer(specials + ["a", "man", "plays", "music", "."])
    >>> preprocessor = Preprocessor(tokenizer, sequence_length=8)
    >>> preprocessor((["A man plays."], ["Music."]))["token_ids"].numpy().tolist()
    [[2, 5, 6, 7, 3, 8, 9, 3]]
    >>> fixed = Preprocessor(tokenizer, sequence_length=10, padding="fixed")
    >>> fixed(["Music."])["token_ids"].numpy().tolist()
    [[2, 8, 9, 3, 0, 0, 0, 0, 0, 0]]
    """

    def __init__(self, tokenizer, sequence_length=128, family=None, padding="longest",
                 pad_to_multiple_of=DEFAULT_PAD_TO_MULTIPLE_OF, **kwargs):
        super().__init__(**kwargs)
        self._convert_input_args = False
        self._allow_non_tensor_positional_args = True
        self.tokenizer = tokenizer
        self.sequence_length = int(sequence_length)
        self.family = families.check_family(family or tokenizer.family)
        if self.sequence_length < 3:
            raise ValueError(
                f"sequence_length={sequence_length} leaves no room for tokens after the "
                "special tokens; use at least 3 (4 for BERT pairs, 5 for RoBERTa/BART pairs)"
            )
        if padding not in PADDINGS:
            raise ValueError(f"padding={padding!r} is not one of {PADDINGS}")
        if isinstance(pad_to_multiple_of, bool) or int(pad_to_multiple_of) < 1:
            raise ValueError(f"pad_to_multiple_of={pad_to_multiple_of!r} must be a positive "
                             "integer (1: no rounding)")
        self.padding = padding
        self.pad_to_multiple_of = int(pad_to_multiple_of)
        ids = tokenizer.special_token_ids
        self._cls_id, self._sep_id, self._pad_id = ids["cls"], ids["sep"], ids["pad"]
        self.built = True

    def call(self, inputs):
        # A tuple is a pair (texts_a, texts_b) or a 1-tuple of texts; a list is a batch of texts.
        if isinstance(inputs, tuple) and len(inputs) == 2:
            first, second = inputs
        elif isinstance(inputs, tuple) and len(inputs) == 1:
            first, second = inputs[0], None
        else:
            first, second = inputs, None
        first = tf.convert_to_tensor(first)
        unbatched = first.shape.rank == 0
        segments_a = self.tokenizer.tokenize(tf.reshape(first, [-1]))
        segments_b = None
        if second is not None:
            segments_b = self.tokenizer.tokenize(tf.reshape(tf.convert_to_tensor(second), [-1]))
        outputs = pack_inputs(
            segments_a,
            segments_b,
            sequence_length=self.sequence_length,
            cls_id=self._cls_id,
            sep_id=self._sep_id,
            pad_id=self._pad_id,
            layout=_LAYOUTS[self.family],
        )
        if self.padding == "longest":
            outputs = trim_to_longest(outputs, self.pad_to_multiple_of)
        if unbatched:
            outputs = {k: v[0] for k, v in outputs.items()}
        return outputs

    def compute_output_spec(self, inputs):
        first = inputs[0] if isinstance(inputs, tuple) else inputs
        length = self.sequence_length if self.padding == "fixed" else None
        shape = tuple(first.shape) + (length,)
        names = ["token_ids", "padding_mask"]
        if _LAYOUTS[self.family] == "bert":
            names.append("segment_ids")
        return {name: keras.KerasTensor(shape, dtype="int32") for name in names}

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "tokenizer": keras.saving.serialize_keras_object(self.tokenizer),
                "sequence_length": self.sequence_length,
                "family": self.family,
                "padding": self.padding,
                "pad_to_multiple_of": self.pad_to_multiple_of,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["tokenizer"] = keras.saving.deserialize_keras_object(config["tokenizer"])
        return cls(**config)

    @classmethod
    def from_preset(cls, handle, *, sequence_length=None, download=None):
        """The preprocessor of a model handle (see `keras_bert_zoo.models.loading`).

        Args:
            handle: a local Hugging Face model directory, a local keras-hub preset directory,
                a directory written by this package or `hf://org/name`. Preset names carry no vocabulary and are refused.
            sequence_length: output length; default: the handle's (or its tokenizer's
                `model_max_length`, capped at the backbone's limit).
            download: `repo_id -> directory` for `hf://` handles.

        Example::

            preprocessor = Preprocessor.from_preset("path/to/all-MiniLM-L6-v2",
                                                    sequence_length=128)
        """
        from keras_bert_zoo.models import loading

        if loading.is_preset_name(handle):
            raise ValueError(f"{handle!r} is a preset: an architecture without a vocabulary; "
                             "pass a model directory or hf://org/name, or build a "
                             "Preprocessor from a tokenizer you trained")
        directory = loading.resolve_handle(handle, download)
        return loading.load_preprocessor_handle(directory, sequence_length)

    def save(self, directory):
        """Writes the tokenizer files and `preprocessor_config.json` into `directory`."""
        self.tokenizer.save(directory)
        config = {
            "class": type(self).__name__,
            "sequence_length": self.sequence_length,
            "family": self.family,
            "padding": self.padding,
            "pad_to_multiple_of": self.pad_to_multiple_of,
        }
        with open(os.path.join(directory, CONFIG_FILENAME), "w", encoding="utf-8") as f:
            json.dump(config, f, indent=2, sort_keys=True)
            f.write("\n")


def load_preprocessor(directory):
    """Loads a Preprocessor written by `Preprocessor.save(directory)`."""
    path = os.path.join(directory, CONFIG_FILENAME)
    if not os.path.exists(path):
        raise FileNotFoundError(
            f"no {CONFIG_FILENAME} in {directory!r}; write one with preprocessor.save(directory)"
        )
    with open(path, encoding="utf-8") as f:
        config = json.load(f)
    if config.pop("class") != "Preprocessor":
        raise ValueError(f"{path} does not describe a Preprocessor")
    return Preprocessor(load_tokenizer(directory), **config)
