"""Plain ``nn.Module``s of the recurrent language models.

They know nothing of files, devices, vocabularies or training: the estimator
builds one from a config dict (:func:`build_module`), moves it where it wants
and feeds it id tensors laid out ``(steps, batch)``.
"""

import torch
from torch import nn
from torch.nn import functional as F

CELLS = ("rnn_tanh", "rnn_relu", "lstm", "gru")


def default_cutoffs(n_classes):
    """Cluster boundaries of the adaptive softmax for ``n_classes`` classes.

    The usual choice for word vocabularies (a head of the 2,000 most frequent
    words, then clusters up to 10,000 and 50,000); a small vocabulary gets a
    single split in the middle so that the option still works on toy data.
    """
    cutoffs = [c for c in (2000, 10000, 50000) if c < n_classes]
    return cutoffs or [max(1, n_classes // 2)]


class RecurrentNet(nn.Module):
    """Embedding -> dropout -> recurrent layers -> dropout -> decoder.

    The input vocabulary has ``n_classes + 1`` ids: every class, plus
    ``n_classes`` itself for the ``<s>`` that opens each sample (context,
    never a prediction).

    Parameters
    ----------
    n_classes : int
        Size of the output vocabulary.
    cell : {"rnn_tanh", "rnn_relu", "lstm", "gru"}
    embedding_dim, hidden_size, num_layers : int
    dropout : float
        Applied to the embeddings, between stacked layers and to the last
        layer's output.
    tie_weights : bool
        Share the output weights with the input embedding (needs
        ``embedding_dim == hidden_size`` and the full softmax).
    softmax : {"full", "adaptive"}
    cutoffs : list of int or None
        Adaptive softmax cluster boundaries.
    """

    def __init__(
        self,
        n_classes,
        *,
        cell,
        embedding_dim,
        hidden_size,
        num_layers,
        dropout,
        tie_weights=False,
        softmax="full",
        cutoffs=None,
    ):
        super().__init__()
        self.n_classes = n_classes
        self.cell = cell
        self.bos_id = n_classes
        self.embedding = nn.Embedding(n_classes + 1, embedding_dim)
        self.drop = nn.Dropout(dropout)
        # nn.RNN-family modules apply their own dropout between layers only.
        between = dropout if num_layers > 1 else 0.0
        if cell == "lstm":
            self.rnn = nn.LSTM(embedding_dim, hidden_size, num_layers, dropout=between)
        elif cell == "gru":
            self.rnn = nn.GRU(embedding_dim, hidden_size, num_layers, dropout=between)
        else:
            self.rnn = nn.RNN(
                embedding_dim,
                hidden_size,
                num_layers,
                dropout=between,
                nonlinearity=cell.split("_")[1],
            )
        self.tie_weights = tie_weights
        self.softmax = softmax
        if softmax == "adaptive":
            cutoffs = list(cutoffs or default_cutoffs(n_classes))
            # Tail cluster i projects to hidden_size // div_value**(i + 1)
            # dimensions: keep every one at least 1 wide for small networks.
            div_value = min(4.0, hidden_size ** (1.0 / len(cutoffs)) * (1 - 1e-9))
            self.decoder = nn.AdaptiveLogSoftmaxWithLoss(
                hidden_size, n_classes, cutoffs, div_value=max(div_value, 1.0)
            )
        elif tie_weights:
            # The output weights are the first n_classes rows of the embedding
            # (the last row is <s>, which is never predicted): only a bias here.
            self.decoder_bias = nn.Parameter(torch.zeros(n_classes))
        else:
            self.decoder = nn.Linear(hidden_size, n_classes)
        # Small uniform embedding and output weights, zero output bias: the
        # initialisation of the classic word-level recipe.
        nn.init.uniform_(self.embedding.weight, -0.1, 0.1)
        if softmax == "full" and not tie_weights:
            nn.init.uniform_(self.decoder.weight, -0.1, 0.1)
            nn.init.zeros_(self.decoder.bias)

    def forward(self, inputs, state=None):
        """Run ids ``(steps, batch)``; return hidden outputs and the new state."""
        output, state = self.rnn(self.drop(self.embedding(inputs)), state)
        return self.drop(output), state

    def initial_state(self, batch_size, device=None):
        shape = (self.rnn.num_layers, batch_size, self.rnn.hidden_size)
        zeros = torch.zeros(shape, device=device)
        return (zeros, torch.zeros_like(zeros)) if self.cell == "lstm" else zeros

    def _logits(self, hidden):
        if self.tie_weights:
            return F.linear(hidden, self.embedding.weight[: self.n_classes], self.decoder_bias)
        return self.decoder(hidden)

    def target_log_prob(self, hidden, targets):
        """Log-probability of ``targets`` (n,) after hidden rows ``(n, hidden)``."""
        if self.softmax == "adaptive":
            return self.decoder(hidden, targets).output
        logits = self._logits(hidden)
        return logits.gather(1, targets[:, None]).squeeze(1) - torch.logsumexp(logits, dim=1)

    def loss(self, hidden, targets):
        """Mean negative log-likelihood of ``targets`` (the training loss).

        Rows whose target is ``-1`` (padding) are left out of the mean.
        """
        if self.softmax == "adaptive":
            keep = targets >= 0
            if not bool(keep.all()):
                hidden, targets = hidden[keep], targets[keep]
            return self.decoder(hidden, targets).loss.float()
        # float(): under bfloat16 autocast the logits are bfloat16; the loss is not.
        return F.cross_entropy(self._logits(hidden).float(), targets, ignore_index=-1)

    def log_proba(self, hidden):
        """The full log-distribution over classes after each hidden row."""
        if self.softmax == "adaptive":
            return self.decoder.log_prob(hidden)
        return torch.log_softmax(self._logits(hidden), dim=1)


def build_module(config):
    """A fresh :class:`RecurrentNet` from its config dict (see ``module_config``)."""
    module = RecurrentNet(**config)
    # The config travels with the module so that a copy can be rebuilt from
    # its state_dict alone (pickling, save/load).
    module.config = dict(config)
    return module


def count_parameters(module):
    return sum(p.numel() for p in module.parameters())
