"""Pretraining input pipelines: files -> documents -> sentences -> ids -> objective -> batches.

Streaming: files are read line by line with `tf.data.TextLineDataset`; consecutive
non-blank lines form a document (blank lines separate documents; the end of a file ends a
document). Nothing holds the corpus in memory. The pipeline is pure tf.data (no
`py_function`, no `from_generator`), so:

* it is deterministic under `seed`: every random choice is a stateless op seeded from
  (seed, epoch, window / example / batch index): file order per epoch, NSP/SOP pairs,
  BART noise, and the masks (fresh for every batch of every epoch: dynamic masking); the
  one `Dataset.shuffle` (examples, before batching) has a fixed seed and spans epochs;
* its position can be saved and restored: `tf.train.Checkpoint(iterator=iter(ds))`
  (every stage, including the `scan`s that group documents and pack sentences and the
  shuffle buffer, saves its state), or `ds.skip(n)` after `n` consumed batches.
  (A `Dataset.shuffle` inside the per-epoch `flat_map` could not be checkpointed, hence
  the stateless file shuffle and the single outer shuffle.)

Documents shorter than a sequence are kept: they give a shorter (padded) NSP/SOP pair, and
with full-sentence packing they share a sequence with the next document.

Masked LM follows google-research/bert: [CLS] and [SEP] (`<s>` and `</s>`) and padding are
never masked nor drawn as random replacements; every other token, [UNK] included, is
masked at its frequency (`unmaskable_ids` excludes more).

Sharding with `tf.distribute.InputContext`: by files when there are at least as many files
as input pipelines, otherwise by documents.

Objectives and element structure `(x, y)`:

* "mlm_nsp" (BERT) / "mlm_sop" (ALBERT): sentence pairs `[CLS] A [SEP] B [SEP]` built per
  window of `document_window` documents (NSP negatives come from another document of the
  window or the previous window's last document, which every window also receives, so a
  window holding one document still has negatives), dynamic masking.
  x = {token_ids, segment_ids, padding_mask, mask_positions} int32,
  y = {mask_ids int32, mask_weights float32, sentence_label int32 [batch]}.
* "mlm" (RoBERTa): FULL-SENTENCES packing (whole sentences, across documents with a
  separator; `break_mode="fill"` cuts the token stream instead), dynamic masking.
  x = {token_ids, padding_mask, mask_positions}, y = {mask_ids, mask_weights}.
* "denoising" (BART): full sentences of one document per sequence, BART noise on whole
  words (`noise_unit="token"`: on tokens).
  x = {encoder_token_ids, encoder_padding_mask, decoder_token_ids, decoder_padding_mask},
  y = {target_ids int32, target_weights float32}; targets are `<s> ... </s>` padded, the
  decoder input is the target shifted right, starting with `</s>` (fairseq / HF BART).

Static masking (BERT's offline data): `write_static_pretraining_data` runs the same
pipeline `dupe_factor` times with different seeds into sharded TFRecords, and
`read_static_pretraining_data` reads them back with the same element structure.
"""

import glob
import json
import os
import sys

import numpy as np
import tensorflow as tf

from keras_bert_zoo.data.denoising import bart_noise, keep_last
from keras_bert_zoo.data.masking import as_seed, dynamic_seed, mask_tokens
from keras_bert_zoo.data.packing import (
    BREAK_MODES,
    complete_packing_dataset,
    fill_packing_dataset,
    pack_segments,
)
from keras_bert_zoo.data.sentence_pairs import create_sentence_pairs

OBJECTIVES = ("mlm_nsp", "mlm_sop", "mlm", "denoising")
DECODE_ERRORS = ("replace", "strict")
SENTENCE_SPLITS = ("regex", "line")
NOISE_UNITS = ("word", "token")
AUTOTUNE = tf.data.AUTOTUNE


# ----------------------------------------------------------------------------------------------
# Files and documents.


def list_files(files):
    """Sorted paths matching a glob, or a list of globs / paths.

    Raises:
        FileNotFoundError: naming the pattern, when nothing matches.
    """
    patterns = [files] if isinstance(files, (str, os.PathLike)) else list(files)
    paths = []
    for pattern in patterns:
        matches = sorted(glob.glob(os.fspath(pattern)))
        if not matches:
            raise FileNotFoundError(f"no files match files={os.fspath(pattern)!r}")
        paths.extend(matches)
    return paths


def _check_has_text(paths):
    """Raise ValueError unless some file has a non-blank line (reads lazily, stops early)."""
    for path in paths:
        with open(path, "rb") as f:
            for line in f:
                if line.strip():
                    return
    raise ValueError(
        f"the corpus {paths[:3]}{'...' if len(paths) > 3 else ''} contains no documents: "
        "every file is empty or blank"
    )


_LINES_PER_STEP = 1024  # lines read, checked and grouped into documents per step


def _decode_lines(path, numbers, lines, decode_errors):
    """Lines with undecodable UTF-8 bytes replaced (warning) or rejected (error)."""
    fixed = tf.strings.unicode_transcode(lines, "UTF-8", "UTF-8", errors="replace")
    bad = tf.not_equal(fixed, lines)

    def where():  # "path:line, path:line" of the bad lines
        return tf.strings.reduce_join(
            tf.strings.join([path, ":", tf.strings.as_string(tf.boolean_mask(numbers, bad))]),
            separator=", ",
        )

    def reject():
        check = tf.debugging.Assert(
            False, ["undecodable UTF-8 bytes at", where(), "(pass decode_errors='replace')"]
        )
        with tf.control_dependencies([check]):
            return tf.identity(lines)

    def warn():
        report = tf.print(
            "warning: replaced undecodable UTF-8 bytes at", where(), output_stream=sys.stderr
        )
        with tf.control_dependencies([report]):
            return tf.identity(fixed)

    return tf.cond(tf.reduce_any(bad), reject if decode_errors == "strict" else warn,
                   lambda: lines)


def _group_documents(open_text, lines):
    """Scan step over a block of lines: (the still open document, the documents closed by
    a blank line in this block). A document is its lines joined by "\\n"."""
    blank = tf.equal(tf.strings.length(tf.strings.strip(lines)), 0)
    document = tf.cumsum(tf.cast(blank, tf.int32))  # a blank line starts the next document
    carried = tf.cast(tf.strings.length(open_text) > 0, tf.int32)
    texts = tf.concat([tf.reshape(open_text, [1])[:carried], tf.boolean_mask(lines, ~blank)], 0)
    owners = tf.concat([tf.zeros([carried], tf.int32), tf.boolean_mask(document, ~blank)], 0)
    documents = tf.strings.reduce_join(
        tf.RaggedTensor.from_value_rowids(texts, owners, nrows=document[-1] + 1),
        axis=1,
        separator="\n",
    )
    closed = documents[:-1]
    return documents[-1], tf.boolean_mask(closed, tf.strings.length(closed) > 0)


def document_dataset(paths, *, decode_errors="replace"):
    """Documents (str, lines joined by "\\n") from text files, in file order.

    Lines are read, checked and grouped in blocks of 1,024 (one vectorized step per block,
    the open document carried from block to block), so no file is ever held whole in memory.

    Args:
        paths: `tf.data.Dataset` of file paths (or a list of paths).
        decode_errors: "replace" (undecodable bytes become U+FFFD and each such line is
            reported on stderr as `path:line`) or "strict" (InvalidArgumentError naming
            `path:line`).
    """
    if decode_errors not in DECODE_ERRORS:
        raise ValueError(f"decode_errors={decode_errors!r} is not one of {DECODE_ERRORS}")
    if not isinstance(paths, tf.data.Dataset):
        paths = tf.data.Dataset.from_tensor_slices(list(paths))

    def read(path):
        blocks = tf.data.TextLineDataset(path).enumerate(start=1).batch(_LINES_PER_STEP)
        blocks = blocks.map(
            lambda numbers, lines: _decode_lines(path, numbers, lines, decode_errors)
        )
        end = tf.data.Dataset.from_tensors(tf.constant([""]))  # closes the file's last document
        return blocks.concatenate(end).scan(tf.constant(""), _group_documents).unbatch()

    return paths.flat_map(read)


def split_sentences(document, sentence_split="regex"):
    """Split a document string into sentences (1-D tf.string).

    "regex": lines are joined and split after `.`, `!` or `?` followed by white space
    (wrapped prose). "line": one sentence per line (google-research/bert input format).
    """
    if sentence_split == "line":
        sentences = tf.strings.split(document, "\n")
    elif sentence_split == "regex":
        text = tf.strings.regex_replace(document, r"\s+", " ")
        text = tf.strings.regex_replace(text, r"([.!?][\"')\]]*) ", "\\1\n")
        sentences = tf.strings.split(text, "\n")
    else:
        raise ValueError(f"sentence_split={sentence_split!r} is not one of {SENTENCE_SPLITS}")
    sentences = tf.strings.strip(sentences)
    return tf.boolean_mask(sentences, tf.strings.length(sentences) > 0)


# ----------------------------------------------------------------------------------------------
# Arguments.


def _special(special_ids, role, fallback=None):
    value = special_ids.get(role, special_ids.get(fallback) if fallback else None)
    if value is None:
        roles = role if fallback is None else f"{role} (or {fallback})"
        raise ValueError(f"special_ids needs the id of {roles}; got roles {sorted(special_ids)}")
    return int(value)


def _check_special_ids(objective, special_ids, vocabulary_size, unmaskable_ids=()):
    """(ids by role, the ids never masked, every special id).

    Never masked: the layout tokens and padding, as google-research/bert's candidates
    exclude only [CLS] and [SEP]; plus `unmaskable_ids`.
    """
    if objective not in OBJECTIVES:
        raise ValueError(f"objective={objective!r} is not one of {OBJECTIVES}")
    special_ids = dict(special_ids)
    if special_ids.get("mask") is None:
        raise ValueError("special_ids['mask'] is required: the id of [MASK] / <mask>")
    for role, value in special_ids.items():
        if value is not None and not 0 <= int(value) < vocabulary_size:
            raise ValueError(
                f"special_ids[{role!r}]={value} is out of range for "
                f"vocabulary_size={vocabulary_size}"
            )
    ids = {"mask": _special(special_ids, "mask"), "pad": _special(special_ids, "pad")}
    if objective in ("mlm_nsp", "mlm_sop"):
        ids["cls"] = _special(special_ids, "cls")
        ids["sep"] = _special(special_ids, "sep")
    else:
        ids["bos"] = _special(special_ids, "bos", "cls")
        ids["eos"] = _special(special_ids, "eos", "sep")
    for value in unmaskable_ids:
        if not 0 <= int(value) < vocabulary_size:
            raise ValueError(
                f"unmaskable_ids has {value}, out of range for vocabulary_size={vocabulary_size}"
            )
    layout = ("cls", "sep") if objective in ("mlm_nsp", "mlm_sop") else ("bos", "eos")
    unmaskable = {ids[role] for role in (*layout, "pad")} | {int(v) for v in unmaskable_ids}
    unmaskable = sorted(unmaskable)
    specials = sorted({int(v) for v in special_ids.values() if v is not None} | set(unmaskable))
    return ids, unmaskable, specials


def _full_stop_ids(tokenize_fn):
    ids = tokenize_fn(tf.constant([".", "!", "?"]))
    return sorted({int(row[0]) for row in ids.to_list() if len(row) == 1})


def _sharding(paths, input_context):
    """(paths for this pipeline, (num_shards, index) for element sharding or None)."""
    if input_context is None or input_context.num_input_pipelines <= 1:
        return paths, None
    num, index = input_context.num_input_pipelines, input_context.input_pipeline_id
    if len(paths) >= num:
        return paths[index::num], None
    return paths, (num, index)


def _fold(seed, *values):
    for value in values:
        seed = tf.random.experimental.stateless_fold_in(seed, tf.cast(value, tf.int64))
    return seed


def _python_seed(seed):
    """A Python int for `Dataset.shuffle` from an int or a pair of ints."""
    if isinstance(seed, (int, np.integer)):
        return int(seed)
    first, second = (int(v) for v in seed)
    return (first * 1_000_003 + second) % (2**63)


# ----------------------------------------------------------------------------------------------
# The streaming pipeline.


def pretraining_dataset(
    objective,
    files,
    *,
    tokenize_fn,
    special_ids,
    vocabulary_size,
    sequence_length,
    batch_size,
    max_predictions_per_seq=20,
    seed=0,
    continuation_table=None,
    whole_word=False,
    ngram_max=1,
    input_context=None,
    repeat=True,
    num_epochs=None,
    drop_remainder=None,
    masking_rate=0.15,
    mask_token_rate=0.8,
    random_token_rate=0.1,
    short_seq_prob=0.1,
    document_window=64,
    shuffle_buffer_size=1024,
    break_mode="complete",
    sentence_split="regex",
    decode_errors="replace",
    full_stop_ids=None,
    noise_mask_rate=0.3,
    poisson_lambda=3.0,
    permute_sentence_rate=1.0,
    rotate_rate=0.0,
    deletion_rate=0.0,
    token_mask_rate=0.0,
    noise_random_token_rate=0.1,
    noise_unit="word",
    unmaskable_ids=(),
):
    """A batched, sharded, deterministic pretraining `tf.data.Dataset` streamed from files.

    Args:
        objective: "mlm_nsp" (BERT), "mlm_sop" (ALBERT), "mlm" (RoBERTa) or
            "denoising" (BART).
        files: glob pattern, or list of patterns / paths, of text files with documents
            separated by blank lines.
        tokenize_fn: maps a 1-D tf.string batch of sentences to an int `tf.RaggedTensor`
            of ids, using TF ops only (it runs inside tf.data).
        special_ids: dict role -> id with "mask", "pad", and "cls", "sep" (BERT/ALBERT) or
            "bos", "eos" (RoBERTa/BART; "cls"/"sep" are accepted instead); other roles
            ("unk", ...) may be listed. [CLS]/[SEP] (`<s>`/`</s>`) and padding are never
            masked nor drawn as random replacements (google-research/bert); [UNK] and the
            other tokens are masked at their frequency.
        vocabulary_size: vocabulary size (random replacement tokens).
        sequence_length: length of every sequence (encoder and decoder for BART).
        batch_size: examples per batch.
        max_predictions_per_seq: masked-LM prediction slots per sequence.
        seed: int (or pair of ints); the whole stream is a function of it.
        continuation_table, whole_word, ngram_max: see `masking.mask_tokens` (ALBERT:
            `ngram_max=3`). `continuation_table` (`tokenizer.continuation_table()`) also
            gives BART's noise its words.
        input_context: `tf.distribute.InputContext`, to read only this pipeline's share.
        repeat: repeat over epochs (each with fresh masks and order); `num_epochs` bounds it.
        drop_remainder: default `repeat`; static batch shapes need it.
        masking_rate, mask_token_rate, random_token_rate: MLM 15% with 80/10/10.
        short_seq_prob: NSP/SOP probability of a shorter target length.
        document_window: documents grouped to draw NSP negatives from (>= 2).
        shuffle_buffer_size: examples shuffled before batching (0 disables).
        break_mode: "mlm" packing: "complete" (default; RoBERTa's FULL-SENTENCES, fairseq
            `--sample-break-mode complete`: whole sentences, across documents with a
            separator, padded when the next sentence does not fit) or "fill" (fairseq
            `none`: the token stream cut every `sequence_length - 2` tokens, every row
            full); see `packing.pack_full_sentences`.
        sentence_split: "regex" or "line"; see `split_sentences`.
        decode_errors: "replace" or "strict"; see `document_dataset`.
        full_stop_ids: BART sentence ends (default: the ids of ".", "!", "?" when each is
            a single token).
        noise_mask_rate, poisson_lambda, permute_sentence_rate, rotate_rate, deletion_rate,
        token_mask_rate, noise_random_token_rate: BART noise; see `denoising.bart_noise`.
        noise_unit: "word" (default; BART's whole-word noise: budget, spans, masked and
            deleted units are words, read from `continuation_table`) or "token".
        unmaskable_ids: more ids never masked nor drawn as random replacements (MLM),
            e.g. the id of [UNK].

    Returns:
        `tf.data.Dataset` of `(x, y)` dicts (see the module docstring).

    Example:
    >>> ds = pretraining_dataset("mlm", "corpus/*.txt", tokenize_fn=tokenize,
    ...     special_ids={"bos": 0, "pad": 1, "eos": 2, "mask": 4}, vocabulary_size=30000,
    ...     sequence_length=128, batch_size=32)  # doctest: +SKIP
    """
    ids, unmaskable, specials = _check_special_ids(
        objective, special_ids, vocabulary_size, unmaskable_ids
    )
    if break_mode not in BREAK_MODES:
        raise ValueError(f"break_mode={break_mode!r} is not one of {BREAK_MODES}")
    if noise_unit not in NOISE_UNITS:
        raise ValueError(f"noise_unit={noise_unit!r} is not one of {NOISE_UNITS}")
    if objective == "denoising" and noise_unit == "word" and continuation_table is None:
        raise ValueError(
            "BART's noise masks whole words and needs continuation_table "
            "(tokenizer.continuation_table()); pass noise_unit='token' for token-level noise"
        )
    if document_window < 2:
        raise ValueError(f"document_window={document_window} must be >= 2 (NSP negatives)")
    if sentence_split not in SENTENCE_SPLITS:
        raise ValueError(f"sentence_split={sentence_split!r} is not one of {SENTENCE_SPLITS}")
    paths = list_files(files)
    _check_has_text(paths)
    paths, element_shard = _sharding(paths, input_context)
    if drop_remainder is None:
        drop_remainder = repeat
    base_seed = as_seed(seed if isinstance(seed, (int, np.integer)) else list(seed))
    mask_kwargs = dict(
        mask_id=ids["mask"],
        vocabulary_size=vocabulary_size,
        unmaskable_ids=unmaskable,
        rate=masking_rate,
        max_predictions_per_seq=max_predictions_per_seq,
        mask_token_rate=mask_token_rate,
        random_token_rate=random_token_rate,
        whole_word=whole_word,
        continuation_table=continuation_table,
        ngram_max=ngram_max,
    )
    mask_tokens(tf.zeros([1, 2], tf.int32), seed=0, **mask_kwargs)  # validate arguments now
    if objective == "denoising" and full_stop_ids is None:
        full_stop_ids = _full_stop_ids(tokenize_fn)

    def tokenize(document):
        sentences = split_sentences(document, sentence_split)
        return tf.cast(tokenize_fn(sentences), tf.int32).with_row_splits_dtype(tf.int64)

    def examples(epoch):
        """The unbatched examples of one epoch."""
        epoch_seed = _fold(base_seed, epoch)
        # A fresh file order per epoch (a stateless shuffle: tf.data's shuffle inside a
        # flat_map cannot be checkpointed).
        order = tf.random.experimental.stateless_shuffle(tf.range(len(paths)), _fold(epoch_seed, 1))
        files_ds = tf.data.Dataset.from_tensor_slices(tf.gather(tf.constant(paths), order))
        docs = document_dataset(files_ds, decode_errors=decode_errors)
        if element_shard is not None:
            docs = docs.shard(*element_shard)
        docs = docs.map(tokenize, num_parallel_calls=AUTOTUNE, deterministic=True)
        docs = docs.filter(lambda doc: tf.size(doc.flat_values) > 0)

        if objective in ("mlm_nsp", "mlm_sop"):
            windows = docs.batch(document_window)
            num_sources = 0
            if objective == "mlm_nsp":
                # Every window also gets the previous window's last document as a source of
                # NotNext segments only: a window of one document (the end of a shard) still
                # draws them from another document.
                def carry(previous, window):  # state: the last document, as dense parts
                    values, lengths = previous
                    document = tf.RaggedTensor.from_row_lengths(values, lengths)
                    document = tf.RaggedTensor.from_row_lengths(
                        document, tf.reshape(document.nrows(), [1])
                    )
                    last = window[-1]
                    return (last.flat_values, last.row_lengths()), tf.concat([document, window], 0)

                windows = windows.scan((tf.zeros([0], tf.int32), tf.zeros([0], tf.int64)), carry)
                num_sources = 1
            windows = windows.enumerate()

            def pairs(index, window):
                out = create_sentence_pairs(
                    window,
                    objective="nsp" if objective == "mlm_nsp" else "sop",
                    max_num_tokens=sequence_length - 3,
                    short_seq_prob=short_seq_prob,
                    seed=_fold(epoch_seed, 2, index),
                    num_negative_sources=num_sources,
                )
                packed = pack_segments(
                    out["tokens_a"],
                    out["tokens_b"],
                    sequence_length=sequence_length,
                    cls_id=ids["cls"],
                    sep_id=ids["sep"],
                    pad_id=ids["pad"],
                )
                packed["sentence_label"] = out["sentence_label"]
                return packed

            out = windows.map(pairs, num_parallel_calls=AUTOTUNE, deterministic=True).unbatch()
        else:
            packing = dict(sequence_length=sequence_length, bos_id=ids["bos"],
                           eos_id=ids["eos"], pad_id=ids["pad"])
            if objective == "mlm" and break_mode == "fill":
                # Full pieces of the token stream: one packing step per document.
                out = fill_packing_dataset(docs, **packing)
            else:
                # Whole sentences, one packing step per document: across documents for
                # RoBERTa, one document per sequence for BART.
                out = complete_packing_dataset(
                    docs, **packing, cross_documents=objective == "mlm"
                )
            if objective == "denoising":
                noise = _denoising_example_fn(
                    ids,
                    specials,
                    vocabulary_size,
                    sequence_length,
                    full_stop_ids=full_stop_ids,
                    mask_rate=noise_mask_rate,
                    poisson_lambda=poisson_lambda,
                    permute_sentence_rate=permute_sentence_rate,
                    rotate_rate=rotate_rate,
                    deletion_rate=deletion_rate,
                    token_mask_rate=token_mask_rate,
                    random_token_rate=noise_random_token_rate,
                    continuation_table=continuation_table if noise_unit == "word" else None,
                )
                out = out.enumerate().map(
                    lambda index, example: noise(example, _fold(epoch_seed, 3, index)),
                    num_parallel_calls=AUTOTUNE,
                    deterministic=True,
                )
        return out.map(lambda *example: (epoch, example[0] if len(example) == 1 else example))

    if repeat:
        epochs = tf.data.Dataset.range(num_epochs) if num_epochs else tf.data.Dataset.range(2**62)
    else:
        epochs = tf.data.Dataset.range(1)
    ds = epochs.flat_map(examples)
    if shuffle_buffer_size:
        ds = ds.shuffle(shuffle_buffer_size, seed=_python_seed(seed))
    ds = ds.batch(batch_size, drop_remainder=drop_remainder).enumerate()

    def finish(index, element):
        epoch, batch = element
        if objective == "denoising":
            return batch
        # Fresh masks for every batch of every epoch, reproducible from the seed.
        batch_seed = dynamic_seed(base_seed, index, epoch=tf.reduce_max(epoch))
        masked = mask_tokens(batch["token_ids"], seed=batch_seed, **mask_kwargs)
        x = {
            "token_ids": masked["token_ids"],
            "padding_mask": batch["padding_mask"],
            "mask_positions": masked["mask_positions"],
        }
        y = {"mask_ids": masked["mask_ids"], "mask_weights": masked["mask_weights"]}
        if objective != "mlm":
            x["segment_ids"] = batch["segment_ids"]
            y["sentence_label"] = batch["sentence_label"]
        return x, y

    ds = ds.map(finish, num_parallel_calls=AUTOTUNE, deterministic=True)
    return ds.prefetch(AUTOTUNE)


def _denoising_example_fn(ids, specials, vocabulary_size, sequence_length, **noise_kwargs):
    """The per-example BART step: noise the packed sequence, build decoder inputs/targets."""

    def noise(example, seed):
        target = example["token_ids"]
        target_mask = example["padding_mask"]
        length = tf.reduce_sum(target_mask)
        noised = bart_noise(
            target[:length],
            mask_id=ids["mask"],
            seed=seed,
            vocabulary_size=vocabulary_size,
            special_ids=specials,  # never drawn as random replacements
            **noise_kwargs,
        )
        noised = keep_last(noised, sequence_length)
        encoder_length = tf.shape(noised)[0]
        padding = tf.fill([sequence_length - encoder_length], tf.constant(ids["pad"], tf.int32))
        encoder_ids = tf.ensure_shape(tf.concat([noised, padding], 0), [sequence_length])
        encoder_mask = tf.cast(tf.range(sequence_length) < encoder_length, tf.int32)
        decoder_ids = tf.concat([[ids["eos"]], target[:-1]], 0)
        decoder_mask = tf.concat([[1], target_mask[:-1]], 0)
        x = {
            "encoder_token_ids": encoder_ids,
            "encoder_padding_mask": encoder_mask,
            "decoder_token_ids": decoder_ids,
            "decoder_padding_mask": decoder_mask,
        }
        y = {"target_ids": target, "target_weights": tf.cast(target_mask, tf.float32)}
        return x, y

    return noise


# ----------------------------------------------------------------------------------------------
# Static (offline) data: sharded TFRecords of tf.train.Example.

_METADATA = "metadata.json"


def _feature(array):
    array = np.asarray(array).reshape([-1])
    if array.dtype.kind == "f":
        return tf.train.Feature(float_list=tf.train.FloatList(value=array.tolist()))
    return tf.train.Feature(int64_list=tf.train.Int64List(value=array.tolist()))


def write_static_pretraining_data(
    objective,
    files,
    output_dir,
    *,
    dupe_factor,
    num_shards,
    seed=0,
    **dataset_kwargs,
):
    """Write static (offline) pretraining examples as sharded TFRecords.

    The streaming pipeline runs once per duplicate with seed `(seed, dupe)`, so each
    duplicate has different sentence pairs and masks (google-research/bert `dupe_factor`).
    Examples are dealt round robin to `num_shards` files `pretraining-SSSSS-of-NNNNN.tfrecord`
    next to a `metadata.json` describing the features.

    Args:
        objective, files: as in `pretraining_dataset`.
        output_dir: folder for the shards (created if needed).
        dupe_factor: number of differently masked copies of the corpus.
        num_shards: number of TFRecord files.
        seed: int.
        **dataset_kwargs: the other arguments of `pretraining_dataset` (tokenize_fn,
            special_ids, vocabulary_size, sequence_length, ...); `batch_size` defaults to 64.

    Returns:
        list of the shard paths.
    """
    if dupe_factor < 1 or num_shards < 1:
        raise ValueError(f"dupe_factor={dupe_factor} and num_shards={num_shards} must be >= 1")
    os.makedirs(output_dir, exist_ok=True)
    paths = [
        os.path.join(output_dir, f"pretraining-{i:05d}-of-{num_shards:05d}.tfrecord")
        for i in range(num_shards)
    ]
    writers = [tf.io.TFRecordWriter(path) for path in paths]
    dataset_kwargs.setdefault("batch_size", 64)
    spec = None
    count = 0
    try:
        for dupe in range(dupe_factor):
            ds = pretraining_dataset(
                objective, files, seed=(seed, dupe), repeat=False, **dataset_kwargs
            )
            for x, y in ds.unbatch().as_numpy_iterator():
                features = {f"x/{k}": v for k, v in x.items()}
                features.update({f"y/{k}": v for k, v in y.items()})
                if spec is None:
                    spec = {
                        k: {
                            "shape": list(np.shape(v)),
                            "dtype": "float32" if np.asarray(v).dtype.kind == "f" else "int32",
                        }
                        for k, v in features.items()
                    }
                example = tf.train.Example(
                    features=tf.train.Features(
                        feature={k: _feature(v) for k, v in features.items()}
                    )
                )
                writers[count % num_shards].write(example.SerializeToString())
                count += 1
    finally:
        for writer in writers:
            writer.close()
    if count == 0:
        raise ValueError(f"the corpus {files!r} produced no examples")
    metadata = {
        "objective": objective,
        "num_examples": count,
        "dupe_factor": dupe_factor,
        "features": spec,
    }
    with open(os.path.join(output_dir, _METADATA), "w") as f:
        json.dump(metadata, f, indent=2)
    return paths


def read_static_pretraining_data(
    pattern,
    *,
    batch_size,
    seed=0,
    repeat=True,
    drop_remainder=None,
    shuffle_buffer_size=1024,
    input_context=None,
):
    """Read `write_static_pretraining_data` shards as batched `(x, y)` elements.

    Args:
        pattern: glob of the TFRecord shards (the `metadata.json` beside them gives the
            feature shapes).
        batch_size: examples per batch.
        seed: int, for the file order and the shuffle.
        repeat: repeat forever.
        drop_remainder: default `repeat`.
        shuffle_buffer_size: examples shuffled (0 disables).
        input_context: `tf.distribute.InputContext`; shards by file when possible.

    Returns:
        `tf.data.Dataset` of `(x, y)` with the same structure as `pretraining_dataset`.
    """
    paths = list_files(pattern)
    metadata_path = os.path.join(os.path.dirname(paths[0]), _METADATA)
    if not os.path.exists(metadata_path):
        raise FileNotFoundError(f"{metadata_path} not found: it is written with the shards")
    with open(metadata_path) as f:
        spec = json.load(f)["features"]
    if drop_remainder is None:
        drop_remainder = repeat
    paths, element_shard = _sharding(paths, input_context)
    files = tf.data.Dataset.from_tensor_slices(paths)
    if len(paths) > 1:
        files = files.shuffle(len(paths), seed=seed)
    ds = files.interleave(
        tf.data.TFRecordDataset,
        cycle_length=min(4, len(paths)),
        num_parallel_calls=AUTOTUNE,
        deterministic=True,
    )
    if element_shard is not None:
        ds = ds.shard(*element_shard)
    if repeat:
        ds = ds.repeat()
    if shuffle_buffer_size:
        ds = ds.shuffle(shuffle_buffer_size, seed=seed)
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    features = {
        k: tf.io.FixedLenFeature(v["shape"], tf.float32 if v["dtype"] == "float32" else tf.int64)
        for k, v in spec.items()
    }

    def parse(records):
        parsed = tf.io.parse_example(records, features)
        x, y = {}, {}
        for key, value in parsed.items():
            group, name = key.split("/", 1)
            value = value if value.dtype == tf.float32 else tf.cast(value, tf.int32)
            (x if group == "x" else y)[name] = value
        return x, y

    return ds.map(parse, num_parallel_calls=AUTOTUNE, deterministic=True).prefetch(AUTOTUNE)
