"""Pack token-id segments into fixed-length model inputs.

Two packers:

* `pack_segments`: one or two segments per example, BERT layout
  `[CLS] A [SEP] B [SEP]` or RoBERTa layout `<s> A </s></s> B </s>`, truncated
  "longest first" like google-research/bert `_truncate_seq_pair`.
* Sentence-stream packing: the sentences of consecutive documents are packed into
  `<s> ... </s>` sequences, with a separator between documents. Two break modes:
  "complete" (RoBERTa's FULL-SENTENCES, fairseq `--sample-break-mode complete`): a
  sequence holds whole sentences and is padded when the next one does not fit; "fill"
  (fairseq `--sample-break-mode none`): the token stream is cut every
  `sequence_length - 2` tokens, so sequences are full but start and end mid-sentence.
  `pack_full_sentences` does it on Python lists (offline, and the reference for tests);
  `full_sentence_packing_dataset` does the same inside tf.data with `Dataset.scan`, one
  step per sentence, so it streams and its iterator can be checkpointed;
  `complete_packing_dataset` and `fill_packing_dataset` give the same rows with one scan
  step per document (what the pretraining pipeline uses).

`trim_to_longest` cuts packed fine-tuning inputs to the longest example of their batch.
"""

import numpy as np
import tensorflow as tf

LAYOUTS = ("bert", "roberta")
BREAK_MODES = ("complete", "fill")


def _as_ragged(segments, name):
    if isinstance(segments, tf.RaggedTensor):
        ragged = segments
    elif isinstance(segments, (tf.Tensor, np.ndarray)) and len(segments.shape) == 2:
        ragged = tf.RaggedTensor.from_tensor(segments)
    else:
        ragged = tf.ragged.constant(segments, dtype=tf.int32, ragged_rank=1)
    if ragged.shape.rank != 2:
        raise ValueError(
            f"{name} must be a batch of id sequences (rank 2), got rank {ragged.shape.rank}"
        )
    return tf.cast(ragged, tf.int32)


def truncated_lengths(length_a, length_b, budget):
    """Final lengths after "longest first" truncation of a pair to `budget` tokens.

    Equivalent to google-research/bert `_truncate_seq_pair`, which removes one
    token at a time from the longer segment (from B on ties), but computed in
    closed form so it vectorises: the longer segment is cut down to the shorter
    one, then both share the budget, A taking the extra token when it is odd.

    Args:
        length_a: int tensor of lengths of A (any shape).
        length_b: int tensor of lengths of B, same shape.
        budget: scalar int, maximum total length.

    Example:
    >>> [int(x) for x in truncated_lengths(tf.constant(10), tf.constant(10), 7)]
    [4, 3]
    """
    length_a = tf.convert_to_tensor(length_a)
    length_b = tf.cast(length_b, length_a.dtype)
    budget = tf.cast(budget, length_a.dtype)
    half_up = (budget + 1) // 2
    final_a = tf.minimum(length_a, tf.maximum(budget - length_b, half_up))
    final_b = tf.minimum(length_b, budget - final_a)
    return tf.stack([final_a, final_b])


DEFAULT_PAD_TO_MULTIPLE_OF = 8


def trim_to_longest(inputs, pad_to_multiple_of=DEFAULT_PAD_TO_MULTIPLE_OF):
    """Cuts packed inputs (padding at the end) to the longest example of the batch.

    The length kept is the longest `padding_mask` row rounded up to a multiple of
    `pad_to_multiple_of` (and at most the packed length), so a run sees at most
    `sequence_length / pad_to_multiple_of` distinct shapes. Attention never looks at padding and
    positions are absolute, so a model computes the same outputs for the real tokens.

    Args:
        inputs: dict of int tensors `[..., length]` with a `padding_mask`; entries of another
            rank (a per-example value) are left as they are.
        pad_to_multiple_of: the rounding of the kept length (1: no rounding).

    Example:
    >>> inputs = {"token_ids": tf.constant([[2, 7, 3, 0, 0, 0]]),
    ...           "padding_mask": tf.constant([[1, 1, 1, 0, 0, 0]])}
    >>> trim_to_longest(inputs, pad_to_multiple_of=2)["token_ids"].numpy().tolist()
    [[2, 7, 3, 0]]
    """
    mask = inputs["padding_mask"]
    packed = tf.shape(mask)[-1]
    longest = tf.maximum(tf.reduce_max(tf.reduce_sum(tf.cast(mask, tf.int32), axis=-1)), 1)
    multiple = int(pad_to_multiple_of)
    length = tf.minimum((longest + multiple - 1) // multiple * multiple, packed)
    rank = len(mask.shape)
    return {name: value[..., :length] if len(value.shape) == rank else value
            for name, value in inputs.items()}


def pack_segments(
    segments_a,
    segments_b=None,
    *,
    sequence_length,
    cls_id,
    sep_id,
    pad_id,
    layout="bert",
):
    """Pack one or two ragged id segments per example into fixed-length inputs.

    BERT layout: `[CLS] A [SEP] B [SEP]`, segment id 0 for `[CLS]`, A and the
    first `[SEP]`, 1 for B and the last `[SEP]`. RoBERTa layout:
    `<s> A </s></s> B </s>` with all segment ids 0 (pass `<s>` as `cls_id` and
    `</s>` as `sep_id`). Segments that do not fit are truncated at their end,
    longest first (`truncated_lengths`).

    Args:
        segments_a: int `tf.RaggedTensor` [batch, None] (or nested lists).
        segments_b: optional second segments, same batch size.
        sequence_length: output length, including special tokens.
        cls_id, sep_id, pad_id: special token ids.
        layout: "bert" or "roberta".

    Returns:
        dict of int32 [batch, sequence_length]: `token_ids`, `segment_ids`,
        `padding_mask` (1 for real tokens, 0 for padding).

    Example:
    >>> out = pack_segments([[5, 6, 7]], [[8, 9]], sequence_length=8,
    ...                     cls_id=1, sep_id=2, pad_id=0)
    >>> out["token_ids"].numpy().tolist()
    [[1, 5, 6, 7, 2, 8, 9, 2]]
    """
    if layout not in LAYOUTS:
        raise ValueError(f"layout={layout!r} is not one of {LAYOUTS}")
    pair = segments_b is not None
    if layout == "bert":
        num_special = 3 if pair else 2
    else:
        num_special = 4 if pair else 2
    budget = sequence_length - num_special
    if budget < 1:
        raise ValueError(
            f"sequence_length={sequence_length} is too short: it leaves no room for tokens "
            f"after the {num_special} special tokens of the {layout!r} layout; use at least "
            f"{num_special + 1}"
        )
    # Dense index arithmetic rather than ragged concatenation: the same rows with a graph a
    # tenth the size, which every preprocessor and input pipeline traces.
    a = _as_ragged(segments_a, "segments_a")
    length_a = tf.cast(a.row_lengths(), tf.int64)
    if pair:
        b = _as_ragged(segments_b, "segments_b")
        length_b = tf.cast(b.row_lengths(), tf.int64)
    else:
        length_b = tf.zeros_like(length_a)
    final_a, final_b = tf.unstack(truncated_lengths(length_a, length_b, budget))
    batch = tf.shape(length_a, out_type=tf.int64)[0]
    columns = tf.range(sequence_length, dtype=tf.int64)[None, :]
    end_a = final_a[:, None] + 1  # the column of the first separator
    indices, values = [], []

    def place(segment, first_column, final):
        """The kept (first `final`) tokens of each row, from `first_column` on."""
        rows = segment.value_rowids()
        within = tf.range(tf.size(segment.values, out_type=tf.int64)) - tf.gather(
            tf.cast(segment.row_splits, tf.int64), rows)
        keep = within < tf.gather(final, rows)
        column = tf.gather(first_column, rows) + within
        indices.append(tf.boolean_mask(tf.stack([rows, column], axis=1), keep))
        values.append(tf.boolean_mask(segment.values, keep))

    place(a, tf.ones_like(final_a), final_a)
    separators = columns == end_a
    if pair:
        start_b = final_a + (2 if layout == "bert" else 3)
        place(b, start_b, final_b)
        end = start_b[:, None] + final_b[:, None]
        separators |= columns == end
        if layout == "roberta":
            separators |= columns == end_a + 1
        length = end + 1
    else:
        length = end_a + 1
    tokens = tf.scatter_nd(tf.concat(indices, axis=0), tf.concat(values, axis=0),
                           tf.stack([batch, tf.constant(sequence_length, tf.int64)]))
    padding_mask = columns < length
    token_ids = tf.where(columns == 0, cls_id,
                         tf.where(separators, sep_id, tf.where(padding_mask, tokens, pad_id)))
    if pair and layout == "bert":  # B and its separator
        segment_ids = tf.cast((columns >= start_b[:, None]) & padding_mask, tf.int32)
    else:
        segment_ids = tf.zeros_like(token_ids)
    shape = [None, sequence_length]
    return {
        "token_ids": tf.ensure_shape(tf.cast(token_ids, tf.int32), shape),
        "segment_ids": tf.ensure_shape(segment_ids, shape),
        "padding_mask": tf.ensure_shape(tf.cast(padding_mask, tf.int32), shape),
    }


# ----------------------------------------------------------------------------------------------
# Full-sentence packing.


def _capacity_and_separator(sequence_length, eos_id, separator_id):
    """Content tokens per row (room for `<s>` and `</s>`) and the separator (default `</s>`)."""
    capacity = sequence_length - 2
    if capacity < 1:
        raise ValueError(f"sequence_length={sequence_length} must be at least 3")
    return capacity, eos_id if separator_id is None else separator_id


def _check_break_mode(break_mode):
    if break_mode not in BREAK_MODES:
        raise ValueError(f"break_mode={break_mode!r} is not one of {BREAK_MODES}")


def pack_full_sentences(
    documents,
    *,
    sequence_length,
    bos_id,
    eos_id,
    pad_id,
    separator_id=None,
    break_mode="complete",
    cross_documents=True,
):
    """Pack documents (lists of sentences of ids) into `<s> ... </s>` sequences.

    Python reference of `full_sentence_packing_dataset` (same output, same order).
    Each sequence holds `sequence_length - 2` content tokens.

    * `break_mode="complete"` (default; fairseq `--sample-break-mode complete`, the
      RoBERTa paper's FULL-SENTENCES): sequences hold whole sentences and are
      padded when the next sentence does not fit.
    * `break_mode="fill"` (fairseq `--sample-break-mode none`): the sentence stream
      is cut exactly every `sequence_length - 2` tokens, so every sequence is full
      except the last one of the stream, which is padded. A sentence may continue
      in the next sequence.

    In both modes a sentence longer than a sequence is split into full pieces, never
    dropped (fairseq's "complete" keeps it whole, in a block longer than the others).
    With `cross_documents=True` a sequence continues into the next document, with
    `separator_id` (default `eos_id`, i.e. `</s>`) between the two documents; with
    `cross_documents=False` each document starts a new sequence (fairseq `complete_doc`,
    used for BART).

    Args:
        documents: iterable of documents; a document is a list of sentences, a
            sentence a list of int ids.
        sequence_length: output length including `<s>` and `</s>`.
        bos_id, eos_id, pad_id: special ids.
        separator_id: id placed between documents (default `eos_id`).
        break_mode: "complete" or "fill".
        cross_documents: whether a sequence may span two documents.

    Returns:
        int32 numpy array [num_sequences, sequence_length].

    Example:
    >>> documents = [[[5, 6], [7]], [[8, 9, 10]]]
    >>> pack_full_sentences(documents, sequence_length=6, bos_id=0, eos_id=2, pad_id=1).tolist()
    [[0, 5, 6, 7, 2, 1], [0, 8, 9, 10, 2, 1]]
    >>> pack_full_sentences(documents, sequence_length=6, bos_id=0, eos_id=2, pad_id=1,
    ...                     break_mode="fill").tolist()
    [[0, 5, 6, 7, 2, 2], [0, 8, 9, 10, 2, 1]]
    """
    _check_break_mode(break_mode)
    capacity, separator_id = _capacity_and_separator(sequence_length, eos_id, separator_id)
    chunks = []
    buffer = []

    def emit(content):
        row = [bos_id] + list(content) + [eos_id]
        chunks.append(row + [pad_id] * (sequence_length - len(row)))

    for document in documents:
        first = True
        for sentence in document:
            sentence = [int(t) for t in sentence]
            if not sentence:
                continue
            if first and buffer and not cross_documents:
                emit(buffer)
                buffer = []
            piece = ([separator_id] if first and buffer else []) + sentence
            first = False
            if break_mode == "complete" and buffer and len(buffer) + len(piece) > capacity:
                emit(buffer)
                buffer = []
                piece = sentence
            buffer = buffer + piece
            while len(buffer) >= capacity and (break_mode == "fill" or len(buffer) > capacity):
                emit(buffer[:capacity])
                buffer = buffer[capacity:]
    if buffer:
        emit(buffer)
    return np.asarray(chunks, dtype=np.int32).reshape([-1, sequence_length])


def _packing_step(capacity, separator_id, break_mode, cross_documents):
    """The scan step of `full_sentence_packing_dataset` (state = the open buffer)."""

    def step(state, element):
        buffer, pending_start = state
        sentence, document_start, flush = element
        # An empty sentence passes its document start on to the next sentence.
        document_start = (document_start | pending_start) & ~flush
        skip = (tf.size(sentence) == 0) & ~flush
        nonempty = tf.size(buffer) > 0
        # A new document closes the open sequence when documents must not be crossed.
        close_first = document_start & nonempty & tf.constant(not cross_documents)
        closed = tf.cond(close_first, lambda: buffer, lambda: tf.zeros([0], tf.int32))
        buffer = tf.cond(close_first, lambda: tf.zeros([0], tf.int32), lambda: buffer)
        nonempty = tf.size(buffer) > 0
        separator = tf.cond(
            document_start & nonempty,
            lambda: tf.constant([separator_id], tf.int32),
            lambda: tf.zeros([0], tf.int32),
        )
        piece = tf.concat([separator, sentence], 0)
        if break_mode == "complete":
            overflow = nonempty & (tf.size(buffer) + tf.size(piece) > capacity)
            closed = tf.cond(overflow, lambda: buffer, lambda: closed)
            merged = tf.cond(overflow, lambda: sentence, lambda: tf.concat([buffer, piece], 0))
        else:
            merged = tf.concat([buffer, piece], 0)
        size = tf.size(merged)
        if break_mode == "fill":
            num_full = size // capacity
        else:
            num_full = tf.maximum(size - 1, 0) // capacity  # keep a whole last piece open
        num_full = tf.where(flush, (size + capacity - 1) // capacity, num_full)
        full = merged[: num_full * capacity]
        rest = merged[num_full * capacity :]
        # Rows: the sequence closed before this sentence (if any), then the full pieces
        # (when flushing, the last piece may be shorter than capacity).
        piece_lengths = tf.minimum(capacity, size - tf.range(num_full) * capacity)
        closed_length = tf.reshape(tf.size(closed), [1])[: tf.cast(tf.size(closed) > 0, tf.int32)]
        rows = tf.RaggedTensor.from_row_lengths(
            tf.concat([closed, full], 0), tf.concat([closed_length, piece_lengths], 0)
        )
        empty_rows = tf.RaggedTensor.from_row_lengths(
            tf.zeros([0], tf.int32), tf.zeros([0], tf.int32)
        )
        rows = tf.cond(skip, lambda: empty_rows, lambda: rows)
        rest = tf.cond(skip, lambda: state[0], lambda: rest)
        return (rest, document_start & skip), rows

    return step


def full_sentence_packing_dataset(
    sentences,
    *,
    sequence_length,
    bos_id,
    eos_id,
    pad_id,
    separator_id=None,
    break_mode="complete",
    cross_documents=True,
):
    """Full-sentence packing inside tf.data (streaming, checkpointable).

    Args:
        sentences: `tf.data.Dataset` of `(ids, document_start)`: a 1-D int32 sentence
            and a bool that is True for the first sentence of a document.
            Empty sentences are skipped (a document start moves to the next sentence).
        Other arguments: as in `pack_full_sentences`.

    Returns:
        `tf.data.Dataset` of dicts with `token_ids` and `padding_mask`, int32
        [sequence_length] each; the last sequence of the stream is padded.

    Example:
    >>> ds = tf.data.Dataset.from_tensor_slices(
    ...     (tf.ragged.constant([[5, 6], [7], [8, 9, 10]]), [True, False, True]))
    >>> ds = full_sentence_packing_dataset(ds, sequence_length=6, bos_id=0,
    ...                                    eos_id=2, pad_id=1, break_mode="fill")
    >>> [x["token_ids"].numpy().tolist() for x in ds]
    [[0, 5, 6, 7, 2, 2], [0, 8, 9, 10, 2, 1]]
    """
    _check_break_mode(break_mode)
    capacity, separator_id = _capacity_and_separator(sequence_length, eos_id, separator_id)

    def prepare(ids, document_start):
        return tf.cast(ids, tf.int32), tf.cast(document_start, tf.bool), tf.constant(False)

    stream = sentences.map(prepare)
    sentinel = tf.data.Dataset.from_tensors(
        (tf.zeros([0], tf.int32), tf.constant(False), tf.constant(True))
    )
    stream = stream.concatenate(sentinel)
    step = _packing_step(capacity, separator_id, break_mode, cross_documents)
    rows = stream.scan((tf.zeros([0], tf.int32), tf.constant(False)), step)
    return _finish_rows(rows.unbatch(), sequence_length, bos_id, eos_id, pad_id)


def _finish_rows(rows, sequence_length, bos_id, eos_id, pad_id):
    """`<s> content </s>` padded to `sequence_length`, with its padding mask, per row."""

    def finish(content):
        ids = tf.concat([[bos_id], content, [eos_id]], 0)
        length = tf.size(ids)
        padding = tf.fill([sequence_length - length], tf.constant(pad_id, tf.int32))
        token_ids = tf.ensure_shape(tf.concat([ids, padding], 0), [sequence_length])
        padding_mask = tf.cast(tf.range(sequence_length) < length, tf.int32)
        return {"token_ids": token_ids, "padding_mask": padding_mask}

    return rows.map(finish, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def _fill_step(capacity, separator_id):
    """The scan step of `fill_packing_dataset` (state = the open buffer)."""

    def step(buffer, element):
        tokens, flush = element
        separator = tf.cond(
            (tf.size(buffer) > 0) & (tf.size(tokens) > 0),
            lambda: tf.constant([separator_id], tf.int32),
            lambda: tf.zeros([0], tf.int32),
        )
        merged = tf.concat([buffer, separator, tokens], 0)
        size = tf.size(merged)
        # Every full piece leaves; when flushing, the last (shorter) one too.
        num_rows = tf.where(flush, (size + capacity - 1) // capacity, size // capacity)
        lengths = tf.minimum(capacity, size - tf.range(num_rows) * capacity)
        rows = tf.RaggedTensor.from_row_lengths(merged[: tf.reduce_sum(lengths)], lengths)
        return merged[num_rows * capacity :], rows

    return step


def fill_packing_dataset(documents, *, sequence_length, bos_id, eos_id, pad_id,
                         separator_id=None):
    """"fill" packing across documents, one scan step per document.

    The rows of `full_sentence_packing_dataset(..., break_mode="fill", cross_documents=True)`
    over the documents' sentences (fairseq's `--sample-break-mode none`): the token stream,
    with a separator where a document starts after unfinished content, cut every
    `sequence_length - 2` tokens. Because every piece is full, a whole document can be
    appended at once: one `scan` step per document instead of per sentence.

    Args:
        documents: `tf.data.Dataset` of a document's token ids: ragged `[sentences, tokens]`
            or 1-D. Empty documents and sentences add nothing.
        Other arguments: as in `pack_full_sentences`.

    Returns:
        `tf.data.Dataset` of dicts with `token_ids` and `padding_mask`, int32
        [sequence_length] each; the last sequence of the stream is padded.

    Example:
    >>> ds = tf.data.Dataset.from_tensor_slices(tf.ragged.constant([[5, 6, 7], [8, 9, 10]]))
    >>> ds = fill_packing_dataset(ds, sequence_length=6, bos_id=0, eos_id=2, pad_id=1)
    >>> [x["token_ids"].numpy().tolist() for x in ds]
    [[0, 5, 6, 7, 2, 2], [0, 8, 9, 10, 2, 1]]
    """
    capacity, separator_id = _capacity_and_separator(sequence_length, eos_id, separator_id)

    def tokens(document):
        if isinstance(document, tf.RaggedTensor):
            document = document.flat_values
        return tf.reshape(tf.cast(document, tf.int32), [-1]), tf.constant(False)

    stream = documents.map(tokens).concatenate(
        tf.data.Dataset.from_tensors((tf.zeros([0], tf.int32), tf.constant(True)))
    )
    rows = stream.scan(tf.zeros([0], tf.int32), _fill_step(capacity, separator_id))
    return _finish_rows(rows.unbatch(), sequence_length, bos_id, eos_id, pad_id)


def _complete_step(capacity, separator_id, cross_documents):
    """The scan step of `complete_packing_dataset` (state = the open row's content).

    A document's sentences are placed in rounds: a round appends to the open row every
    following sentence that fits and closes the row before the first one that does not;
    a sentence longer than a row on its own is cut into full rows, its last piece staying
    open. Each round closes a row, so a document takes as many rounds as it closes rows
    (plus one), not one step per sentence.
    """

    def step(buffer, element):
        document, flush = element
        lengths = tf.cast(document.row_lengths(), tf.int32)
        lengths = tf.boolean_mask(lengths, lengths > 0)
        tokens = tf.cast(document.flat_values, tf.int32)
        num_sentences = tf.size(lengths)
        open_length = tf.size(buffer)
        starts_document = (open_length > 0) & (num_sentences > 0)
        if cross_documents:
            # The separator is in the row only if the document's first sentence joins it.
            separator = tf.cast(starts_document, tf.int32)
            row_start = tf.constant(0)
            closed = tf.zeros([0], tf.int32)
        else:
            # Each document starts a new row: the open one closes first.
            separator = tf.constant(0)
            row_start = tf.where(num_sentences > 0, open_length, 0)
            closed = tf.zeros([tf.cast(starts_document, tf.int32)], tf.int32)
        closed_ends = tf.fill(tf.shape(closed), open_length)
        merged = tf.concat([buffer, tf.fill([separator], separator_id), tokens], 0)
        sentence_starts = open_length + separator + tf.cumsum(lengths, exclusive=True)
        sentence_ends = sentence_starts + lengths

        def round_(index, row_start, row_end, closed, closed_ends):
            fit_end = tf.searchsorted(sentence_ends, [row_start + capacity], side="right")[0]
            num_fit = tf.maximum(fit_end - index, 0)
            sentence_start = sentence_starts[index]

            def take():  # the row takes the sentences that fit; it closes if one is left
                next_index = index + num_fit
                end = sentence_ends[next_index - 1]
                more = next_index < num_sentences
                following = sentence_starts[tf.minimum(next_index, num_sentences - 1)]
                count = tf.cast(more, tf.int32)
                return (next_index, tf.where(more, following, row_start),
                        tf.where(more, following, end),
                        tf.fill([count], row_start), tf.fill([count], end))

            def close():  # nothing fits: the row closes, the sentence opens the next one
                return (index, sentence_start, sentence_start,
                        tf.reshape(row_start, [1]), tf.reshape(row_end, [1]))

            def cut():  # a sentence longer than a row: full pieces, the last one stays open
                length = lengths[index]
                num_pieces = (length - 1) // capacity
                pieces = sentence_start + tf.range(num_pieces) * capacity
                return (index + 1, sentence_start + num_pieces * capacity,
                        sentence_start + length, pieces, pieces + capacity)

            index, row_start, row_end, new, new_ends = tf.cond(
                num_fit > 0, take, lambda: tf.cond(row_end > row_start, close, cut)
            )
            return (index, row_start, row_end, tf.concat([closed, new], 0),
                    tf.concat([closed_ends, new_ends], 0))

        _, row_start, row_end, closed, closed_ends = tf.while_loop(
            lambda index, *_: index < num_sentences,
            round_,
            (tf.constant(0), row_start, open_length, closed, closed_ends),
            shape_invariants=(tf.TensorShape([]),) * 3 + (tf.TensorShape([None]),) * 2,
        )
        # The end of the stream closes the open row.
        last = tf.cast(flush & (row_end > row_start), tf.int32)
        closed = tf.concat([closed, tf.fill([last], row_start)], 0)
        closed_ends = tf.concat([closed_ends, tf.fill([last], row_end)], 0)
        rows = tf.gather(merged, tf.ragged.range(closed, closed_ends))
        row_start = tf.where(flush, row_end, row_start)
        return merged[row_start:row_end], rows

    return step


def complete_packing_dataset(documents, *, sequence_length, bos_id, eos_id, pad_id,
                             separator_id=None, cross_documents=True):
    """Whole-sentence packing (RoBERTa's FULL-SENTENCES), one scan step per document.

    The rows of `full_sentence_packing_dataset(..., break_mode="complete")`: each row holds
    whole sentences and is padded when the next sentence does not fit (fairseq's
    `--sample-break-mode complete`). With `cross_documents=True` a row continues into the
    next document after a separator (RoBERTa); with `cross_documents=False` each document
    starts a new row (fairseq `complete_doc`, BART). A sentence longer than a row is cut
    into full rows, its last piece opening a row like a sentence (fairseq keeps it whole,
    in a block longer than the others).

    Args:
        documents: `tf.data.Dataset` of a document's token ids, ragged `[sentences, tokens]`.
            Empty documents and sentences add nothing.
        Other arguments: as in `pack_full_sentences`.

    Returns:
        `tf.data.Dataset` of dicts with `token_ids` and `padding_mask`, int32
        [sequence_length] each.

    Example:
    >>> ds = tf.data.Dataset.from_tensor_slices(
    ...     tf.ragged.constant([[[5, 6], [7]], [[8, 9, 10]]]))
    >>> ds = complete_packing_dataset(ds, sequence_length=6, bos_id=0, eos_id=2, pad_id=1)
    >>> [x["token_ids"].numpy().tolist() for x in ds]
    [[0, 5, 6, 7, 2, 1], [0, 8, 9, 10, 2, 1]]
    """
    capacity, separator_id = _capacity_and_separator(sequence_length, eos_id, separator_id)

    def prepare(document):
        document = tf.cast(document, tf.int32).with_row_splits_dtype(tf.int64)
        return document, tf.constant(False)

    end = tf.RaggedTensor.from_row_lengths(tf.zeros([0], tf.int32), tf.zeros([0], tf.int64))
    stream = documents.map(prepare).concatenate(
        tf.data.Dataset.from_tensors((end, tf.constant(True)))
    )
    step = _complete_step(capacity, separator_id, cross_documents)
    rows = stream.scan(tf.zeros([0], tf.int32), step)
    return _finish_rows(rows.unbatch(), sequence_length, bos_id, eos_id, pad_id)
