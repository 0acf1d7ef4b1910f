"""Training a vocabulary from text files, with the fast trainers of `tokenizers` and
`sentencepiece`, and the special tokens of each family at the start of the vocabulary.

Files are read as UTF-8. With `errors="replace"` (the default) undecodable bytes become U+FFFD
and a warning counts the lines affected; with `errors="strict"` a ValueError names the file and
line.
"""

import glob
import io
import json
import os
import warnings

import sentencepiece
import tokenizers

from keras_bert_zoo.tokenizers import families
from keras_bert_zoo.tokenizers.byte_pair_tokenizer import BytePairTokenizer
from keras_bert_zoo.tokenizers.sentence_piece_tokenizer import SentencePieceTokenizer
from keras_bert_zoo.tokenizers.sentence_piece_tokenizer import preprocess_text
from keras_bert_zoo.tokenizers.word_piece_tokenizer import WordPieceTokenizer


def expand_files(files):
    """Glob pattern(s) or path(s) -> sorted list of files; FileNotFoundError if none match."""
    patterns = [files] if isinstance(files, (str, os.PathLike)) else list(files)
    if not patterns:
        raise FileNotFoundError("no corpus files given")
    paths = []
    for pattern in patterns:
        pattern = os.fspath(pattern)
        matches = sorted(p for p in glob.glob(pattern, recursive=True) if os.path.isfile(p))
        if not matches:
            raise FileNotFoundError(f"no files match {pattern!r}")
        paths.extend(matches)
    return paths


def read_lines(paths, errors="replace", remedy="pass errors='replace'"):
    """Yields the lines (without line breaks) of UTF-8 files.

    Args:
        paths: list of file paths.
        errors: "replace" turns undecodable bytes into U+FFFD and warns with a count;
            "strict" raises a ValueError naming the file and line.
        remedy: how the caller's user turns replacement on, quoted in the strict error.
    """
    if errors not in ("replace", "strict"):
        raise ValueError(f"errors={errors!r}; expected 'replace' or 'strict'")
    bad_lines = 0
    for path in paths:
        with open(path, "rb") as f:
            for line_number, raw in enumerate(f, start=1):
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError as e:
                    if errors == "strict":
                        raise ValueError(
                            f"{path}:{line_number}: invalid UTF-8 ({e.reason} at byte "
                            f"{e.start}); fix the file or {remedy}"
                        ) from None
                    bad_lines += 1
                    line = raw.decode("utf-8", errors="replace")
                yield line.rstrip("\r\n")
    if bad_lines:
        warnings.warn(
            f"{bad_lines} line(s) of the corpus had invalid UTF-8; the bytes were replaced "
            "by U+FFFD (pass errors='strict' to fail instead)",
            stacklevel=2,
        )


def _corpus(files, errors):
    """Checked iterator over the non-empty lines of the corpus."""
    paths = expand_files(files)
    # Fail early on an empty corpus, before a trainer starts.
    if not any(line.strip() for line in read_lines(paths, errors="replace")):
        raise ValueError(f"the corpus is empty: no text in {', '.join(paths)}")
    return (line for line in read_lines(paths, errors) if line.strip())


def train_wordpiece(
    files,
    vocabulary_size,
    *,
    lowercase=True,
    strip_accents=None,
    min_frequency=2,
    limit_alphabet=1000,
    errors="replace",
):
    """Trains a BERT WordPiece vocabulary ([PAD]=0, [UNK]=1, [CLS]=2, [SEP]=3, [MASK]=4).

    Args:
        files: glob pattern, path, or list of them (UTF-8 text).
        vocabulary_size: the number of tokens wanted, special tokens included.
        lowercase: train an uncased vocabulary (and return an uncased tokenizer).
        strip_accents: defaults to `lowercase`, as in BERT.
        min_frequency: minimum count of a merged piece.
        limit_alphabet: maximum number of distinct initial characters.
        errors: "replace" or "strict" handling of invalid UTF-8.

    Example::

        tokenizer = train_wordpiece("corpus/*.txt", 8000)
    """
    lines = _corpus(files, errors)
    trainer = tokenizers.BertWordPieceTokenizer(
        clean_text=True,
        handle_chinese_chars=True,
        strip_accents=lowercase if strip_accents is None else strip_accents,
        lowercase=lowercase,
    )
    trainer.train_from_iterator(
        lines,
        vocab_size=vocabulary_size,
        min_frequency=min_frequency,
        limit_alphabet=limit_alphabet,
        special_tokens=families.TRAINING_SPECIAL_TOKENS["bert"],
        show_progress=False,
    )
    vocabulary = trainer.get_vocab()
    tokens = sorted(vocabulary, key=vocabulary.get)
    return WordPieceTokenizer(tokens, lowercase=lowercase, strip_accents=strip_accents)


def train_sentencepiece(
    files,
    vocabulary_size,
    *,
    lowercase=True,
    keep_accents=False,
    model_type="unigram",
    character_coverage=0.99995,
    max_sentences=10_000_000,
    seed_sentencepiece_size=1_000_000,
    errors="replace",
):
    """Trains an ALBERT SentencePiece model (<pad>=0, <unk>=1, [CLS]=2, [SEP]=3, [MASK]=4).

    The text goes through ALBERT's `preprocess_text` first (lowercase, no accents), as the
    returned tokenizer does before encoding.

    Args:
        files: glob pattern, path, or list of them (UTF-8 text).
        vocabulary_size: the number of pieces, special tokens included.
        lowercase, keep_accents: ALBERT's text preparation (see SentencePieceTokenizer).
        model_type: "unigram" (ALBERT) or "bpe".
        character_coverage: share of characters covered by the vocabulary.
        max_sentences: sample at most this many lines.
        seed_sentencepiece_size: unigram seed vocabulary size.
        errors: "replace" or "strict" handling of invalid UTF-8.

    Example::

        tokenizer = train_sentencepiece("corpus/*.txt", 8000)
    """
    lines = _corpus(files, errors)
    sentences = (preprocess_text(line, lowercase, keep_accents) for line in lines)
    model = io.BytesIO()
    try:
        sentencepiece.SentencePieceTrainer.train(
            sentence_iterator=sentences,
            model_writer=model,
            vocab_size=vocabulary_size,
            model_type=model_type,
            pad_id=0,
            unk_id=1,
            bos_id=-1,
            eos_id=-1,
            pad_piece="<pad>",
            unk_piece="<unk>",
            control_symbols=["[CLS]", "[SEP]", "[MASK]"],
            character_coverage=character_coverage,
            input_sentence_size=max_sentences,
            shuffle_input_sentence=True,
            seed_sentencepiece_size=seed_sentencepiece_size,
            num_threads=os.cpu_count() or 1,
            minloglevel=2,
        )
    except RuntimeError as e:
        raise ValueError(f"sentencepiece training failed: {e}") from None
    return SentencePieceTokenizer(
        model.getvalue(), lowercase=lowercase, keep_accents=keep_accents
    )


def train_byte_level_bpe(
    files,
    vocabulary_size,
    *,
    min_frequency=2,
    family="roberta",
    errors="replace",
):
    """Trains a byte-level BPE vocabulary (<s>=0, <pad>=1, </s>=2, <unk>=3, <mask>=4).

    Args:
        files: glob pattern, path, or list of them (UTF-8 text).
        vocabulary_size: the number of tokens, the 256 bytes and special tokens included.
        min_frequency: minimum count of a merged pair.
        family: "roberta" or "bart".
        errors: "replace" or "strict" handling of invalid UTF-8.

    Example::

        tokenizer = train_byte_level_bpe("corpus/*.txt", 8000)
    """
    lines = _corpus(files, errors)
    trainer = tokenizers.ByteLevelBPETokenizer(add_prefix_space=False)
    trainer.train_from_iterator(
        lines,
        vocab_size=vocabulary_size,
        min_frequency=min_frequency,
        special_tokens=families.TRAINING_SPECIAL_TOKENS[family],
        show_progress=False,
    )
    model = json.loads(trainer.to_str())["model"]
    merges = [m if isinstance(m, str) else " ".join(m) for m in model["merges"]]
    return BytePairTokenizer(model["vocab"], merges, family=family)


_TRAINERS = {
    "bert": train_wordpiece,
    "albert": train_sentencepiece,
    "roberta": lambda files, size, **kw: train_byte_level_bpe(files, size, family="roberta", **kw),
    "bart": lambda files, size, **kw: train_byte_level_bpe(files, size, family="bart", **kw),
}


def train_tokenizer(family, files, vocabulary_size, output_dir=None, **kwargs):
    """Trains the tokenizer kind of `family` and optionally saves it to `output_dir`.

    Args:
        family: "bert", "albert", "roberta" or "bart".
        files: glob pattern, path, or list of them (UTF-8 text).
        vocabulary_size: number of tokens, special tokens included.
        output_dir: if given, `tokenizer.save(output_dir)`.
        **kwargs: passed to the family's trainer (train_wordpiece, train_sentencepiece,
            train_byte_level_bpe).

    Example::

        tokenizer = train_tokenizer("roberta", "corpus/*.txt", 8000, output_dir="vocab/")
    """
    tokenizer = _TRAINERS[families.check_family(family)](files, vocabulary_size, **kwargs)
    if output_dir is not None:
        tokenizer.save(output_dir)
    return tokenizer
