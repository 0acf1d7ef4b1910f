import collections
import os

import numpy as np
import pytest
import tensorflow as tf

from keras_bert_zoo.data.corpora import default_corpus_texts
from keras_bert_zoo.data.datasets import (
    document_dataset,
    pretraining_dataset,
    read_static_pretraining_data,
    split_sentences,
    write_static_pretraining_data,
)
from keras_bert_zoo.data.packing import pack_full_sentences
from tests.data.conftest import WordTokenizer

LENGTH, BATCH = 64, 8
SPECIAL_IDS = {"pad": 0, "unk": 1, "cls": 2, "sep": 3, "mask": 4}  # as in conftest.py
SEQ2SEQ_IDS = {"pad": 0, "unk": 1, "bos": 2, "eos": 3, "mask": 4}


def dataset(objective, corpus_dir, tokenizer, pattern="*.txt", **kwargs):
    """A small, fast pipeline: small windows and shuffle buffer."""
    ids = SEQ2SEQ_IDS if objective in ("mlm", "denoising") else SPECIAL_IDS
    kwargs.setdefault("batch_size", BATCH)
    kwargs.setdefault("shuffle_buffer_size", 64)
    kwargs.setdefault("document_window", 8)
    if objective == "denoising":
        kwargs.setdefault("continuation_table", tokenizer.continuation_table)
    kwargs.setdefault("sequence_length", LENGTH)
    return pretraining_dataset(
        objective,
        os.path.join(corpus_dir, pattern),
        tokenize_fn=tokenizer,
        special_ids=ids,
        vocabulary_size=len(tokenizer.vocabulary),
        **kwargs,
    )


def as_numpy(element):
    return tf.nest.map_structure(lambda t: t.numpy(), element)


def take(ds, n):
    return [as_numpy(e) for e in ds.take(n)]


EXPECTED = {
    "mlm_nsp": (
        {"token_ids", "segment_ids", "padding_mask", "mask_positions"},
        {"mask_ids", "mask_weights", "sentence_label"},
    ),
    "mlm_sop": (
        {"token_ids", "segment_ids", "padding_mask", "mask_positions"},
        {"mask_ids", "mask_weights", "sentence_label"},
    ),
    "mlm": ({"token_ids", "padding_mask", "mask_positions"}, {"mask_ids", "mask_weights"}),
    "denoising": (
        {"encoder_token_ids", "encoder_padding_mask", "decoder_token_ids", "decoder_padding_mask"},
        {"target_ids", "target_weights"},
    ),
}


@pytest.mark.parametrize("objective", sorted(EXPECTED))
def test_element_structure(objective, corpus_dir, word_tokenizer):
    ds = dataset(objective, corpus_dir, word_tokenizer, max_predictions_per_seq=10)
    x_spec, y_spec = ds.element_spec
    assert set(x_spec) == EXPECTED[objective][0] and set(y_spec) == EXPECTED[objective][1]
    for spec in list(x_spec.values()) + list(y_spec.values()):
        assert spec.shape[0] == BATCH  # static shapes when repeating
    x, y = take(ds, 1)[0]
    if objective == "denoising":
        assert x["encoder_token_ids"].shape == (BATCH, LENGTH)
        assert y["target_weights"].dtype == np.float32
        target = y["target_ids"]
        assert (target[:, 0] == SEQ2SEQ_IDS["bos"]).all()
        lengths = y["target_weights"].sum(1).astype(int)
        assert (target[np.arange(BATCH), lengths - 1] == SEQ2SEQ_IDS["eos"]).all()
        # Decoder input = target shifted right, starting with </s>.
        np.testing.assert_array_equal(x["decoder_token_ids"][:, 1:], target[:, :-1])
        assert (x["decoder_token_ids"][:, 0] == SEQ2SEQ_IDS["eos"]).all()
        assert (x["encoder_token_ids"] == SEQ2SEQ_IDS["mask"]).any()
        return
    assert x["token_ids"].shape == (BATCH, LENGTH) and x["token_ids"].dtype == np.int32
    assert x["mask_positions"].shape == (BATCH, 10) and y["mask_weights"].dtype == np.float32
    original = x["token_ids"].copy()
    rows = np.arange(BATCH)[:, None]
    used = y["mask_weights"] > 0
    original[np.broadcast_to(rows, used.shape)[used], x["mask_positions"][used]] = y["mask_ids"][
        used
    ]
    ids = SEQ2SEQ_IDS if objective == "mlm" else SPECIAL_IDS
    layout = [ids[role] for role in (("bos", "eos") if objective == "mlm" else ("cls", "sep"))]
    assert not np.isin(y["mask_ids"][used], layout + [ids["pad"]]).any()  # never masked
    if objective == "mlm":
        assert (original[:, 0] == SEQ2SEQ_IDS["bos"]).all()
        lengths = x["padding_mask"].sum(1)
        assert (original[np.arange(BATCH), lengths - 1] == SEQ2SEQ_IDS["eos"]).all()
    else:
        assert (original[:, 0] == SPECIAL_IDS["cls"]).all()
        assert set(y["sentence_label"].tolist()) <= {0, 1}
        assert (x["segment_ids"] <= x["padding_mask"]).all()


def test_deterministic_and_seed_dependent(corpus_dir, word_tokenizer):
    a = take(dataset("mlm_nsp", corpus_dir, word_tokenizer, seed=1), 3)
    b = take(dataset("mlm_nsp", corpus_dir, word_tokenizer, seed=1), 3)
    c = take(dataset("mlm_nsp", corpus_dir, word_tokenizer, seed=2), 3)
    tf.nest.map_structure(np.testing.assert_array_equal, a, b)
    assert not np.array_equal(a[0][0]["token_ids"], c[0][0]["token_ids"])


def test_dynamic_masking_differs_between_epochs(corpus_dir, word_tokenizer):
    ds = dataset(
        "mlm",
        corpus_dir,
        word_tokenizer,
        pattern="corpus-00000.txt",
        shuffle_buffer_size=0,
        num_epochs=2,
        batch_size=1,
    )
    batches = [as_numpy(e) for e in ds]
    assert len(batches) % 2 == 0
    first, second = batches[0], batches[len(batches) // 2]

    def unmasked(batch):
        x, y = batch
        ids = x["token_ids"].copy()
        for row in range(len(ids)):
            used = y["mask_weights"][row] > 0
            ids[row, x["mask_positions"][row][used]] = y["mask_ids"][row][used]
        return ids

    # Same text in both epochs (one file, no shuffle), but different masks.
    np.testing.assert_array_equal(unmasked(first), unmasked(second))
    assert not np.array_equal(first[0]["mask_positions"], second[0]["mask_positions"])


def token_counts(ds):
    counts = collections.Counter()
    for x, y in ds:
        ids = x["token_ids"].numpy()
        for row in range(len(ids)):
            used = y["mask_weights"][row].numpy() > 0
            ids[row, x["mask_positions"][row].numpy()[used]] = y["mask_ids"][row].numpy()[used]
        counts.update(ids[ids > 4].tolist())
    return counts


@pytest.mark.parametrize("num_files", [4, 1])
def test_sharding_is_disjoint_and_complete(num_files, corpus_dir, word_tokenizer, tmp_path):
    if num_files == 1:  # fewer files than pipelines: sharded by documents
        text = "\n\n".join(
            open(os.path.join(corpus_dir, name)).read().strip()
            for name in sorted(os.listdir(corpus_dir))
        )
        (tmp_path / "one.txt").write_text(text + "\n")
        directory = str(tmp_path)
    else:  # sharded by files
        directory = corpus_dir
    kwargs = dict(repeat=False, shuffle_buffer_size=0, batch_size=16)
    whole = token_counts(dataset("mlm", directory, word_tokenizer, **kwargs))
    shards = [
        token_counts(
            dataset(
                "mlm",
                directory,
                word_tokenizer,
                input_context=tf.distribute.InputContext(
                    num_input_pipelines=2, input_pipeline_id=i
                ),
                **kwargs,
            )
        )
        for i in range(2)
    ]
    assert shards[0] and shards[1]
    assert shards[0] + shards[1] == whole
    # Documents: disjoint and complete.
    docs = [
        d.numpy()
        for d in document_dataset(sorted(os.path.join(directory, f) for f in os.listdir(directory)))
    ]
    if num_files == 1:
        parts = [
            [d.numpy() for d in document_dataset([os.path.join(directory, "one.txt")]).shard(2, i)]
            for i in range(2)
        ]
        assert not set(parts[0]) & set(parts[1]) and sorted(parts[0] + parts[1]) == sorted(docs)


def test_iterator_checkpoint_continues_the_stream(corpus_dir, word_tokenizer, tmp_path):
    for objective in ("mlm_sop", "mlm"):
        iterator = iter(dataset(objective, corpus_dir, word_tokenizer))
        for _ in range(2):
            next(iterator)
        checkpoint = tf.train.Checkpoint(iterator=iterator)
        path = checkpoint.save(str(tmp_path / objective / "ckpt"))
        expected = [as_numpy(next(iterator)) for _ in range(3)]
        checkpoint.restore(path)
        got = [as_numpy(next(iterator)) for _ in range(3)]
        tf.nest.map_structure(np.testing.assert_array_equal, expected, got)
        # Resuming by position gives the same batches too.
        skipped = take(dataset(objective, corpus_dir, word_tokenizer).skip(2), 3)
        tf.nest.map_structure(np.testing.assert_array_equal, expected, skipped)


def test_static_round_trip(corpus_dir, word_tokenizer, tmp_path):
    out = str(tmp_path / "static")
    paths = write_static_pretraining_data(
        "mlm_nsp",
        os.path.join(corpus_dir, "corpus-00000.txt"),
        out,
        dupe_factor=2,
        num_shards=3,
        tokenize_fn=word_tokenizer,
        special_ids=SPECIAL_IDS,
        vocabulary_size=len(word_tokenizer.vocabulary),
        sequence_length=LENGTH,
        max_predictions_per_seq=10,
        shuffle_buffer_size=0,
    )
    assert len(paths) == 3 and all(os.path.getsize(p) > 0 for p in paths)
    read = read_static_pretraining_data(
        os.path.join(out, "*.tfrecord"), batch_size=4, repeat=False, shuffle_buffer_size=0
    )
    # The streaming pipeline of each duplicate, as the writer ran it.
    streamed = [
        dataset(
            "mlm_nsp",
            corpus_dir,
            word_tokenizer,
            pattern="corpus-00000.txt",
            document_window=64,
            max_predictions_per_seq=10,
            seed=(0, seed),
            repeat=False,
            shuffle_buffer_size=0,
            batch_size=64,
        )
        for seed in range(2)
    ]
    assert tf.nest.map_structure(
        lambda s: (s.dtype, s.shape[1:]), read.element_spec
    ) == tf.nest.map_structure(lambda s: (s.dtype, s.shape[1:]), streamed[0].element_spec)
    written = [as_numpy(e) for ds in streamed for e in ds.unbatch()]
    got = [as_numpy(e) for e in read.unbatch()]
    assert len(got) == len(written)

    def key(e):
        return e[0]["token_ids"].tobytes() + e[0]["mask_positions"].tobytes()

    assert sorted(map(key, got)) == sorted(map(key, written))
    # The two duplicates are masked differently.
    half = len(written) // 2
    assert any(
        not np.array_equal(a[0]["token_ids"], b[0]["token_ids"])
        for a, b in zip(written[:half], written[half:])
    )


def test_split_sentences():
    doc = tf.constant('First line\nwraps here. Second! "Third?" Fourth')
    assert split_sentences(doc).numpy().tolist() == [
        b"First line wraps here.",
        b"Second!",
        b'"Third?"',
        b"Fourth",
    ]
    assert split_sentences(doc, "line").numpy().tolist() == [
        b"First line",
        b'wraps here. Second! "Third?" Fourth',
    ]


def test_documents_are_blank_line_separated(tmp_path):
    (tmp_path / "a.txt").write_text("one\ntwo\n\n\n  \nthree\n")
    (tmp_path / "b.txt").write_text("four")
    docs = [d.numpy() for d in document_dataset([str(tmp_path / "a.txt"), str(tmp_path / "b.txt")])]
    assert docs == [b"one\ntwo", b"three", b"four"]


def test_errors(corpus_dir, word_tokenizer, tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing-here"):
        dataset("mlm", str(tmp_path / "nothing-here"), word_tokenizer)
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "a.txt").write_text("\n\n  \n")
    (tmp_path / "empty" / "b.txt").write_text("")
    with pytest.raises(ValueError, match="no documents"):
        dataset("mlm", str(tmp_path / "empty"), word_tokenizer)
    with pytest.raises(ValueError, match="mask"):
        pretraining_dataset(
            "mlm",
            os.path.join(corpus_dir, "*.txt"),
            tokenize_fn=word_tokenizer,
            special_ids={"bos": 2, "eos": 3, "pad": 0},
            vocabulary_size=100,
            sequence_length=LENGTH,
            batch_size=2,
        )
    with pytest.raises(ValueError, match="out of range"):
        pretraining_dataset(
            "mlm",
            os.path.join(corpus_dir, "*.txt"),
            tokenize_fn=word_tokenizer,
            special_ids={"bos": 2, "eos": 3, "pad": 0, "mask": 100},
            vocabulary_size=100,
            sequence_length=LENGTH,
            batch_size=2,
        )
    with pytest.raises(ValueError, match="objective"):
        dataset("gpt", corpus_dir, word_tokenizer)


def test_undecodable_bytes(word_tokenizer, tmp_path, capfd):
    (tmp_path / "bad.txt").write_bytes(
        b"good line here.\nbad \xff\xfe bytes here.\n\nanother document.\n"
    )
    docs = [d.numpy() for d in document_dataset([str(tmp_path / "bad.txt")])]
    assert docs[0] == "good line here.\nbad \ufffd\ufffd bytes here.".encode()
    assert "bad.txt:2" in capfd.readouterr().err
    with pytest.raises(tf.errors.InvalidArgumentError, match="bad.txt:2"):
        list(document_dataset([str(tmp_path / "bad.txt")], decode_errors="strict"))


def test_whole_word_pipeline_with_wordpiece(corpus_dir, wordpiece_tokenizer):
    ds = dataset(
        "mlm_sop",
        corpus_dir,
        wordpiece_tokenizer,
        whole_word=True,
        ngram_max=3,
        continuation_table=wordpiece_tokenizer.continuation_table,
    )
    x, y = take(ds, 1)[0]
    table = wordpiece_tokenizer.continuation_table
    for row in range(BATCH):
        chosen = set(x["mask_positions"][row][y["mask_weights"][row] > 0].tolist())
        original = x["token_ids"][row].copy()
        for p, t in zip(x["mask_positions"][row], y["mask_ids"][row]):
            if p in chosen:
                original[p] = t
        for p in chosen:  # the piece after a chosen piece that continues it is chosen too
            if p + 1 < LENGTH and table[original[p + 1]] and x["padding_mask"][row][p + 1]:
                assert p + 1 in chosen


def test_documents_across_blocks_of_lines(tmp_path):
    """Documents are grouped 1,024 lines at a time: documents that straddle blocks and
    files, runs of blank and white-space lines, and missing final newlines all give the
    documents of a line-by-line reading."""
    rng = np.random.default_rng(0)
    paths, expected = [], []
    for f, num_lines in enumerate([2500, 1024, 0, 1]):
        kinds = rng.choice(["text", "blank", "space"], size=num_lines, p=[0.9, 0.07, 0.03])
        lines = [f"{f} line {i}" if kind == "text" else ("" if kind == "blank" else " \t")
                 for i, kind in enumerate(kinds)]
        path = tmp_path / f"{f}.txt"
        path.write_text("\n".join(lines) + ("\n" if f % 2 else ""))
        paths.append(str(path))
        document = []
        for line in lines + [""]:
            if line.strip():
                document.append(line)
            elif document:
                expected.append("\n".join(document).encode())
                document = []
    assert len(expected) > 100
    assert [d.numpy() for d in document_dataset(paths)] == expected


# ----------------------------------------------------------------------------------------
# Fidelity to the papers, on real text.


def unmasked_rows(ds):
    """The packed rows of an "mlm" pipeline with the masked tokens put back."""
    rows = []
    for x, y in ds.unbatch().as_numpy_iterator():
        ids = x["token_ids"].copy()
        used = y["mask_weights"] > 0
        ids[x["mask_positions"][used]] = y["mask_ids"][used]
        rows.append(ids)
    return np.array(rows)


def tokenized_documents(path, tokenizer):
    """Documents -> sentences -> ids, as the pipeline reads and tokenizes them."""
    documents = []
    for document in document_dataset([path]):
        sentences = tokenizer(split_sentences(document)).to_list()
        documents.append([s for s in sentences if s])
    return documents


def check_sentence_boundaries(rows, documents, separator, pad):
    """Walk the rows through the documents' sentences: every row holds whole sentences
    (a separator where a document starts inside a row) and ends at a sentence end, unless
    it is a full piece of a sentence longer than a row. Returns the number of such pieces."""
    capacity = rows.shape[1] - 2
    sentences = [(d, s) for d, document in enumerate(documents) for s in range(len(document))]
    index, offset, pieces = 0, 0, 0
    for row in rows:
        content = row[1 : int((row != pad).sum()) - 1].tolist()
        first, k = index, 0
        while k < len(content):
            d, s = sentences[index]
            if offset == 0 and s == 0 and k > 0:
                assert content[k] == separator
                k += 1
            sentence = documents[d][s]
            m = min(len(sentence) - offset, len(content) - k)
            assert content[k : k + m] == sentence[offset : offset + m]
            k, offset = k + m, offset + m
            if offset == len(sentence):
                index, offset = index + 1, 0
        if offset:  # the row ends inside a sentence: a full piece of an over-long one
            d, s = sentences[index]
            assert index == first and len(content) == capacity < len(documents[d][s])
            pieces += 1
    assert index == len(sentences)  # every sentence, once
    return pieces


def corpus_file(tmp_path, name, texts):
    path = tmp_path / name
    path.write_text("\n\n".join(t.replace("\n\n", "\n") for t in texts) + "\n")
    return str(path)


def bbc_texts():
    from keras_bert_zoo.data.corpora import bbc_news

    try:
        return bbc_news()[0][:20]
    except ImportError as error:
        pytest.skip(f"BBC news articles unavailable: {error}")


@pytest.mark.parametrize("corpus", ["embedded", "bbc"])
def test_roberta_rows_are_full_sentences(corpus, word_tokenizer, tmp_path):
    """RoBERTa's FULL-SENTENCES by default: whole sentences, across documents with a
    separator; `break_mode="fill"` (fairseq's `none`) cuts the stream into full rows."""
    texts = default_corpus_texts()[:8] if corpus == "embedded" else bbc_texts()
    path = corpus_file(tmp_path, "text.txt", texts)
    kwargs = dict(repeat=False, shuffle_buffer_size=0, batch_size=16)
    rows = unmasked_rows(dataset("mlm", str(tmp_path), word_tokenizer, pattern="text.txt",
                                 **kwargs))
    documents = tokenized_documents(path, word_tokenizer)
    pad, eos = SEQ2SEQ_IDS["pad"], SEQ2SEQ_IDS["eos"]
    expected = pack_full_sentences(documents, sequence_length=LENGTH, bos_id=SEQ2SEQ_IDS["bos"],
                                   eos_id=eos, pad_id=pad, break_mode="complete")
    np.testing.assert_array_equal(rows, expected)
    pieces = check_sentence_boundaries(rows, documents, separator=eos, pad=pad)
    fill = ((rows != pad).sum(1) / LENGTH).mean()
    print(f"{corpus}: {len(rows)} rows, mean fill {fill:.3f}, {pieces} pieces of long sentences")
    assert 0.6 < fill < 0.97

    fill_rows = unmasked_rows(dataset("mlm", str(tmp_path), word_tokenizer, pattern="text.txt",
                                      break_mode="fill", **kwargs))
    assert ((fill_rows != pad).sum(1)[:-1] == LENGTH).all()  # every row full but the last
    np.testing.assert_array_equal(
        fill_rows, pack_full_sentences(documents, sequence_length=LENGTH, break_mode="fill",
                                       bos_id=SEQ2SEQ_IDS["bos"], eos_id=eos, pad_id=pad))


def test_unk_is_masked_and_can_be_excluded(corpus_dir):
    """[UNK] is a candidate like any word (google-research/bert); `unmaskable_ids` takes it
    out of the candidates and the replacements."""
    tokenizer = WordTokenizer(default_corpus_texts()[:60], size=300)  # ~17% [UNK]
    unk = SEQ2SEQ_IDS["unk"]

    def chosen_and_inserted(**kwargs):
        ds = dataset("mlm", corpus_dir, tokenizer, pattern="corpus-00000.txt", repeat=False,
                     shuffle_buffer_size=0, batch_size=32, **kwargs)
        chosen, inserted = [], []
        for x, y in ds.as_numpy_iterator():
            used = y["mask_weights"] > 0
            chosen.append(y["mask_ids"][used])
            inserted.append(np.take_along_axis(x["token_ids"], x["mask_positions"], 1)[used])
        return np.concatenate(chosen), np.concatenate(inserted)

    chosen, _ = chosen_and_inserted()
    assert 0.1 < (chosen == unk).mean() < 0.25
    # Every chosen token replaced by a random one: [UNK] is neither chosen nor drawn.
    chosen, inserted = chosen_and_inserted(unmaskable_ids=[unk], mask_token_rate=0.0,
                                           random_token_rate=1.0)
    assert len(chosen) > 1000 and not (chosen == unk).any() and not (inserted == unk).any()


@pytest.mark.parametrize("layout", ["alone", "after_a_window"])
def test_nsp_is_balanced_on_a_one_document_shard(layout, word_tokenizer, tmp_path):
    """A window holding one document (the end of a shard) gets NotNext segments from the
    previous window's last document; a shard of one document draws them from itself."""
    long_document = "\n".join(t.replace("\n\n", "\n") for t in default_corpus_texts()[:150])
    texts = [long_document] if layout == "alone" else [
        "A short document. It has two sentences.", "Another short one. Also two.",
        long_document]
    corpus_file(tmp_path, "shard.txt", texts)
    ds = dataset("mlm_nsp", str(tmp_path), word_tokenizer, pattern="shard.txt", repeat=False,
                 shuffle_buffer_size=0, batch_size=256, document_window=2, sequence_length=32)
    labels = np.concatenate([y["sentence_label"] for _, y in ds.as_numpy_iterator()])
    print(f"{layout}: {len(labels)} pairs, NotNext share {labels.mean():.4f}")
    assert len(labels) > 4000
    assert abs(labels.mean() - 0.5) < 0.02


def test_bart_noise_masks_whole_words(corpus_dir, wordpiece_tokenizer):
    """BART's noise on whole words by default: the token after a <mask> is never the rest
    of a word; `noise_unit="token"` cuts words. (Random replacements are off: a random
    token may be a word piece.)"""
    table = wordpiece_tokenizer.continuation_table
    mask = SEQ2SEQ_IDS["mask"]

    def continuations_after_masks(**kwargs):
        ds = dataset("denoising", corpus_dir, wordpiece_tokenizer, repeat=False,
                     shuffle_buffer_size=0, batch_size=64, noise_random_token_rate=0.0,
                     **kwargs)
        after, masks = 0, 0
        for x, _ in ds.take(4).as_numpy_iterator():
            ids = x["encoder_token_ids"]
            is_mask = ids[:, :-1] == mask
            after += (is_mask & table[ids[:, 1:]]).sum()
            masks += is_mask.sum()
        return after, masks

    after, masks = continuations_after_masks()
    assert masks > 500 and after == 0
    after, masks = continuations_after_masks(noise_unit="token")
    assert after > 0.05 * masks
    with pytest.raises(ValueError, match="continuation_table"):
        dataset("denoising", corpus_dir, wordpiece_tokenizer, continuation_table=None)
