"""The snippets of docs/tagging_and_qa.md run (tests/test_docs.py runs the
rest of the guide; a file of its own lets `--dist loadfile` run it on the other worker)."""

import pytest

from tests.test_docs import run_page_snippets


@pytest.mark.slow
@pytest.mark.parametrize("page", ["docs/tagging_and_qa.md"])
def test_page_snippets_run(page, tmp_path, monkeypatch):
    run_page_snippets(page, tmp_path, monkeypatch)
