from keras_bert_zoo.models.bart.bart_backbone import BartBackbone
