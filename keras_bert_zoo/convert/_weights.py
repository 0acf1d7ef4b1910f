"""Shared machinery of the checkpoint converters: layout transforms and applying a name table.

A table is a list of `(source name, our variable path, transform)`. `assign` checks that every
variable of the model gets exactly one source, that every source tensor is used or explicitly
known to be unused, and that each shape matches, naming the offending weight otherwise.
"""

import logging

import numpy as np

logger = logging.getLogger("keras_bert_zoo.convert")


class Transform:
    """A pair of layout maps between a checkpoint tensor and one of our variables.

    `to_ours(x, shape)` turns a source tensor into a value of our variable's `shape`;
    `to_source(v)` is its inverse, used for export and to compute the expected source shape.
    """

    def __init__(self, name, to_ours, to_source):
        self.name = name
        self.to_ours = to_ours
        self.to_source = to_source

    def source_shape(self, shape):
        return tuple(self.to_source(np.empty(shape, "float32")).shape)

    def __repr__(self):
        return self.name


SAME = Transform("same", lambda x, shape: x, lambda v: v)
# torch.nn.Linear stores weight [out, in]; Keras Dense kernel is [in, out].
LINEAR = Transform("linear", lambda x, shape: x.T, lambda v: v.T)
# Attention query/key/value kernels: keras EinsumDense (hidden, heads, head_dim).
QKV = Transform(
    "qkv", lambda x, shape: x.T.reshape(shape), lambda v: v.reshape(v.shape[0], -1).T
)
# Attention output kernel: keras (heads, head_dim, hidden).
OUT = Transform(
    "attention_output",
    lambda x, shape: x.T.reshape(shape),
    lambda v: v.reshape(-1, v.shape[-1]).T,
)
# Query/key/value biases: keras (heads, head_dim), flat in the checkpoints.
HEADS_BIAS = Transform("heads_bias", lambda x, shape: x.reshape(shape), lambda v: v.reshape(-1))
# TF1 checkpoints already store kernels [in, out]; only the head split differs.
TF_QKV = Transform(
    "tf_qkv", lambda x, shape: x.reshape(shape), lambda v: v.reshape(v.shape[0], -1)
)
TF_OUT = Transform(
    "tf_attention_output", lambda x, shape: x.reshape(shape), lambda v: v.reshape(-1, v.shape[-1])
)


def variables_by_path(model):
    """{path relative to the model: variable} for every (deduplicated) weight of `model`.

    For a task model (a backbone plus heads), the backbone's variables keep the backbone's
    paths (`embeddings/...`, `transformer_layer_0/...`) and the heads' start at the head
    (`mlm_head/...`), whatever name scope the models were built in.
    """
    backbone = getattr(model, "backbone", None)
    out = _relative_paths(backbone) if backbone is not None else {}
    taken = {id(v) for v in out.values()}
    heads = [v for v in model.weights if id(v) not in taken]
    out.update(_relative_paths(model, heads))
    return out


def _relative_paths(model, variables=None):
    roots = {layer.name for layer in model.layers}
    out = {}
    for variable in model.weights if variables is None else variables:
        parts = variable.path.split("/")
        start = next((k for k, part in enumerate(parts) if part in roots), 0)
        out["/".join(parts[start:])] = variable
    return out


def assign(model, table, tensors, *, source, ignored=()):
    """Sets `model`'s variables from `tensors` following `table`.

    Args:
        model: a built Keras model.
        table: list of `(source name, our variable path, Transform)`.
        tensors: dict source name -> numpy array.
        source: what the tensors come from, for error messages (a file name).
        ignored: source names that may be left unused (known heads, buffers); the caller
            reports them.

    Raises:
        ValueError naming every missing, unused or mis-shaped weight.
    """
    variables = variables_by_path(model)
    missing = sorted({name for name, _, _ in table} - set(tensors))
    if missing:
        raise ValueError(
            f"{source}: missing weight(s) {', '.join(missing[:10])}"
            + (f" (and {len(missing) - 10} more)" if len(missing) > 10 else "")
            + "; the checkpoint does not match the architecture in its config"
        )
    unused = sorted(set(tensors) - {name for name, _, _ in table} - set(ignored))
    if unused:
        raise ValueError(
            f"{source}: unexpected weight(s) {', '.join(unused[:10])}"
            + (f" (and {len(unused) - 10} more)" if len(unused) > 10 else "")
            + "; they have no place in the converted model, so the checkpoint is probably of "
            "another architecture or has a different config"
        )
    targets = [path for _, path, _ in table]
    unknown = sorted(set(targets) - set(variables))
    if unknown:  # a bug in a table, not in the user's checkpoint
        raise KeyError(f"conversion table names unknown variable(s) {unknown}")
    duplicated = sorted({p for p in targets if targets.count(p) > 1})
    if duplicated:
        raise KeyError(f"conversion table assigns {duplicated} more than once")
    left = sorted(set(variables) - set(targets))
    if left:
        raise KeyError(f"conversion table leaves variable(s) {left} unset")

    values = []
    for name, path, transform in table:
        variable = variables[path]
        shape = tuple(variable.shape)
        x = np.asarray(tensors[name])
        expected = transform.source_shape(shape)
        if tuple(x.shape) != expected:
            raise ValueError(
                f"{source}: weight {name} has shape {tuple(x.shape)}, expected {expected} "
                f"(for {path} of shape {shape}); the config and the weights disagree"
            )
        values.append((variable, transform.to_ours(x.astype("float32"), shape)))
    for variable, value in values:  # only once everything checked out
        variable.assign(value.astype(variable.dtype))


def extract(model, table):
    """The inverse of `assign`: {source name: numpy array} in the checkpoint layout."""
    variables = variables_by_path(model)
    out = {}
    for name, path, transform in table:
        value = np.asarray(variables[path].numpy(), dtype="float32")
        out[name] = np.ascontiguousarray(transform.to_source(value))
    return out


def format_names(names, limit=8):
    names = sorted(names)
    text = ", ".join(names[:limit])
    return text + (f" (and {len(names) - limit} more)" if len(names) > limit else "")
