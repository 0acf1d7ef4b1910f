"""Training a vocabulary from text files, with the special tokens of each family at the start.

Training is deterministic: the same corpus and arguments give the same vocabulary, byte for
byte, in any process and on any number of cores.

* WordPiece: `tokenizers`' BERT normalizer and pre-tokenizer count the words, then the BPE merges
  of `tokenizers`' BertWordPiece trainer ("##" marks a piece inside a word) run here, with ties
  between equally frequent merges broken by the new token's string. (The Rust trainer numbers
  the "##" pieces in hash-map order, which changes from process to process, and breaks ties by
  those numbers.)
* SentencePiece: a fixed thread count (the pieces depend on it), and a seeded sample of lines
  drawn here when the corpus is too large (sentencepiece's own sampling ignores its seed).
* Byte-level BPE: `tokenizers`' trainer as it is: it counts with integer sums and breaks ties
  by the ids of the pair, which follow the sorted byte alphabet and the order of the merges.

Files are read as UTF-8. With `errors="replace"` (the default) undecodable bytes become U+FFFD
and a warning counts the lines affected; with `errors="strict"` a ValueError names the file and
line.
"""

import collections
import glob
import heapq
import io
import json
import os
import random
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


def _count_lines(files):
    """The number of non-empty lines of the corpus (undecodable bytes replaced, silently)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return sum(1 for line in read_lines(expand_files(files)) if line.strip())


def _sample(lines, num_lines, size, seed):
    """Yields `size` of the `num_lines` lines, in corpus order, every choice equally likely.

    Selection sampling (Knuth's Algorithm S): one pass, no memory beyond the current line.
    """
    rng = random.Random(seed)
    for seen, line in enumerate(lines):
        if size == 0:
            return
        if rng.random() * (num_lines - seen) < size:
            size -= 1
            yield line


def _merge_word(symbols, left, right, new_token):
    """`symbols` with each occurrence of (left, right), taken left to right, as `new_token`."""
    merged = []
    i, n = 0, len(symbols)
    while i < n:
        if i + 1 < n and symbols[i] == left and symbols[i + 1] == right:
            merged.append(new_token)
            i += 2
        else:
            merged.append(symbols[i])
            i += 1
    return merged


def _bpe_merges(words, counts, vocabulary, vocabulary_size, min_frequency, prefix):
    """Appends BPE merges to `vocabulary` until it has `vocabulary_size` tokens.

    The most frequent adjacent pair is merged first; ties go to the smaller new token string,
    then the smaller left piece, so the result depends on nothing but the counts. A right piece
    loses its continuation `prefix` in the merged token ("##a" + "##b" -> "##ab").

    Args:
        words: list of lists of pieces, modified in place.
        counts: the count of each word.
        vocabulary: list of tokens so far (special tokens and the alphabet), extended in place.
        vocabulary_size: stop when the vocabulary has this many tokens.
        min_frequency: stop when the best pair is rarer than this.
        prefix: continuation prefix of pieces inside a word ("##"), or "".
    """
    known = set(vocabulary)
    pair_counts = collections.Counter()
    where = collections.defaultdict(set)  # pair -> indices of the words that may hold it
    for i, (symbols, count) in enumerate(zip(words, counts)):
        for pair in zip(symbols, symbols[1:]):
            pair_counts[pair] += count
            where[pair].add(i)

    def merged_token(left, right):
        return left + (right[len(prefix):] if prefix and right.startswith(prefix) else right)

    # Entries (-count, new token, left, right). A popped entry whose count is no longer the
    # pair's goes back with the current count; counts only grow for pairs holding the newest
    # token, which are pushed when they do, so the first up-to-date entry is the best pair.
    heap = [(-c, merged_token(*pair), *pair) for pair, c in pair_counts.items()]
    heapq.heapify(heap)
    while len(known) < vocabulary_size and heap:
        negative_count, new_token, left, right = heapq.heappop(heap)
        count = pair_counts.get((left, right), 0)
        if count != -negative_count:
            if count > 0:
                heapq.heappush(heap, (-count, new_token, left, right))
            continue
        if count < max(min_frequency, 1):
            break
        if new_token not in known:
            known.add(new_token)
            vocabulary.append(new_token)
        grown = set()
        for i in sorted(where.pop((left, right), ())):
            symbols = words[i]
            merged = _merge_word(symbols, left, right, new_token)
            if len(merged) == len(symbols):
                continue  # the pair left this word in an earlier merge
            count = counts[i]
            for pair in zip(symbols, symbols[1:]):
                pair_counts[pair] -= count
            for pair in zip(merged, merged[1:]):
                pair_counts[pair] += count
                if new_token in pair:
                    where[pair].add(i)
                    grown.add(pair)
            words[i] = merged
        del pair_counts[(left, right)]
        for pair in grown:
            if pair_counts[pair] > 0:
                heapq.heappush(heap, (-pair_counts[pair], merged_token(*pair), *pair))
    return vocabulary


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

    BPE with "##" on the pieces inside a word, as `tokenizers`' BertWordPiece trainer does it,
    but deterministic: ties between equally frequent merges go to the smaller token string.
    The vocabulary is the special tokens, the alphabet and its "##" forms (each sorted by code
    point), then the merged tokens in the order they were made.

    Args:
        files: glob pattern, path, or list of them (UTF-8 text).
        vocabulary_size: the number of tokens wanted, special tokens included.
        lowercase: train an uncased vocabulary (and return an uncased tokenizer).
        strip_accents: defaults to `lowercase`, as in BERT.
        min_frequency: minimum count of a merged piece.
        limit_alphabet: maximum number of distinct initial characters (the most frequent;
            ties go to the smaller code point); the other characters are left out of words.
        errors: "replace" or "strict" handling of invalid UTF-8.

    Example::

        tokenizer = train_wordpiece("corpus/*.txt", 8000)
    """
    lines = _corpus(files, errors)
    normalizer = tokenizers.normalizers.BertNormalizer(
        clean_text=True,
        handle_chinese_chars=True,
        strip_accents=lowercase if strip_accents is None else strip_accents,
        lowercase=lowercase,
    )
    pre_tokenizer = tokenizers.pre_tokenizers.BertPreTokenizer()
    word_counts = collections.Counter()
    for line in lines:
        for word, _ in pre_tokenizer.pre_tokenize_str(normalizer.normalize_str(line)):
            word_counts[word] += 1

    char_counts = collections.Counter()
    for word, count in word_counts.items():
        for char in word:
            char_counts[char] += count
    frequent = sorted(char_counts, key=lambda c: (-char_counts[c], c))
    alphabet = set(frequent[:limit_alphabet] if limit_alphabet is not None else frequent)

    words, counts, inner = [], [], set()
    for word in sorted(word_counts):
        # A character outside the alphabet is left out; the rest keep their place in the word.
        symbols = [c if i == 0 else "##" + c for i, c in enumerate(word) if c in alphabet]
        if symbols:
            inner.update(s for s in symbols if s.startswith("##"))
            words.append(symbols)
            counts.append(word_counts[word])
    vocabulary = list(dict.fromkeys(families.TRAINING_SPECIAL_TOKENS["bert"]))
    vocabulary += [t for t in sorted(alphabet) + sorted(inner) if t not in vocabulary]
    tokens = _bpe_merges(words, counts, vocabulary, vocabulary_size, min_frequency, "##")
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
    num_threads=16,
    seed=0,
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
        max_sentences: train on at most this many lines, a sample of the corpus (in its
            order) when it has more.
        seed_sentencepiece_size: unigram seed vocabulary size.
        num_threads: training threads. The pieces depend on it, so it is a fixed number
            rather than the machine's core count.
        seed: seed of the sample of lines taken when the corpus has more than
            `max_sentences`.
        errors: "replace" or "strict" handling of invalid UTF-8.

    Example::

        tokenizer = train_sentencepiece("corpus/*.txt", 8000)
    """
    lines = _corpus(files, errors)
    num_lines = _count_lines(files)
    if num_lines > max_sentences:
        # Sampled here: sentencepiece's own sampling ignores its random seed.
        lines = _sample(lines, num_lines, max_sentences, seed)
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
            shuffle_input_sentence=False,
            seed_sentencepiece_size=seed_sentencepiece_size,
            num_threads=num_threads,
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
