"""Fine-tuning tagging and QA through the package driver (the code behind recipes/finetune.py),
on small real sentences written as CoNLL and SQuAD files."""

import json
import os

import keras
import pytest

from keras_bert_zoo.export import export_model_dir
from keras_bert_zoo.models import build
from keras_bert_zoo.tokenizers import train_tokenizer
from keras_bert_zoo.training.finetune import FinetuneConfig, finetune

SENTENCES = [
    ("Angela Merkel visited Paris on Monday .", "B-PER I-PER O B-LOC O O O"),
    ("The BBC reported from London .", "O B-ORG O O B-LOC O"),
    ("Google opened an office in Zurich .", "B-ORG O O O O B-LOC O"),
    ("Barack Obama met Emmanuel Macron in Berlin .", "B-PER I-PER O B-PER I-PER O B-LOC O"),
]
CONTEXT = ("The Eiffel Tower is located in Paris. It was completed in 1889 and is 330 metres "
           "tall. Gustave Eiffel's company designed and built the tower.")
QUESTIONS = [("Where is the Eiffel Tower?", "Paris"), ("When was it completed?", "1889"),
             ("How tall is the tower?", "330 metres"),
             ("Whose company built the tower?", "Gustave Eiffel's company")]


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    """A fresh tiny BERT and a WordPiece vocabulary of the sentences, saved as a pretrain
    output dir (backbone.keras + tokenizer/): what finetune reads, without the cost of
    pretraining (which has tests of its own)."""
    directory = tmp_path_factory.mktemp("pretrained")
    text = "\n".join([words for words, _ in SENTENCES] + [CONTEXT]
                     + [q for q, _ in QUESTIONS]) + "\n"
    (directory / "text.txt").write_text(text, encoding="utf-8")
    tokenizer = train_tokenizer("bert", str(directory / "text.txt"), 300,
                                output_dir=str(directory / "tokenizer"))
    keras.utils.set_random_seed(0)
    backbone = build("bert_tiny", vocabulary_size=tokenizer.vocabulary_size,
                     max_sequence_length=48, num_layers=1, hidden_dim=32, num_heads=2,
                     intermediate_dim=64)
    backbone.save(str(directory / "backbone.keras"))
    return str(directory)


def _conll(path, repeat=8):
    with open(path, "w") as f:
        f.write("-DOCSTART- O\n\n")
        for _ in range(repeat):
            for words, tags in SENTENCES:
                for word, tag in zip(words.split(), tags.split()):
                    f.write(f"{word} {tag}\n")
                f.write("\n")


def _squad(path, repeat=8):
    qas = []
    for r in range(repeat):
        for i, (question, answer) in enumerate(QUESTIONS):
            qas.append({"id": f"{r}-{i}", "question": question,
                        "answers": [{"text": answer, "answer_start": CONTEXT.index(answer)}]})
    data = {"version": "1.1", "data": [{"title": "Eiffel",
                                        "paragraphs": [{"context": CONTEXT, "qas": qas}]}]}
    with open(path, "w") as f:
        json.dump(data, f)


@pytest.mark.slow
def test_tagging_trains_evaluates_saves_and_exports(pretrained, tmp_path):
    _conll(tmp_path / "train.conll")
    _conll(tmp_path / "dev.conll", repeat=1)
    config = FinetuneConfig(task="tag", pretrained=pretrained, output_dir=str(tmp_path / "tag"),
                            train_file=str(tmp_path / "train.conll"),
                            dev_file=str(tmp_path / "dev.conll"), seq_len=24, batch_size=8,
                            epochs=2, learning_rate=1e-3, verbose=0)
    metrics = finetune(config)["metrics"]
    assert metrics["tag_names"][0] == "O" and "B-PER" in metrics["tag_names"]
    assert 0.0 <= metrics["entity_f1"] <= 1.0 and metrics["dev_examples"] == 4
    assert json.load(open(tmp_path / "tag" / "metrics.json"))["task"] == "tag"
    import tensorflow as tf
    path = export_model_dir(str(tmp_path / "tag"), str(tmp_path / "tag_export"))
    out = tf.saved_model.load(path).signatures["serving_default"](
        text=tf.constant(["Angela Merkel visited Paris ."]))
    assert out["num_words"].numpy().tolist() == [5]
    assert all(t.decode() in metrics["tag_names"] for t in out["tags"].numpy()[0][:5])


@pytest.mark.slow
def test_qa_trains_and_reports_squad_metrics(pretrained, tmp_path):
    _squad(tmp_path / "train.json")
    _squad(tmp_path / "dev.json", repeat=1)
    config = FinetuneConfig(task="qa", pretrained=pretrained, output_dir=str(tmp_path / "qa"),
                            train_file=str(tmp_path / "train.json"),
                            dev_file=str(tmp_path / "dev.json"), seq_len=48, batch_size=8,
                            epochs=2, learning_rate=1e-3, verbose=0)
    metrics = finetune(config)["metrics"]
    assert metrics["total"] == 4 and 0.0 <= metrics["f1"] <= 100.0
    assert os.path.exists(tmp_path / "qa" / "model.keras")


def test_dataset_flag_is_for_classification_only(tmp_path):
    config = FinetuneConfig(task="tag", pretrained=str(tmp_path), dataset="tweets",
                            output_dir=str(tmp_path / "x"))
    with pytest.raises(ValueError, match="--dataset=tweets is a classification set"):
        finetune(config)


@pytest.mark.slow
def test_seq2seq_headlines_train_report_rouge_and_export(tmp_path):
    import tensorflow as tf

    from keras_bert_zoo.data.corpora import bbc_news

    texts, _, headlines = bbc_news()
    pairs = [(text.split("\n", 1)[-1], headline)
             for text, headline in list(zip(texts, headlines))[:48]]
    with open(tmp_path / "train.jsonl", "w") as f:
        for body, headline in pairs:
            f.write(json.dumps({"article": body, "headline": headline}) + "\n")
    # A fresh tiny BART and a BPE vocabulary of the pairs, saved as a pretrain output dir
    # (backbone.keras + tokenizer/), without the cost of pretraining (tested elsewhere).
    bart_dir = tmp_path / "bart"
    bart_dir.mkdir()
    (bart_dir / "text.txt").write_text("\n".join(t for pair in pairs for t in pair), "utf-8")
    tokenizer = train_tokenizer("bart", str(bart_dir / "text.txt"), 1000,
                                output_dir=str(bart_dir / "tokenizer"))
    keras.utils.set_random_seed(0)
    build("bart_base", vocabulary_size=tokenizer.vocabulary_size, max_sequence_length=64,
          num_layers=1, hidden_dim=32, num_heads=2, intermediate_dim=64).save(
        str(bart_dir / "backbone.keras"))
    config = FinetuneConfig(task="seq2seq", pretrained=str(bart_dir),
                            output_dir=str(tmp_path / "s2s"),
                            train_file=str(tmp_path / "train.jsonl"), text_column="article",
                            label_column="headline", seq_len=48, target_len=12, batch_size=8,
                            epochs=1, learning_rate=1e-3, verbose=0)
    metrics = finetune(config)["metrics"]
    assert {"rouge1", "rouge2", "rougeL"} <= set(metrics) and metrics["dev_examples"] == 4
    assert len(metrics["examples"]) == 4 and all("generated" in e for e in metrics["examples"])
    path = export_model_dir(str(tmp_path / "s2s"), str(tmp_path / "s2s_export"))
    out = tf.saved_model.load(path).signatures["serving_default"](
        text=tf.constant(["Shares rose sharply today.", ""]))
    assert out["generated_text"].shape == (2,)


def test_pretrained_dir_written_by_convert_is_accepted(tmp_path):
    import numpy as np

    from keras_bert_zoo.models import BertBackbone
    from keras_bert_zoo.tokenizers import Preprocessor, WordPieceTokenizer
    from keras_bert_zoo.training.finetune import load_pretrained

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", "world"]
    backbone = BertBackbone(vocabulary_size=len(vocab), num_layers=1, num_heads=2,
                            hidden_dim=8, intermediate_dim=16)
    backbone.save(str(tmp_path / "backbone.keras"))  # the layout of recipes/convert.py
    Preprocessor(WordPieceTokenizer(vocab), sequence_length=8).save(str(tmp_path))
    loaded, preprocessor = load_pretrained(str(tmp_path), sequence_length=6)
    inputs = preprocessor(["hello world"])
    assert inputs["token_ids"].numpy().tolist() == [[2, 5, 6, 3, 0, 0]]
    np.testing.assert_allclose(loaded(inputs)["pooled_output"], backbone(inputs)["pooled_output"])
    with pytest.raises(FileNotFoundError, match="neither backbone.keras"):
        load_pretrained(str(tmp_path / "missing"), sequence_length=6)
