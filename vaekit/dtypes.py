"""The one table of precision names: ``fp32``, ``fp16``, ``bf16`` <-> torch dtypes.

The names are what the command line, recipes, export manifests and graph sidecars spell; the
table is importable without torch (:data:`NAMES`), torch is imported only to map a name to a
dtype. See docs/DESIGN.md, "Tensors and latents".
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    import torch

#: the precision names, in the order the command line lists them
NAMES = ("fp32", "fp16", "bf16")
_TORCH_ATTRS = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}


def torch_dtypes() -> dict[str, torch.dtype]:
    """``{"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}``."""
    import torch

    return {name: getattr(torch, attr) for name, attr in _TORCH_ATTRS.items()}


def name_of(dtype: torch.dtype) -> str:
    """``torch.float16`` -> ``"fp16"``; ValueError for a dtype without a name here."""
    for name, dt in torch_dtypes().items():
        if dt == dtype:
            return name
    raise ValueError(f"no precision name for {dtype}; vaekit uses {', '.join(NAMES)}")


def parse_dtype(dtype: str | torch.dtype) -> torch.dtype:
    """A precision name (or a torch dtype, returned as is) -> the torch dtype."""
    import torch

    if isinstance(dtype, torch.dtype):
        return dtype
    try:
        return torch_dtypes()[dtype]
    except KeyError:
        raise ValueError(f"dtype must be one of {', '.join(NAMES)}, not {dtype!r}") from None
