"""The decode workspace (fp32 split partials) kept between eager calls.

One buffer per (device, stream): calls on one stream run in order, so they can share it; calls
on two streams may overlap, so they cannot. A buffer only grows, to the largest need seen on its
stream, rounded up to 2 MiB so a slowly growing batch does not reallocate every step. The torch
caching allocator takes a replaced buffer back in stream order, so no sync is needed.

Not used during CUDA graph capture (see ``_launch.decode``): a graph keeps the addresses it was
captured with, and a buffer replaced here later would leave it writing to freed memory.
"""

from __future__ import annotations

from typing import Optional

import torch

_ROUND = 2 << 20  # bytes


class WorkspaceCache:
    def __init__(self):
        self._buffers: dict = {}  # (device index, stream handle) -> uint8 tensor

    def get(self, device: int, stream: int) -> Optional[torch.Tensor]:
        return self._buffers.get((device, stream))

    def grow(self, like: torch.Tensor, stream: int, need: int) -> torch.Tensor:
        """A new buffer of at least ``need`` bytes on ``like``'s device, for ``stream`` (the
        current stream of that device, where torch allocates it)."""
        size = (need + _ROUND - 1) // _ROUND * _ROUND
        buffer = torch.empty((size,), dtype=torch.uint8, device=like.device)
        self._buffers[(like.get_device(), stream)] = buffer
        return buffer

    def bytes_held(self) -> int:
        return sum(t.numel() for t in self._buffers.values())

    def clear(self) -> None:
        """Drop every cached buffer (e.g. before freeing memory for something else)."""
        self._buffers.clear()


workspaces = WorkspaceCache()
