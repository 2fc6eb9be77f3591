"""The training loop of the recurrent language models, in overridable steps.

Training follows skorch's shape: :meth:`RecurrentLM.fit` calls
:meth:`~RecurrentLM.initialize` (the network, the optimizer, the batches,
the callbacks), then :meth:`~RecurrentLM.fit_loop`, which runs
:meth:`~RecurrentLM.run_epoch` (one :meth:`~RecurrentLM.train_step` per
truncated-BPTT window) and :meth:`~RecurrentLM.validate` once per epoch and
calls the callbacks (:mod:`sklm.neural.callbacks`) in between. Each step is
a small public method that a subclass may override.
"""

import contextlib
import copy
import math
import time
import warnings

import numpy as np
import torch
from torch import nn

from .._allocator import keep_large_buffers
from . import _inference
from ._batching import training_batches
from ._modules import build_module
from ._stream import Stream
from .callbacks import Checkpoint, CosineBudget, EarlyStopping, History, ProgressBar, plateau


class NonFiniteLossError(ValueError):
    """Training produced a NaN or infinite loss, gradient or weight."""


class TrainingSteps:
    """The training steps of :class:`~sklm.neural.RecurrentLM`, which inherits them.

    They read the estimator's parameters (``batch_size``, ``bptt``,
    ``learning_rate``, ``clip_grad_norm``, ``callbacks``...) and its
    ``_is_warm``, ``_optimizer_class``, ``_optimizer_kwargs`` and
    ``max_eval_positions``.
    """

    def initialize(self, state):
        """Build what training needs into ``state``; return it.

        Calls :meth:`initialize_module`, :meth:`initialize_optimizer`,
        :meth:`initialize_batches` and :meth:`initialize_callbacks`, in this
        order, and sets ``state.epoch`` and ``state.last_epoch``. Launched
        by ``torchrun`` (``state.parallel`` set), it also wraps the network
        in DDP and keeps this process's share of every batch.

        Parameters
        ----------
        state : sklm.neural.callbacks.TrainingState

        Returns
        -------
        state : sklm.neural.callbacks.TrainingState
        """
        state.n_threads = torch.get_num_threads()
        state.module = self.initialize_module(state)
        parallel = getattr(state, "parallel", None)
        if parallel is not None:
            parallel.wrap(state.module)
        state.optimizer = self.initialize_optimizer(state)
        if isinstance(state.corpus, Stream):
            # Read a shard at a time by run_epoch (see _epoch_batches).
            state.stream, state.batches = state.corpus, None
            state.tokens_per_epoch = state.stream.n_tokens
            # An estimate: the windows of a shard are known once it is read.
            per_step = int(self.batch_size) * int(self.bptt)
            state.steps_per_epoch = max(1, -(-state.stream.n_tokens // per_step))
        else:
            state.stream = None
            state.batches = self.initialize_batches(state)
            if parallel is not None:
                state.batches = parallel.shard(state.batches, state.module.bos_id)
            windows = [w for b in state.batches for w in b.windows]
            state.tokens_per_epoch = int(sum(w.n_tokens for w in windows))
            state.steps_per_epoch = len(windows)
        state.first_epoch = len(state.history) + 1
        state.epoch = state.first_epoch - 1
        state.last_epoch = state.first_epoch + getattr(state, "epochs", self.max_epochs) - 1
        state.callbacks = self.initialize_callbacks(state)
        return state

    def initialize_module(self, state):
        """The network to train: a new one, or a copy of ``module_`` (``warm_start``).

        Parameters
        ----------
        state : sklm.neural.callbacks.TrainingState
            ``state.config`` holds the network's configuration.

        Returns
        -------
        module : torch.nn.Module
            On ``state.device``.
        """
        config = state.config
        if self._is_warm():
            module = copy.deepcopy(self.module_)
            # dropout is the one setting a continued network may change.
            for layer in module.modules():
                if isinstance(layer, nn.Dropout):
                    layer.p = config["dropout"]
            if module.rnn.num_layers > 1:
                module.rnn.dropout = config["dropout"]
            module.config = config
        else:
            module = build_module(config)
        return module.to(state.device)

    def initialize_optimizer(self, state):
        """The optimizer: ``optimizer`` with ``learning_rate`` and the
        ``optimizer__<argument>`` parameters.

        Parameters
        ----------
        state : sklm.neural.callbacks.TrainingState

        Returns
        -------
        optimizer : torch.optim.Optimizer
        """
        cls = self._optimizer_class()
        kwargs = self._optimizer_kwargs(cls)
        largest = float(torch.finfo(torch.float32).max)
        if float(self.learning_rate) > largest:
            raise ValueError(
                f"learning_rate={self.learning_rate} exceeds the largest float32 "
                f"({largest:.4g}) that the network's weights can hold."
            )
        try:
            return cls(state.module.parameters(), lr=float(self.learning_rate), **kwargs)
        except (TypeError, ValueError) as error:
            raise ValueError(
                f"the optimizer {cls.__name__} with learning_rate={self.learning_rate} and "
                f"{kwargs} cannot be built: {error}"
            ) from None

    def initialize_batches(self, state):
        """The batches of one epoch (see :func:`sklm.neural._batching.training_batches`).

        Samples up to ``10 * batch_size * bptt`` tokens are padded into
        length-sorted batches; a longer one (a document) is cut into
        ``batch_size`` parallel streams.

        Parameters
        ----------
        state : sklm.neural.callbacks.TrainingState

        Returns
        -------
        batches : list
        """
        if state.device.type == "cpu":
            keep_large_buffers()
        return training_batches(
            state.corpus,
            state.module.bos_id,
            batch_size=int(self.batch_size),
            bptt=int(self.bptt),
            device=state.device,
        )

    def initialize_callbacks(self, state):
        """The callbacks of this fit: the built-in ones, then ``callbacks``.

        :class:`~sklm.neural.callbacks.History` always;
        :class:`~sklm.neural.callbacks.EarlyStopping` with
        ``early_stopping``; the plateau schedule with
        ``lr_schedule="plateau"``, the cosine one with ``"cosine"``; the
        user's callbacks;
        :class:`~sklm.neural.callbacks.Checkpoint` ones last; a
        :class:`~sklm.neural.callbacks.ProgressBar` with ``verbose``.

        Parameters
        ----------
        state : sklm.neural.callbacks.TrainingState

        Returns
        -------
        callbacks : list
        """
        built_in = [History()]
        if self.early_stopping and state.valid_corpus is not None:
            built_in.append(EarlyStopping(patience=self.n_iter_no_change))
        if self.lr_schedule == "plateau":
            built_in.append(plateau())
        elif self.lr_schedule == "cosine":
            built_in.append(CosineBudget())
        user = list(self.callbacks or ())
        last = [cb for cb in user if isinstance(cb, Checkpoint)]
        user = [cb for cb in user if not isinstance(cb, Checkpoint)]
        progress = [ProgressBar()] if self.verbose else []
        callbacks = built_in + user + last + progress
        parallel = getattr(state, "parallel", None)
        # Only rank 0 writes checkpoints and logs.
        return callbacks if parallel is None else parallel.quiet(callbacks)

    def _call(self, hook, state):
        for cb in state.callbacks:
            getattr(cb, hook)(self, state)

    def fit_loop(self, state):
        """Train epoch after epoch until ``max_epochs``, ``max_time`` or a stop.

        Each epoch is :meth:`run_epoch`, then :meth:`validate` when there is
        a validation split, then the callbacks' ``on_epoch_end``. A
        KeyboardInterrupt stops training with a warning, keeping the weights
        of the best validation epoch (or the current ones). Ends with the
        network in evaluation mode.

        Parameters
        ----------
        state : sklm.neural.callbacks.TrainingState
        """
        state.started = time.perf_counter()
        interrupted = False
        try:
            self._call("on_train_begin", state)
            while state.epoch < state.last_epoch and not state.stop:
                state.epoch += 1
                state.record = self.run_epoch(state)
                if state.valid_corpus is not None:
                    state.record["valid_perplexity"] = self.validate(state)
                self._call("on_epoch_end", state)
                if getattr(state, "parallel", None) is not None:
                    (state.stop,) = state.parallel.agree(state.stop)
                if not state.record["complete"]:
                    break
        except KeyboardInterrupt:
            interrupted = True
        finally:
            keeps_best = any(
                isinstance(cb, EarlyStopping) and cb.keeps_best_weights for cb in state.callbacks
            )
            self._call("on_train_end", state)
        if interrupted:
            kept = (
                "the weights of the best validation epoch" if keeps_best else "the current weights"
            )
            warnings.warn(
                f"training interrupted after {len(state.history) - state.first_epoch + 1} "
                f"complete epoch(s); keeping {kept}.",
                UserWarning,
                # fit_loop <- _fit_encoded <- fit <- fit's validation wrapper <- caller
                stacklevel=5,
            )
        self._check_finite_weights(state)
        state.module.eval()

    def _check_finite_weights(self, state):
        for name, value in state.module.state_dict().items():
            if value.is_floating_point() and not bool(torch.isfinite(value).all()):
                self._diverged(state, f"the weight {name} holds NaN or infinite values")

    def _diverged(self, state, what):
        if self.clip_grad_norm is None:
            advice = "enable gradient clipping (clip_grad_norm, e.g. 0.25)"
        else:
            advice = f"lower clip_grad_norm (now {self.clip_grad_norm})"
        raise NonFiniteLossError(
            f"training diverged in epoch {state.epoch}: {what}. Lower learning_rate "
            f"(now {self.learning_rate}) or {advice}. The fitted model (if any) is unchanged."
        )

    def run_epoch(self, state):
        """One pass over the batches, in an order drawn from ``state.rng``.

        Calls :meth:`train_step` for every window, carrying the recurrent
        state through the windows of a batch, then the callbacks'
        ``on_batch_end``. Stops early at ``max_time`` or when a callback
        sets ``state.stop``.

        Parameters
        ----------
        state : sklm.neural.callbacks.TrainingState

        Returns
        -------
        record : dict
            ``epoch``, ``train_loss``, ``valid_perplexity`` (None here),
            ``grad_norm``, ``grad_norm_max``, ``learning_rate``, ``tokens``,
            ``seconds``, ``tokens_per_s`` and ``complete``.
        """
        module, device = state.module, state.device
        module.train()
        loss_sum = torch.zeros((), device=device, dtype=torch.float64)
        norm_sum = torch.zeros((), device=device, dtype=torch.float64)
        norm_max = torch.zeros((), device=device, dtype=torch.float64)
        tokens = n_steps = 0
        learning_rate = float(state.optimizer.param_groups[0]["lr"])
        out_of_time = False
        epoch_start = time.perf_counter()
        for batches in self._epoch_batches(state):
            for b in state.rng.permutation(len(batches)):
                batch = batches[b]
                state.hidden = None
                for k, window in enumerate(batch.windows):
                    step = self.train_step(window, state)
                    loss_sum += step["loss"] * window.n_tokens
                    norm_sum += step["grad_norm"]
                    norm_max = torch.maximum(norm_max, step["grad_norm"].double())
                    tokens += window.n_tokens
                    n_steps += 1
                    now = time.perf_counter()
                    state.batch = {
                        "rows": batch.rows,
                        "window": k,
                        "tokens": window.n_tokens,
                        "epoch_tokens": tokens,
                        "seconds": now - epoch_start,
                        **step,
                    }
                    self._call("on_batch_end", state)
                    # One host sync per batch (and every 64 steps of a long one):
                    # cheap on a CPU, rare enough on a GPU.
                    if k + 1 == len(batch.windows) or n_steps % 64 == 0:
                        if not math.isfinite(float(loss_sum + norm_sum)):
                            self._diverged(
                                state, "the loss or the gradient norm became NaN or infinite"
                            )
                    if self.max_time is not None and now - state.started >= self.max_time:
                        out_of_time = True
                    if getattr(state, "parallel", None) is not None:
                        out_of_time, state.stop = state.parallel.agree(out_of_time, state.stop)
                    if out_of_time or state.stop:
                        break
                if out_of_time or state.stop:
                    break
            if out_of_time or state.stop:
                break
        seconds = time.perf_counter() - epoch_start
        return {
            "epoch": state.epoch,
            "train_loss": float(loss_sum) / max(tokens, 1),
            "valid_perplexity": None,
            "grad_norm": float(norm_sum) / max(n_steps, 1),
            "grad_norm_max": float(norm_max),
            "learning_rate": learning_rate,
            "tokens": tokens,
            "seconds": seconds,
            "tokens_per_s": tokens / max(seconds, 1e-9),
            "complete": not out_of_time,
        }

    def _epoch_batches(self, state):
        """The batches of one epoch: ``state.batches``, or the stream's shard by shard.

        A corpus read as a stream (:class:`~sklm.datasets.TextFiles`) is
        read again every epoch; each shard becomes ``state.corpus`` and its
        batches ``state.batches`` (:meth:`initialize_batches`) in turn.
        """
        if state.stream is None:
            yield state.batches
            return
        parallel = getattr(state, "parallel", None)
        for shard in state.stream.shards():
            state.corpus = shard
            state.batches = self.initialize_batches(state)
            if parallel is not None:
                state.batches = parallel.shard(state.batches, state.module.bos_id)
            yield state.batches

    def train_step(self, window, state):
        """One optimizer step on one truncated-BPTT window.

        Forward from ``state.hidden`` (detached: the gradient stops at the
        window's start), mean cross-entropy over the real targets, backward,
        gradient norm clipped at ``clip_grad_norm``, optimizer step. With
        ``mixed_precision`` the forward pass runs under
        :class:`torch.autocast` in bfloat16 (the loss in float32). Launched
        by ``torchrun``, the forward and backward run through DDP on this
        process's share of the window, and the loss returned is the global
        window's.

        Parameters
        ----------
        window : Window
            ``inputs`` (steps, columns), ``targets`` (flattened, ``-1`` on
            padding) and ``n_tokens``.
        state : sklm.neural.callbacks.TrainingState

        Returns
        -------
        step : dict
            ``loss`` and ``grad_norm`` (before clipping), as tensors.
        """
        module, optimizer = state.module, state.optimizer
        parallel = getattr(state, "parallel", None)
        hidden = _detach(state.hidden)
        with _autocast(state.device, self.mixed_precision):
            if parallel is None:
                output, hidden = module(window.inputs, hidden)
                loss = module.loss(output.reshape(-1, output.shape[-1]), window.targets)
            else:
                # This process's share, weighted so that DDP's average of the
                # gradients is the global window's (see _distributed).
                loss, hidden = parallel.forward(window, hidden)
        state.hidden = hidden
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        max_norm = math.inf if self.clip_grad_norm is None else float(self.clip_grad_norm)
        norm = nn.utils.clip_grad_norm_(
            [p for p in module.parameters() if p.requires_grad], max_norm
        )
        optimizer.step()
        if parallel is not None:
            loss = parallel.mean_loss(loss)
        return {"loss": loss.detach(), "grad_norm": norm}

    def validate(self, state):
        """Perplexity of the held-out samples, as :meth:`score` computes it.

        Parameters
        ----------
        state : sklm.neural.callbacks.TrainingState

        Returns
        -------
        perplexity : float
        """
        lp = _inference.log_prob_tokens(
            state.module, state.valid_corpus, state.device, self.max_eval_positions
        )
        state.module.train()
        return float(np.exp(-lp.mean()))


def _detach(state):
    if state is None:
        return None
    if isinstance(state, tuple):
        return tuple(s.detach() for s in state)
    return state.detach()


def _autocast(device, bfloat16):
    if not bfloat16:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16)
