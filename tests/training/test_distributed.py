"""Distributed pretraining on one CPU: Mirrored over 2 logical devices, MultiWorkerMirrored with
2 local worker processes, preemption and resume, mixed precision (bfloat16, float16 with dynamic
loss scaling) and XLA under a strategy.

Every run is a process (`run_pretrain.py` runs recipes/pretrain.py), since logical devices and
TF_CONFIG must be set before TensorFlow starts. All runs train the same tiny BERT with the same
seed and global batch 8 split into 2 data shards, without dropout, so the global batches (and
the updates) are the same whatever the devices.
"""

import json
import os
import signal
import socket
import time

import numpy as np
import pytest

from tests.training.processes import TINY, kill, load, start, tail, wait_all

TIMEOUT = 900  # seconds for any one run: a guard against hangs, not a speed check


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """A 4-file corpus and a 500-word vocabulary shared by every run."""
    from keras_bert_zoo.data.corpora import write_default_corpus
    from keras_bert_zoo.tokenizers import train_tokenizer

    root = tmp_path_factory.mktemp("distributed")
    paths = write_default_corpus(str(root / "corpus"), num_files=4, max_documents=400)
    train_tokenizer("bert", paths, 500).save(str(root / "tokenizer"))
    return root


def recipe_flags(data, output_dir, *extra, max_steps=6):
    return ["--model=bert_tiny", f"--corpus={data}/corpus/*.txt",
            f"--tokenizer_dir={data}/tokenizer", f"--output_dir={output_dir}",
            f"--max_steps={max_steps}", "--warmup_steps=2", "--checkpoint_every=3",
            "--log_every=3", "--batch_size=8", "--seq_len=32", "--max_predictions_per_seq=5",
            "--dropout=0", "--jit_compile=false", f"--model_overrides={TINY}", *extra]


def free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def cluster(n):
    workers = [f"127.0.0.1:{port}" for port in free_ports(n)]
    return [{"cluster": {"worker": workers}, "task": {"type": "worker", "index": i}}
            for i in range(n)]


def load_state(path):
    with open(path) as f:
        return json.load(f)


def max_difference(a, b):
    assert len(a) == len(b)
    difference = float(np.max([np.abs(x - y).max() for x, y in zip(a, b)]))  # keeps nan
    assert np.isfinite(difference), "non-finite weights"
    return difference


@pytest.fixture(scope="module")
def single_device(data):
    """The reference: one device, the global batch built from the same 2 shards."""
    out = data / "single"
    log = str(data / "single.log")
    wait_all([start(["--data_shards=2", f"--dump={data}/single.npz"],
                    recipe_flags(data, out, "--strategy=default"), log)], [log])
    return load(data / "single.npz")


@pytest.mark.slow
def test_mirrored_two_devices_equals_single_device(data, single_device):
    out = data / "mirrored"
    log = str(data / "mirrored.log")
    wait_all([start(["--logical_cpus=2", f"--dump={data}/mirrored.npz"],
                    recipe_flags(data, out, "--strategy=mirrored"), log)], [log])
    difference = max_difference(load(data / "mirrored.npz"), single_device)
    print(f"mirrored vs single device: max |dw| = {difference:.2e}")
    assert difference < 1e-5
    records = [json.loads(line) for line in open(out / "metrics.jsonl")]
    assert [r["step"] for r in records] == [3, 6]


@pytest.mark.slow
def test_mirrored_mixed_bfloat16_with_xla(data):
    out = data / "bf16"
    log = str(data / "bf16.log")
    flags = recipe_flags(data, out, "--strategy=mirrored", "--mixed_precision=bfloat16",
                         max_steps=3)
    flags = [f for f in flags if not f.startswith("--jit_compile")] + ["--jit_compile=true"]
    wait_all([start(["--logical_cpus=2"], flags, log)], [log])
    records = [json.loads(line) for line in open(out / "metrics.jsonl")]
    assert records[-1]["step"] == 3 and np.isfinite(records[-1]["loss"])


@pytest.mark.slow
def test_killed_worker_resumes_from_last_checkpoint(data, single_device, tmp_path):
    out = tmp_path / "run"  # shared by both workers, as on a cluster file system
    checkpoints = out / "checkpoints"
    flags = recipe_flags(data, out, "--strategy=multi_worker")
    logs = [str(tmp_path / f"worker{i}.log") for i in range(2)]
    configs = cluster(2)
    processes = []
    try:
        for i in range(2):  # slow steps, so that the kill lands mid-run
            processes.append(start(["--step_delay=1.0"], flags, logs[i], configs[i]))
        deadline = time.monotonic() + TIMEOUT
        state = checkpoints / "checkpoint"  # written after the checkpoint's files
        while not (state.exists() and "ckpt-3" in state.read_text()):
            assert time.monotonic() < deadline, tail(logs[0])
            assert all(p.poll() is None for p in processes), tail(logs[0]) + tail(logs[1])
            time.sleep(0.05)
        os.killpg(processes[1].pid, signal.SIGKILL)  # preempt worker 1
        # Worker 0's collectives now fail or hang: the job is restarted as a whole, as a
        # cluster manager does (Keras BackupAndRestore has the same contract).
        kill(processes[0])
    finally:
        for process in processes:
            kill(process)
    assert not (checkpoints / "ckpt-6.index").exists(), "the run was not interrupted"
    last = int(open(checkpoints / "checkpoint").read().split('"')[1].rsplit("-", 1)[1])
    assert last >= 3

    logs = [str(tmp_path / f"restart{i}.log") for i in range(2)]
    configs = cluster(2)
    processes = []
    try:
        for i in range(2):
            processes.append(start([f"--dump={tmp_path}/w{i}.npz"], flags, logs[i], configs[i]))
    finally:
        wait_all(processes, logs)
    for log in logs:
        assert f"resuming from the checkpoint at step {last}" in open(log).read()
    assert (checkpoints / "ckpt-6.index").exists()
    resumed = load(tmp_path / "w0.npz")
    assert max_difference(resumed, load(tmp_path / "w1.npz")) == 0.0
    # No completed step is lost or repeated: the end state is the uninterrupted run's.
    difference = max_difference(resumed, single_device)
    print(f"preempted and resumed vs uninterrupted: max |dw| = {difference:.2e}")
    assert difference < 1e-5


# float16: every run injects an overflow into the float16 backward pass of the *last* replica
# only (worker 1's under multi_worker, the whole batch on one device) in batch 2, after one
# normal update and with a nonzero learning rate. Summed gradients make every replica see it.
OVERFLOW_BATCH = 2
FLOAT16_RUNS = {  # name: (extra helper flags, extra recipe flags)
    "single": (["--data_shards=2"], ["--strategy=default"]),
    "mirrored": (["--logical_cpus=2"], ["--strategy=mirrored"]),
    "mirrored_xla": (["--logical_cpus=2"], ["--strategy=mirrored", "--jit_compile=true"]),
}
# float16 keeps 11 significant bits: two replicas round their half-batch partial weight
# gradients where one device rounds the full-batch sums (relative 2**-11 apart), and Adam
# divides by the gradient's running magnitude (update ~ lr * m / sqrt(v)), so for a near-zero
# gradient the rounding is a large part of the step. Measured largest differences: 1.6e-5 to
# 2.8e-5 (Mirrored, 2 workers), 3.1e-5 to 4.8e-5 (Mirrored with per-replica XLA, which fuses and
# rounds differently); 99.9% of the weights are within 5e-6. The bound stays below half the
# smallest update of a single step here (2.5e-4 at the first nonzero learning rate), so one run
# taking a step that the other skipped cannot pass.
FLOAT16_TOLERANCE = 1e-4


def float16_flags(data, output_dir, *extra):
    flags = recipe_flags(data, output_dir, "--mixed_precision=float16", *extra)
    if "--jit_compile=true" in extra:
        flags.remove("--jit_compile=false")
    return flags


@pytest.fixture(scope="module")
def float16_runs(data):
    """The float16 runs on one device and on 2 logical CPUs (with and without XLA), started
    together: {name: (weights, state)}."""
    logs = {name: str(data / f"float16_{name}.log") for name in FLOAT16_RUNS}
    processes = []
    try:
        for name, (helper, extra) in FLOAT16_RUNS.items():
            helper = [*helper, f"--overflow_batch={OVERFLOW_BATCH}",
                      f"--dump={data}/float16_{name}.npz", f"--state={data}/float16_{name}.json"]
            processes.append(start(helper, float16_flags(data, data / f"float16_{name}", *extra),
                                   logs[name]))
    finally:
        wait_all(processes, list(logs.values()))
    return {name: (load(data / f"float16_{name}.npz"), load_state(data / f"float16_{name}.json"))
            for name in FLOAT16_RUNS}


def check_float16_state(state, replicas):
    """Dynamic loss scaling was on, and every local replica holds the same state."""
    assert state["optimizer"] == "LossScaleOptimizer" and state["inner_optimizer"] == "AdamW"
    assert state["local_replicas"] == replicas
    assert state["trace"][0]["loss_scale"] == [2.0**15] * replicas  # Keras' dynamic default
    for record in state["trace"]:
        assert len(set(record["loss_scale"])) == 1, record  # one value on every replica
        assert record["finite"], record
    assert state["replica_spread"] == 0.0  # weights and slots identical on every replica


def check_skipped_overflow(state):
    """The batch with one replica's overflow changed nothing but the loss scale, halved."""
    before, overflow, after = state["trace"][OVERFLOW_BATCH - 1:OVERFLOW_BATCH + 2]
    assert before["max_update"] > 0  # a normal step came before (the learning rate is > 0)
    assert overflow["max_update"] == 0.0  # skipped on every replica: no weight moved
    assert overflow["iterations"] == before["iterations"]  # ... nor the optimizer step
    assert overflow["loss_scale"] == [s / 2 for s in before["loss_scale"]]
    assert after["max_update"] > 0 and after["iterations"] == before["iterations"] + 1


@pytest.mark.slow
@pytest.mark.parametrize("name", ["mirrored", "mirrored_xla"])
def test_mirrored_mixed_float16_equals_single_device(float16_runs, name):
    weights, state = float16_runs[name]
    single_weights, single_state = float16_runs["single"]
    check_float16_state(state, replicas=2)
    check_float16_state(single_state, replicas=1)
    assert all(np.isfinite(w).all() for w in weights)
    difference = max_difference(weights, single_weights)
    print(f"{name} float16 vs single device float16: max |dw| = {difference:.2e}")
    assert difference < FLOAT16_TOLERANCE
    # Same steps taken and skipped, same loss scale after each of them and at the end.
    assert [r["iterations"] for r in state["trace"]] == [
        r["iterations"] for r in single_state["trace"]]
    assert [r["loss_scale"][0] for r in state["trace"]] == [
        r["loss_scale"][0] for r in single_state["trace"]]


@pytest.mark.parametrize("name", ["single", "mirrored", "mirrored_xla"])
def test_float16_overflow_on_one_replica_skips_the_step_on_all(float16_runs, name):
    # Keras alone would take the finiteness of replica 0's partial gradients (finite here),
    # apply the update and sum replica 1's inf into every weight.
    check_skipped_overflow(float16_runs[name][1])


@pytest.mark.slow
def test_multi_worker_mixed_float16_equals_single_worker(data, float16_runs, tmp_path):
    """Two worker processes (recipes/pretrain.py with TF_CONFIG) equal each other exactly and
    one worker within the float16 tolerance; only the chief writes."""
    configs = cluster(2)
    logs = [str(tmp_path / f"worker{i}.log") for i in range(2)]
    scratch = [tmp_path / f"tmp{i}" for i in range(2)]
    # The worker writes under its own output_dir only if it (wrongly) writes at all.
    outputs = [tmp_path / "output", tmp_path / "worker1_output"]
    processes = []
    try:
        for i in range(2):
            scratch[i].mkdir()
            helper = [f"--overflow_batch={OVERFLOW_BATCH}", f"--dump={tmp_path}/w{i}.npz",
                      f"--state={tmp_path}/w{i}.json"]
            flags = float16_flags(data, outputs[i], "--strategy=multi_worker")
            processes.append(start(helper, flags, logs[i], configs[i], scratch[i]))
    finally:
        wait_all(processes, logs)
    assert (outputs[0] / "backbone.keras").exists() and (outputs[0] / "checkpoints").is_dir()
    assert not outputs[1].exists(), sorted(os.listdir(outputs[1]))
    assert not any(scratch[1].iterdir()), "worker scratch directories were not removed"
    single_weights, single_state = float16_runs["single"]
    chief, worker = load(tmp_path / "w0.npz"), load(tmp_path / "w1.npz")
    assert max_difference(chief, worker) == 0.0
    states = [load_state(tmp_path / f"w{i}.json") for i in range(2)]
    for state in states:
        check_float16_state(state, replicas=1)
        check_skipped_overflow(state)  # the overflow was on worker 1 only
        assert state["trace"] == states[0]["trace"]
    for key in ("iterations", "loss_scale"):  # same steps taken and skipped, same scale
        assert [r[key] for r in states[0]["trace"]] == [r[key] for r in single_state["trace"]]
    difference = max_difference(chief, single_weights)
    print(f"2 workers float16 vs single worker float16: max |dw| = {difference:.2e}")
    assert difference < FLOAT16_TOLERANCE
