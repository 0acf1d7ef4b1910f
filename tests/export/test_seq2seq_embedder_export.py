"""Generation and embedding SavedModels, served in a fresh process that imports only TensorFlow."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_bert_zoo.export.embedder_export import build_embedder_module, export_embedder
from keras_bert_zoo.export.seq2seq_export import build_seq2seq_module, export_seq2seq
from keras_bert_zoo.models import BartBackbone, BertBackbone, RobertaBackbone
from keras_bert_zoo.tasks.embedder import TextEmbedder
from keras_bert_zoo.tasks.seq2seq import Seq2SeqGenerator
from keras_bert_zoo.tokenizers import BytePairTokenizer, Preprocessor, WordPieceTokenizer
from keras_bert_zoo.tokenizers.byte_pair_tokenizer import bytes_to_unicode

TEXTS = ["the cat sat on the mat", "", "東京 🍣 naïve café", "   ", "a " * 40, "then the end"]
WORDS = "the a cat sat on mat end then café ##s . , !".split()

LOADER = r"""
import json, sys
import tensorflow as tf
import tensorflow_text  # noqa: F401
assert "keras_bert_zoo" not in sys.modules and "keras_hub" not in sys.modules
requests = json.loads(sys.argv[1])
out = {}
for path, batch in requests.items():
    serve = tf.saved_model.load(path).signatures["serving_default"]
    result = serve(text=tf.constant(batch))
    out[path] = {k: ([t.decode("utf-8") for t in v.numpy()] if v.dtype == tf.string
                     else v.numpy().tolist()) for k, v in result.items()}
assert "keras_bert_zoo" not in sys.modules and "keras_hub" not in sys.modules
print(json.dumps(out))
"""


def serve_in_fresh_process(requests):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run([sys.executable, "-c", LOADER, json.dumps(requests)],
                            capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def byte_level_tokenizer():
    """Every byte is a token (so any text round-trips), plus a few merges."""
    tokens = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"] + bytes_to_unicode()
    merges = ["t h", "th e", "\u0120 th", "\u0120th e", "a t", "c at", "\u0120 cat"]
    tokens += ["th", "the", "\u0120th", "\u0120the", "at", "cat", "\u0120cat"]
    return BytePairTokenizer({t: i for i, t in enumerate(tokens)}, merges, family="bart")


def seq2seq_model(dtype=None):
    tokenizer = byte_level_tokenizer()
    keras.utils.set_random_seed(0)
    # One layer: the exports are compared with the in-memory model, which any depth shows;
    # each layer adds to every trace of the generation loop.
    backbone = BartBackbone(vocabulary_size=tokenizer.vocabulary_size, num_layers=1,
                            num_heads=2, hidden_dim=16, intermediate_dim=32,
                            max_sequence_length=16, dropout=0.0, dtype=dtype)
    model = Seq2SeqGenerator(backbone, preprocessor=Preprocessor(tokenizer, sequence_length=12))
    # Large random weights so outputs depend on the input; a biased </s> so some stop early.
    rng = np.random.default_rng(0)
    model.set_weights([w if w.ndim < 2 else rng.normal(0, 0.4, w.shape).astype(w.dtype)
                       for w in model.get_weights()])
    bias = np.zeros(tokenizer.vocabulary_size, "float32")
    bias[2] = 2.0
    model.lm_bias.bias.assign(bias)
    return model


def bert_embedder():
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + WORDS
    preprocessor = Preprocessor(WordPieceTokenizer(vocab), sequence_length=16)
    keras.utils.set_random_seed(1)
    backbone = BertBackbone(vocabulary_size=len(vocab), num_layers=1, num_heads=2,
                            hidden_dim=16, intermediate_dim=32, max_sequence_length=16)
    return TextEmbedder(backbone), preprocessor


def roberta_embedder(pooling="cls"):
    tokenizer = byte_level_tokenizer()
    keras.utils.set_random_seed(2)
    backbone = RobertaBackbone(vocabulary_size=tokenizer.vocabulary_size, num_layers=1,
                               num_heads=2, hidden_dim=16, intermediate_dim=32,
                               max_sequence_length=16)
    return TextEmbedder(backbone, pooling=pooling), Preprocessor(tokenizer, 16, family="roberta")


def in_memory_embeddings(model, preprocessor, texts):
    return model(preprocessor(tf.constant(texts)))["embedding"].numpy()


@pytest.mark.slow
def test_exports_serve_in_a_fresh_process_like_the_in_memory_models(tmp_path):
    model = seq2seq_model()
    bert, bert_preprocessor = bert_embedder()
    paths = {
        "greedy": export_seq2seq(model, None, str(tmp_path / "greedy"), max_length=10),
        "beam": export_seq2seq(model, model.preprocessor, str(tmp_path / "beam"),
                               sampler="beam", max_length=10, num_beams=3),
        "bert": export_embedder(bert, bert_preprocessor, str(tmp_path / "bert")),
    }
    served = serve_in_fresh_process({path: TEXTS for path in paths.values()})

    greedy = model.generate(TEXTS, max_length=10)
    beam = model.generate(TEXTS, max_length=10, sampler="beam", num_beams=3)
    assert served[paths["greedy"]]["generated_text"] == greedy
    assert served[paths["beam"]]["generated_text"] == beam
    assert len(set(greedy)) > 1  # the outputs depend on the input

    got = np.array(served[paths["bert"]]["embedding"])
    assert got.shape == (len(TEXTS), 16)
    assert np.abs(got - in_memory_embeddings(bert, bert_preprocessor, TEXTS)).max() <= 1e-5


def test_seq2seq_module_tokenizer_argument_and_errors():
    model = seq2seq_model()
    module, signatures = build_seq2seq_module(model, model.preprocessor.tokenizer,
                                              source_length=12, max_length=6)
    out = signatures["serving_default"](text=tf.constant(TEXTS[:3]))["generated_text"]
    assert [t.decode("utf-8") for t in out.numpy()] == model.generate(TEXTS[:3], max_length=6)
    with pytest.raises(ValueError, match="exports use one of greedy, beam"):
        build_seq2seq_module(model, None, sampler="top_k")
    with pytest.raises(ValueError, match="max_length=20 needs 22"):
        build_seq2seq_module(model, None, max_length=20)
    with pytest.raises(TypeError, match="needs a Seq2SeqGenerator"):
        build_seq2seq_module(bert_embedder()[0], None)


def test_mixed_precision_seq2seq_exports_in_float32():
    model = seq2seq_model(dtype="mixed_bfloat16")
    _, signatures = build_seq2seq_module(model, None, max_length=6)
    out = signatures["serving_default"](text=tf.constant(TEXTS[:2]))
    float32 = seq2seq_model()
    float32.set_weights(model.get_weights())
    assert [t.decode("utf-8") for t in out["generated_text"].numpy()] == float32.generate(
        TEXTS[:2], max_length=6)


@pytest.mark.parametrize("make", [bert_embedder, roberta_embedder])
def test_embedder_tokenized_signature(make, tmp_path):
    model, preprocessor = make()
    module, signatures = build_embedder_module(model, preprocessor)
    inputs = preprocessor(tf.constant(TEXTS))
    expected = in_memory_embeddings(model, preprocessor, TEXTS)
    got = signatures["serve_tokenized"](**inputs)["embedding"].numpy()
    assert np.abs(got - expected).max() <= 1e-5
    text = signatures["serving_default"](text=tf.constant(TEXTS))["embedding"].numpy()
    assert np.abs(text - expected).max() <= 1e-5
    assert ("segment_ids" in inputs) == (make is bert_embedder)


@pytest.mark.parametrize("sampler", ["greedy", "beam"])
def test_seq2seq_tokenized_signature_matches_serving_default(sampler, tmp_path):
    model = seq2seq_model()
    if sampler == "greedy":  # through a saved and loaded SavedModel
        signatures = tf.saved_model.load(export_seq2seq(
            model, None, str(tmp_path / sampler), max_length=8)).signatures
    else:
        _, signatures = build_seq2seq_module(model, None, sampler=sampler, max_length=8,
                                             num_beams=2)
    inputs = model.preprocessor(tf.constant(TEXTS))  # tokenized by the client
    tokenized = signatures["serve_tokenized"](token_ids=inputs["token_ids"],
                                              padding_mask=inputs["padding_mask"])
    served = signatures["serving_default"](text=tf.constant(TEXTS))
    texts = [t.decode("utf-8") for t in served["generated_text"].numpy()]
    assert [t.decode("utf-8") for t in tokenized["generated_text"].numpy()] == texts
    assert texts == model.generate(TEXTS, max_length=8, sampler=sampler, num_beams=2)
    ids = tokenized["generated_ids"].numpy()
    assert ids.dtype == np.int32 and ids.shape == (len(TEXTS), 8)
    expected = model.generate({"token_ids": inputs["token_ids"],
                               "padding_mask": inputs["padding_mask"]}, max_length=8,
                              sampler=sampler, num_beams=2)
    np.testing.assert_array_equal(ids, expected)
