"""What ``partial_fit`` carries from one call to the next.

A fit builds a new optimizer, a new schedule and a new random stream; a
sequence of ``partial_fit`` calls must instead continue them, so that it
trains as one ``fit`` over the same epochs would. :class:`Carry` is the
private callback that, last of all, saves them at the end of every epoch and
puts them back at the start of the next call.
"""

import copy

import torch

from .callbacks import Callback


def _to_cpu(value):
    # Carried state is kept (and pickled) on the CPU, like the weights.
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().clone()
    if isinstance(value, dict):
        return {k: _to_cpu(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_to_cpu(v) for v in value)
    return copy.deepcopy(value)


class Carry(Callback):
    """Save the optimizer, the callbacks' states and the random streams; restore them.

    Parameters
    ----------
    carried : dict or None
        What the previous call saved (None: nothing to restore).

    Attributes
    ----------
    saved : dict or None
        What this call carries to the next: ``optimizer`` (its
        ``state_dict``), ``callbacks`` (the ``state_dict`` of each callback
        that has one, by position), ``rng`` (the batch-order generator),
        ``torch_rng`` and ``cuda_rng`` (dropout).
    """

    def __init__(self, carried=None):
        self.carried = carried
        self.saved = None

    def on_train_begin(self, model, state):
        # Last of the callbacks: a schedule built by its own on_train_begin
        # gets its saved state back here.
        self.saved = None
        carried = self.carried
        if carried is None:
            return
        state.optimizer.load_state_dict(carried["optimizer"])
        for i, cb in enumerate(state.callbacks):
            saved = carried["callbacks"].get(i)
            if saved is not None and hasattr(cb, "load_state_dict"):
                cb.load_state_dict(copy.deepcopy(saved))

    def on_epoch_end(self, model, state):
        self.saved = {
            "optimizer": _to_cpu(state.optimizer.state_dict()),
            "callbacks": {
                i: _to_cpu(cb.state_dict())
                for i, cb in enumerate(state.callbacks)
                if cb is not self and hasattr(cb, "state_dict")
            },
            "rng": copy.deepcopy(state.rng),
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": (
                torch.cuda.get_rng_state(state.device) if state.device.type == "cuda" else None
            ),
        }


def restore_random_streams(carried, device):
    """Continue the torch random streams (dropout) where the previous call left them."""
    torch.set_rng_state(carried["torch_rng"])
    if carried["cuda_rng"] is not None and device.type == "cuda":
        torch.cuda.set_rng_state(carried["cuda_rng"], device)
