"""`kill -9` of a pretraining process, then the same command again: the run resumes from its
last checkpoint and ends with the weights of an uninterrupted run, bit for bit.

The uninterrupted run and the rerun build the real input pipeline, each in a fresh process, so
the rerun's data position comes from the pipeline itself. The run that is killed only has to
leave a checkpoint: it follows the uninterrupted run in the same process and replays the
batches that run recorded (`run_pretrain.py --replay`), which saves a TensorFlow start-up and
a pipeline build. The rerun's process starts at once and waits, after its imports, for the kill.
"""

import os
import signal
import time

import numpy as np
import pytest

from tests.training.processes import TINY, kill, load, start, tail, wait_all

TIMEOUT = 600  # seconds for any one run: a guard against hangs, not a speed check


def recipe_flags(out):
    """recipes/pretrain.py's flags (run_pretrain.py adds --step_delay, --dump, ...)."""
    return ["--model=bert_tiny", f"--corpus={out.parent}/corpus/*.txt",
            f"--tokenizer_dir={out.parent}/tokenizer", f"--output_dir={out}",
            "--max_steps=20", "--warmup_steps=4", "--checkpoint_every=5", "--log_every=5",
            "--batch_size=8", "--seq_len=32", "--max_predictions_per_seq=5", "--dropout=0.1",
            "--jit_compile=false", f"--model_overrides={TINY}"]


@pytest.mark.slow
def test_sigkill_then_rerun_ends_with_the_uninterrupted_weights(tmp_path):
    from keras_bert_zoo.data.corpora import write_default_corpus
    from keras_bert_zoo.tokenizers import train_tokenizer

    paths = write_default_corpus(str(tmp_path / "corpus"), num_files=2, max_documents=60)
    train_tokenizer("bert", paths, 400).save(str(tmp_path / "tokenizer"))
    full, killed = tmp_path / "full", tmp_path / "killed"
    batches, killed_log = tmp_path / "batches.npz", tmp_path / "full_then_killed.log"
    go, log = tmp_path / "killed.done", tmp_path / "resumed.log"
    processes = []
    try:
        # The uninterrupted run, then the run to kill (slowed, so the kill lands mid-run).
        processes.append(start([f"--record={batches}", f"--dump={tmp_path}/full.npz"],
                               recipe_flags(full), killed_log,
                               then=[([f"--replay={batches}", "--step_delay=0.2"],
                                      recipe_flags(killed))]))
        # The rerun: the same command as the killed run's, in a new process.
        processes.append(start([f"--wait_for={go}", f"--dump={tmp_path}/resumed.npz"],
                               recipe_flags(killed), log))
        state = killed / "checkpoints" / "checkpoint"  # written after the checkpoint's files
        deadline = time.monotonic() + 2 * TIMEOUT
        while not state.exists():
            assert processes[0].poll() is None, tail(killed_log)
            assert time.monotonic() < deadline, "no checkpoint in time"
            time.sleep(0.05)
        os.killpg(processes[0].pid, signal.SIGKILL)
        processes[0].wait(timeout=30)
        assert processes[0].returncode == -signal.SIGKILL
        assert not (killed / "checkpoints" / "ckpt-20.index").exists(), "not interrupted"
        assert not (killed / "backbone.keras").exists()

        go.touch()
        wait_all(processes[1:], [log], timeout=TIMEOUT)
        assert "resuming from the checkpoint at step" in open(log).read()
    finally:
        for process in processes:
            kill(process)

    full_weights, resumed_weights = load(tmp_path / "full.npz"), load(tmp_path / "resumed.npz")
    assert len(full_weights) == len(resumed_weights) > 0
    for i, (a, b) in enumerate(zip(full_weights, resumed_weights)):
        assert np.array_equal(a, b), f"weight {i}: max |dw| = {np.abs(a - b).max():.2e}"
