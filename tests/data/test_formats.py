"""Readers of CoNLL token-per-line files and SQuAD v1.1 / v2.0 JSON."""

import json

import pytest

from keras_bert_zoo.data.formats import SquadExample, read_conll, read_squad

CONLL = """-DOCSTART- -X- -X- O

EU NNP B-NP B-ORG
rejects VBZ B-VP O
German JJ B-NP B-MISC
call NN I-NP O
. . O O


Peter NNP B-NP B-PER
Blackburn NNP I-NP I-PER
-DOCSTART- -X- -X- O

Zürich NNP B-NP B-LOC
"""


def test_read_conll_sentences_tags_and_columns(tmp_path):
    path = tmp_path / "train.txt"
    path.write_text(CONLL, "utf-8")
    sentences = read_conll(str(path))
    assert sentences == [
        (["EU", "rejects", "German", "call", "."], ["B-ORG", "O", "B-MISC", "O", "O"]),
        (["Peter", "Blackburn"], ["B-PER", "I-PER"]),
        (["Zürich"], ["B-LOC"]),
    ]
    pos = read_conll(str(path), tag_column=1)
    assert pos[0][1] == ["NNP", "VBZ", "JJ", "NN", "."]
    assert read_conll(str(path), token_column=0, tag_column=2)[1][1] == ["B-NP", "I-NP"]


def test_read_conll_without_trailing_blank_line_and_tabs(tmp_path):
    path = tmp_path / "pos.tsv"
    path.write_text("1\tThe\tDET\n2\tcat\tNOUN\n\n1\tRuns\tVERB", "utf-8")
    assert read_conll(str(path), token_column=1, tag_column=2) == [
        (["The", "cat"], ["DET", "NOUN"]), (["Runs"], ["VERB"])]


def test_read_conll_errors_name_file_and_line(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.conll"):
        read_conll(str(tmp_path / "missing.conll"))
    path = tmp_path / "bad.conll"
    path.write_text("EU B-ORG\nrejects\n", "utf-8")
    with pytest.raises(ValueError, match=r"bad.conll:2: .*got 1 column\(s\): 'rejects'"):
        read_conll(str(path))
    path.write_text("EU NNP B-ORG\n", "utf-8")
    with pytest.raises(ValueError, match="bad.conll:1"):
        read_conll(str(path), tag_column=5)


def _squad(version2=False):
    context = "Zürich is the largest city in Switzerland."
    qas = [{"id": "a1", "question": "What is Zürich?",
            "answers": [{"text": "the largest city", "answer_start": 10},
                        {"text": "largest city in Switzerland", "answer_start": 14}]}]
    if version2:
        qas[0]["is_impossible"] = False
        qas.append({"id": "a2", "question": "What is Bern?", "answers": [],
                    "plausible_answers": [{"text": "city", "answer_start": 22}],
                    "is_impossible": True})
    return {"version": "2.0" if version2 else "1.1",
            "data": [{"title": "Zürich", "paragraphs": [{"context": context, "qas": qas}]}]}


def test_read_squad_v1_and_v2(tmp_path):
    path = tmp_path / "v1.json"
    path.write_text(json.dumps(_squad()), "utf-8")
    (example,) = read_squad(str(path))
    assert example == SquadExample(
        "a1", "What is Zürich?", "Zürich is the largest city in Switzerland.",
        [("the largest city", 10), ("largest city in Switzerland", 14)], False, "Zürich")
    path = tmp_path / "v2.json"
    path.write_text(json.dumps(_squad(version2=True), ensure_ascii=False), "utf-8")
    first, second = read_squad(str(path))
    assert not first.is_impossible and len(first.answers) == 2
    assert second.is_impossible and second.answers == [] and second.id == "a2"


def test_read_squad_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_squad(str(tmp_path / "none.json"))
    path = tmp_path / "bad.json"
    path.write_text("{not json", "utf-8")
    with pytest.raises(ValueError, match="not valid JSON"):
        read_squad(str(path))
    data = _squad()
    del data["data"][0]["paragraphs"][0]["qas"][0]["question"]
    path.write_text(json.dumps(data), "utf-8")
    with pytest.raises(ValueError, match=r"data\[0\].paragraphs\[0\].qas\[0\] has no 'question'"):
        read_squad(str(path))
    data = _squad()
    data["data"][0]["paragraphs"][0]["qas"][0]["answers"][0]["answer_start"] = 11
    path.write_text(json.dumps(data), "utf-8")
    with pytest.raises(ValueError, match="is not at answer_start=11"):
        read_squad(str(path))
    assert read_squad(str(path), check_answers=False)[0].answers[0] == ("the largest city", 11)
    data = _squad()
    data["data"][0]["paragraphs"][0]["qas"][0]["answers"] = []
    path.write_text(json.dumps(data), "utf-8")
    with pytest.raises(ValueError, match="has no answers and is not marked is_impossible"):
        read_squad(str(path))
    path.write_text(json.dumps({"version": "1.1"}), "utf-8")
    with pytest.raises(ValueError, match="'data' list"):
        read_squad(str(path))
