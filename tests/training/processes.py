"""Pretraining runs as processes (`run_pretrain.py` runs recipes/pretrain.py), for the tests that
need fresh TensorFlow runtimes: logical devices, TF_CONFIG workers, kill -9 and resume."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

HELPER = os.path.join(os.path.dirname(__file__), "run_pretrain.py")
TINY = json.dumps({"num_layers": 1, "hidden_dim": 32, "num_heads": 2, "intermediate_dim": 64})


def start(helper_flags, flags, log_path, tf_config=None, tmpdir=None, then=()):
    """Starts `run_pretrain.py HELPER_FLAGS -- FLAGS [--then ...]` in its own process group,
    logging to a file.

    Args:
        helper_flags: run_pretrain.py's own flags (--logical_cpus, --step_delay, --dump, ...).
        flags: recipes/pretrain.py flags.
        tf_config: the worker's TF_CONFIG (None: no TF_CONFIG, even if the tests have one).
        tmpdir: where the process's scratch directories go.
        then: `(helper_flags, flags)` of more runs, in this process after the first one.
    """
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONUNBUFFERED="1")
    env.pop("TF_CONFIG", None)
    if tf_config is not None:
        env["TF_CONFIG"] = json.dumps(tf_config)
    if tmpdir is not None:
        env["TMPDIR"] = str(tmpdir)
    argv = [*helper_flags, "--", *flags]
    for more_helper_flags, more_flags in then:
        argv += ["--then", *more_helper_flags, "--", *more_flags]
    log = open(log_path, "w")
    return subprocess.Popen([sys.executable, HELPER, *argv], stdout=log,
                            stderr=subprocess.STDOUT, env=env, start_new_session=True)


def kill(process):
    """kill -9 of the process group, if it still runs."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)


def wait_all(processes, logs, timeout=900):
    """Waits for every process (killing all of them on timeout); asserts they succeeded."""
    deadline = time.monotonic() + timeout
    try:
        for process in processes:
            process.wait(timeout=max(1.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        pytest.fail("a run timed out:\n" + "\n".join(tail(log) for log in logs))
    finally:
        for process in processes:
            kill(process)
    for process, log in zip(processes, logs):
        assert process.returncode == 0, tail(log)


def wait_for_file(path, process, log, timeout=900):
    """Waits until `process` has written `path` (a file that appears complete at once); fails
    with the end of its log if the process ends without it."""
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if process.poll() is not None and not os.path.exists(path):
            pytest.fail(f"{path} was not written (exit code {process.returncode}):\n{tail(log)}")
        if time.monotonic() > deadline:
            pytest.fail(f"{path} was not written in time:\n{tail(log)}")
        time.sleep(0.1)


def tail(log, n=3000):
    return open(log).read()[-n:]


def load(path):
    """The weights a run dumped with --dump, in order."""
    with np.load(path) as f:
        return [f[f"arr_{i}"] for i in range(len(f.files))]
