"""Pretraining data: objectives as pure, seeded functions and streaming tf.data pipelines."""

from keras_bert_zoo.data.bucketing import bucket_by_length, text_batches
from keras_bert_zoo.data.corpora import (
    bbc_news,
    default_corpus_texts,
    tweets_sentiment,
    write_default_corpus,
)
from keras_bert_zoo.data.datasets import (
    document_dataset,
    pretraining_dataset,
    read_static_pretraining_data,
    split_sentences,
    write_static_pretraining_data,
)
from keras_bert_zoo.data.denoising import (
    bart_noise,
    bart_noise_batch,
    document_rotation,
    sentence_permutation,
    text_infilling,
    token_deletion,
    token_masking,
)
from keras_bert_zoo.data.masking import dynamic_seed, mask_tokens
from keras_bert_zoo.data.packing import (
    complete_packing_dataset,
    fill_packing_dataset,
    full_sentence_packing_dataset,
    pack_full_sentences,
    pack_segments,
    trim_to_longest,
    truncated_lengths,
)
from keras_bert_zoo.data.sentence_pairs import create_sentence_pairs

from keras_bert_zoo.data.formats import SquadExample, read_conll, read_squad  # noqa: E402
from keras_bert_zoo.data.tables import read_table  # noqa: E402

__all__ = [
    "SquadExample",
    "bart_noise",
    "bart_noise_batch",
    "bbc_news",
    "bucket_by_length",
    "complete_packing_dataset",
    "create_sentence_pairs",
    "default_corpus_texts",
    "document_dataset",
    "document_rotation",
    "dynamic_seed",
    "fill_packing_dataset",
    "full_sentence_packing_dataset",
    "mask_tokens",
    "pack_full_sentences",
    "pack_segments",
    "pretraining_dataset",
    "read_conll",
    "read_squad",
    "read_table",
    "read_static_pretraining_data",
    "sentence_permutation",
    "split_sentences",
    "text_batches",
    "text_infilling",
    "token_deletion",
    "token_masking",
    "trim_to_longest",
    "truncated_lengths",
    "tweets_sentiment",
    "write_default_corpus",
    "write_static_pretraining_data",
]
