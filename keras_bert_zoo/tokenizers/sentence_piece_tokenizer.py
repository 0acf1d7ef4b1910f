"""SentencePiece tokenizer (ALBERT), in-graph with tensorflow-text.

ALBERT's `tokenization.preprocess_text` (and `transformers.AlbertTokenizer`) prepares the text
before SentencePiece: collapse whitespace, turn `` and '' into ", drop accents (NFKD, remove
combining marks) unless `keep_accents`, and lowercase. The same steps run here as TF ops, so
`tokenize(text)` equals `SentencePieceProcessor.encode(preprocess_text(text))`.

Two tf-text kernels run the model. Unigram models with SentencePiece's default `nmt_nfkc`
normalizer (ALBERT's, and what `train_sentencepiece` makes by default) go through
`FastSentencepieceTokenizer`: stateless (the model is a tensor, not a resource), twice as
fast, and exactly SentencePiece's ids (the resource-based kernel breaks exact score ties
differently on a few lines in 10,000). Other models (BPE, custom normalizers) go through
`SentencepieceTokenizer`, whose model lives in a resource owned by a kernel:
`tf.random.set_seed`, `keras.utils.set_random_seed` and `keras.backend.clear_session` clear the
kernel cache and delete it. In Python the tokenizer then builds it again; only a SavedModel
loaded before such a call cannot, so seed before loading one.
"""

import base64
import os
import unicodedata

import keras
import sentencepiece
import tensorflow as tf
import tensorflow_text as tf_text
from sentencepiece import sentencepiece_model_pb2

from keras_bert_zoo.tokenizers.tokenizer import Tokenizer, by_rows
from keras_bert_zoo.tokenizers.word_piece_tokenizer import python_lower

PROTO_FILENAME = "spiece.model"
_UNIGRAM = 1  # sentencepiece ModelProto.TrainerSpec.ModelType

# What Python's str.split() splits on (str.isspace), so `" ".join(text.split())` matches.
_PY_WHITESPACE_RUN = (
    r"[\t\n\x0B\f\r\x1C-\x1F \x{85}\x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}"
    r"\x{202F}\x{205F}\x{3000}]+"
)


def preprocess_text(text, lowercase=True, keep_accents=False, remove_space=True):
    """ALBERT's `tokenization.preprocess_text` in Python (used to prepare training text).

    Example:
    >>> preprocess_text("  Crème  ``brûlée'' ")
    'creme "brulee"'
    """
    if remove_space:
        text = " ".join(text.strip().split())
    text = text.replace("``", '"').replace("''", '"')
    if not keep_accents:
        text = unicodedata.normalize("NFKD", text)
        text = "".join(c for c in text if not unicodedata.combining(c))
    if lowercase:
        text = text.lower()
    return text


def read_proto(proto):
    """Returns the serialized model from a path or bytes."""
    if isinstance(proto, (bytes, bytearray)):
        return bytes(proto)
    if isinstance(proto, (str, os.PathLike)):
        path = os.fspath(proto)
        if not os.path.exists(path):
            raise FileNotFoundError(f"SentencePiece model file {path!r} does not exist")
        with open(path, "rb") as f:
            return f.read()
    raise ValueError(
        f"proto must be a path to a .model file or its bytes, got {type(proto).__name__}"
    )


def stateless_kernel_is_exact(proto):
    """Whether tf-text's FastSentencepieceTokenizer gives SentencePiece's own ids for a model.

    It does for unigram models with the default `nmt_nfkc` normalizer and no byte fallback; it
    does not for BPE models (other merges) or the `identity` normalizer (tabs, newlines).
    """
    model = sentencepiece_model_pb2.ModelProto()
    model.ParseFromString(proto)
    return (
        model.trainer_spec.model_type == _UNIGRAM
        and not model.trainer_spec.byte_fallback
        and model.normalizer_spec.name == "nmt_nfkc"
        and not model.normalizer_spec.normalization_rule_tsv
        and not model.HasField("denormalizer_spec")
    )


class _ResourceSentencepiece(tf.Module):
    """tf-text's resource-based SentencepieceTokenizer, built again when its resource is gone.

    The resource belongs to a cached kernel that `tf.random.set_seed` and `clear_session`
    discard. Eager calls retry once after building it again; traced calls (tf.function,
    tf.data) check it eagerly first, so the graph captures a live resource.
    """

    def __init__(self, proto):
        super().__init__()
        self._proto = proto
        self._build()

    def _build(self):
        self.tokenizer = tf_text.SentencepieceTokenizer(model=self._proto, out_type=tf.int32)

    def _call(self, method, inputs):
        if tf.executing_eagerly():
            try:
                return getattr(self.tokenizer, method)(inputs)
            except tf.errors.NotFoundError:
                self._build()
                return getattr(self.tokenizer, method)(inputs)
        with tf.init_scope():
            try:
                self.tokenizer.tokenize(tf.constant([""]))
            except tf.errors.NotFoundError:
                self._build()
        return getattr(self.tokenizer, method)(inputs)

    def tokenize(self, inputs):
        return self._call("tokenize", inputs)

    def detokenize(self, ids):
        return self._call("detokenize", ids)


@keras.saving.register_keras_serializable(package="keras_bert_zoo")
class SentencePieceTokenizer(Tokenizer):
    """SentencePiece tokenizer with ALBERT's text preparation.

    Args:
        proto: path to a SentencePiece .model file, or its bytes.
        lowercase: lowercase before SentencePiece (ALBERT: True).
        keep_accents: keep accents; False drops them via NFKD (ALBERT: False).
        remove_space: strip and collapse whitespace runs to one space (ALBERT: True).
        family: which family's special tokens the model must contain.

    Example (with ALBERT's released model file)::

        tokenizer = SentencePieceTokenizer("30k-clean.model")
        tokenizer.tokenize(["Hello world"])  # [[10975, 126]]
    """

    def __init__(
        self,
        proto,
        lowercase=True,
        keep_accents=False,
        remove_space=True,
        family="albert",
        **kwargs,
    ):
        super().__init__(family=family, **kwargs)
        self._proto = read_proto(proto)
        processor = sentencepiece.SentencePieceProcessor(model_proto=self._proto)
        size = processor.get_piece_size()
        self._set_vocabulary([processor.id_to_piece(i) for i in range(size)])
        self._not_words = {
            i
            for i in range(size)
            if processor.is_control(i) or processor.is_unknown(i) or processor.is_unused(i)
        }
        self.lowercase = bool(lowercase)
        self.keep_accents = bool(keep_accents)
        self.remove_space = bool(remove_space)
        if stateless_kernel_is_exact(self._proto):
            self._sentencepiece = tf_text.FastSentencepieceTokenizer(self._proto)
        else:
            self._sentencepiece = _ResourceSentencepiece(self._proto)

    @property
    def proto(self):
        """The serialized SentencePiece model."""
        return self._proto

    def continuation_table(self):
        table = super().continuation_table()
        table[sorted(self._not_words)] = False
        return table

    def _is_continuation(self, token):
        return not token.startswith("\u2581")  # "▁" marks the start of a word

    def normalize(self, inputs):
        """ALBERT's `preprocess_text` as TF ops.

        ASCII texts (most of English text) skip the steps that do nothing to them: UTF-8
        repair, NFKD, removing combining marks and Unicode lowercasing (ASCII lowercasing
        instead). Their share of a batch goes through the short path, the rest through the full
        one, and the results are put back in order.
        """
        inputs = tf.convert_to_tensor(inputs, tf.string)
        flat = tf.reshape(inputs, [-1])
        normalized = by_rows(
            flat, tf.strings.regex_full_match(flat, r"[\x00-\x7F]*"),
            lambda x: self._normalize(x, ascii_only=True), self._normalize,
        )
        return tf.reshape(normalized, tf.shape(inputs))

    def _normalize(self, x, ascii_only=False):
        if not ascii_only:
            x = tf.strings.unicode_transcode(
                x, "UTF-8", "UTF-8", errors="replace", replacement_char=0xFFFD
            )
        if self.remove_space:
            x = tf.strings.regex_replace(x, _PY_WHITESPACE_RUN, " ")
            x = tf.strings.strip(x)  # the runs are single spaces now
        x = tf.strings.regex_replace(x, "``|''", '"')
        if not self.keep_accents and not ascii_only:
            x = tf_text.normalize_utf8(x, "NFKD")
            x = tf.strings.regex_replace(x, r"\p{Mn}", "")
        if self.lowercase:
            x = tf.strings.lower(x) if ascii_only else python_lower(x)
        return x

    def _tokenize_batch(self, inputs):
        ids = self._sentencepiece.tokenize(self.normalize(inputs))
        return ids.with_row_splits_dtype(tf.int64)

    def _detokenize_batch(self, ids):
        return self._sentencepiece.detokenize(ids)

    def _save_files(self, directory):
        with open(os.path.join(directory, PROTO_FILENAME), "wb") as f:
            f.write(self._proto)
        return {"proto": PROTO_FILENAME}

    def _file_free_config(self):
        return {
            "lowercase": self.lowercase,
            "keep_accents": self.keep_accents,
            "remove_space": self.remove_space,
        }

    def get_config(self):
        config = super().get_config()
        config["proto"] = {"base64": base64.b64encode(self._proto).decode("ascii")}
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if isinstance(config.get("proto"), dict):
            config["proto"] = base64.b64decode(config["proto"]["base64"])
        return cls(**config)
