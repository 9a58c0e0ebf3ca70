"""cute-mla: MLA (DeepSeek V2/V3 latent attention) decode for NVIDIA Hopper GPUs.

``get_mla_metadata`` and ``flash_mla_with_kvcache`` follow FlashMLA's call signatures;
``mla_decode`` takes the latent and RoPE parts as separate tensors (vLLM/SGLang/FlashInfer);
``cute_mla.ops`` registers them as ``torch.library`` custom ops (``torch.ops.cute_mla.*``),
which they use under ``torch.compile``; ``cute_mla.reference`` is the float32 PyTorch reference;
``cute_mla._C`` is the framework-neutral low-level module (DLPack arrays, explicit stream).
"""

from __future__ import annotations

from . import ops, reference, testing
from ._native import available as _native_available
from .interface import (MlaSchedMeta, clear_workspace_cache, decode_workspace_size,
                        flash_mla_with_kvcache, get_mla_metadata, mla_decode)

try:
    from importlib.metadata import PackageNotFoundError, version as _dist_version

    __version__ = _dist_version("cute-mla")
except PackageNotFoundError:  # running from a source tree
    __version__ = "unknown"

__all__ = [
    "get_mla_metadata",
    "flash_mla_with_kvcache",
    "mla_decode",
    "MlaSchedMeta",
    "decode_workspace_size",
    "clear_workspace_cache",
    "ops",
    "build_info",
    "reference",
    "testing",
]


def build_info() -> dict:
    """What this build holds: version, CUDA, architectures, dtypes, decode kernel."""
    from . import _native

    info = dict(_native.module().build_info())
    return info
