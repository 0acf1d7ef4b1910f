from keras_bert_zoo.models.bert.bert_backbone import BertBackbone
