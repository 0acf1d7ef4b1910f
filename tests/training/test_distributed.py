"""Distributed pretraining on one CPU: Mirrored over 2 logical devices, MultiWorkerMirrored with
2 local worker processes, preemption and resume, mixed precision (bfloat16, float16 with dynamic
loss scaling) and XLA under a strategy.

Every run is recipes/pretrain.py, run by `run_pretrain.py` in a process started for the test,
since logical devices and TF_CONFIG must be set before TensorFlow starts: each worker has a
process of its own, and the runs on one device and on 2 logical CPUs go one after the other in
one process (`LocalRuns`), started with the module, which goes on while the worker tests run.
All runs train the same tiny BERT with the same seed and global batch 8 split into 2 data
shards, without dropout, so the global batches (and the updates) are the same whatever the
devices.

Only the reference run on one device builds the real input pipelines (one per shard); it records
their batches and every other run replays them (`run_pretrain.py --replay`, which checks that
the recipe asks for the same shards with the same arguments). The global batch's sharding, its
distribution over replicas and workers and the skipping on resume run as usual. Building and
starting the pipelines is most of the cost of a run this small; a replayed run trains on
exactly the batches that its own pipelines would give it.
"""

import json
import os
import signal
import socket
import time

import numpy as np
import pytest

from tests.training.processes import (
    TINY,
    kill,
    load,
    start,
    tail,
    wait_all,
    wait_for_file,
)

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


# float16: every run injects an overflow into the float16 backward pass of the *last* replica
# only (worker 1's under multi_worker, the whole batch on one device) in batch 2, after one
# normal update and with a nonzero learning rate. Summed gradients make every replica see it.
OVERFLOW_BATCH = 2
# float16 keeps 11 significant bits: two replicas round their half-batch partial weight
# gradients where one device rounds the full-batch sums (relative 2**-11 apart), and Adam
# divides by the gradient's running magnitude (update ~ lr * m / sqrt(v)), so for a near-zero
# gradient the rounding is a large part of the step. Measured largest differences: 1.6e-5 to
# 2.8e-5 (Mirrored, 2 workers), 3.1e-5 to 4.8e-5 (Mirrored with per-replica XLA, which fuses and
# rounds differently); 99.9% of the weights are within 5e-6. The bound stays below half the
# smallest update of a single step here (2.5e-4 at the first nonzero learning rate), so one run
# taking a step that the other skipped cannot pass.
FLOAT16_TOLERANCE = 1e-4
FLOAT16_NAMES = ("single", "mirrored", "mirrored_xla")


def float16_flags(data, output_dir, *extra):
    flags = recipe_flags(data, output_dir, "--mixed_precision=float16", *extra)
    if "--jit_compile=true" in extra:
        flags.remove("--jit_compile=false")
    return flags


def float16_helper(prefix):
    return [f"--overflow_batch={OVERFLOW_BATCH}", f"--dump={prefix}.npz",
            f"--state={prefix}.json"]


class LocalRuns:
    """The runs on one device and on 2 logical CPUs, one after the other in one process started
    with the module: the reference (which records the batches), then the float16 reference that
    the worker test needs, then the rest. `wait(*paths)` returns once the runs wrote them."""

    def __init__(self, data):
        self.data, self.log = data, str(data / "local.log")
        self.batches = data / "batches.npz"
        replay = f"--replay={self.batches}"
        runs = [  # (run_pretrain.py flags, recipe flags)
            ([f"--record={self.batches}", "--data_shards=2", f"--dump={data}/single.npz"],
             recipe_flags(data, data / "single", "--strategy=default")),
            ([replay, "--data_shards=2", *float16_helper(data / "float16_single")],
             float16_flags(data, data / "float16_single", "--strategy=default")),
            ([replay, f"--dump={data}/mirrored.npz"],
             recipe_flags(data, data / "mirrored", "--strategy=mirrored")),
            ([replay, f"--dump={data}/bf16.npz"],
             [f for f in recipe_flags(data, data / "bf16", "--strategy=mirrored",
                                      "--mixed_precision=bfloat16", max_steps=3)
              if f != "--jit_compile=false"] + ["--jit_compile=true"]),
            ([replay, *float16_helper(data / "float16_mirrored")],
             float16_flags(data, data / "float16_mirrored", "--strategy=mirrored")),
            ([replay, *float16_helper(data / "float16_mirrored_xla")],
             float16_flags(data, data / "float16_mirrored_xla", "--strategy=mirrored",
                           "--jit_compile=true")),
        ]
        (first_helper, first_flags), *then = runs
        self.process = start(["--logical_cpus=2", *first_helper], first_flags, self.log,
                             then=then)
        self.timeout = TIMEOUT * len(runs)

    def wait(self, *paths):
        for path in paths:
            wait_for_file(path, self.process, self.log, timeout=self.timeout)

    def weights(self, name):
        self.wait(self.data / f"{name}.npz")
        return load(self.data / f"{name}.npz")

    def float16(self, name):
        """(weights, state) of the float16 run `name`."""
        prefix = self.data / f"float16_{name}"
        self.wait(f"{prefix}.json")
        return self.weights(f"float16_{name}"), load_state(f"{prefix}.json")


@pytest.fixture(scope="module")
def local(data):
    runs = LocalRuns(data)
    yield runs
    kill(runs.process)  # if it still runs: the module stopped early


@pytest.fixture(scope="module")
def float16_runs(local):
    """The float16 runs on one device and on 2 logical CPUs (with and without XLA):
    {name: (weights, state)}."""
    return {name: local.float16(name) for name in FLOAT16_NAMES}


@pytest.mark.slow
def test_killed_worker_resumes_from_last_checkpoint(data, local, tmp_path):
    out = tmp_path / "run"  # shared by both workers, as on a cluster file system
    checkpoints = out / "checkpoints"
    flags = recipe_flags(data, out, "--strategy=multi_worker")
    replay = [f"--replay={local.batches}"]
    logs = [str(tmp_path / f"worker{i}.log") for i in range(2)]
    local.wait(local.batches)
    configs = cluster(2)  # just before the workers start: the ports must stay free
    processes = []
    try:
        for i in range(2):  # slow steps, so that the kill lands mid-run
            processes.append(start([*replay, "--step_delay=1.0"], flags, logs[i], configs[i]))
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
            processes.append(start([*replay, f"--dump={tmp_path}/w{i}.npz"], flags, logs[i],
                                   configs[i]))
    finally:
        wait_all(processes, logs)
    for log in logs:
        assert f"resuming from the checkpoint at step {last}" in open(log).read()
    assert (checkpoints / "ckpt-6.index").exists()
    resumed = load(tmp_path / "w0.npz")
    assert max_difference(resumed, load(tmp_path / "w1.npz")) == 0.0
    # No completed step is lost or repeated: the end state is the uninterrupted run's.
    difference = max_difference(resumed, local.weights("single"))
    print(f"preempted and resumed vs uninterrupted: max |dw| = {difference:.2e}")
    assert difference < 1e-5


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
def test_multi_worker_mixed_float16_equals_single_worker(data, local, tmp_path):
    """Two worker processes (recipes/pretrain.py with TF_CONFIG) equal each other exactly and
    one worker within the float16 tolerance; only the chief writes."""
    logs = [str(tmp_path / f"worker{i}.log") for i in range(2)]
    scratch = [tmp_path / f"tmp{i}" for i in range(2)]
    # The worker writes under its own output_dir only if it (wrongly) writes at all.
    outputs = [tmp_path / "output", tmp_path / "worker1_output"]
    local.wait(local.batches)
    configs = cluster(2)
    processes = []
    try:
        for i in range(2):
            scratch[i].mkdir()
            helper = [f"--replay={local.batches}", *float16_helper(tmp_path / f"w{i}")]
            flags = float16_flags(data, outputs[i], "--strategy=multi_worker")
            processes.append(start(helper, flags, logs[i], configs[i], scratch[i]))
    finally:
        wait_all(processes, logs)
    assert (outputs[0] / "backbone.keras").exists() and (outputs[0] / "checkpoints").is_dir()
    assert not outputs[1].exists(), sorted(os.listdir(outputs[1]))
    assert not any(scratch[1].iterdir()), "worker scratch directories were not removed"
    single_weights, single_state = local.float16("single")
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


@pytest.mark.slow
def test_mirrored_two_devices_equals_single_device(data, local):
    difference = max_difference(local.weights("mirrored"), local.weights("single"))
    print(f"mirrored vs single device: max |dw| = {difference:.2e}")
    assert difference < 1e-5
    records = [json.loads(line) for line in open(data / "mirrored" / "metrics.jsonl")]
    assert [r["step"] for r in records] == [3, 6]


@pytest.mark.slow
def test_mirrored_mixed_bfloat16_with_xla(data, local):
    weights = local.weights("bf16")
    records = [json.loads(line) for line in open(data / "bf16" / "metrics.jsonl")]
    assert records[-1]["step"] == 3 and np.isfinite(records[-1]["loss"])
    assert all(np.isfinite(w).all() for w in weights)


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


@pytest.mark.parametrize("name", FLOAT16_NAMES)
def test_float16_overflow_on_one_replica_skips_the_step_on_all(float16_runs, name):
    # Keras alone would take the finiteness of replica 0's partial gradients (finite here),
    # apply the update and sum replica 1's inf into every weight.
    check_skipped_overflow(float16_runs[name][1])
