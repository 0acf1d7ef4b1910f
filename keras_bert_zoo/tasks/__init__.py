"""Trainable models: a backbone plus a head, generic over the backbone contract."""

from keras_bert_zoo.tasks.classifier import TextClassifier
from keras_bert_zoo.tasks.pretraining import DenoisingPretrainer, Pretrainer

__all__ = ["DenoisingPretrainer", "Pretrainer", "TextClassifier"]
