"""Tagger and QA SavedModels, loaded in a fresh process that imports only TensorFlow."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_bert_zoo.data.formats import SquadExample
from keras_bert_zoo.export.qa_export import build_qa_module
from keras_bert_zoo.export.tagger_export import build_tagger_module
from keras_bert_zoo.models import BertBackbone, RobertaBackbone
from keras_bert_zoo.tasks.span_qa import SpanQuestionAnswerer, decode_answers, squad_features
from keras_bert_zoo.tasks.tagger import TokenTagger, predict_word_tags, split_text_into_words
from keras_bert_zoo.tokenizers import BytePairTokenizer, Preprocessor, WordPieceTokenizer

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
VOCAB = SPECIALS + ("johan ##son lives in zu ##ri ##ch . , where does live ? who the cafe "
                    "dr o ' neil is a ##s café".split())
TEXTS = ["Johanson lives in Zürich.", "", "Dr. O'Neil, the CAFÉ!", "東京 🍣 naïve",
         "   ", "zurich " * 40]
QUESTIONS = ["Where does Johanson live?", "who?", "", "Who lives in Zürich?", "where", "?"]
CONTEXTS = ["Johanson lives in Zürich.", "Dr. O'Neil, the CAFÉ!", "Zürich", "",
            "東京 🍣 naïve café, Zürich's", "zurich " * 40]
WORDS = [["Johanson", "lives", "pad"], ["Zürich", "", ""]]  # serve_words, with num_words
NUM_WORDS = [2, 1]
FAMILIES = ["bert", "roberta"]
THRESHOLDS = [None, 0.0]

# Reads {key: [SavedModel path, signature, arguments]} from stdin, prints {key: outputs}.
LOADER = r"""
import json, sys
import tensorflow as tf
import tensorflow_text  # noqa: F401
assert "keras_bert_zoo" not in sys.modules and "keras_hub" not in sys.modules
def plain(x):
    return [plain(y) for y in x] if isinstance(x, list) else (
        x.decode("utf-8") if isinstance(x, bytes) else x)
loaded, out = {}, {}
for key, (path, signature, arguments) in json.loads(sys.stdin.read()).items():
    if path not in loaded:
        loaded[path] = tf.saved_model.load(path)
    serve = loaded[path].signatures[signature]
    result = serve(**{k: tf.constant(v) for k, v in arguments.items()})
    out[key] = {k: plain(v.numpy().tolist()) for k, v in result.items()}
assert "keras_bert_zoo" not in sys.modules and "keras_hub" not in sys.modules
print(json.dumps(out))
"""


def _serve_in_fresh_process(requests):
    """`{key: (path, signature, arguments)}` -> `{key: outputs as lists}`, all served by one
    new Python process (one TensorFlow start for every SavedModel of the module)."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run([sys.executable, "-c", LOADER], input=json.dumps(requests),
                            capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def _lists(inputs):
    return {k: np.asarray(v).tolist() for k, v in inputs.items()}


def _bpe_tokenizer():
    """ASCII letters and punctuation, a few merges; other bytes are <unk>."""
    tokens = ["<s>", "<pad>", "</s>", "<unk>", "<mask>", "\u0120"] + list("!\".,'?")
    tokens += [chr(c) for c in range(ord("a"), ord("z") + 1)]
    tokens += [chr(c) for c in range(ord("A"), ord("Z") + 1)]
    merges = ["\u0120 l", "\u0120l i", "v e", "\u0120li ve"]
    tokens += ["\u0120l", "\u0120li", "ve", "\u0120live"]
    return BytePairTokenizer({t: i for i, t in enumerate(tokens)}, merges)


def _export_tagger(family, path):
    if family == "bert":
        tokenizer, backbone_cls = WordPieceTokenizer(VOCAB), BertBackbone
    else:
        tokenizer, backbone_cls = _bpe_tokenizer(), RobertaBackbone
    preprocessor = Preprocessor(tokenizer, sequence_length=16)
    backbone = backbone_cls(vocabulary_size=tokenizer.vocabulary_size, num_layers=1,
                            num_heads=2, hidden_dim=16, intermediate_dim=32,
                            max_sequence_length=16)
    model = TokenTagger(backbone, num_tags=3, tag_names=["O", "B-LOC", "B-PER"])
    module, signatures = build_tagger_module(model, preprocessor)
    tf.saved_model.save(module, path, signatures=signatures)
    inputs = preprocessor(tf.constant(TEXTS[:2]))
    requests = {"text": (path, "serving_default", {"text": TEXTS}),
                "words": (path, "serve_words", {"words": WORDS, "num_words": NUM_WORDS}),
                "tokenized": (path, "serve_tokenized", _lists(inputs))}  # segment_ids: BERT
    return {"model": model, "tokenizer": tokenizer, "inputs": inputs}, requests


def _qa_features(preprocessor):
    examples = [SquadExample(str(i), q, c, []) for i, (q, c) in
                enumerate(zip(QUESTIONS, CONTEXTS))]
    features = squad_features(examples, preprocessor, max_question_length=8, doc_stride=4)
    return examples, features


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """The SavedModels of the tagger (per family) and of one QA model (per null-score
    threshold), all served by one fresh process: `{case: (in-memory objects, outputs)}`."""
    root = tmp_path_factory.mktemp("tagger_qa")
    cases, requests = {}, {}
    for family in FAMILIES:
        cases[family], case_requests = _export_tagger(family, str(root / f"tagger_{family}"))
        requests.update({f"{family}/{k}": v for k, v in case_requests.items()})

    preprocessor = Preprocessor(WordPieceTokenizer(VOCAB), sequence_length=24)
    keras.utils.set_random_seed(2)
    backbone = BertBackbone(vocabulary_size=len(VOCAB), num_layers=1, num_heads=2,
                            hidden_dim=16, intermediate_dim=32, max_sequence_length=24)
    model = SpanQuestionAnswerer(backbone)
    examples, features = _qa_features(preprocessor)
    out = model.predict(features.inputs, verbose=0)
    for threshold in THRESHOLDS:
        module, signatures = build_qa_module(model, preprocessor, doc_stride=4,
                                             max_answer_length=4, max_question_length=8,
                                             null_score_threshold=threshold)
        path = str(root / f"qa_{threshold}")
        tf.saved_model.save(module, path, signatures=signatures)
        cases[threshold] = {"examples": examples, "features": features, "out": out}
        requests[f"{threshold}/text"] = (path, "serving_default",
                                         {"question": QUESTIONS, "context": CONTEXTS})
        requests[f"{threshold}/tokenized"] = (
            path, "serve_tokenized", {k: v[:2].tolist() for k, v in features.inputs.items()})

    outputs = _serve_in_fresh_process(requests)
    return {case: (objects, {key.split("/")[1]: value for key, value in outputs.items()
                             if key.split("/")[0] == str(case)})
            for case, objects in cases.items()}


@pytest.mark.parametrize("family", FAMILIES)
def test_tagger_export_matches_in_memory_tagging(served, family):
    objects, outputs = served[family]
    model, tokenizer = objects["model"], objects["tokenizer"]
    served_text = outputs["text"]
    words = [[w.decode() for w in row] for row in split_text_into_words(TEXTS).to_list()]
    expected = predict_word_tags(model, tokenizer, words, 16, default="")
    assert served_text["num_words"] == [len(w) for w in words]
    for i, row in enumerate(words):
        n = len(row)
        assert served_text["words"][i][:n] == row and set(served_text["words"][i][n:]) <= {""}
        assert served_text["tags"][i][:n] == expected[i]
        assert set(served_text["tags"][i][n:]) <= {""}
    assert any(t == "" for t in served_text["tags"][-1][:len(words[-1])])  # cut words: ""

    by_words = outputs["words"]
    assert by_words["num_words"] == NUM_WORDS
    assert by_words["tags"] == [t + [""] * (2 - len(t)) for t in predict_word_tags(
        model, tokenizer, [row[:n] for row, n in zip(WORDS, NUM_WORDS)], 16, default="")]
    logits = model(objects["inputs"])
    np.testing.assert_allclose(outputs["tokenized"]["logits"], logits, atol=1e-5)


@pytest.mark.parametrize("threshold", THRESHOLDS)
def test_qa_export_matches_in_memory_decoding(served, threshold):
    objects, outputs = served[threshold]
    examples, features, out = objects["examples"], objects["features"], objects["out"]
    served_text = outputs["text"]
    assert features.window_index.max() > 0  # the long context has overlapping windows
    answers = decode_answers(features, out["start_logits"], out["end_logits"], examples,
                             max_answer_length=4, null_score_threshold=threshold)
    assert served_text["answer"] == [a.text for a in answers]
    assert served_text["start_char"] == [a.start_char for a in answers]
    assert served_text["end_char"] == [a.end_char for a in answers]
    np.testing.assert_allclose(served_text["score"], [a.score for a in answers], atol=1e-4)
    for answer, context in zip(answers, CONTEXTS):
        if answer.start_char >= 0:
            assert context[answer.start_char:answer.end_char] == answer.text
    assert answers[3].text == "" and served_text["start_char"][3] == -1  # empty context
    if threshold is None:
        assert sum(bool(a.text) for a in answers) >= 4

    np.testing.assert_allclose(outputs["tokenized"]["start_logits"], out["start_logits"][:2],
                               atol=1e-5)


def test_qa_module_rejects_a_question_budget_larger_than_the_sequence():
    preprocessor = Preprocessor(WordPieceTokenizer(VOCAB), sequence_length=16)
    backbone = BertBackbone(vocabulary_size=len(VOCAB), num_layers=1, num_heads=2,
                            hidden_dim=16, intermediate_dim=32, max_sequence_length=16)
    with pytest.raises(ValueError, match="max_question_length=64"):
        build_qa_module(SpanQuestionAnswerer(backbone), preprocessor)


def _python_answers(model, preprocessor, questions, contexts, **options):
    """The Python path: `squad_features` windows, the model, `decode_answers`."""
    stride, question_length = options.pop("doc_stride"), options.pop("max_question_length")
    examples = [SquadExample(str(i), q, c, []) for i, (q, c) in
                enumerate(zip(questions, contexts))]
    features = squad_features(examples, preprocessor, doc_stride=stride,
                              max_question_length=question_length)
    out = model.predict(features.inputs, verbose=0)
    answers = decode_answers(features, out["start_logits"], out["end_logits"], examples,
                             **options)
    return answers, features


def _pointing_model(tokenizer, length):
    """A QA model built to answer the span "zu ##ri ##ch" (Zürich) wherever it is.

    With the attention and feed-forward outputs at zero and no position or segment
    embeddings, the sequence output is LayerNorm(token embedding); the span head scores
    starts by similarity to "zu" and ends by similarity to "##ch".
    """
    keras.utils.set_random_seed(4)
    backbone = BertBackbone(vocabulary_size=tokenizer.vocabulary_size, num_layers=1,
                            num_heads=2, hidden_dim=16, intermediate_dim=32,
                            max_sequence_length=length)
    model = SpanQuestionAnswerer(backbone)
    weights = {w.path: w for w in model.weights}
    for path in ("embeddings/position_embedding/embeddings",
                 "embeddings/segment_embedding/embeddings",
                 "transformer_layer_0/self_attention_layer/attention_output/kernel",
                 "transformer_layer_0/self_attention_layer/attention_output/bias",
                 "transformer_layer_0/feedforward_output_dense/kernel",
                 "transformer_layer_0/feedforward_output_dense/bias"):
        weights[path].assign(np.zeros(weights[path].shape, "float32"))
    table = weights["embeddings/token_embedding/embeddings"].numpy()

    def normalized(token):
        row = table[tokenizer.token_to_id(token)]
        return (row - row.mean()) / row.std()

    weights["span_logits/kernel"].assign(np.stack([normalized("zu"), normalized("##ch")], 1))
    return model


def test_qa_export_searches_every_window_of_long_contexts():
    tokenizer = WordPieceTokenizer(VOCAB)
    preprocessor = Preprocessor(tokenizer, sequence_length=24)
    model = _pointing_model(tokenizer, 24)
    options = dict(doc_stride=5, max_question_length=8, max_answer_length=4)
    _, signatures = build_qa_module(model, preprocessor, **options)
    filler = "the cafe is a café where dr o'neil lives . "  # 13 tokens
    contexts = [
        filler * 3 + "Johanson lives in Zürich.",  # past the first window
        filler * 8 + "Zürich, " + filler,  # a middle window
        filler * 12 + "the end: Zürich",  # the last window
        "Johanson lives in Zürich.",  # one window
        "",
        filler * 2,  # no Zürich: the best of the other spans
    ]
    questions = ["Where does Johanson live?", "where?", "", "Where does Johanson live?",
                 "who?", "who is the dr"]
    out = signatures["serving_default"](question=tf.constant(questions),
                                        context=tf.constant(contexts))
    answers, features = _python_answers(model, preprocessor, questions, contexts, **options)

    got = [a.decode("utf-8") for a in out["answer"].numpy()]
    assert got == [a.text for a in answers]
    assert out["start_char"].numpy().tolist() == [a.start_char for a in answers]
    assert out["end_char"].numpy().tolist() == [a.end_char for a in answers]
    np.testing.assert_allclose(out["score"].numpy(), [a.score for a in answers], atol=1e-4)
    for i, context in enumerate(contexts[:4]):  # the constructed model finds Zürich
        assert got[i] == "Zürich"
        assert context[answers[i].start_char:answers[i].end_char] == "Zürich"
    # The answers lie where the first window cannot see them; one in the last window.
    start_char = out["start_char"].numpy()
    for i in (0, 1, 2):
        first = (features.example_index == i) & (features.window_index == 0)
        assert start_char[i] > features.token_ends[first].max()
    windows = features.window_index[features.example_index == 2]
    last = (features.example_index == 2) & (features.window_index == windows.max())
    assert windows.max() >= 8 and start_char[2] in features.token_starts[last]
    assert got[4] == "" and out["start_char"].numpy()[4] == -1  # empty context


def test_roberta_qa_export_matches_the_python_path_over_windows():
    tokenizer = _bpe_tokenizer()
    preprocessor = Preprocessor(tokenizer, sequence_length=20)
    keras.utils.set_random_seed(5)
    backbone = RobertaBackbone(vocabulary_size=tokenizer.vocabulary_size, num_layers=1,
                               num_heads=2, hidden_dim=16, intermediate_dim=32,
                               max_sequence_length=20)
    model = SpanQuestionAnswerer(backbone)
    options = dict(doc_stride=3, max_question_length=4, max_answer_length=5,
                   null_score_threshold=0.0)
    _, signatures = build_qa_module(model, preprocessor, **options)
    questions = ["Where does he live?", "", "who", "?"]
    contexts = ["He lives in a live village, " * 6, "Live!", "", "a b c d e f g h " * 5]
    out = signatures["serving_default"](question=tf.constant(questions),
                                        context=tf.constant(contexts))
    answers, features = _python_answers(model, preprocessor, questions, contexts, **options)
    assert features.window_index.max() >= 5
    assert [a.decode("utf-8") for a in out["answer"].numpy()] == [a.text for a in answers]
    assert out["start_char"].numpy().tolist() == [a.start_char for a in answers]
    assert out["end_char"].numpy().tolist() == [a.end_char for a in answers]
    np.testing.assert_allclose(out["score"].numpy(), [a.score for a in answers], atol=1e-4)


def test_export_model_dir_reads_qa_contexts_with_the_fine_tuning_windows(tmp_path, monkeypatch):
    import keras_bert_zoo.export.saved_model as saved_model

    preprocessor = Preprocessor(WordPieceTokenizer(VOCAB), sequence_length=24)
    backbone = BertBackbone(vocabulary_size=len(VOCAB), num_layers=1, num_heads=2,
                            hidden_dim=8, intermediate_dim=16, max_sequence_length=24)
    SpanQuestionAnswerer(backbone).save(str(tmp_path / "model.keras"))
    preprocessor.save(str(tmp_path / "tokenizer"))
    (tmp_path / "metrics.json").write_text(json.dumps({"task": "qa"}))
    seen = []

    def build(model, preprocessor, **options):
        seen.append(options)
        raise RuntimeError("stop before saving")

    monkeypatch.setattr(saved_model, "build_qa_module", build)
    for options in ({}, {"doc_stride": 3}):
        with pytest.raises(RuntimeError, match="stop before saving"):
            saved_model.export_model_dir(str(tmp_path), str(tmp_path / "export"), **options)
    # finetune: seq_len // 2; requests are run in length groups of the default size
    assert seen == [{"doc_stride": 12, "length_group_size": 4},
                    {"doc_stride": 3, "length_group_size": 4}]
