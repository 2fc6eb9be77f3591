"""Devices: the one resolution of ``device="auto"``, bfloat16 support, reloading."""

import warnings

import torch


def resolve_device(device):
    """The ``torch.device`` that ``device`` names; ``"auto"``: CUDA, then MPS, then CPU."""
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, ValueError):
        raise ValueError(
            f"device={device!r} is not a device torch knows; use 'auto', 'cpu', "
            "'cuda', 'cuda:<index>' or 'mps'."
        ) from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device={device!r} but CUDA is not available on this machine (torch "
            f"{torch.__version__}); use device='auto' or device='cpu'."
        )
    if resolved.type == "cuda" and resolved.index is not None:
        if resolved.index >= torch.cuda.device_count():
            raise ValueError(
                f"device={device!r} but this machine has {torch.cuda.device_count()} "
                "CUDA device(s)."
            )
    if resolved.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise ValueError(f"device={device!r} but MPS is not available on this machine.")
    return resolved


def check_bfloat16(device):
    """Raise a ValueError when ``mixed_precision=True`` cannot train on ``device``."""
    if device.type == "cpu":
        return
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return
    raise ValueError(
        f"mixed_precision=True trains in bfloat16, which device {str(device)!r} does not "
        "support here; use mixed_precision=False, or device='cpu'."
    )


def available(device):
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_available() and (device.index or 0) < torch.cuda.device_count()
    if device.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        return mps is not None and mps.is_available()
    return True


def restore_device(trained_on, *, where):
    """The device to load a model onto: where it was trained, else the CPU with a warning."""
    if available(trained_on):
        return torch.device(trained_on)
    warnings.warn(
        f"{where}: this model was trained on {trained_on!r}, which is not available "
        "here; it is loaded on the CPU instead.",
        UserWarning,
        stacklevel=3,
    )
    return torch.device("cpu")
