"""Sentence-pair examples: next sentence prediction (BERT) and sentence order prediction (ALBERT).

`create_sentence_pairs` follows google-research/bert `create_instances_from_document`:
sentences of a document are gathered into a chunk until it reaches a target length
(`max_num_tokens`, or with probability `short_seq_prob` a random shorter one), the chunk is
split at a random sentence boundary into A and B, and the pair is truncated longest first,
removing tokens at the front or the back at random.

* NSP: with probability 0.5 B is replaced by consecutive sentences of a random DIFFERENT
  document (the original can draw the same document, which labels a true continuation as
  "not next"); the unused sentences of the chunk go back to the stream, as in the
  original. Only when there is no other document (a corpus or shard of one document) does
  B come from the same document, never from A or the sentence that follows A (the
  original's fallback after ten draws of the same document), so the labels stay 50/50.
  A one-sentence chunk drawn as IsNext is split inside the sentence (the original always
  makes it NotNext, skewing the labels). Labels: 0 = IsNext, 1 = NotNext (the
  BERT convention, as `next_sentence_labels` in create_pretraining_data.py).
* SOP: A and B are two consecutive segments of the same document; with probability 0.5
  they are swapped. Labels: 0 = in order, 1 = swapped (ALBERT). A one-sentence chunk is
  split inside the sentence at a random token.

It is pure TensorFlow with stateless random ops: the same documents and seed give the same
pairs, and it runs inside tf.data on a window of documents (negatives for NSP come from
the other documents of the window, and from documents that only lend negatives: the
pipeline passes the previous window's last document that way).
"""

import tensorflow as tf

from keras_bert_zoo.data.masking import as_seed
from keras_bert_zoo.data.packing import truncated_lengths

OBJECTIVES = ("nsp", "sop")


def _as_documents(documents, num_negative_sources):
    """(documents without empty sentences and documents, how many sources remain first)."""
    if isinstance(documents, tf.RaggedTensor):
        docs = documents
    else:
        docs = tf.ragged.constant(documents, dtype=tf.int32, ragged_rank=2)
    if docs.ragged_rank != 2:
        raise ValueError("documents must be [num_documents, None (sentences), None (tokens)]")
    docs = tf.cast(docs, tf.int32)
    # Drop empty sentences, then empty documents.
    docs = tf.ragged.boolean_mask(docs, docs.row_lengths(axis=2) > 0)
    nonempty = docs.row_lengths() > 0
    sources = tf.reduce_sum(tf.cast(nonempty[:num_negative_sources], tf.int32))
    return tf.ragged.boolean_mask(docs, nonempty), sources


def create_sentence_pairs(
    documents,
    *,
    objective="nsp",
    max_num_tokens,
    short_seq_prob=0.1,
    seed,
    num_negative_sources=0,
):
    """Build NSP or SOP segment pairs from documents.

    Args:
        documents: int `tf.RaggedTensor` [num_documents, None, None] (documents of
            sentences of ids), or nested Python lists. Empty sentences are ignored.
        objective: "nsp" or "sop".
        max_num_tokens: token budget of A + B (`sequence_length - 3` for BERT).
        short_seq_prob: probability that a document uses a shorter random target length
            (drawn once per document, as in the original).
        seed: int or int tensor [2].
        num_negative_sources: the first documents only lend B segments to NotNext pairs
            and start no pair themselves (the pipeline passes the previous window's last
            document this way).

    Returns:
        dict with `tokens_a`, `tokens_b` (int32 `tf.RaggedTensor` [num_pairs, None]) and
        `sentence_label` (int32 [num_pairs]: NSP 0 = IsNext, 1 = NotNext; SOP 0 = in order,
        1 = swapped). A document shorter than the target gives one (shorter) pair; a
        one-sentence document gives a pair split inside the sentence (or, for NSP, with a
        random B), or nothing when it has a single token and no other document is
        available (NSP) or a single token (SOP). With a single document, NSP's NotNext
        segments come from the same document, away from A and its continuation.

    Example:
    >>> docs = [[[5, 6], [7, 8]], [[20, 21, 22]]]
    >>> pairs = create_sentence_pairs(docs, objective="sop", max_num_tokens=8, seed=0)
    >>> pairs["tokens_a"].to_list(), pairs["tokens_b"].to_list()
    ([[5, 6], [22]], [[7, 8], [20, 21]])
    >>> pairs["sentence_label"].numpy().tolist()  # the second pair is swapped
    [0, 1]
    """
    if objective not in OBJECTIVES:
        raise ValueError(f"objective={objective!r} is not one of {OBJECTIVES}")
    if max_num_tokens < 2:
        raise ValueError(f"max_num_tokens={max_num_tokens} must be at least 2")
    docs, num_sources = _as_documents(documents, num_negative_sources)
    seeds = tf.random.experimental.stateless_split(as_seed(seed), num=4)

    sentences = docs.values  # [num_sentences, None]
    tokens = sentences.values
    token_starts = tf.cast(sentences.row_splits, tf.int32)  # offsets of sentences in tokens
    lengths = tf.cast(sentences.row_lengths(), tf.int32)
    sentence_document = tf.cast(docs.value_rowids(), tf.int32)
    document_splits = tf.cast(docs.row_splits, tf.int32)
    num_documents = tf.shape(document_splits)[0] - 1
    num_sentences = tf.shape(lengths)[0]

    # One target length per document (google-research/bert draws it once per document).
    short = tf.random.stateless_uniform([num_documents], seeds[0]) < short_seq_prob
    short_target = tf.random.stateless_uniform(
        [num_documents], seeds[1], minval=2, maxval=max_num_tokens + 1, dtype=tf.int32
    )
    targets = tf.where(short, short_target, max_num_tokens)

    def randint(u, low, high):  # uniform integer in [low, high] from u in [0, 1)
        return low + tf.minimum(
            tf.cast(u * tf.cast(high - low + 1, tf.float32), tf.int32), high - low
        )

    def body(step, i, chunk_start, current_length, pairs):
        u = tf.random.stateless_uniform(
            [4], tf.random.experimental.stateless_fold_in(seeds[2], step)
        )
        d = sentence_document[i]
        target = targets[d]
        current_length += lengths[i]
        close = (i == document_splits[d + 1] - 1) | (current_length >= target)
        n = i - chunk_start + 1
        a_end = chunk_start + tf.where(n >= 2, randint(u[0], 1, n - 1), 1)
        a = tf.stack([token_starts[chunk_start], token_starts[a_end]])
        in_order_b = tf.stack([token_starts[a_end], token_starts[i + 1]])
        if objective == "nsp":
            # 50/50 for every chunk: a one-sentence chunk whose draw says IsNext is split
            # inside the sentence (the original always makes it NotNext, which skews the
            # labels towards NotNext); one-token sentences can only be NotNext.
            # B from another document, or, with none, from the same document outside A and
            # the sentence after it.
            other_document = num_documents >= 2
            first_d, end_d = document_splits[d], document_splits[d + 1]
            num_before, num_after = chunk_start - first_d, end_d - (a_end + 1)
            can_draw = other_document | (num_before + num_after > 0)
            splittable = (n == 1) & (lengths[i] >= 2)
            random_next = can_draw & (((n == 1) & ~splittable) | (u[1] < 0.5))
            cut = token_starts[i] + randint(u[0], 1, tf.maximum(lengths[i] - 1, 1))
            a = tf.where(splittable & ~random_next, tf.stack([token_starts[i], cut]), a)
            in_order_b = tf.where(
                splittable & ~random_next, tf.stack([cut, token_starts[i + 1]]), in_order_b
            )
            # B from a different document: d + 1 + k (mod num_documents), k < num_documents - 1.
            other = (d + 1 + randint(u[2], 0, tf.maximum(num_documents - 2, 0))) % num_documents
            first, end = document_splits[other], document_splits[other + 1]
            start = randint(u[3], first, end - 1)
            candidate = randint(u[3], 0, tf.maximum(num_before + num_after - 1, 0))
            same_start = tf.where(
                candidate < num_before, first_d + candidate, a_end + 1 + candidate - num_before
            )
            start = tf.where(other_document, start, same_start)
            end = tf.where(other_document, end, tf.where(start < chunk_start, chunk_start, end_d))
            target_b = target - (a[1] - a[0])
            stop = tf.searchsorted(token_starts, [token_starts[start] + target_b], side="left")[0]
            stop = tf.clip_by_value(stop, start + 1, end)
            b = tf.where(
                random_next, tf.stack([token_starts[start], token_starts[stop]]), in_order_b
            )
            label = tf.cast(random_next, tf.int32)
            valid = close & ((n >= 2) | random_next | splittable)
            next_i = tf.where(close & random_next, a_end, i + 1)  # unused sentences go back
        else:
            # A one-sentence chunk is split inside the sentence.
            cut = token_starts[i] + randint(u[0], 1, tf.maximum(lengths[i] - 1, 1))
            a = tf.where(n >= 2, a, tf.stack([token_starts[i], cut]))
            b = tf.where(n >= 2, in_order_b, tf.stack([cut, token_starts[i + 1]]))
            swapped = u[1] < 0.5
            a, b = tf.where(swapped, b, a), tf.where(swapped, a, b)
            label = tf.cast(swapped, tf.int32)
            valid = close & ((n >= 2) | (lengths[i] >= 2))
            next_i = i + 1
        pairs = pairs.write(step, tf.concat([a, b, [label, tf.cast(valid, tf.int32)]], 0))
        chunk_start = tf.where(close, next_i, chunk_start)
        current_length = tf.where(close, 0, current_length)
        return step + 1, next_i, chunk_start, current_length, pairs

    pairs = tf.TensorArray(tf.int32, size=0, dynamic_size=True, element_shape=[6])
    first = document_splits[num_sources]  # sources start no pair
    _, _, _, _, pairs = tf.while_loop(
        lambda step, i, *_: i < num_sentences,
        body,
        (tf.constant(0), first, first, tf.constant(0), pairs),
    )
    pairs = pairs.stack()
    pairs = tf.boolean_mask(pairs, pairs[:, 5] > 0)
    a_start, a_stop, b_start, b_stop, label = tf.unstack(pairs[:, :5], axis=1)

    # Longest-first truncation, each removed token taken from the front or the back at
    # random (google-research/bert truncate_seq_pair): the number taken from the front is
    # Binomial(removed, 0.5).
    length_a, length_b = a_stop - a_start, b_stop - b_start
    final_a, final_b = tf.unstack(truncated_lengths(length_a, length_b, max_num_tokens))
    front = tf.random.stateless_binomial(
        [2, tf.shape(label)[0]],
        seeds[3],
        counts=tf.cast(tf.stack([length_a - final_a, length_b - final_b]), tf.float32),
        probs=0.5,
        output_dtype=tf.int32,
    )

    def segment(start, front, length):
        start = start + front
        return tf.gather(tokens, tf.ragged.range(start, start + length))

    return {
        "tokens_a": segment(a_start, front[0], final_a),
        "tokens_b": segment(b_start, front[1], final_b),
        "sentence_label": label,
    }
