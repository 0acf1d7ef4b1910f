"""Trainable models: a backbone plus a head, generic over the backbone contract."""

from keras_bert_zoo.tasks.classifier import TextClassifier
from keras_bert_zoo.tasks.embedder import TextEmbedder, cosine_similarity
from keras_bert_zoo.tasks.pretraining import DenoisingPretrainer, Pretrainer
from keras_bert_zoo.tasks.seq2seq import (BeamSearchSampler, Seq2SeqGenerator, pack_seq2seq,
                                          rouge, seq2seq_dataset, trim_seq2seq)
from keras_bert_zoo.tasks.span_qa import SpanQuestionAnswerer
from keras_bert_zoo.tasks.tagger import TokenTagger

__all__ = ["BeamSearchSampler", "DenoisingPretrainer", "Pretrainer", "Seq2SeqGenerator",
           "SpanQuestionAnswerer", "TextClassifier", "TextEmbedder", "TokenTagger",
           "cosine_similarity", "pack_seq2seq", "rouge", "seq2seq_dataset", "trim_seq2seq"]
