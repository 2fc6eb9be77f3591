"""Data-parallel training across processes: ``torch.distributed`` and DDP.

A script launched by ``torchrun`` (or any launcher that sets ``RANK``,
``WORLD_SIZE`` and ``LOCAL_RANK``, or that initialised the process group
itself) trains data-parallel with an unchanged ``fit``. Every process reads
the same ``X``, learns the same vocabulary and builds the same global
batches in the same order (the seed is rank 0's); each process then trains
on its contiguous share of the columns of every global batch, and
:class:`~torch.nn.parallel.DistributedDataParallel` averages the gradients.

Each process's loss is its sum of token losses divided by the token count of
the *global* batch (times the number of processes, which DDP's average
divides out), so the averaged gradient is the gradient of the global batch's
mean loss whatever the share of each process: training is the
single-process training on the same global batches, up to the order of
float32 sums.
"""

import atexit
import os
from numbers import Integral
from typing import NamedTuple

import numpy as np
import torch
from sklearn.utils import check_random_state
from torch import distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from ._batching import Batch
from .callbacks import Callback, Checkpoint, ProgressBar

#: The variables ``torchrun`` sets in every process it starts.
LAUNCH_VARIABLES = ("RANK", "WORLD_SIZE", "LOCAL_RANK")


def launched():
    """Whether a launcher such as ``torchrun`` started this process as one of several."""
    if not all(name in os.environ for name in LAUNCH_VARIABLES):
        return False
    return int(os.environ["WORLD_SIZE"]) > 1


def rank():
    """This process's rank: 0 when not distributed (the process that writes and logs)."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank()
    if launched():
        return int(os.environ["RANK"])
    return 0


def context(device):
    """The :class:`DataParallel` context of a fit, or None for one process.

    Initialises the default process group when the launcher's variables are
    set and no group exists yet: NCCL on CUDA, gloo otherwise, from the
    ``env://`` variables (``MASTER_ADDR``, ``MASTER_PORT``). The group then
    lives as long as the process, so that later fits reuse it.
    """
    if not dist.is_available():
        return None
    if not dist.is_initialized():
        if not launched():
            return None
        if device.type == "cuda":
            torch.cuda.set_device(_local_device(device))
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        atexit.register(_destroy)
    if dist.get_world_size() < 2:
        return None
    return DataParallel(dist.get_rank(), dist.get_world_size(), _local_device(device))


def _destroy():
    if dist.is_initialized():
        dist.destroy_process_group()


def _local_device(device):
    # device="auto" or "cuda" names no GPU: each process takes its own.
    if device.type == "cuda" and device.index is None:
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    return device


class ShardWindow(NamedTuple):
    """One process's share of a :class:`~sklm.neural._batching.Window`.

    ``inputs`` and ``targets`` are this process's columns; ``n_tokens`` counts
    the real targets of the whole global window (what the history and the
    progress report), ``local_tokens`` those of this share.
    """

    inputs: torch.Tensor
    targets: torch.Tensor
    n_tokens: int
    local_tokens: int


class _NetLoss(nn.Module):
    """The network and its loss in one forward, as DDP wants them.

    Every parameter takes part in every step (with a zero weight where the
    step does not use it: an adaptive-softmax cluster with no target here, or
    a share that is all padding), so that DDP's gradient buckets fill on
    every process without searching the graph for unused parameters.
    """

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, inputs, hidden, targets, weight):
        output, hidden = self.net(inputs, hidden)
        if weight:
            loss = self.net.loss(output.reshape(-1, output.shape[-1]), targets) * weight
        else:
            loss = output.sum() * 0.0
        touch = sum(p.reshape(-1)[:1].sum() for p in self.net.parameters())
        return loss + touch * 0.0, hidden


class DataParallel:
    """What a fit needs to know of the process group, and the steps it adds.

    Parameters
    ----------
    rank, world_size : int
    device : torch.device
        This process's device.
    """

    def __init__(self, rank, world_size, device):
        self.rank = rank
        self.world_size = world_size
        self.device = device
        self.ddp = None

    @property
    def main(self):
        """Whether this is rank 0, the one process that writes files and logs."""
        return self.rank == 0

    def _tensor(self, values, dtype=torch.float64):
        # NCCL reduces device tensors only; gloo takes either.
        return torch.tensor(values, dtype=dtype, device=self.device)

    def shared_random_state(self, random_state):
        """``random_state`` as every process must use it: rank 0's draw.

        An int is the same everywhere already; None or a ``RandomState``
        differs between processes, so rank 0 draws a seed and sends it.
        """
        if isinstance(random_state, Integral):
            return random_state
        seed = 0
        if self.main:
            seed = int(check_random_state(random_state).randint(np.iinfo(np.int32).max))
        value = self._tensor([seed], dtype=torch.int64)
        dist.broadcast(value, src=0)
        return int(value.item())

    def wrap(self, module):
        """Wrap ``module`` (with its loss) in DDP; rank 0's weights are sent to all."""
        net_loss = _NetLoss(module)
        device_ids = [self.device.index] if self.device.type == "cuda" else None
        self.ddp = DistributedDataParallel(net_loss, device_ids=device_ids)
        return self.ddp

    def shard(self, batches, bos_id):
        """This process's contiguous share of the columns of every batch.

        A batch of fewer columns than processes leaves some processes a
        single column of padding: they take part in the step (DDP needs every
        process) with a loss of weight zero.
        """
        shards = []
        for batch in batches:
            n_cols = int(batch.windows[0].inputs.shape[1])
            cols = np.array_split(np.arange(n_cols), self.world_size)[self.rank]
            windows = []
            for window in batch.windows:
                steps = int(window.inputs.shape[0])
                if len(cols):
                    lo, hi = int(cols[0]), int(cols[-1]) + 1
                    inputs = window.inputs[:, lo:hi].contiguous()
                    targets = window.targets.view(steps, n_cols)[:, lo:hi].reshape(-1)
                    local = int(torch.count_nonzero(targets >= 0))
                else:
                    inputs = window.inputs.new_full((steps, 1), bos_id)
                    targets = window.targets.new_full((steps,), -1)
                    local = 0
                windows.append(ShardWindow(inputs, targets, window.n_tokens, local))
            shards.append(Batch(batch.rows, windows, batch.streams))
        return shards

    def forward(self, window, hidden):
        """The loss to back-propagate on this share, and the new state.

        The share's mean loss weighted by ``local_tokens / n_tokens *
        world_size``: DDP's average of the gradients is then the gradient of
        the global window's mean loss.
        """
        weight = window.local_tokens / max(window.n_tokens, 1) * self.world_size
        return self.ddp(window.inputs, hidden, window.targets, weight)

    def mean_loss(self, loss):
        """The global window's mean loss, from every process's weighted share."""
        total = loss.detach().double() / self.world_size
        dist.all_reduce(total)
        return total.float()

    def agree(self, *flags):
        """Each flag True on every process when it is True on any (a stop, a
        time limit), so that all processes leave their loops together."""
        values = self._tensor([float(bool(f)) for f in flags])
        dist.all_reduce(values, op=dist.ReduceOp.MAX)
        return tuple(bool(v) for v in values.tolist())

    def quiet(self, callbacks):
        """The callbacks of a process other than rank 0: no file written, no log.

        A :class:`~sklm.neural.callbacks.Checkpoint` still resumes (every
        process reads the file) but only rank 0 writes it; a
        :class:`~sklm.neural.callbacks.ProgressBar` is left out. Placeholders
        keep the positions of the others (a checkpoint saves callback states
        by position).
        """
        if self.main:
            return callbacks
        out = []
        for cb in callbacks:
            if isinstance(cb, ProgressBar):
                out.append(Callback())
            elif isinstance(cb, Checkpoint):
                out.append(_ResumeOnly(cb))
            else:
                out.append(cb)
        return out


class _ResumeOnly:
    """A checkpoint on a process other than rank 0: it resumes, never writes."""

    def __init__(self, checkpoint):
        self.checkpoint = checkpoint

    def on_train_begin(self, model, state):
        self.checkpoint.on_train_begin(model, state)

    def on_batch_end(self, model, state):
        pass

    def on_epoch_end(self, model, state):
        pass

    def on_train_end(self, model, state):
        pass

    def __repr__(self):
        return f"{self.checkpoint!r} (rank {rank()}: resumes only)"
