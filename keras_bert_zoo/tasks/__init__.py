"""Trainable models: a backbone plus a head, generic over the backbone contract."""

from keras_bert_zoo.tasks.classifier import TextClassifier
from keras_bert_zoo.tasks.pretraining import DenoisingPretrainer, Pretrainer
from keras_bert_zoo.tasks.span_qa import SpanQuestionAnswerer
from keras_bert_zoo.tasks.tagger import TokenTagger

__all__ = ["DenoisingPretrainer", "Pretrainer", "SpanQuestionAnswerer", "TextClassifier",
           "TokenTagger"]
