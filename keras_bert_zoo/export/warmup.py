"""TensorFlow Serving warm-up requests: `assets.extra/tf_serving_warmup_requests`.

TensorFlow Serving runs the records of this file through a model when it loads it
(`--enable_model_warmup`, on by default), so the first real requests do not pay for lazy
initialization. The file is a TFRecord of `tensorflow.serving.PredictionLog` protos, each a
`PredictLog` whose `PredictRequest` asks `serving_default` about one example (a batch of one
string per input). TensorFlow Serving reads at most 1000 records and fails the model load on a
record that does not parse or run, so the inputs are checked against the signature here.

The protos are written in the protobuf wire format directly, with the field numbers of
tensorflow_serving/apis/prediction_log.proto, predict.proto and model.proto, so exporting needs
no `tensorflow-serving-api` (its wheels pin their own TensorFlow):

    PredictionLog  { PredictLog predict_log = 6; }            (a oneof with the other logs)
    PredictLog     { PredictRequest request = 1; }
    PredictRequest { ModelSpec model_spec = 1; map<string, TensorProto> inputs = 2; }
    ModelSpec      { string name = 1; string signature_name = 3; }

A `map<string, TensorProto>` is a repeated entry message `{string key = 1; TensorProto value =
2;}`; the `TensorProto` is TensorFlow's own (`tf.make_tensor_proto`).
"""

import os

import numpy as np
import tensorflow as tf
from tensorflow.core.framework import tensor_pb2

WARMUP_DIR = "assets.extra"  # tensorflow/cc/saved_model/constants.h
WARMUP_FILE = "tf_serving_warmup_requests"
MAX_WARMUP_RECORDS = 1000  # TF Serving's WarmupConsts::kMaxNumRecords

# Built-in examples for `warmup_texts=N`: short and long, ASCII and not, one empty.
SAMPLE_TEXTS = [
    "a great film",
    "The plot was slow, but the acting made up for it.",
    "",
    "Zürich, München and Kraków: naïve café reviews (東京 🍣).",
    " ".join(["A long review that keeps going to fill a whole sequence."] * 12),
]
SAMPLE_QUESTIONS = [
    ("Where does Johanson live?", "Johanson lives in Zürich."),
    ("Who wrote the report?", "The report was written in 2021 by the audit team of the city."),
    ("What?", ""),
    ("When did it open?", " ".join(["The museum has a long history."] * 12)
     + " It opened in 1889."),
]

# Wire types of the protobuf encoding.
_VARINT, _FIXED64, _LENGTH, _FIXED32 = 0, 1, 2, 5


def _varint(value):
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _field(number, payload):
    """A length-delimited field: tag, length, bytes."""
    return _varint(number << 3 | _LENGTH) + _varint(len(payload)) + payload


def encode_prediction_log(inputs, *, signature_name="serving_default", model_name=""):
    """One serialized `PredictionLog` holding a `PredictRequest` for `inputs`.

    Args:
        inputs: dict input name -> array (converted with `tf.make_tensor_proto`) or
            `TensorProto`.
        signature_name: the signature the request calls.
        model_name: `model_spec.name`; TF Serving's warm-up runs the loaded model whatever
            it says, so it may stay empty.

    Example:
    >>> record = encode_prediction_log({"text": np.array([b"a great film"], object)})
    >>> decode_prediction_log(record)[1]
    'serving_default'
    """
    spec = _field(1, model_name.encode("utf-8")) if model_name else b""
    spec += _field(3, signature_name.encode("utf-8"))
    request = _field(1, spec)
    for name in sorted(inputs):
        value = inputs[name]
        if not isinstance(value, tensor_pb2.TensorProto):
            value = tf.make_tensor_proto(value)
        entry = _field(1, name.encode("utf-8")) + _field(2, value.SerializeToString())
        request += _field(2, entry)
    return _field(6, _field(1, request))  # PredictionLog.predict_log.request


def _read_varint(data, i):
    value, shift = 0, 0
    while True:
        if i >= len(data):
            raise ValueError("truncated protobuf varint")
        byte = data[i]
        value |= (byte & 0x7F) << shift
        i, shift = i + 1, shift + 7
        if not byte & 0x80:
            return value, i


def _fields(data):
    """`(number, wire_type, value)` of every field of one message, in order."""
    i = 0
    while i < len(data):
        key, i = _read_varint(data, i)
        number, wire_type = key >> 3, key & 7
        if wire_type == _VARINT:
            value, i = _read_varint(data, i)
        elif wire_type == _FIXED64:
            value, i = data[i:i + 8], i + 8
        elif wire_type == _FIXED32:
            value, i = data[i:i + 4], i + 4
        elif wire_type == _LENGTH:
            size, i = _read_varint(data, i)
            value, i = data[i:i + size], i + size
        else:
            raise ValueError(f"unsupported protobuf wire type {wire_type}")
        if i > len(data):
            raise ValueError("truncated protobuf message")
        yield number, wire_type, value


def _submessages(data, number):
    return [value for n, wire_type, value in _fields(data)
            if n == number and wire_type == _LENGTH]


def decode_prediction_log(record):
    """A serialized `PredictionLog` -> `(model_name, signature_name, {input: TensorProto})`.

    Raises:
        ValueError: the record holds no `predict_log` request.
    """
    logs = _submessages(bytes(record), 6)
    requests = _submessages(logs[-1], 1) if logs else []
    if not requests:
        raise ValueError("the record is not a PredictionLog with a predict_log request")
    request = requests[-1]
    model_name, signature_name = "", ""
    for spec in _submessages(request, 1):
        for number, _, value in _fields(spec):
            if number == 1:
                model_name = value.decode("utf-8")
            elif number == 3:
                signature_name = value.decode("utf-8")
    inputs = {}
    for entry in _submessages(request, 2):
        key, value = "", b""
        for number, _, field in _fields(entry):
            if number == 1:
                key = field.decode("utf-8")
            elif number == 2:
                value = field
        inputs[key] = tensor_pb2.TensorProto.FromString(value)
    return model_name, signature_name, inputs


def signature_input_names(concrete_function):
    """The input names of a concrete function, in the order of its arguments."""
    return [spec.name for spec in tf.nest.flatten(concrete_function.structured_input_signature)]


def _samples(input_names, count):
    if input_names == ["question", "context"]:
        pool = SAMPLE_QUESTIONS
    elif len(input_names) == 1:
        pool = [(text,) for text in SAMPLE_TEXTS]
    else:  # text pairs, or any other several-string signature
        pool = [tuple(SAMPLE_TEXTS[(i + k) % len(SAMPLE_TEXTS)] for k in range(len(input_names)))
                for i in range(len(SAMPLE_TEXTS))]
    return [pool[i % len(pool)] for i in range(count)]


def warmup_inputs(warmup_texts, input_names):
    """Examples for warm-up requests -> one `{input name: tf.string [1]}` dict per record.

    Args:
        warmup_texts: a list of examples, each a string (a signature with one input; with
            several, one line whose fields are separated by tabs, as `recipes/predict.py`
            reads them), a tuple of strings in the signature's order (`(text, text_pair)`,
            `(question, context)`) or a dict input name -> string; or an int N for N built-in
            sample examples.
        input_names: the string inputs of `serving_default`, in order.

    Example:
    >>> warmup_inputs(["a great film"], ["text"])
    [{'text': array([b'a great film'], dtype=object)}]
    """
    if isinstance(warmup_texts, (int, np.integer)) and not isinstance(warmup_texts, bool):
        if warmup_texts <= 0:
            raise ValueError(f"warmup_texts={warmup_texts}: ask for at least one request")
        warmup_texts = _samples(list(input_names), int(warmup_texts))
    if isinstance(warmup_texts, (str, bytes)):
        raise TypeError("warmup_texts is one string; give a list of examples, e.g. [text]")
    warmup_texts = list(warmup_texts)
    if not warmup_texts:
        raise ValueError("warmup_texts is empty; give examples, or None for no warm-up file")
    if len(warmup_texts) > MAX_WARMUP_RECORDS:
        raise ValueError(f"{len(warmup_texts)} warm-up examples; TensorFlow Serving reads at "
                         f"most {MAX_WARMUP_RECORDS}: keep a representative sample")
    names = list(input_names)
    shown = ", ".join(names)
    requests = []
    for example in warmup_texts:
        if isinstance(example, bytes):
            example = example.decode("utf-8")
        if isinstance(example, str):
            example = (example,) if len(names) == 1 else tuple(example.split("\t"))
        if isinstance(example, dict):
            if sorted(example) != sorted(names):
                raise ValueError(f"warm-up example {example!r} has inputs {sorted(example)}; "
                                 f"serving_default takes {shown}")
            example = tuple(example[name] for name in names)
        example = tuple(example)
        if len(example) != len(names):
            raise ValueError(f"warm-up example {example!r} has {len(example)} fields; "
                             f"serving_default takes {shown} (separate them with tabs in a "
                             "line, or give a tuple)")
        values = []
        for value in example:
            if not isinstance(value, (str, bytes)):
                raise TypeError(f"warm-up example {example!r}: {value!r} is not a string")
            values.append(value.encode("utf-8") if isinstance(value, str) else value)
        requests.append({name: np.array([value], object) for name, value in zip(names, values)})
    return requests


def write_warmup_file(export_dir, requests, *, signature_name="serving_default", model_name=""):
    """Writes `export_dir/assets.extra/tf_serving_warmup_requests`; returns its path.

    Args:
        export_dir: a SavedModel directory.
        requests: dicts input name -> array, one per record (see `warmup_inputs`).
        signature_name, model_name: the requests' `model_spec`.
    """
    directory = os.path.join(export_dir, WARMUP_DIR)
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, WARMUP_FILE)
    with tf.io.TFRecordWriter(path) as writer:
        for inputs in requests:
            writer.write(encode_prediction_log(inputs, signature_name=signature_name,
                                               model_name=model_name))
    return path


def read_warmup_requests(export_dir):
    """The warm-up requests of a SavedModel: a list of `(signature_name, {input: ndarray})`.

    Example (after `export_saved_model(..., warmup_texts=4)`):

        for signature, inputs in read_warmup_requests(path):
            loaded.signatures[signature](**inputs)
    """
    path = os.path.join(export_dir, WARMUP_DIR, WARMUP_FILE)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no warm-up file at {path!r}; export with warmup_texts=")
    requests = []
    for record in tf.data.TFRecordDataset(path).as_numpy_iterator():
        _, signature_name, inputs = decode_prediction_log(record)
        requests.append((signature_name or "serving_default",
                         {name: tf.make_ndarray(proto) for name, proto in inputs.items()}))
    return requests
