"""Data-parallel training: two processes launched by torchrun (gloo, CPU) end
with the weights of single-process training on the same global batches.

Run as a script, this module is the program that torchrun starts in every
process (``python -m torch.distributed.run ... test_distributed.py OUT``).
"""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from sklm.neural import GRULM, LSTMLM
from sklm.neural._batching import training_batches
from sklm.neural._distributed import DataParallel, context, launched
from sklm.neural.callbacks import Callback, Checkpoint

# Samples of unequal lengths, so that the two halves of a batch hold unequal
# token counts (the loss is normalised by the global batch's count), five
# samples a batch so that they split 3 + 2, a last batch of one sample (the
# second process holds only padding), and one document long enough to be cut
# into parallel streams.
WORDS = "the cat dog sat ran on a mat log bird sang saw after".split()
_rng = np.random.RandomState(7)
CORPUS = [" ".join(_rng.choice(WORDS, size=n)) for n in _rng.randint(1, 12, size=16)]
CORPUS.append(" ".join(_rng.choice(WORDS, size=260)))

PARAMS = dict(
    embedding_dim=8,
    hidden_size=12,
    batch_size=5,
    bptt=4,
    max_epochs=2,
    dropout=0.0,
    random_state=0,
    device="cpu",
    n_threads=1,
)

# float32 sums in another order (each process sums its share, then the
# shares are summed) over 2 epochs of Adam steps: the largest difference
# measured is 3e-8; the bound leaves a factor of 30.
ATOL = 1e-6


class MarkingCheckpoint(Checkpoint):
    """A checkpoint that also leaves a mark naming the rank that wrote it."""

    def __init__(self, path, marks):
        super().__init__(path)
        self.marks = marks

    def on_epoch_end(self, model, state):
        Path(self.marks, f"wrote-{os.environ['RANK']}").touch()
        super().on_epoch_end(model, state)


class RecordRows(Callback):
    """Keeps the samples of every step, in the order the steps ran."""

    def on_train_begin(self, model, state):
        self.rows = getattr(self, "rows", [])

    def on_batch_end(self, model, state):
        self.rows.append([int(r) for r in state.batch["rows"]])


def _worker(out):
    rank = int(os.environ["RANK"])
    # ProgressBar writes to sys.stderr as it is when it writes.
    sys.stderr = open(out / f"stderr-{rank}.txt", "w", buffering=1)
    lm = LSTMLM(**PARAMS, verbose=1, callbacks=[MarkingCheckpoint(out / "ckpt.pt", out)])
    lm.fit(CORPUS)
    torch.save(lm.module_.state_dict(), out / f"weights-{rank}.pt")
    (out / f"history-{rank}.json").write_text(json.dumps(lm.history_))
    # What the comparison above leaves out: no seed given (rank 0's is
    # shared), an adaptive softmax (clusters unused by a step), dropout, a
    # validation split, and partial_fit.
    record = RecordRows()
    other = dict(PARAMS, softmax="adaptive", dropout=0.2, random_state=None, callbacks=[record])
    fitted = GRULM(**dict(other, early_stopping=True, max_epochs=3)).fit(CORPUS)
    stream = GRULM(**other).partial_fit(CORPUS[:9]).partial_fit(CORPUS[9:])
    torch.save(
        {"fitted": fitted.module_.state_dict(), "stream": stream.module_.state_dict()},
        out / f"other-{rank}.pt",
    )
    (out / f"rows-{rank}.json").write_text(json.dumps(record.rows))
    # Both processes leave together: a process torn down while its peer's
    # gloo threads still talk to it can abort at exit.
    torch.distributed.barrier()
    torch.distributed.destroy_process_group()
    sys.stderr.close()


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def launched_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp")
    env = dict(os.environ, OMP_NUM_THREADS="1", GLOO_SOCKET_IFNAME="lo")
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(name, None)
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join([root, env.get("PYTHONPATH", "")])
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nnodes",
        "1",
        "--nproc_per_node",
        "2",
        "--master_addr",
        "127.0.0.1",
        "--master_port",
        str(_free_port()),
        __file__,
        str(out),
    ]
    # The timeout only guards against a hang; nothing is asserted on time.
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    logs = "".join(f"\n--- {p.name}\n{p.read_text()}" for p in sorted(out.glob("stderr-*.txt")))
    assert done.returncode == 0, done.stdout + done.stderr + logs
    return out


def test_two_processes_end_with_the_single_process_weights(launched_run):
    reference = LSTMLM(**PARAMS).fit(CORPUS)
    expected = reference.module_.state_dict()
    weights = [torch.load(launched_run / f"weights-{r}.pt") for r in (0, 1)]
    # Every process holds the same network: the gradients are averaged.
    for name in expected:
        assert torch.equal(weights[0][name], weights[1][name]), name
    differences = {
        name: float((weights[0][name] - value).abs().max()) for name, value in expected.items()
    }
    assert max(differences.values()) <= ATOL, differences
    # Training moved the weights far beyond the tolerance: the check has teeth.
    initial = LSTMLM(**{**PARAMS, "max_epochs": 1, "learning_rate": 1e-12}).fit(CORPUS)
    moved = max(
        float((value - initial.module_.state_dict()[name]).abs().max())
        for name, value in expected.items()
    )
    assert moved > 100 * ATOL


def test_the_history_is_the_global_one(launched_run):
    reference = LSTMLM(**PARAMS).fit(CORPUS).history_
    for r in (0, 1):
        history = json.loads((launched_run / f"history-{r}.json").read_text())
        assert [h["tokens"] for h in history] == [h["tokens"] for h in reference]
        np.testing.assert_allclose(
            [h["train_loss"] for h in history], [h["train_loss"] for h in reference], rtol=1e-5
        )


def test_only_rank_zero_writes_and_logs(launched_run):
    assert (launched_run / "wrote-0").exists()
    assert not (launched_run / "wrote-1").exists()
    saved = torch.load(launched_run / "ckpt.pt", weights_only=True)
    assert saved["epoch"] == PARAMS["max_epochs"]
    assert "epoch 2/2 train loss" in (launched_run / "stderr-0.txt").read_text()
    assert "epoch" not in (launched_run / "stderr-1.txt").read_text()


def test_unseeded_adaptive_dropout_and_partial_fits_stay_in_step(launched_run):
    # Every process drew the same batch order (rank 0's seed) and ends with
    # the same network.
    rows = [json.loads((launched_run / f"rows-{r}.json").read_text()) for r in (0, 1)]
    assert rows[0] == rows[1] and len(rows[0]) > 0
    weights = [torch.load(launched_run / f"other-{r}.pt") for r in (0, 1)]
    for kind in ("fitted", "stream"):
        for name, value in weights[0][kind].items():
            assert torch.equal(value, weights[1][kind][name]), (kind, name)


def test_the_shares_of_a_batch_are_its_columns():
    lm = LSTMLM(**PARAMS).fit(CORPUS)
    corpus = lm._encode(CORPUS, eos=True)
    bos = lm.module_.bos_id
    batches = training_batches(corpus, bos, batch_size=5, bptt=4, device=torch.device("cpu"))
    shares = [DataParallel(r, 2, torch.device("cpu")).shard(batches, bos) for r in (0, 1)]
    for b, batch in enumerate(batches):
        for k, window in enumerate(batch.windows):
            parts = [s[b].windows[k] for s in shares]
            assert all(p.n_tokens == window.n_tokens for p in parts)
            assert sum(p.local_tokens for p in parts) == window.n_tokens
            steps = window.inputs.shape[0]
            if window.inputs.shape[1] == 1:
                # One column: the second process holds padding only.
                assert parts[1].local_tokens == 0 and bool((parts[1].targets == -1).all())
                parts = parts[:1]
            inputs = torch.cat([p.inputs for p in parts], dim=1)
            targets = torch.cat([p.targets.view(steps, -1) for p in parts], dim=1)
            assert torch.equal(inputs, window.inputs)
            assert torch.equal(targets.reshape(-1), window.targets)


def test_one_process_without_a_launcher_trains_alone(monkeypatch):
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    assert not launched()
    assert context(torch.device("cpu")) is None
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "1")
    monkeypatch.setenv("LOCAL_RANK", "0")
    assert not launched()  # a world of one process needs no process group


if __name__ == "__main__":
    _worker(Path(sys.argv[1]))
