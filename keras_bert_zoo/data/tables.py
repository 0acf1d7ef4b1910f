"""Labelled tables: CSV, TSV (GLUE layout) and JSON lines with named columns."""

import csv
import json
import os

FORMATS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".json": "jsonl"}


def read_table(path, columns, *, optional=()):
    """Reads the named columns of a CSV, TSV or JSONL file.

    TSV follows GLUE: a header row, tab-separated, no quoting. Multi-label cells may hold
    several labels separated by `|`.

    Args:
        path: a `.csv`, `.tsv` or `.jsonl` file.
        columns: column names that must exist.
        optional: column names read when present (missing -> None values).

    Returns:
        A dict `name -> list of str`.

    Example:
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "train.tsv")
    >>> _ = open(path, "w").write("sentence\\tlabel\\ngood film\\t1\\n")
    >>> read_table(path, ["sentence", "label"])
    {'sentence': ['good film'], 'label': ['1']}
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no such file: {path!r}")
    kind = FORMATS.get(os.path.splitext(path)[1].lower())
    if kind is None:
        raise ValueError(f"{path!r}: unknown format; use one of {sorted(FORMATS)}")
    rows = []
    with open(path, encoding="utf-8", errors="replace", newline="") as f:
        if kind == "jsonl":
            for number, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as error:
                    raise ValueError(f"{path}:{number}: not valid JSON ({error.msg})") from None
                if not isinstance(row, dict):
                    raise ValueError(f"{path}:{number}: each line must be a JSON object")
                rows.append(row)
        else:
            if kind == "tsv":
                reader = csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
            else:
                reader = csv.DictReader(f)
            rows = list(reader)
            header = reader.fieldnames or []
            missing = [c for c in columns if c not in header]
            if missing:
                raise ValueError(f"{path}: no column {missing[0]!r}; the header has {header}")
    if not rows:
        raise ValueError(f"{path}: no rows")
    table = {}
    for name in list(columns) + [c for c in optional if c]:
        values = []
        for number, row in enumerate(rows, 1):
            if name not in row or row[name] is None:
                if name in columns:
                    raise ValueError(f"{path}: row {number} has no {name!r}")
                values.append(None)
                continue
            value = row[name]
            if isinstance(value, list):  # JSONL multi-label: a list of label strings
                values.append([str(v) for v in value])
            else:
                values.append(value if isinstance(value, str) else str(value))
        table[name] = values
    return table
