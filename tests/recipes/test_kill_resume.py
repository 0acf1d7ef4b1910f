"""`kill -9` of a pretraining process, then the same command again: the run resumes from its
last checkpoint and ends with the weights of an uninterrupted run, bit for bit."""

import os
import signal
import time

import numpy as np
import pytest

from tests.training.processes import TINY, kill, load, start, tail, wait_all

TIMEOUT = 600  # seconds for any one run: a guard against hangs, not a speed check


def start_run(out, log_path, *helper_flags):
    """recipes/pretrain.py (through run_pretrain.py, which adds --step_delay and --dump)."""
    flags = ["--model=bert_tiny", f"--corpus={out.parent}/corpus/*.txt",
             f"--tokenizer_dir={out.parent}/tokenizer", f"--output_dir={out}",
             "--max_steps=20", "--warmup_steps=4", "--checkpoint_every=5", "--log_every=5",
             "--batch_size=8", "--seq_len=32", "--max_predictions_per_seq=5", "--dropout=0.1",
             "--jit_compile=false", f"--model_overrides={TINY}"]
    return start(helper_flags, flags, log_path)


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
        processes.append(start_run(full, tmp_path / "full.log", f"--dump={tmp_path}/full.npz"))
        processes.append(start_run(killed, tmp_path / "killed.log", "--step_delay=0.2"))
        state = killed / "checkpoints" / "checkpoint"  # written after the checkpoint's files
        deadline = time.monotonic() + TIMEOUT
        while not state.exists():
            assert processes[1].poll() is None, tail(tmp_path / "killed.log")
            assert time.monotonic() < deadline, "no checkpoint in time"
            time.sleep(0.05)
        os.killpg(processes[1].pid, signal.SIGKILL)
        processes[1].wait(timeout=30)
        assert processes[1].returncode == -signal.SIGKILL
        assert not (killed / "checkpoints" / "ckpt-20.index").exists(), "not interrupted"
        assert not (killed / "backbone.keras").exists()

        log = tmp_path / "resumed.log"
        processes.append(start_run(killed, log, f"--dump={tmp_path}/resumed.npz"))
        wait_all(processes[2:], [log], timeout=TIMEOUT)
        assert "resuming from the checkpoint at step" in open(log).read()
        wait_all(processes[:1], [tmp_path / "full.log"], timeout=TIMEOUT)
    finally:
        for process in processes:
            kill(process)

    full_weights, resumed_weights = load(tmp_path / "full.npz"), load(tmp_path / "resumed.npz")
    assert len(full_weights) == len(resumed_weights) > 0
    for i, (a, b) in enumerate(zip(full_weights, resumed_weights)):
        assert np.array_equal(a, b), f"weight {i}: max |dw| = {np.abs(a - b).max():.2e}"
