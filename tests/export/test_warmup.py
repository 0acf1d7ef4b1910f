"""TF Serving warm-up files: PredictionLog records that the exported `serving_default` serves.

The records are parsed with protobuf's own parser, from message classes built here out of the
field numbers of tensorflow_serving/apis/{prediction_log,predict,model}.proto: an encoding
independent of the package's hand-written wire format.
"""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from tensorflow.core.framework import (resource_handle_pb2, tensor_pb2, tensor_shape_pb2,
                                       types_pb2)

from keras_bert_zoo.data.formats import SquadExample
from keras_bert_zoo.export import export_embedder, export_saved_model, read_warmup_requests
from keras_bert_zoo.export.warmup import (MAX_WARMUP_RECORDS, encode_prediction_log,
                                          warmup_inputs)
from keras_bert_zoo.models import BertBackbone
from keras_bert_zoo.tasks import TextClassifier, TextEmbedder
from keras_bert_zoo.tasks.span_qa import SpanQuestionAnswerer, decode_answers, squad_features
from keras_bert_zoo.tokenizers import Preprocessor, WordPieceTokenizer

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + (
    "the a film was great bad i love it plot who where does johan ##son live lives in zu "
    "##ri ##ch . , ? café".split())
RECIPES = os.path.join(os.path.dirname(__file__), "..", "..", "recipes")


def _serving_classes():
    """`PredictionLog` and `TensorProto` classes from a descriptor pool of their own."""
    pool = descriptor_pool.DescriptorPool()
    for module in (types_pb2, tensor_shape_pb2, resource_handle_pb2, tensor_pb2):
        proto = descriptor_pb2.FileDescriptorProto()
        module.DESCRIPTOR.CopyToProto(proto)
        pool.Add(proto)
    f = descriptor_pb2.FieldDescriptorProto
    serving = descriptor_pb2.FileDescriptorProto(
        name="serving_subset.proto", package="tensorflow.serving", syntax="proto3",
        dependency=["tensorflow/core/framework/tensor.proto"])

    def message(name, fields, nested=()):
        m = serving.message_type.add(name=name)
        for field_name, number, kind, type_name, label in fields:
            m.field.add(name=field_name, number=number, type=kind, type_name=type_name,
                        label=label)
        for entry in nested:
            m.nested_type.add().CopyFrom(entry)
        return m

    one, many = f.LABEL_OPTIONAL, f.LABEL_REPEATED
    # model.proto: string name = 1; string signature_name = 3;
    message("ModelSpec", [("name", 1, f.TYPE_STRING, None, one),
                          ("signature_name", 3, f.TYPE_STRING, None, one)])
    # predict.proto: ModelSpec model_spec = 1; map<string, TensorProto> inputs = 2;
    entry = descriptor_pb2.DescriptorProto(name="InputsEntry")
    entry.field.add(name="key", number=1, type=f.TYPE_STRING, label=one)
    entry.field.add(name="value", number=2, type=f.TYPE_MESSAGE, label=one,
                    type_name=".tensorflow.TensorProto")
    entry.options.map_entry = True
    message("PredictRequest", [
        ("model_spec", 1, f.TYPE_MESSAGE, ".tensorflow.serving.ModelSpec", one),
        ("inputs", 2, f.TYPE_MESSAGE, ".tensorflow.serving.PredictRequest.InputsEntry", many),
    ], nested=[entry])
    # prediction_log.proto: PredictLog {PredictRequest request = 1;},
    # PredictionLog {oneof log_type {PredictLog predict_log = 6;}}
    message("PredictLog", [("request", 1, f.TYPE_MESSAGE, ".tensorflow.serving.PredictRequest",
                            one)])
    log = message("PredictionLog", [("predict_log", 6, f.TYPE_MESSAGE,
                                     ".tensorflow.serving.PredictLog", one)])
    log.oneof_decl.add(name="log_type")
    log.field[0].oneof_index = 0
    pool.Add(serving)
    return (message_factory.GetMessageClass(
                pool.FindMessageTypeByName("tensorflow.serving.PredictionLog")),
            message_factory.GetMessageClass(pool.FindMessageTypeByName("tensorflow.TensorProto")))


PredictionLog, PoolTensorProto = _serving_classes()


def _backbone(length):
    keras.utils.set_random_seed(3)
    return BertBackbone(vocabulary_size=len(VOCAB), num_layers=1, num_heads=2, hidden_dim=16,
                        intermediate_dim=32, max_sequence_length=length)


def _parse_records(path):
    """The warm-up file, decoded field by field with the descriptor-built classes."""
    records = list(tf.data.TFRecordDataset(
        os.path.join(path, "assets.extra", "tf_serving_warmup_requests")).as_numpy_iterator())
    requests = []
    for record in records:
        log = PredictionLog.FromString(record)
        assert log.WhichOneof("log_type") == "predict_log"
        request = log.predict_log.request
        assert request.model_spec.signature_name == "serving_default"
        assert request.model_spec.name == ""
        inputs = {}
        for name, proto in request.inputs.items():
            array = tf.make_ndarray(tensor_pb2.TensorProto.FromString(proto.SerializeToString()))
            assert array.dtype == object and array.shape == (1,), (name, array)
            inputs[name] = array
        requests.append(inputs)
    return requests


def _strings(requests, names):
    return [tuple(r[name][0].decode("utf-8") for name in names) for r in requests]


def test_classifier_warmup_records_serve_like_the_model(tmp_path):
    preprocessor = Preprocessor(WordPieceTokenizer(VOCAB), sequence_length=16)
    model = TextClassifier(_backbone(16), num_classes=2, class_names=["neg", "pos"])
    texts = ["I love it", "", "naïve café 東京 🍣", "the plot " * 20]
    path = export_saved_model(model, preprocessor, str(tmp_path / "single"), warmup_texts=texts)
    requests = _parse_records(path)
    assert _strings(requests, ["text"]) == [(t,) for t in texts]
    serve = tf.saved_model.load(path).signatures["serving_default"]
    for inputs, text in zip(requests, texts):
        got = serve(**{k: tf.constant(v) for k, v in inputs.items()})["probabilities"]
        expected = tf.nn.softmax(model(preprocessor(tf.constant([text]))))
        np.testing.assert_allclose(got.numpy(), expected.numpy(), atol=1e-5)
    assert [(s, {k: v.tolist() for k, v in i.items()}) for s, i in read_warmup_requests(path)] \
        == [("serving_default", {k: v.tolist() for k, v in r.items()}) for r in requests]

    # Pairs: tab-separated lines (as recipes/predict.py reads them), tuples and dicts.
    pairs = ["the film\tgreat", ("", "bad"), {"text_pair": "a", "text": "i love it"}]
    expected_pairs = [("the film", "great"), ("", "bad"), ("i love it", "a")]
    path = export_saved_model(model, preprocessor, str(tmp_path / "pair"), pair=True,
                              warmup_texts=pairs)
    requests = _parse_records(path)
    assert _strings(requests, ["text", "text_pair"]) == expected_pairs
    serve = tf.saved_model.load(path).signatures["serving_default"]
    for inputs, (a, b) in zip(requests, expected_pairs):
        got = serve(**{k: tf.constant(v) for k, v in inputs.items()})["probabilities"]
        expected = tf.nn.softmax(model(preprocessor((tf.constant([a]), tf.constant([b])))))
        np.testing.assert_allclose(got.numpy(), expected.numpy(), atol=1e-5)


def test_qa_warmup_records_answer_like_the_python_path(tmp_path):
    preprocessor = Preprocessor(WordPieceTokenizer(VOCAB), sequence_length=20)
    model = SpanQuestionAnswerer(_backbone(20))
    examples = [("Where does Johanson live?", "Johanson lives in Zürich."),
                ("who?", ""), ("", "the film was great " * 10)]
    path = export_saved_model(model, preprocessor, str(tmp_path / "qa"), max_question_length=6,
                              doc_stride=5, warmup_texts=examples)
    requests = _parse_records(path)
    assert _strings(requests, ["question", "context"]) == examples
    serve = tf.saved_model.load(path).signatures["serving_default"]
    squad = [SquadExample(str(i), q, c, []) for i, (q, c) in enumerate(examples)]
    features = squad_features(squad, preprocessor, doc_stride=5, max_question_length=6)
    out = model.predict(features.inputs, verbose=0)
    answers = decode_answers(features, out["start_logits"], out["end_logits"], squad)
    for inputs, answer in zip(requests, answers):
        got = serve(**{k: tf.constant(v) for k, v in inputs.items()})
        assert got["answer"].numpy()[0].decode("utf-8") == answer.text
        assert got["start_char"].numpy()[0] == answer.start_char


def test_records_are_the_bytes_protobuf_writes():
    text = tf.make_tensor_proto(np.array(["naïve café".encode(), b""], object))
    ours = encode_prediction_log({"question": text, "context": np.array([b"x"], object)},
                                 model_name="qa")
    log = PredictionLog()
    request = log.predict_log.request
    request.model_spec.name = "qa"
    request.model_spec.signature_name = "serving_default"
    request.inputs["question"].CopyFrom(PoolTensorProto.FromString(text.SerializeToString()))
    request.inputs["context"].CopyFrom(PoolTensorProto.FromString(
        tf.make_tensor_proto(np.array([b"x"], object)).SerializeToString()))
    assert ours == log.SerializeToString(deterministic=True)


@pytest.mark.parametrize("names", [["text"], ["text", "text_pair"], ["question", "context"]])
def test_built_in_samples_fit_every_string_signature(names):
    requests = warmup_inputs(7, names)
    assert len(requests) == 7
    for inputs in requests:
        assert sorted(inputs) == sorted(names)
        assert all(v.dtype == object and v.shape == (1,) for v in inputs.values())
    if names == ["question", "context"]:
        assert any(len(r["context"][0]) > 200 for r in requests)  # a long context too


def test_built_in_samples_warm_up_an_embedder(tmp_path):
    preprocessor = Preprocessor(WordPieceTokenizer(VOCAB), sequence_length=16)
    model = TextEmbedder(_backbone(16))
    path = export_embedder(model, preprocessor, str(tmp_path / "embedder"), warmup_texts=6)
    requests = _parse_records(path)
    assert len(requests) == 6 and {r["text"][0] for r in requests} >= {b"", b"a great film"}
    serve = tf.saved_model.load(path).signatures["serving_default"]
    for inputs in requests:
        got = serve(**{k: tf.constant(v) for k, v in inputs.items()})["embedding"]
        expected = model(preprocessor(tf.constant(inputs["text"])))["embedding"]
        np.testing.assert_allclose(got.numpy(), expected.numpy(), atol=1e-5)


@pytest.mark.parametrize("warmup, message", [
    (["one field"], "has 1 fields; serving_default takes text, text_pair"),
    ([("a", "b", "c")], "has 3 fields"),
    ([{"text": "a", "pair": "b"}], "has inputs \\['pair', 'text'\\]"),
    ([], "warmup_texts is empty"),
    (0, "at least one request"),
    (["a"] * (MAX_WARMUP_RECORDS + 1), "reads at most 1000"),
])
def test_bad_warmup_examples_name_the_fix(warmup, message):
    with pytest.raises(ValueError, match=message):
        warmup_inputs(warmup, ["text", "text_pair"])
    with pytest.raises(TypeError, match="give a list of examples"):
        warmup_inputs("a text", ["text"])
    with pytest.raises(TypeError, match="is not a string"):
        warmup_inputs([(1,)], ["text"])


def test_bad_warmup_leaves_an_existing_export_untouched(tmp_path):
    preprocessor = Preprocessor(WordPieceTokenizer(VOCAB), sequence_length=8)
    model = TextClassifier(_backbone(8), num_classes=2)
    path = export_saved_model(model, preprocessor, str(tmp_path / "export"))
    before = sorted(os.listdir(path))
    with pytest.raises(ValueError, match="has 1 fields"):
        export_saved_model(model, preprocessor, path, pair=True, warmup_texts=["no tab"])
    assert sorted(os.listdir(path)) == before
    assert [p for p in os.listdir(tmp_path) if p.startswith(".")] == []


def test_export_recipe_writes_the_warmup_file(tmp_path):
    preprocessor = Preprocessor(WordPieceTokenizer(VOCAB), sequence_length=8)
    model = TextClassifier(_backbone(8), num_classes=2)
    model_dir = tmp_path / "run"
    model_dir.mkdir()
    model.save(str(model_dir / "model.keras"))
    preprocessor.save(str(model_dir / "tokenizer"))
    (model_dir / "metrics.json").write_text(json.dumps({"task": "pair"}))
    (tmp_path / "warmup.txt").write_text("the film\tgreat\ni love it\t\nnot used\tx\n",
                                         encoding="utf-8")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run(
        [sys.executable, os.path.join(RECIPES, "export.py"), f"--model_dir={model_dir}",
         f"--export_dir={tmp_path / 'export'}", f"--warmup_file={tmp_path / 'warmup.txt'}",
         "--warmup_requests=2"], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    requests = _parse_records(str(tmp_path / "export" / "1"))  # the first version
    assert _strings(requests, ["text", "text_pair"]) == [("the film", "great"),
                                                        ("i love it", "")]
