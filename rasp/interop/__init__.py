"""Compiled models where researchers work: PyTorch, TransformerLens, shared folders
(docs/interop.md). Torch and TransformerLens are imported only by the functions that need
them (the `interop` extra); the rest is numpy.

They are functions, not methods of Model: rasp.compiler never imports this package, which
builds on it (a method importing it would close an import circle)."""

from __future__ import annotations

from typing import Any

from ..compiler.model import Model
from ..errors import RaspValueError
from .folder import save_folder, verify

__all__ = ["save_folder", "to_torch", "to_transformer_lens", "transformer_lens_config",
           "transformer_lens_state_dict", "verify"]

INTEROP_MISSING = ("this needs PyTorch and TransformerLens: pip install torch "
                   "transformer-lens safetensors (in a checkout of rasp: pip install "
                   "'.[interop]')")


def _need(lens: bool = False) -> None:
    """One clear error when the extra is not installed (not an ImportError deep inside)."""
    try:
        import torch  # noqa: F401
        if lens:
            import transformer_lens  # noqa: F401
    except ImportError:
        raise RaspValueError(INTEROP_MISSING) from None


def to_torch(model: Model, dtype: Any = None) -> Any:
    """The model as a torch.nn.Module (pytorch.CompiledTransformer), float64 unless `dtype`."""
    _need()
    import torch

    from .pytorch import CompiledTransformer

    return CompiledTransformer(model, dtype or torch.float64)


def to_transformer_lens(model: Model, dtype: Any = None, device: Any = None) -> Any:
    """The model as a TransformerLens 4.x TransformerBridge, exactly (lens.py)."""
    _need(lens=True)
    from .lens import bridge

    return bridge(model, dtype, device)


def transformer_lens_config(model: Model) -> dict[str, Any]:
    """TransformerLens's config fields for the exported model (plain JSON data)."""
    from .lens import lens_config

    return lens_config(model)


def transformer_lens_state_dict(model: Model, dtype: Any = None,
                                hooked: bool = False) -> dict[str, Any]:
    """The bridge's state dict as torch tensors (float64 unless `dtype`); `hooked`: under
    the legacy HookedTransformer's names and shapes (TransformerLens 1.x-3.x)."""
    _need()
    import torch

    from .lens import hooked_arrays, lens_arrays

    arrays = hooked_arrays(model) if hooked else lens_arrays(model)
    return {name: torch.tensor(a, dtype=dtype or torch.float64) for name, a in arrays.items()}
