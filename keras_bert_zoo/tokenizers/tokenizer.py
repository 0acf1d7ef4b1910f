"""Common interface of the three tokenizers, saving, and `load_tokenizer`.

A tokenizer is a Keras layer made of in-graph TensorFlow ops, so it runs inside `tf.data`,
`tf.function` and an exported SavedModel. `tokenize` maps a `tf.string` scalar to a 1-D int32
tensor and a 1-D batch to an int32 `tf.RaggedTensor` of shape (batch, None); it never adds
special tokens (see `keras_bert_zoo.tokenizers.Preprocessor` for that).
"""

import json
import os

import keras
import numpy as np
import tensorflow as tf

from keras_bert_zoo.tokenizers import families

CONFIG_FILENAME = "tokenizer_config.json"


def by_rows(inputs, short, short_path, full_path):
    """`short_path` on the rows of `inputs` where `short` is true, `full_path` on the others,
    the results (tensors or ragged tensors) back in row order. Lets a tokenizer skip steps
    that are the identity on most text (plain ASCII) without changing any result."""
    short_rows = tf.reshape(tf.where(short), [-1])
    full_rows = tf.reshape(tf.where(tf.logical_not(short)), [-1])
    results = tf.concat(
        [short_path(tf.gather(inputs, short_rows)), full_path(tf.gather(inputs, full_rows))],
        axis=0,
    )
    return tf.gather(results, tf.math.invert_permutation(tf.concat([short_rows, full_rows], 0)))


class Tokenizer(keras.layers.Layer):
    """Base class: vocabulary queries, special tokens, shape handling and saving.

    Subclasses set the vocabulary with `_set_vocabulary(tokens)` and implement
    `_tokenize_batch(strings) -> RaggedTensor` and `_detokenize_batch(ragged_ids) -> strings`.
    """

    def __init__(self, family, **kwargs):
        super().__init__(**kwargs)
        self.family = families.check_family(family)
        # Keep tf.string inputs as TF tensors instead of converting them to backend tensors.
        self._convert_input_args = False
        self._allow_non_tensor_positional_args = True
        self.built = True

    # Vocabulary --------------------------------------------------------------------------
    def _set_plain(self, **attributes):
        """Sets attributes that hold plain Python data (lists, dicts) without Keras' and
        TensorFlow's attribute tracking, which wraps every element (0.15 s for a 50,000-token
        byte-level BPE vocabulary); nothing in them is a layer, variable or table."""
        for name, value in attributes.items():
            object.__setattr__(self, name, value)

    def _set_vocabulary(self, tokens):
        token_to_id = {}
        for i, token in enumerate(tokens):
            token_to_id.setdefault(token, i)
        self._set_plain(_id_to_token_list=tuple(tokens), _token_to_id_dict=token_to_id)
        wanted = families.special_tokens(self.family)
        missing = {}
        for role, token in wanted.items():
            if token not in self._token_to_id_dict:
                missing.setdefault(token, []).append(role)
        if missing:
            names = ", ".join(f"no {token!r} token" for token in missing)
            roles = "; ".join(f"{t} as {'/'.join(r)}" for t, r in missing.items())
            raise ValueError(
                f"vocabulary has {names}; the {self.family!r} family needs {roles}. "
                "Add them to the vocabulary (train with "
                f"keras_bert_zoo.tokenizers.train_tokenizer({self.family!r}, ...) to get "
                "all special tokens), or pass the family= whose special tokens it has "
                f"(one of {', '.join(families.FAMILIES)})"
            )
        self._special_tokens = wanted

    @property
    def vocabulary_size(self):
        """Number of tokens in the vocabulary (the largest id plus one)."""
        return len(self._id_to_token_list)

    def get_vocabulary(self):
        """Returns the vocabulary as a list of strings, indexed by id."""
        return list(self._id_to_token_list)

    def token_to_id(self, token):
        """Returns the id of `token`; raises a KeyError if it is not in the vocabulary."""
        try:
            return self._token_to_id_dict[token]
        except KeyError:
            raise KeyError(f"token {token!r} is not in the vocabulary") from None

    def id_to_token(self, id):
        """Returns the token string of `id`; raises an IndexError if out of range."""
        id = int(id)
        if not 0 <= id < self.vocabulary_size:
            raise IndexError(f"id={id} is outside [0, {self.vocabulary_size})")
        return self._id_to_token_list[id]

    # Special tokens ----------------------------------------------------------------------
    @property
    def special_tokens(self):
        """Dict role -> token string, roles among cls, sep, mask, pad, unk, bos, eos."""
        return dict(self._special_tokens)

    @property
    def special_token_ids(self):
        """Dict role -> token id."""
        return {role: self.token_to_id(t) for role, t in self._special_tokens.items()}

    @property
    def all_special_ids(self):
        """Sorted list of the distinct ids of all special tokens."""
        return sorted(set(self.special_token_ids.values()))

    def continuation_table(self):
        """Bool array [vocabulary_size], True where a token continues the previous word.

        Used for whole-word masking: a word is a token with False followed by all the
        following tokens with True.
        """
        table = np.array([self._is_continuation(t) for t in self._id_to_token_list], bool)
        table[self.all_special_ids] = False
        return table

    def _is_continuation(self, token):
        raise NotImplementedError

    # Tokenization ------------------------------------------------------------------------
    def tokenize(self, inputs):
        """Maps strings to int32 token ids, without special tokens.

        Args:
            inputs: a `tf.string` scalar (or Python str) or 1-D batch (or list of str).

        Returns:
            A 1-D int32 Tensor for a scalar input, an int32 RaggedTensor (batch, None) for a
            batch.
        """
        inputs = _as_string_tensor(inputs)
        if inputs.shape.rank == 0:
            return self._tokenize_batch(inputs[tf.newaxis])[0]
        return self._tokenize_batch(inputs)

    def detokenize(self, ids):
        """Maps token ids back to text.

        Args:
            ids: a 1-D int sequence (one text) or a 2-D dense or ragged batch of them.

        Returns:
            A `tf.string` scalar for 1-D input, a 1-D `tf.string` batch for 2-D input.
        """
        if not isinstance(ids, tf.RaggedTensor):
            ids = tf.convert_to_tensor(ids)
        ids = tf.cast(ids, tf.int32)
        if ids.shape.rank == 1:
            return self._detokenize_batch(tf.RaggedTensor.from_tensor(ids[tf.newaxis]))[0]
        if ids.shape.rank != 2:
            raise ValueError(f"detokenize expects 1-D or 2-D ids, got shape {ids.shape}")
        if not isinstance(ids, tf.RaggedTensor):
            ids = tf.RaggedTensor.from_tensor(ids)
        return self._detokenize_batch(ids)

    def call(self, inputs):
        return self.tokenize(inputs)

    def compute_output_spec(self, inputs):
        return keras.KerasTensor(inputs.shape + (None,), dtype="int32")

    def _tokenize_batch(self, inputs):
        raise NotImplementedError

    def _detokenize_batch(self, ids):
        raise NotImplementedError

    # Saving ------------------------------------------------------------------------------
    def save(self, directory):
        """Writes the vocabulary files and `tokenizer_config.json` into `directory`.

        Read it back with `keras_bert_zoo.tokenizers.load_tokenizer(directory)`.
        """
        os.makedirs(directory, exist_ok=True)
        files = self._save_files(directory)
        config = {"class": type(self).__name__, "family": self.family, "files": files}
        config.update(self._file_free_config())
        with open(os.path.join(directory, CONFIG_FILENAME), "w", encoding="utf-8") as f:
            json.dump(config, f, indent=2, sort_keys=True)
            f.write("\n")

    def _save_files(self, directory):
        """Writes vocabulary files, returns {constructor argument: file name}."""
        raise NotImplementedError

    def _file_free_config(self):
        """Constructor arguments other than the vocabulary files."""
        raise NotImplementedError

    def get_config(self):
        config = super().get_config()
        config.update({"family": self.family})
        config.update(self._file_free_config())
        return config


def _as_string_tensor(inputs):
    if isinstance(inputs, tf.RaggedTensor):
        raise ValueError("tokenize expects a string scalar or a 1-D string batch, got ragged")
    inputs = tf.convert_to_tensor(inputs)
    if inputs.dtype != tf.string:
        raise ValueError(f"tokenize expects tf.string inputs, got dtype {inputs.dtype.name}")
    if inputs.shape.rank not in (0, 1):
        raise ValueError(
            f"tokenize expects a string scalar or a 1-D batch, got shape {inputs.shape}; "
            "reshape to 1-D first (e.g. tf.reshape(x, [-1]))"
        )
    return inputs


def load_tokenizer(directory):
    """Loads a tokenizer written by `Tokenizer.save(directory)`.

    Args:
        directory: folder with `tokenizer_config.json` and the vocabulary files it names.

    Example:
    >>> import tempfile
    >>> from keras_bert_zoo.tokenizers import WordPieceTokenizer
    >>> specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    >>> directory = tempfile.mkdtemp()
    >>> WordPieceTokenizer(specials + ["hello", "world"]).save(directory)
    >>> load_tokenizer(directory).tokenize("Hello world!").numpy().tolist()
    [5, 6, 1]
    """
    # Imported here: the concrete classes import this module.
    from keras_bert_zoo.tokenizers.byte_pair_tokenizer import BytePairTokenizer
    from keras_bert_zoo.tokenizers.sentence_piece_tokenizer import SentencePieceTokenizer
    from keras_bert_zoo.tokenizers.word_piece_tokenizer import WordPieceTokenizer

    classes = {
        "WordPieceTokenizer": WordPieceTokenizer,
        "SentencePieceTokenizer": SentencePieceTokenizer,
        "BytePairTokenizer": BytePairTokenizer,
    }
    path = os.path.join(directory, CONFIG_FILENAME)
    if not os.path.exists(path):
        raise FileNotFoundError(
            f"no {CONFIG_FILENAME} in {directory!r}; write one with tokenizer.save(directory)"
        )
    with open(path, encoding="utf-8") as f:
        config = json.load(f)
    name = config.pop("class")
    if name not in classes:
        raise ValueError(f"{path}: unknown class {name!r}; expected one of {sorted(classes)}")
    files = config.pop("files")
    for argument, filename in files.items():
        config[argument] = os.path.join(directory, filename)
    return classes[name](**config)
