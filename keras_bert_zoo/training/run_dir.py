"""Run directories: a rerun resumes only the run its directory holds, or starts afresh on request.

A pretraining or fine-tuning run records its config in its output directory. A rerun with the
same config resumes from the last checkpoint. A rerun whose config differs in a field that
changes what is trained stops before it writes anything, naming the fields. `--overwrite`
deletes the files the earlier run wrote, and nothing else, then starts afresh.
"""

import dataclasses
import json
import os
import shutil

# Fields a rerun may change and still resume, because none of them changes the batches, the
# model or the update rule of the steps already taken:
# - how often the run logs and checkpoints, how many checkpoints it keeps, where its directory
#   now is, and how much it prints;
# - how a step is executed: `strategy` (the batches are a function of the seed, the batch size
#   and the number of input pipelines, `data_shards`, which pretraining records and a resumed
#   run keeps, so a run started on 8 devices continues on 4 or 1 with the same batches) and
#   `jit_compile` (XLA or not: the same computation, rounded differently, as `auto` already
#   decides per machine).
# `data_shards` itself may not change (it would change the batches), nor may anything that
# shapes the model, the vocabulary, the data or the optimizer.
RUN_SETTINGS = frozenset({"output_dir", "verbose", "log_every", "checkpoint_every",
                          "keep_checkpoints", "strategy", "jit_compile"})


@dataclasses.dataclass(frozen=True)
class RunKind:
    """What a kind of run records and what a rerun of it may change."""

    config_file: str  # the saved config, inside the output directory
    resumable: frozenset  # fields a rerun may change and still resume


# Training longer (more steps or epochs) resumes too; the learning-rate schedule is then the
# one of the new total, from the step reached.
PRETRAIN = RunKind("config.json", RUN_SETTINGS | {"max_steps"})
# Not config.json: a fine-tuning directory passed as --pretrained must not pass for a Hugging
# Face model directory, which is recognised by its config.json.
FINETUNE = RunKind("finetune_config.json", RUN_SETTINGS | {"epochs", "eval_every"})


class RunDirError(ValueError):
    """The output directory holds a run that this one must not resume or silently replace."""


def config_record(config):
    """The config dataclass as saved: JSON values, without `overwrite` (a request to the rerun,
    not part of the run)."""
    record = dataclasses.asdict(config)
    record.pop("overwrite", None)
    return json.loads(json.dumps(record))


def read_config(path):
    """The saved config dict at `path`, or None if there is none."""
    if not os.path.exists(path):
        return None
    try:
        with open(path, encoding="utf-8") as f:
            saved = json.load(f)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise RunDirError(f"{path} cannot be read ({error}); rerun with --output_dir=<another "
                          "directory>, or --overwrite to delete that run's files") from None
    if not isinstance(saved, dict):
        raise RunDirError(f"{path} is not a JSON object; rerun with --output_dir=<another "
                          "directory>, or --overwrite to delete that run's files")
    return saved


def write_json_atomic(path, value):
    """Writes `value` as JSON to `path.tmp`, then renames it over `path` (never half-written)."""
    tmp = path + ".tmp"
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(value, f, indent=1)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def save_atomic(model, path):
    """Writes a `.keras` file next to `path`, then renames it over `path` (never half-written)."""
    tmp = path + ".tmp.keras"
    model.save(tmp)
    os.replace(tmp, path)


def config_differences(saved, record, defaults, resumable):
    """`(blocking, allowed)`: the `name: old -> new` changes from the saved config to `record`,
    split by whether a resumed run may take them. A field missing from `saved` (written before
    the field existed) counts as its default."""
    blocking, allowed = [], []
    for name, new in record.items():
        old = saved.get(name, defaults.get(name))
        if old != new:
            change = f"{name}: {json.dumps(old)} -> {json.dumps(new)}"
            (allowed if name in resumable else blocking).append(change)
    return blocking, allowed


def _defaults(config):
    values = {}
    for field in dataclasses.fields(config):
        if field.default is not dataclasses.MISSING:
            values[field.name] = field.default
        elif field.default_factory is not dataclasses.MISSING:
            values[field.name] = field.default_factory()
    return json.loads(json.dumps(values))


def _overlaps(a, b):
    a, b = os.path.realpath(a), os.path.realpath(b)
    return a == b or a.startswith(b + os.sep) or b.startswith(a + os.sep)


def remove_entries(output_dir, entries, reads=()):
    """Deletes `entries` (paths relative to `output_dir`, files or folders) and the folders
    that this leaves empty inside it; refuses, before deleting anything, if the run reads from
    one of them (`reads`: paths of its inputs)."""
    for entry in entries:
        for read in reads:
            if read and _overlaps(os.path.join(output_dir, entry), read):
                raise RunDirError(f"--overwrite would delete {os.path.join(output_dir, entry)}, "
                                  f"which this run reads ({read}); move it out of {output_dir} "
                                  "or choose another --output_dir")
    for entry in entries:
        path = os.path.join(output_dir, entry)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        elif os.path.lexists(path):
            os.remove(path)
        parent = os.path.dirname(entry)
        while parent:  # e.g. corpus/ once the run's corpus files are gone
            try:
                os.rmdir(os.path.join(output_dir, parent))
            except OSError:  # not empty: it holds files the run did not write
                break
            parent = os.path.dirname(parent)


def prepare_run_dir(config, kind, owned, *, reads=(), chief=True, record=None, saved=None):
    """Checks `config.output_dir` against the run it may hold, before anything is written.

    - No earlier run: records the config and returns False.
    - An earlier run with the same config, or one that differs only in `kind.resumable`
      fields: updates the recorded config and returns True (the caller resumes).
    - An earlier run with another config, or run files without a recorded config: raises
      `RunDirError` naming the differing fields, and writes nothing.
    - `config.overwrite`: deletes the earlier run's files (`owned`, and the recorded config)
      and nothing else in the directory, then starts afresh (returns False).

    Only the chief writes; other workers of a multi-worker run make the same checks.

    Args:
        config: the run's config dataclass (`output_dir`, `overwrite`).
        kind: `PRETRAIN` or `FINETUNE`.
        owned: `saved config dict or None -> [paths relative to output_dir]`, the files and
            folders the earlier run wrote besides its config (those that exist are looked at).
        reads: paths the new run reads; `--overwrite` refuses to delete any of them.
        record: the config as it is to be saved (default: `config_record(config)`).
        saved: the recorded config if the caller already read it (default: read it).

    Returns:
        Whether an earlier run in the directory is resumed.
    """
    output_dir = config.output_dir
    record = config_record(config) if record is None else record
    path = os.path.join(output_dir, kind.config_file)
    saved = read_config(path) if saved is None else saved
    present = [entry for entry in owned(saved)
               if os.path.lexists(os.path.join(output_dir, entry))]
    if getattr(config, "overwrite", False):
        if not chief:
            return False
        removed = present + [name for name in (kind.config_file, kind.config_file + ".tmp")
                             if os.path.lexists(os.path.join(output_dir, name))]
        remove_entries(output_dir, removed, reads)
        if removed:
            print(f"--overwrite: deleted {', '.join(removed)} in {output_dir}", flush=True)
        saved, present = None, []
    elif present and saved is None:
        raise RunDirError(
            f"{output_dir} holds {', '.join(present)} but no {kind.config_file} to check them "
            f"against; rerun with --output_dir=<another directory>, or --overwrite to delete "
            "them and start afresh"
        )
    elif present:
        blocking, allowed = config_differences(saved, record, _defaults(config), kind.resumable)
        if blocking:
            raise RunDirError(
                f"{output_dir} holds a run with another config ({', '.join(blocking)}); rerun "
                "with --output_dir=<another directory> to keep it, or --overwrite to delete "
                "its files and start afresh"
            )
        if allowed and chief:
            print(f"resuming the run in {output_dir} with {', '.join(allowed)}", flush=True)
    # Otherwise the directory holds at most the config of a run that wrote nothing else (it
    # stopped on an error): replaced by this run's.
    if chief and record != saved:
        os.makedirs(output_dir, exist_ok=True)
        write_json_atomic(path, record)
    return bool(present)
