"""Optional dependencies: imported where a feature needs them, with the extra to install
named when they are missing."""

import importlib

# extra -> the distributions it installs (setup.cfg's [options.extras_require]).
EXTRAS = {"viz": "matplotlib", "rouge": "rouge-score"}


def require(module, extra, feature):
    """Imports `module`, or raises ImportError naming the extra that installs it.

    Example:
    >>> require("json", "viz", "plotting").__name__
    'json'
    """
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ImportError(f"{feature} needs {EXTRAS.get(extra, module)}: "
                          f"pip install 'keras-bert-zoo[{extra}]'") from None
