"""Tokenizers of the BERT family: WordPiece, SentencePiece, byte-level BPE, training, packing."""

from keras_bert_zoo.tokenizers.byte_pair_tokenizer import BytePairTokenizer
from keras_bert_zoo.tokenizers.families import FAMILIES
from keras_bert_zoo.tokenizers.families import SPECIAL_TOKENS
from keras_bert_zoo.tokenizers.families import TOKENIZER_CLASS
from keras_bert_zoo.tokenizers.preprocessor import Preprocessor
from keras_bert_zoo.tokenizers.preprocessor import load_preprocessor
from keras_bert_zoo.tokenizers.preprocessor import pack_inputs
from keras_bert_zoo.tokenizers.sentence_piece_tokenizer import SentencePieceTokenizer
from keras_bert_zoo.tokenizers.tokenizer import Tokenizer
from keras_bert_zoo.tokenizers.tokenizer import load_tokenizer
from keras_bert_zoo.tokenizers.trainers import train_byte_level_bpe
from keras_bert_zoo.tokenizers.trainers import train_sentencepiece
from keras_bert_zoo.tokenizers.trainers import train_tokenizer
from keras_bert_zoo.tokenizers.trainers import train_wordpiece
from keras_bert_zoo.tokenizers.word_piece_tokenizer import WordPieceTokenizer
