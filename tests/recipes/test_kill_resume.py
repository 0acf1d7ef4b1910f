"""`kill -9` of a pretraining process, then the same command again: the run resumes from its
last checkpoint and ends with the weights of an uninterrupted run, bit for bit."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

HELPER = os.path.join(os.path.dirname(__file__), "..", "training", "run_pretrain.py")
TINY = json.dumps({"num_layers": 1, "hidden_dim": 32, "num_heads": 2, "intermediate_dim": 64})
TIMEOUT = 120  # seconds for any one run


def start(out, log_path, *helper_flags):
    """recipes/pretrain.py (through run_pretrain.py, which adds --step_delay and --dump)."""
    flags = ["--model=bert_tiny", f"--corpus={out.parent}/corpus/*.txt",
             f"--tokenizer_dir={out.parent}/tokenizer", f"--output_dir={out}",
             "--max_steps=20", "--warmup_steps=4", "--checkpoint_every=5", "--log_every=5",
             "--batch_size=8", "--seq_len=32", "--max_predictions_per_seq=5", "--dropout=0.1",
             "--jit_compile=false", f"--model_overrides={TINY}"]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONUNBUFFERED="1")
    return subprocess.Popen([sys.executable, HELPER, *helper_flags, "--", *flags],
                            stdout=open(log_path, "w"), stderr=subprocess.STDOUT, env=env,
                            start_new_session=True)


def kill(process):
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)


def finish(process, log_path):
    try:
        process.wait(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        pytest.fail("the run timed out:\n" + open(log_path).read()[-3000:])
    assert process.returncode == 0, open(log_path).read()[-3000:]


def load(path):
    with np.load(path) as weights:
        return [weights[f"arr_{i}"] for i in range(len(weights.files))]


@pytest.mark.slow
def test_sigkill_then_rerun_ends_with_the_uninterrupted_weights(tmp_path):
    from keras_bert_zoo.data.corpora import write_default_corpus
    from keras_bert_zoo.tokenizers import train_tokenizer

    paths = write_default_corpus(str(tmp_path / "corpus"), num_files=2, max_documents=60)
    train_tokenizer("bert", paths, 400).save(str(tmp_path / "tokenizer"))
    full, killed = tmp_path / "full", tmp_path / "killed"
    processes = []
    try:
        # The uninterrupted run and the run to kill (slowed, so the kill lands mid-run) side
        # by side.
        processes.append(start(full, tmp_path / "full.log", f"--dump={tmp_path}/full.npz"))
        processes.append(start(killed, tmp_path / "killed.log", "--step_delay=0.2"))
        state = killed / "checkpoints" / "checkpoint"  # written after the checkpoint's files
        deadline = time.monotonic() + TIMEOUT
        while not state.exists():
            assert processes[1].poll() is None, open(tmp_path / "killed.log").read()[-3000:]
            assert time.monotonic() < deadline, "no checkpoint in time"
            time.sleep(0.05)
        os.killpg(processes[1].pid, signal.SIGKILL)
        processes[1].wait(timeout=30)
        assert processes[1].returncode == -signal.SIGKILL
        assert not (killed / "checkpoints" / "ckpt-20.index").exists(), "not interrupted"
        assert not (killed / "backbone.keras").exists()

        log = tmp_path / "resumed.log"
        processes.append(start(killed, log, f"--dump={tmp_path}/resumed.npz"))
        finish(processes[2], log)
        assert "resuming from the checkpoint at step" in open(log).read()
        finish(processes[0], tmp_path / "full.log")
    finally:
        for process in processes:
            kill(process)

    full_weights, resumed_weights = load(tmp_path / "full.npz"), load(tmp_path / "resumed.npz")
    assert len(full_weights) == len(resumed_weights) > 0
    for i, (a, b) in enumerate(zip(full_weights, resumed_weights)):
        assert np.array_equal(a, b), f"weight {i}: max |dw| = {np.abs(a - b).max():.2e}"
