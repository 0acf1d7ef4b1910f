"""Readers of labelled fine-tuning files: CoNLL token-per-line (tagging) and SQuAD JSON (QA)."""

import dataclasses
import json
import os


def read_conll(path, token_column=0, tag_column=-1):
    """Reads a CoNLL-style file: one token per line, columns split on whitespace.

    Sentences are separated by blank lines; `-DOCSTART-` lines (CoNLL-2003 document
    boundaries) are skipped.

    Args:
        path: the file (UTF-8).
        token_column: column of the word (0 in CoNLL-2003).
        tag_column: column of the tag (-1: the last, the NER tag in CoNLL-2003).

    Returns:
        A list of `(words, tags)` pairs of lists of strings.

    Example:
    >>> import tempfile
    >>> path = tempfile.mktemp(suffix=".conll")
    >>> _ = open(path, "w").write("-DOCSTART- -X- O O\\n\\nEU NNP B-ORG\\nrejects VBZ O\\n")
    >>> read_conll(path)
    [(['EU', 'rejects'], ['B-ORG', 'O'])]
    """
    if not os.path.exists(path):
        raise FileNotFoundError(f"CoNLL file {path!r} does not exist")
    sentences, words, tags = [], [], []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            columns = line.split()
            if not columns:
                if words:
                    sentences.append((words, tags))
                    words, tags = [], []
                continue
            if columns[0] == "-DOCSTART-":
                continue
            token, tag = (c if c >= 0 else len(columns) + c for c in (token_column, tag_column))
            if not (0 <= token < len(columns) and 0 <= tag < len(columns)) or token == tag:
                raise ValueError(
                    f"{path}:{number}: expected a token in column {token_column} and a tag in "
                    f"column {tag_column}, got {len(columns)} column(s): {line.rstrip()!r}"
                )
            words.append(columns[token_column])
            tags.append(columns[tag_column])
    if words:
        sentences.append((words, tags))
    return sentences


@dataclasses.dataclass
class SquadExample:
    """One SQuAD question; `answers` is a list of `(text, answer_start)` (empty if impossible)."""

    id: str
    question: str
    context: str
    answers: list
    is_impossible: bool = False
    title: str = ""


def read_squad(path, check_answers=True):
    """Reads a SQuAD v1.1 or v2.0 JSON file into a list of `SquadExample`.

    Args:
        path: the JSON file.
        check_answers: raise if an answer's text is not at `answer_start` in its context.

    Returns:
        A list of `SquadExample` in file order. v2.0 unanswerable questions have
        `is_impossible=True` and no answers (their `plausible_answers` are ignored).
    """
    if not os.path.exists(path):
        raise FileNotFoundError(f"SQuAD file {path!r} does not exist")
    with open(path, encoding="utf-8") as f:
        try:
            data = json.load(f)
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        raise ValueError(f"{path}: expected a JSON object with a 'data' list (SQuAD format)")

    def get(entry, key, where, kind):
        if not isinstance(entry, dict) or key not in entry:
            raise ValueError(f"{path}: {where} has no {key!r}")
        if not isinstance(entry[key], kind):
            names = " or ".join(k.__name__ for k in (kind if isinstance(kind, tuple) else (kind,)))
            raise ValueError(f"{path}: {where}.{key} is not a {names}")
        return entry[key]

    examples = []
    for i, article in enumerate(data["data"]):
        title = article.get("title", "") if isinstance(article, dict) else ""
        for j, paragraph in enumerate(get(article, "paragraphs", f"data[{i}]", list)):
            where = f"data[{i}].paragraphs[{j}]"
            context = get(paragraph, "context", where, str)
            for k, qa in enumerate(get(paragraph, "qas", where, list)):
                where_qa = f"{where}.qas[{k}]"
                qid = str(get(qa, "id", where_qa, (str, int)))
                impossible = bool(qa.get("is_impossible", False))
                answers = []
                for m, answer in enumerate(get(qa, "answers", where_qa, list)):
                    where_a = f"{where_qa}.answers[{m}] (id {qid})"
                    text = get(answer, "text", where_a, str)
                    start = get(answer, "answer_start", where_a, int)
                    if check_answers and context[start:start + len(text)] != text:
                        raise ValueError(
                            f"{path}: {where_a}: {text!r} is not at answer_start={start} of "
                            f"its context (found {context[start:start + len(text)]!r}); "
                            "fix the offset or pass check_answers=False"
                        )
                    answers.append((text, start))
                if not impossible and not answers:
                    raise ValueError(f"{path}: {where_qa} (id {qid}) has no answers and is "
                                     "not marked is_impossible")
                examples.append(SquadExample(qid, get(qa, "question", where_qa, str), context,
                                             [] if impossible else answers, impossible, title))
    return examples
