"""The `kbz` command: `kbz <command> --flag=value ...` runs the recipe of that name.

    kbz pretrain --model=bert_tiny --output_dir=runs/x
    kbz finetune --task=classify --pretrained=runs/x --dataset=tweets --output_dir=runs/ft
    kbz export --model_dir=runs/ft --export_dir=exports/ft
    echo "a great film" | kbz predict --export_dir=exports/ft

The recipes in `recipes/` (installed as `keras_bert_zoo.recipes`) are the commands:
`python recipes/pretrain.py ...` in a clone runs the same code. Every command checks its flags
before TensorFlow is imported, so a mistake is answered at once, with one `error: ...` line
and exit code 1 (2 for an unknown flag or command). Flags of run configurations come from the
fields of `keras_bert_zoo.configs` (one default, one help text each).

Plain Python and absl: importing this module starts no TensorFlow.
"""

import dataclasses
import importlib
import json
import sys

from absl import app, flags
from absl import logging as absl_logging

from keras_bert_zoo.configs import flag_fields

FLAGS = flags.FLAGS

COMMANDS = {
    "quickstart": "The whole path on the embedded corpus: vocabulary, pretraining, "
                  "fine-tuning, export, predictions.",
    "pretrain": "Vocabulary + pretraining of any family (MLM+NSP, MLM+SOP, MLM, denoising).",
    "evaluate": "Held-out accuracy of every kept checkpoint of a pretraining run.",
    "finetune": "Fine-tuning: classify, pair, tag, qa, seq2seq.",
    "export": "A SavedModel that takes raw strings, as a new version for TF Serving.",
    "predict": "JSON lines from an export, one per input line.",
    "convert": "Import Hugging Face or original Google checkpoints.",
    "visualize": "Attention maps, contextual similarity, training curves.",
}
# Command name -> module under keras_bert_zoo.recipes, where they differ.
_MODULES = {"evaluate": "evaluate_pretraining"}


def define_config_flags(config_class, flag_values=FLAGS):
    """Defines one absl flag per flag field of a `keras_bert_zoo.configs` dataclass, with the
    field's default, help text and choices; dict fields are JSON strings. The flags belong to
    the calling module (a recipe), whose `--help` lists them."""
    module_name = sys._getframe(1).f_globals["__name__"]
    if module_name == "__main__":  # absl files a script's flags under its path
        module_name = sys.argv[0]
    where = dict(flag_values=flag_values, module_name=module_name)
    for field in flag_fields(config_class):
        default = (field.default if field.default is not dataclasses.MISSING
                   else field.default_factory())
        help_text, choices = field.metadata["help"], field.metadata.get("choices")
        if choices:
            flags.DEFINE_enum(field.name, default, list(choices), help_text, **where)
        elif isinstance(default, bool):
            flags.DEFINE_bool(field.name, default, help_text, **where)
        elif isinstance(default, int):
            flags.DEFINE_integer(field.name, default, help_text, **where)
        elif isinstance(default, float):
            flags.DEFINE_float(field.name, default, help_text, **where)
        elif isinstance(default, dict):
            flags.DEFINE_string(field.name, json.dumps(default), help_text, **where)
        else:
            flags.DEFINE_string(field.name, default, help_text, **where)


def config_from_flags(config_class, flag_values=FLAGS, **overrides):
    """The validated config of the parsed flags; exits with one `error: ...` line if a value
    is wrong (before TensorFlow is imported)."""
    values = {}
    for field in flag_fields(config_class):
        value = flag_values[field.name].value
        if field.default is dataclasses.MISSING and isinstance(field.default_factory(), dict):
            try:
                value = json.loads(value)
            except ValueError as error:
                fail(f"--{field.name}={value!r} is not JSON ({error})")
        values[field.name] = value
    values.update(overrides)
    config = config_class(**values)
    try:
        config.validate()
    except (ValueError, FileNotFoundError) as error:
        fail(error)
    return config


def fail(message):
    """Ends the command with one `error: ...` line on stderr and exit code 1."""
    sys.exit(f"error: {message}")


def verbose_requested(flag_values=FLAGS):
    """True when the user asked for library logs (`-v N` / `--verbosity=N`)."""
    return flag_values["verbosity"].present > 0


def start_tensorflow(flag_values=FLAGS):
    """Imports TensorFlow for a command: quietly (no CUDA probes, no INFO logs of savers, no
    inapplicable warnings) unless `-v`/`--verbosity` was given (`console.quiet_tensorflow`)."""
    from keras_bert_zoo.console import quiet_tensorflow

    verbose = verbose_requested(flag_values)
    if not verbose:
        absl_logging.set_verbosity(absl_logging.WARNING)
    quiet_tensorflow(verbose=verbose)


def _parser(program, module_name):
    def parse(argv):
        if any(arg in ("-h", "--help", "-help", "--helpshort") for arg in argv[1:]):
            doc = (sys.modules[module_name].__doc__ or "").strip()
            print(f"usage: {program} [--flag=value ...]\n\n{doc}\n\nflags:")
            print(FLAGS.module_help(sys.modules[module_name]) or "  (none)")
            print("\n  -v N, --verbosity=N: library logs (TensorFlow, absl) at level N")
            sys.exit(0)
        try:
            return FLAGS(argv)
        except flags.Error as error:
            print(f"error: {error} (`{program} --help` lists the flags)", file=sys.stderr)
            sys.exit(2)

    return parse


def run(main, argv=None, program=None):
    """Runs a recipe's `main(argv)` as a command: flags parsed with `error: ...` lines for
    mistakes and `--help` listing the recipe's own flags."""
    argv = list(sys.argv if argv is None else argv)
    module_name = main.__module__
    program = program or argv[0]
    app.run(main, argv=argv, flags_parser=_parser(program, module_name))


def main(argv=None):
    """`kbz <command> [--flags]`."""
    argv = list(sys.argv if argv is None else argv)
    if len(argv) < 2 or argv[1] in ("-h", "--help", "help"):
        width = max(map(len, COMMANDS))
        print("usage: kbz <command> [--flag=value ...]   (kbz <command> --help: its flags)\n")
        print("commands:")
        for name, summary in COMMANDS.items():
            print(f"  {name:<{width}}  {summary}")
        return 0 if len(argv) >= 2 else 2
    command = argv[1]
    if command not in COMMANDS:
        print(f"error: unknown command {command!r}; choose one of {', '.join(COMMANDS)}",
              file=sys.stderr)
        return 2
    module = importlib.import_module(f"keras_bert_zoo.recipes.{_MODULES.get(command, command)}")
    run(module.main, argv=[f"kbz {command}", *argv[2:]])
    return 0


if __name__ == "__main__":
    sys.exit(main())
