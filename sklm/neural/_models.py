"""RNNLM, LSTMLM and GRULM: the three recurrent language models."""

from .._sklearn import StrOptions
from ._base import RecurrentLM

_SUMMARY = {
    "RNNLM": "Elman recurrent neural network language model.",
    "LSTMLM": "Long short-term memory (LSTM) language model.",
    "GRULM": "Gated recurrent unit (GRU) language model.",
}

_INTRO = """
    An embedding layer, ``num_layers`` stacked {cell} layers and an output
    layer (a full softmax, or an adaptive softmax for large vocabularies),
    trained with truncated back-propagation through time. Every sample is
    modelled on its own: it is read from ``<s>`` and a zero state, each
    token is predicted, then ``</s>``, in training and in scoring alike, so
    the validation perplexity in ``history_`` is what ``score`` gives.

    Training runs on the device chosen by ``device`` with samples bucketed
    by length into padded batches (padding is masked out of the loss) and
    no Python loop per token. A sample may be a whole document: one longer
    than ``10 * batch_size * bptt`` tokens trains as ``batch_size`` parallel
    streams with the state carried across windows, and scoring carries the
    state across windows too, so a text given as one sample loses nothing.
    Scoring runs in evaluation mode without gradients.

    ``fit`` is made of small public steps that a subclass may override
    (:meth:`initialize`, :meth:`fit_loop`, :meth:`run_epoch`,
    :meth:`train_step`, :meth:`validate`), and ``callbacks``
    (:mod:`sklm.neural.callbacks`) run at fixed points of it.
"""

_NONLINEARITY = """    nonlinearity : {"tanh", "relu"}, default="tanh"
        The activation of the recurrent layers.
"""

_PARAMETERS = """
    Parameters
    ----------
{extra}    embedding_dim : int, default=64
        Size of the word (or character) embeddings.
    hidden_size : int, default=128
        Size of the recurrent state of each layer.
    num_layers : int, default=1
        Number of stacked recurrent layers.
    dropout : float in [0, 1), default=0.0
        Dropout on the embeddings, between layers and on the last layer's
        output, during training only.
    tie_weights : bool, default=False
        Share the output layer's weights with the input embedding (Press &
        Wolf, Inan et al.); needs ``embedding_dim == hidden_size`` and
        ``softmax="full"``.
    optimizer : {{"sgd", "adam", "adamw"}} or torch.optim.Optimizer class, default="adam"
        The optimizer. The classic recipe is ``"sgd"`` with
        ``learning_rate=20`` and ``clip_grad_norm=0.25``. Its other
        arguments are parameters named ``optimizer__<argument>`` (e.g.
        ``optimizer__momentum=0.9``), which ``get_params``, ``set_params``,
        ``clone`` and grid searches handle like the others.
    learning_rate : float, default=1e-3
        Initial learning rate.
    lr_schedule : {{"plateau", "cosine"}} or None, default="plateau"
        ``"plateau"`` divides the learning rate by 4 after every epoch that
        does not improve the validation perplexity (with
        ``early_stopping``) or else the training loss. ``"cosine"`` lowers
        it after every step along a half cosine to zero at the end of the
        budget (``max_epochs`` or ``max_time``, whichever comes first; see
        :class:`~sklm.neural.callbacks.CosineBudget`). ``None`` keeps it
        constant.
    batch_size : int, default=20
        Samples per batch. Samples of similar length are batched together;
        a corpus of fewer samples trains in one smaller batch.
    bptt : int, default=35
        Truncated back-propagation window: samples longer than ``bptt``
        tokens are read in windows, carrying the state forward but not the
        gradient.
    max_epochs : int, default=10
        Passes over the training data.
    max_time : float or None, default=None
        Stop training after this many seconds (checked after each batch;
        the interrupted epoch is recorded with ``complete=False``).
    clip_grad_norm : float or None, default=0.25
        Rescale the gradient when its global L2 norm exceeds this value, the
        cure for exploding gradients. ``None`` disables clipping.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the samples, report their
        perplexity after every epoch, stop after ``n_iter_no_change`` epochs
        without improvement and keep the weights of the best epoch. When
        ``X`` is a single sample (a whole document), the last
        ``validation_fraction`` of its tokens is held out instead and
        validated as a sample of its own, from ``<s>``.
    validation_fraction : float in (0, 1), default=0.1
        Share of the samples (at least one), or of the tokens of a single
        sample, held out with ``early_stopping``.
    n_iter_no_change : int, default=2
        Patience of early stopping, in epochs.
    warm_start : bool, default=False
        Continue training the fitted network (same vocabulary, same
        architecture) instead of starting anew. The optimizer starts again
        at ``learning_rate``; ``history_`` grows.
    softmax : {{"full", "adaptive"}}, default="full"
        ``"adaptive"`` uses :class:`torch.nn.AdaptiveLogSoftmaxWithLoss`
        (Grave et al.): an exact distribution, much cheaper to train and
        score with vocabularies of tens of thousands of words.
    cutoffs : list of int or None, default=None
        Cluster boundaries of the adaptive softmax, in classes ordered by
        decreasing frequency. ``None``: 2,000, 10,000 and 50,000 where below
        the vocabulary size (half the vocabulary for small ones).
    min_count : int, default=1
        Tokens seen fewer times in training become ``<unk>``.
    max_vocab : int or None, default=None
        Keep at most this many tokens besides ``<unk>`` and ``</s>``.
    vocabulary : list, tuple or set of str, str or path-like, default=None
        A fixed vocabulary (the classes besides ``<unk>`` and ``</s>``), as
        a list (kept in order), a set (sorted), or the path of a UTF-8 file
        with one word per line (as SRILM's ``-vocab``). Words outside it are
        ``<unk>``; ``min_count`` and ``max_vocab`` are then ignored. Models
        fitted with one vocabulary share their ``classes_`` (what
        :class:`~sklm.InterpolatedLM` needs).
    device : str, default="auto"
        ``"auto"`` picks CUDA, then Apple's MPS, then the CPU. ``"cpu"``,
        ``"cuda"``, ``"cuda:1"``, ``"mps"`` name a device; naming one this
        machine lacks raises a ``ValueError`` at ``fit``.
    mixed_precision : bool, default=False
        Train with the forward pass and the loss's logits in bfloat16
        (:class:`torch.autocast`); the weights, gradients and optimizer stay
        in float32, and scoring, ``predict_proba``, ``sample`` and the
        validation perplexity run in float32. Much faster on CPUs with
        bfloat16 instructions (AVX-512 BF16, AMX) and on GPUs that support
        it, slower on other CPUs; results differ slightly from float32
        training. Needs the CPU or a CUDA device with bfloat16 support
        (checked at ``fit``).
    n_threads : int or None, default=None
        CPU threads torch may use in ``fit``, scoring, ``predict_proba`` and
        ``sample``; the caller's setting (``torch.get_num_threads()``) is
        restored after each call. ``None`` keeps the caller's setting:
        torch's default of one thread per core, or the share of the cores
        that joblib gives each worker of a parallel search (``n_jobs``).
        Small models gain little from several threads and can run many
        times slower with them on a busy machine, whose other processes
        keep the threads waiting for each other: ``n_threads=1`` is the
        safe choice there.
    random_state : int, RandomState instance or None, default=None
        Seeds the weights, dropout, batch order and validation split. The
        same seed gives the same model on the CPU; the caller's global
        torch random state is left untouched.
    verbose : int, default=0
        Above 0, add a :class:`~sklm.neural.callbacks.ProgressBar`: a live
        bar (:mod:`tqdm.auto`) on a terminal or in a notebook, and a
        summary line on stderr after every epoch.
    callbacks : list of Callback or None, default=None
        Objects whose ``on_train_begin``, ``on_batch_end``, ``on_epoch_end``
        and ``on_train_end`` are called during ``fit`` (see
        :mod:`sklm.neural.callbacks`: early stopping, learning-rate
        schedules, checkpoints from which training resumes, progress).
    **optimizer__kwargs : dict
        ``optimizer__<argument>=value`` parameters, passed to the optimizer
        as ``<argument>=value``.

    Attributes
    ----------
    vocabulary_ : dict
        Token -> class index.
    classes_ : ndarray of str
        Class index -> token; ``"<unk>"`` and ``"</s>"`` come first.
    module_ : torch.nn.Module
        The trained network (embedding -> recurrent layers -> output layer),
        in evaluation mode on ``device_``.
    history_ : list of dict
        One dict per epoch: ``epoch``, ``train_loss`` (mean nats per
        token), ``valid_perplexity`` (``None`` without ``early_stopping``),
        ``grad_norm`` (mean over the epoch's steps of the gradient norm
        before clipping) and ``grad_norm_max``, ``learning_rate``,
        ``tokens``, ``seconds`` (training time, validation excluded),
        ``tokens_per_s`` and ``complete``.
    callbacks_ : list
        The callbacks of the last fit: the built-in ones
        (:class:`~sklm.neural.callbacks.History`, whose record is
        ``history_``, and those ``early_stopping``, ``lr_schedule`` and
        ``verbose`` add), then ``callbacks``.
    device_ : str
        The device the network lives on.
    n_parameters_ : int
        Number of trainable weights.
    n_threads_ : int
        CPU threads torch used during ``fit``: ``n_threads``, or with
        ``None`` the caller's setting (joblib's workers limit it, so
        parallel grid searches do not oversubscribe the cores).

    See Also
    --------
    sklm.NGramLM : Smoothed n-gram models behind the same interface.

    Notes
    -----
    Persistence: ``pickle`` and ``joblib`` store the weights as CPU tensors
    with the network's configuration; unpickling rebuilds the network on the
    device it was trained on, or on the CPU with a warning when that device
    is missing (a model trained on a GPU loads on a CPU-only machine).
    :meth:`save` and :meth:`load` offer a format that runs no code when read
    (JSON and NumPy arrays in one ``.npz`` file), for sharing models.

    Interrupting ``fit`` (Ctrl-C) stops training with a warning and keeps
    the weights of the best validation epoch, or the current weights without
    ``early_stopping``. A NaN or infinite loss stops ``fit`` with a
    ``ValueError`` that points at the learning rate and gradient clipping;
    the model keeps its previous state, as after any failed ``fit``.
"""

_EXAMPLES = """
    Examples
    --------
    >>> from sklm import {name}
    >>> X = ["the cat sat", "the dog sat", "a cat ran"]
    >>> lm = {name}(hidden_size=16, max_epochs=2, random_state=0).fit(X)
    >>> lm.predict_proba(["the"]).shape
    (1, 8)
    >>> round(float(lm.predict_proba(["the"]).sum()), 6)
    1.0
    >>> lm.score_samples(["the cat sat"]).shape
    (1,)
"""


def _doc(name, cell, extra=""):
    return (
        _SUMMARY[name]
        + "\n"
        + _INTRO.format(cell=cell)
        + _PARAMETERS.format(extra=extra)
        + _EXAMPLES.format(name=name)
    )


class RNNLM(RecurrentLM):
    __doc__ = _doc("RNNLM", "Elman (simple recurrent)", _NONLINEARITY)

    _parameter_constraints = {
        **RecurrentLM._parameter_constraints,
        "nonlinearity": [StrOptions({"tanh", "relu"})],
    }

    def __init__(
        self,
        *,
        nonlinearity="tanh",
        embedding_dim=64,
        hidden_size=128,
        num_layers=1,
        dropout=0.0,
        tie_weights=False,
        optimizer="adam",
        learning_rate=1e-3,
        lr_schedule="plateau",
        batch_size=20,
        bptt=35,
        max_epochs=10,
        max_time=None,
        clip_grad_norm=0.25,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=2,
        warm_start=False,
        softmax="full",
        cutoffs=None,
        min_count=1,
        max_vocab=None,
        vocabulary=None,
        device="auto",
        mixed_precision=False,
        n_threads=None,
        random_state=None,
        verbose=0,
        callbacks=None,
        **optimizer__kwargs,
    ):
        super().__init__(
            embedding_dim=embedding_dim,
            hidden_size=hidden_size,
            num_layers=num_layers,
            dropout=dropout,
            tie_weights=tie_weights,
            optimizer=optimizer,
            learning_rate=learning_rate,
            lr_schedule=lr_schedule,
            batch_size=batch_size,
            bptt=bptt,
            max_epochs=max_epochs,
            max_time=max_time,
            clip_grad_norm=clip_grad_norm,
            early_stopping=early_stopping,
            validation_fraction=validation_fraction,
            n_iter_no_change=n_iter_no_change,
            warm_start=warm_start,
            softmax=softmax,
            cutoffs=cutoffs,
            min_count=min_count,
            max_vocab=max_vocab,
            vocabulary=vocabulary,
            device=device,
            mixed_precision=mixed_precision,
            n_threads=n_threads,
            random_state=random_state,
            verbose=verbose,
            callbacks=callbacks,
            **optimizer__kwargs,
        )
        self.nonlinearity = nonlinearity

    def _cell(self):
        return f"rnn_{self.nonlinearity}"


class LSTMLM(RecurrentLM):
    __doc__ = _doc("LSTMLM", "LSTM")

    def _cell(self):
        return "lstm"


class GRULM(RecurrentLM):
    __doc__ = _doc("GRULM", "GRU")

    def _cell(self):
        return "gru"
