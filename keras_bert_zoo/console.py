"""What the command line shows: progress, metrics and errors, not library noise.

Importing TensorFlow prints native log lines to the process' stderr before any Python setting
can reach them: CUDA probes on machines without a GPU ("Could not find cuda drivers", "failed
call to cuInit"), absl's "All log messages before absl::InitializeLog()" preamble and oneDNN /
CPU-feature notices. `quiet_tensorflow()` imports TensorFlow (and Keras, keras-hub, TF Text)
with the native stderr captured, drops those known lines and passes every other line through,
so a real error still shows. It also hides TensorFlow's INFO messages (savers' "Sharding
callback duration", "Assets written to ...") and warnings that do not concern a user of the
commands. With `verbose=True` nothing is hidden.

This module imports no TensorFlow itself: the commands call it after their flags are checked.
"""

import contextlib
import logging
import os
import re
import sys
import tempfile
import warnings

# Native lines printed while TensorFlow starts that say nothing about the user's run.
_NOISE = re.compile(
    r"All log messages before absl::InitializeLog|cudart_stub|cuda_platform|cuInit|"
    r"cuda_dnn|cuda_fft|cuda_blas|Unable to register cu(DNN|FFT|BLAS) factory|"
    r"computation placer already registered|oneDNN custom operations are on|"
    r"TF_ENABLE_ONEDNN_OPTS|cpu_feature_guard|rebuild TensorFlow with the appropriate|"
    r"To enable the following instructions|This TensorFlow binary is optimized|"
    r"TF-TRT Warning|Could not find TensorRT"
)

# Python warnings that a recipe's user cannot act on.
_IGNORED_WARNINGS = (
    (r".*`shuffle=True` was passed, but will be ignored.*", UserWarning),
    (r".*Your input ran out of data.*", UserWarning),
    (r".*Skipping variable loading for optimizer.*", UserWarning),
)


@contextlib.contextmanager
def filtered_native_stderr(keep=lambda line: not _NOISE.search(line)):
    """Captures file descriptor 2 (native and Python stderr) for the block, then writes back
    the lines `keep` accepts."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            text = capture.read().decode("utf-8", errors="replace")
            kept = [line for line in text.splitlines() if line.strip() and keep(line)]
            if kept:
                print("\n".join(kept), file=sys.stderr, flush=True)


def quiet_tensorflow(verbose=False):
    """Imports TensorFlow, Keras, keras-hub and TF Text without their start-up noise, and
    hides TensorFlow's INFO logs and inapplicable warnings; `verbose=True` hides nothing.

    Example::

        quiet_tensorflow(verbose="-v" in sys.argv)
    """
    if verbose:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # native INFO and WARNING lines
    with filtered_native_stderr():
        import tensorflow as tf

        tf.config.list_physical_devices()  # the CUDA probe runs here, once per process
        import keras  # noqa: F401
        import keras_hub  # noqa: F401
        import tensorflow_text  # noqa: F401
    tf.get_logger().setLevel(logging.ERROR)
    logging.getLogger("absl").setLevel(logging.WARNING)
    logging.getLogger("matplotlib").setLevel(logging.ERROR)  # e.g. "building the font cache"
    for message, category in _IGNORED_WARNINGS:
        warnings.filterwarnings("ignore", message=message, category=category)
