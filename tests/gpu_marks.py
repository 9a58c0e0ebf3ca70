"""Skip markers for tests that need the GPU the kernels are built for (sm_90)."""

from __future__ import annotations

import pytest
import torch


def _sm90_missing_reason():
    if not torch.cuda.is_available():
        return "no CUDA GPU here (CI has none); these run on the H100 via bench/device_check.sh"
    major, minor = torch.cuda.get_device_capability()
    if (major, minor) != (9, 0):
        return f"needs an sm_90 (Hopper) GPU; cuda:0 is sm_{major}{minor}"
    try:
        import cute_mla._C  # noqa: F401
    except ImportError as e:
        return f"cute_mla._C is not importable: {e}"
    return None


SM90_MISSING = _sm90_missing_reason()
requires_sm90 = pytest.mark.skipif(SM90_MISSING is not None, reason=SM90_MISSING or "")
