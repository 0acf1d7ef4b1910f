"""Training machinery: strategies, precision, optimizers, resumable fit, pretraining runs."""

from keras_bert_zoo.training.loop import fit_resumable, restore_latest
from keras_bert_zoo.training.optimizers import WarmupPolynomialDecay, create_optimizer
from keras_bert_zoo.training.precision import dtype_policy
from keras_bert_zoo.training.pretrain import OBJECTIVES, PretrainConfig, pretrain
from keras_bert_zoo.training.strategy import get_strategy

__all__ = [
    "OBJECTIVES",
    "PretrainConfig",
    "WarmupPolynomialDecay",
    "create_optimizer",
    "dtype_policy",
    "fit_resumable",
    "get_strategy",
    "pretrain",
    "restore_latest",
]
