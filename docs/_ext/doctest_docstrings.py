"""A griffe extension: render the package's doctest-style docstrings as the Google style expects.

The docstrings are written for `doctest` and for reading in an editor:

    Example:
    >>> build("bert_tiny").num_layers
    2

Google-style parsing needs a section's content indented under its title, so without this the
example lines would be rendered as Markdown text (where `[5, 4]` looks like a link). This
extension indents the lines that follow an `Example:`/`Examples:` title at the same level (and
names the section `Examples:`, which Google style renders as code), and
joins an `Args:` entry whose list of names is wrapped onto a second line. It changes only the
rendered documentation, never the code.
"""

import re

import griffe

_TITLE = re.compile(r"^(\s*)Examples?:\s*$")
_ARGS = re.compile(r"^(\s*)(Args|Arguments|Parameters):\s*$")


def _indent_examples(lines):
    out, i = [], 0
    while i < len(lines):
        line = lines[i]
        out.append(line)
        match = _TITLE.match(line)
        i += 1
        if not match:
            continue
        indent = match.group(1)
        if i < len(lines) and lines[i].lstrip().startswith(">>>"):
            out[-1] = indent + "Examples:"  # "Example:" would be an admonition of Markdown text
        nested = i < len(lines) and len(lines[i]) - len(lines[i].lstrip()) > len(indent)
        if nested and lines[i].strip():
            continue  # already indented under its title
        while i < len(lines) and lines[i].strip():
            out.append("    " + lines[i])
            i += 1
    return out


def _join_wrapped_names(lines):
    out, in_args, item_indent = [], False, None
    for line in lines:
        match = _ARGS.match(line)
        if match:
            in_args, item_indent = True, None
            out.append(line)
            continue
        if in_args and not line.strip():
            in_args = False
        if in_args:
            indent = len(line) - len(line.lstrip())
            if item_indent is None:
                item_indent = indent
            previous = out[-1] if out else ""
            previous_indent = len(previous) - len(previous.lstrip())
            if (indent >= item_indent and previous.rstrip().endswith(",")
                    and ":" not in previous and previous_indent == item_indent):
                out[-1] = previous.rstrip() + " " + line.strip()
                continue
        out.append(line)
    return out


class DoctestDocstrings(griffe.Extension):
    def on_instance(self, *, obj, **kwargs):
        if obj.docstring is None:
            return
        lines = obj.docstring.value.split("\n")
        obj.docstring.value = "\n".join(_join_wrapped_names(_indent_examples(lines)))
