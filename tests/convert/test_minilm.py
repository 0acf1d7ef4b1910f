"""The real pretrained all-MiniLM-L6-v2 against the outputs of Hugging Face transformers."""

import json
import os

import numpy as np
import pytest

from keras_bert_zoo.convert import from_huggingface
from keras_bert_zoo.tokenizers import Preprocessor

# Outputs of transformers' BertModel (float32, CPU) and sentence-transformers' encode, copied
# from the project's shared data folder (see its README for how they were made).
REFERENCE = os.path.join(os.path.dirname(__file__), "data")


@pytest.fixture(scope="module")
def reference():
    path = os.path.join(REFERENCE, "minilm_reference.npz")
    if not os.path.exists(path):
        pytest.skip(f"{path} not found")
    with open(os.path.join(REFERENCE, "minilm_sentences.json"), encoding="utf-8") as f:
        sentences = json.load(f)["sentences"]
    return dict(np.load(path)), sentences


@pytest.fixture(scope="module")
def converted(minilm_dir, reference):
    ref, sentences = reference
    backbone, preprocessor = from_huggingface(minilm_dir, sequence_length=ref["input_ids"].shape[1])
    # The reference rows are padded to one length, as a fixed-length preprocessor pads them.
    preprocessor = Preprocessor(preprocessor.tokenizer, sequence_length=preprocessor.sequence_length,
                                padding="fixed")
    rows = []
    for sentence in sentences:  # one is a pair
        x = preprocessor(tuple(sentence) if isinstance(sentence, list) else sentence)
        rows.append({k: np.asarray(v) for k, v in x.items()})
    inputs = {k: np.stack([r[k] for r in rows]) for k in rows[0]}
    return backbone, inputs, ref


def test_token_ids_equal_reference(converted):
    _, inputs, ref = converted
    np.testing.assert_array_equal(inputs["token_ids"], ref["input_ids"])
    np.testing.assert_array_equal(inputs["segment_ids"], ref["token_type_ids"])
    np.testing.assert_array_equal(inputs["padding_mask"], ref["attention_mask"])


def test_hidden_states_match_reference(converted):
    backbone, inputs, ref = converted
    mask = ref["attention_mask"].astype(bool)
    embedded = backbone.embeddings({"token_ids": inputs["token_ids"],
                                    "segment_ids": inputs["segment_ids"]})
    outputs = backbone(inputs)
    diffs = {
        "embedding_output": np.abs(np.asarray(embedded) - ref["embedding_output"])[mask].max(),
        "last_hidden_state": np.abs(np.asarray(outputs["sequence_output"])
                                    - ref["last_hidden_state"])[mask].max(),
        "pooler_output": np.abs(np.asarray(outputs["pooled_output"])
                                - ref["pooler_output"]).max(),
    }
    print("max abs diff vs transformers:", diffs)
    for name, diff in diffs.items():
        assert diff <= 1e-4, (name, diff)


def test_sentence_embeddings_match_reference(converted):
    backbone, inputs, ref = converted
    sequence = np.asarray(backbone(inputs)["sequence_output"])
    mask = inputs["padding_mask"][..., None].astype("float32")
    mean = (sequence * mask).sum(1) / mask.sum(1)  # sentence-transformers 1_Pooling
    embeddings = mean / np.linalg.norm(mean, axis=1, keepdims=True)  # 2_Normalize
    cosine = (embeddings * ref["sentence_embedding"]).sum(1)
    print("cosine vs sentence-transformers:", cosine.min())
    assert cosine.min() >= 0.9999
