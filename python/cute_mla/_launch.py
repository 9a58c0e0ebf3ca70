"""The eager path: torch tensors handed to ``cute_mla._C`` as they are, one native call each.

``_C.*_torch`` read each tensor's fields (data pointer, shape, strides, dtype, device) through
its Python attributes, validate them (check.hpp) and launch. That replaces two DLPack exports of
every tensor per call (``__dlpack__`` costs several microseconds a tensor; the decode passes
nine), which were most of the host time of an eager call.

No checks here beyond what is needed to allocate outputs: ``_C`` validates and names the
argument in its exception.
"""

from __future__ import annotations

import torch

from . import _native
from ._workspace import workspaces

_raw_stream = getattr(torch._C, "_cuda_getCurrentRawStream", None)
_is_capturing = getattr(torch._C, "_cuda_isCurrentStreamCapturing", None)


# torch's own functions where this torch has them (no Python frame of ours on each call).
if _raw_stream is not None:
    current_stream = _raw_stream
else:
    def current_stream(device_index: int) -> int:
        return torch.cuda.current_stream(device_index).cuda_stream

if _is_capturing is not None:
    capturing = _is_capturing
else:
    capturing = torch.cuda.is_current_stream_capturing


def plan_metadata(cache_seqlens: torch.Tensor, rows: int, heads_k: int, num_parts: int,
                  out=None):
    """Plan into ``out = (tile_scheduler_metadata, num_splits)`` (allocated when None).

    A ``num_splits`` longer than ``batch + 1`` is a buffer for a larger batch (a captured
    graph's): the plan fills its first ``batch + 1`` entries and the rest repeat the last one,
    so the rows past the live batch get no work.
    """
    C = _native.module()
    b = cache_seqlens.shape[0] if cache_seqlens.dim() == 1 else 0
    if out is None:
        metadata = cache_seqlens.new_empty((num_parts, 8))
        num_splits = cache_seqlens.new_empty((b + 1,))
        live = num_splits
    else:
        metadata, num_splits = out
        live = num_splits[:b + 1] if num_splits.dim() == 1 else num_splits
    stream = current_stream(cache_seqlens.get_device()) if cache_seqlens.is_cuda else 0
    C.plan_metadata_torch(cache_seqlens, rows, heads_k, metadata, live, stream)
    pad = num_splits.shape[0] - (b + 1) if num_splits.dim() == 1 else 0
    if pad > 0:
        num_splits[b + 1:].copy_(num_splits[b:b + 1].expand(pad))
    return metadata, num_splits


def decode(q, k_cache, block_table, cache_seqlens, head_dim_v: int, metadata, num_splits,
           softmax_scale: float, causal: bool, out=None, lse=None, workspace=None,
           q_pe=None, kpe_cache=None):
    """One decode step; ``out``/``lse`` allocated when None. The workspace, when not given, is
    the cached one of (device, stream) outside graph capture, and a per-call one from the
    graph's memory pool during capture (a cached buffer could be freed while a graph uses it)."""
    C = _native.module()
    if out is None or lse is None:
        try:
            shape = q.shape
        except RuntimeError:  # a nested q has none: _C names q
            shape = ()
        if len(shape) == 4:
            # Sizes as separate ints: torch parses them faster than a tuple (0.7 us each).
            b, s_q, h_q, _ = shape
            if out is None and head_dim_v == 512:  # else left out: _C names head_dim_v
                out = q.new_empty(b, s_q, h_q, head_dim_v)
            if lse is None:
                lse = q.new_empty(b, h_q, s_q, dtype=torch.float32)
    if q.is_cuda:
        device = q.get_device()
        stream = current_stream(device)
    else:
        device, stream = -1, 0
    args = (q, k_cache, block_table, cache_seqlens, head_dim_v, metadata, num_splits,
            softmax_scale, causal, out, lse, q_pe, kpe_cache)
    if workspace is not None:
        C.decode_torch(*args, workspace, False, stream)
        return out, lse
    if device >= 0 and capturing():
        need = C.decode_torch(*args, None, True, stream)
        if need:
            C.decode_torch(*args, q.new_empty((need,), dtype=torch.uint8), False, stream)
        return out, lse
    need = C.decode_torch(*args, workspaces.get(device, stream), True, stream)
    if need:
        C.decode_torch(*args, workspaces.grow(q, stream, need), False, stream)
    return out, lse
