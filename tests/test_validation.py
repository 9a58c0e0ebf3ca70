"""Validation: every bad input raises before launch, with the right exception type and a message
that starts with the argument's name and says what was expected.

Error contract (docs/ARCHITECTURE.md, include/cute_mla/check.hpp): ``TypeError`` for dtypes,
``ValueError`` for shapes / limits / strides / alignment, ``RuntimeError`` for devices,
``NotImplementedError`` for FlashMLA features outside dense decode.

Two paths run the same table of decode cases (``DECODE_CASES``):

(a) CPU, always: real CPU tensors are built and mutated, then *described* to
    ``_C.check_decode_described`` as if they lived on ``cuda:0`` (real data pointers, so alignment
    is realistic). Cases that only a description can express (null pointers, odd pointers of int32
    tensors, other device kinds, sizes past int32) are in ``DESCRIBED_ONLY_CASES``.
(b) GPU, when one is present: the same mutations on real CUDA tensors, through
    ``cute_mla.flash_mla_with_kvcache``.

Each case is one row: an id, a mutation of the baseline inputs, the exception, the message.
"""

from __future__ import annotations

import math
import re
import warnings
from dataclasses import dataclass
from typing import Callable, Optional

import pytest
import torch

import cute_mla
from cute_mla import _native
from cute_mla.interface import MlaSchedMeta
from cute_mla.testing import make_decode_inputs

_C = _native.module()  # fail loudly (not skip) if the compiled module is missing

F = cute_mla.flash_mla_with_kvcache
G = cute_mla.get_mla_metadata

B, S_Q, H_Q, H_KV = 2, 1, 16, 1
SEQLENS = [100, 200]  # -> 4 pages per sequence (capacity 256), a pool of 8 pages
ROWS = S_Q * H_Q // H_KV
D, DV = 576, 512

HAS_CUDA = torch.cuda.is_available()
needs_cuda = pytest.mark.skipif(
    not HAS_CUDA, reason="needs a CUDA GPU (runs on the H100 via bench/device_check.sh)")


def M(name: str, *fragments: str) -> str:
    """Regex: the message starts with ``name:`` and then contains each fragment, in order."""
    return "^" + re.escape(name + ":") + "".join(".*" + re.escape(f) for f in fragments)


# ------------------------------------------------------------------------------------------------
# Baselines and the context the mutations use (CPU-described or real CUDA)
# ------------------------------------------------------------------------------------------------

@dataclass
class Placed:
    """CPU path only: a CPU tensor described as living on ``device:index``."""

    tensor: torch.Tensor
    device: str
    index: int


class Ctx:
    """What a mutation may ask for, independent of the path it runs on."""

    def __init__(self, device: str):
        self.device = torch.device(device)
        self.described = self.device.type == "cpu"

    def zeros(self, *shape, dtype=torch.bfloat16) -> torch.Tensor:
        return torch.zeros(*shape, dtype=dtype, device=self.device)

    def host(self, t: torch.Tensor):
        """``t`` on the CPU where a CUDA tensor is expected."""
        return Placed(t, "cpu", 0) if self.described else t.cpu()

    def cuda(self, t: torch.Tensor, index: int):
        """``t`` on ``cuda:index`` (the baseline is on cuda:0)."""
        return Placed(t, "cuda", index) if self.described else t.to(f"cuda:{index}")

    # Views with a given layout (contents do not matter for validation).
    def pad_last(self, t: torch.Tensor, pad: int) -> torch.Tensor:
        """Same shape, each last-dim row followed by ``pad`` unused elements."""
        return self.zeros(*t.shape[:-1], t.shape[-1] + pad, dtype=t.dtype)[..., : t.shape[-1]]

    def every_other(self, t: torch.Tensor) -> torch.Tensor:
        """Same shape, last-dim stride 2."""
        return self.zeros(*t.shape[:-1], 2 * t.shape[-1], dtype=t.dtype)[..., ::2]

    def pad_first(self, t: torch.Tensor, pad: int) -> torch.Tensor:
        """Same shape, dim-0 stride grown by ``pad`` elements."""
        inner = t[0].numel()
        flat = self.zeros(t.shape[0], inner + pad, dtype=t.dtype)
        return flat[:, :inner].view(t.shape)

    def offset(self, t: torch.Tensor, elems: int) -> torch.Tensor:
        """Same shape and strides, data pointer moved by ``elems`` elements."""
        flat = self.zeros(t.numel() + 64, dtype=t.dtype)
        return flat[elems: elems + t.numel()].view(t.shape)


def baseline(device: str) -> dict:
    """The valid decode inputs every case mutates (keys are check_decode's argument names)."""
    inp = make_decode_inputs(B, S_Q, H_Q, H_KV, 0, seqlens=SEQLENS, device=device)
    metadata, num_splits = G(inp.cache_seqlens, ROWS, H_KV)
    return dict(q=inp.q, k_cache=inp.k_cache, block_table=inp.block_table,
                cache_seqlens=inp.cache_seqlens, head_dim_v=DV,
                tile_scheduler_metadata=metadata, num_splits=num_splits,
                softmax_scale=D ** -0.5, causal=False, out=None, lse=None)


TENSOR_ARGS = ("q", "k_cache", "block_table", "cache_seqlens", "tile_scheduler_metadata",
               "num_splits", "out", "lse")

_DTYPE_NAMES = {torch.bfloat16: "bfloat16", torch.float16: "float16", torch.float32: "float32",
                torch.int32: "int32"}


def describe(x, device: str = "cuda", index: int = 0):
    """A ``_C.check_decode_described`` description of a CPU tensor, as if on ``device:index``."""
    if x is None or isinstance(x, tuple):
        return x  # left out, or already a description
    if isinstance(x, Placed):
        return describe(x.tensor, x.device, x.index)
    assert x.device.type == "cpu"
    dtype = _DTYPE_NAMES.get(x.dtype, str(x.dtype).replace("torch.", ""))
    return (x.data_ptr(), list(x.shape), list(x.stride()), dtype, device, index)


def check_described(d: dict) -> int:
    args = {k: (describe(v) if k in TENSOR_ARGS else v) for k, v in d.items()
            if not k.startswith("_")}
    return _C.check_decode_described(**args)


def call_gpu(d: dict):
    d = dict(d)
    q, k, bt, sl, hv, sm, ns = (d.pop(k) for k in ("q", "k_cache", "block_table",
                                                     "cache_seqlens", "head_dim_v",
                                                     "tile_scheduler_metadata", "num_splits"))
    return F(q, k, bt, sl, hv, sm, ns, **d)


# ------------------------------------------------------------------------------------------------
# The table
# ------------------------------------------------------------------------------------------------

@dataclass
class Case:
    id: str
    mutate: Callable[[dict, Ctx], None]
    exc: type
    match: str
    gpus: int = 1            # real GPUs the GPU path needs

    def param(self):
        return pytest.param(self, id=self.id)


def set_(**kw):
    """Mutation: replace arguments; callables get (d, ctx) and return the new value."""
    def mutate(d, x):
        for k, v in kw.items():
            d[k] = v(d, x) if callable(v) else v
    return mutate


def replan(d, x, seqlens):
    """Metadata planned for other lengths (another batch size)."""
    return G(torch.tensor(seqlens, dtype=torch.int32, device=x.device), ROWS, H_KV)


def batch_of(n):
    """q, block_table, cache_seqlens, num_splits for a batch of n (q broadcast, no memory)."""
    return set_(q=lambda d, x: d["q"][:1].expand(n, -1, -1, -1) if n else d["q"][:0],
                block_table=lambda d, x: x.zeros(n, 4, dtype=torch.int32),
                cache_seqlens=lambda d, x: x.zeros(n, dtype=torch.int32),
                num_splits=lambda d, x: x.zeros(n + 1, dtype=torch.int32))


I32, I64, F32, F16, BF16 = torch.int32, torch.int64, torch.float32, torch.float16, torch.bfloat16
TSM = "tile_scheduler_metadata"
STRIDE16 = "multiple of 16 bytes (TMA)"

DECODE_CASES = [
    # --- dtypes -> TypeError
    Case("q_float32", set_(q=lambda d, x: d["q"].float()), TypeError,
         M("q", "expected dtype bfloat16 or float16", "got float32")),
    Case("q_int32", set_(q=lambda d, x: d["q"].to(I32)), TypeError,
         M("q", "expected dtype bfloat16 or float16", "got int32")),
    Case("k_cache_float16_q_bfloat16", set_(k_cache=lambda d, x: d["k_cache"].half()), TypeError,
         M("k_cache", "expected dtype bfloat16 (the dtype of q)", "got float16")),
    Case("k_cache_bfloat16_q_float16", set_(q=lambda d, x: d["q"].half()), TypeError,
         M("k_cache", "expected dtype float16 (the dtype of q)", "got bfloat16")),
    Case("block_table_int64", set_(block_table=lambda d, x: d["block_table"].long()), TypeError,
         M("block_table", "expected dtype int32")),
    Case("cache_seqlens_float32", set_(cache_seqlens=lambda d, x: d["cache_seqlens"].float()),
         TypeError, M("cache_seqlens", "expected dtype int32", "got float32")),
    Case("metadata_int64", set_(tile_scheduler_metadata=lambda d, x: d[TSM].long()), TypeError,
         M(TSM, "expected dtype int32")),
    Case("num_splits_int64", set_(num_splits=lambda d, x: d["num_splits"].long()), TypeError,
         M("num_splits", "expected dtype int32")),
    Case("out_float32", set_(out=lambda d, x: x.zeros(B, S_Q, H_Q, DV, dtype=F32)), TypeError,
         M("out", "expected dtype bfloat16 (the dtype of q)", "got float32")),
    Case("out_float16_q_bfloat16", set_(out=lambda d, x: x.zeros(B, S_Q, H_Q, DV, dtype=F16)),
         TypeError, M("out", "expected dtype bfloat16", "got float16")),
    Case("lse_float16", set_(lse=lambda d, x: x.zeros(B, H_Q, S_Q, dtype=F16)), TypeError,
         M("lse", "expected dtype float32", "got float16")),

    # --- ranks and shapes -> ValueError
    Case("q_rank3", set_(q=lambda d, x: d["q"][:, 0]), ValueError,
         M("q", "expected 4 dimension(s) (batch, seqlen_q, num_heads_q, 576)", "got 3")),
    Case("q_head_dim_512", set_(q=lambda d, x: d["q"][..., :DV]), ValueError,
         M("q", "expected shape[3] == 576", "got shape (2, 1, 16, 512)")),
    Case("k_cache_rank3", set_(k_cache=lambda d, x: d["k_cache"][:, :, 0]), ValueError,
         M("k_cache", "expected 4 dimension(s)", "got 3")),
    Case("k_cache_head_dim_512", set_(k_cache=lambda d, x: d["k_cache"][..., :DV]), ValueError,
         M("k_cache", "expected shape[3] == 576", "got shape (8, 64, 1, 512)")),
    Case("head_dim_v_576", set_(head_dim_v=576), ValueError,
         M("head_dim_v", "must be 512", "got 576")),
    Case("page_size_32", set_(k_cache=lambda d, x: d["k_cache"].view(16, 32, H_KV, D)),
         ValueError, M("k_cache", "page size (dim 1) must be 64", "got 32")),
    Case("k_cache_0_pages", set_(k_cache=lambda d, x: d["k_cache"][:0]), ValueError,
         M("k_cache", "needs at least one page", "got 0")),
    Case("h_q_not_multiple_of_h_kv", set_(k_cache=lambda d, x: x.zeros(8, 64, 3, D)), ValueError,
         M("k_cache", "num_heads_kv (dim 2) must be >= 1 and divide num_heads_q = 16", "got 3")),
    Case("h_kv_0", set_(k_cache=lambda d, x: x.zeros(8, 64, 0, D)), ValueError,
         M("k_cache", "num_heads_kv", "got 0")),
    Case("h_q_256", set_(q=lambda d, x: x.zeros(B, S_Q, 256, D)), ValueError,
         M("q", "num_heads_q (dim 2) must be in [1, 128]", "got 256")),
    Case("seqlen_q_0", set_(q=lambda d, x: d["q"][:, :0]), ValueError,
         M("q", "seqlen_q (dim 1) must be in [1, 64]", "got 0")),
    Case("seqlen_q_65", set_(q=lambda d, x: x.zeros(B, 65, H_Q, D)), ValueError,
         M("q", "seqlen_q (dim 1) must be in [1, 64]", "got 65")),
    Case("batch_0", batch_of(0), ValueError, M("q", "batch size must be in [1, 16384]", "got 0")),
    Case("batch_16385", batch_of(16385), ValueError,
         M("q", "batch size must be in [1, 16384]", "got 16385")),
    Case("block_table_batch_3", set_(block_table=lambda d, x: x.zeros(3, 4, dtype=I32)),
         ValueError, M("block_table", "expected shape[0] == 2 (the batch size of q)", "(3, 4)")),
    Case("block_table_rank1", set_(block_table=lambda d, x: d["block_table"][0]), ValueError,
         M("block_table", "expected 2 dimension(s)", "got 1")),
    Case("block_table_0_columns", set_(block_table=lambda d, x: d["block_table"][:, :0]),
         ValueError, M("block_table", "needs at least one column", "got 0")),
    Case("cache_seqlens_length_3", set_(cache_seqlens=lambda d, x: x.zeros(3, dtype=I32)),
         ValueError, M("cache_seqlens", "expected shape[0] == 2 (the batch size of q)", "(3,)")),
    Case("cache_seqlens_rank2", set_(cache_seqlens=lambda d, x: d["cache_seqlens"][None]),
         ValueError, M("cache_seqlens", "expected 1 dimension(s) (batch,)", "got 2")),
    Case("num_splits_other_batch", set_(num_splits=lambda d, x: replan(d, x, [1, 2, 3])[1]),
         ValueError, M("num_splits", "has 4 entries, expected batch + 1 = 3",
                       "planned for another batch size")),
    Case("num_splits_rank2", set_(num_splits=lambda d, x: d["num_splits"][None]), ValueError,
         M("num_splits", "expected 1 dimension(s)", "got 2")),
    Case("metadata_7_columns", set_(tile_scheduler_metadata=lambda d, x: d[TSM][:, :7]),
         ValueError, M(TSM, "expected shape[1] == 8 (ints per scheduler record)")),
    Case("metadata_rank1", set_(tile_scheduler_metadata=lambda d, x: d[TSM][0]), ValueError,
         M(TSM, "expected 2 dimension(s) (num_sm_parts, 8)", "got 1")),
    Case("metadata_0_parts", set_(tile_scheduler_metadata=lambda d, x: d[TSM][:0]), ValueError,
         M(TSM, "number of parts (dim 0) must be in [1, 1024]", "got 0")),
    Case("metadata_1025_parts",
         set_(tile_scheduler_metadata=lambda d, x: x.zeros(1025, 8, dtype=I32)), ValueError,
         M(TSM, "number of parts (dim 0) must be in [1, 1024]", "got 1025")),
    Case("out_head_dim_576", set_(out=lambda d, x: x.zeros(B, S_Q, H_Q, D)), ValueError,
         M("out", "expected shape[3] == 512")),
    Case("out_batch_3", set_(out=lambda d, x: x.zeros(3, S_Q, H_Q, DV)), ValueError,
         M("out", "expected shape[0] == 2")),
    Case("out_rank3", set_(out=lambda d, x: x.zeros(B, H_Q, DV)), ValueError,
         M("out", "expected 4 dimension(s)", "got 3")),
    Case("lse_shape_b_sq_hq", set_(lse=lambda d, x: x.zeros(B, S_Q, H_Q, dtype=F32)), ValueError,
         M("lse", "expected shape[1] == 16 ((batch, num_heads_q, seqlen_q))", "(2, 1, 16)")),
    Case("lse_rank2", set_(lse=lambda d, x: x.zeros(B, H_Q, dtype=F32)), ValueError,
         M("lse", "expected 3 dimension(s)", "got 2")),

    # --- strides -> ValueError
    Case("q_last_stride_2", set_(q=lambda d, x: x.every_other(d["q"])), ValueError,
         M("q", "expected a contiguous last dimension (stride(-1) == 1)", "got stride 2")),
    Case("k_cache_last_stride_2", set_(k_cache=lambda d, x: x.every_other(d["k_cache"])),
         ValueError, M("k_cache", "expected a contiguous last dimension", "got stride 2")),
    Case("out_last_stride_2",
         set_(out=lambda d, x: x.every_other(x.zeros(B, S_Q, H_Q, DV))), ValueError,
         M("out", "expected a contiguous last dimension", "got stride 2")),
    Case("q_head_stride_580", set_(q=lambda d, x: x.pad_last(d["q"], 4)), ValueError,
         M("q", "head stride must be a non-negative " + STRIDE16, "got 580 elements of 2 bytes")),
    Case("q_batch_stride_9220", set_(q=lambda d, x: x.pad_first(d["q"], 4)), ValueError,
         M("q", "batch stride must be a non-negative " + STRIDE16, "got 9220 elements")),
    Case("k_cache_row_stride_580", set_(k_cache=lambda d, x: x.pad_last(d["k_cache"], 4)),
         ValueError, M("k_cache", "row stride must be a non-negative " + STRIDE16, "got 580")),
    Case("k_cache_page_stride_36868", set_(k_cache=lambda d, x: x.pad_first(d["k_cache"], 4)),
         ValueError, M("k_cache", "page stride must be a non-negative " + STRIDE16,
                       "got 36868")),
    Case("out_head_stride_516",
         set_(out=lambda d, x: x.pad_last(x.zeros(B, S_Q, H_Q, DV), 4)), ValueError,
         M("out", "head stride must be a non-negative " + STRIDE16, "got 516")),
    Case("block_table_last_stride_2",
         set_(block_table=lambda d, x: x.every_other(d["block_table"])), ValueError,
         M("block_table", "expected a contiguous last dimension", "got stride 2")),
    Case("block_table_row_stride_2_of_4_columns",
         set_(block_table=lambda d, x: d["block_table"].as_strided((B, 4), (2, 1))), ValueError,
         M("block_table", "row stride 2 is smaller than its 4 columns")),
    Case("cache_seqlens_non_contiguous",
         set_(cache_seqlens=lambda d, x: x.zeros(2 * B, dtype=I32)[::2]), ValueError,
         M("cache_seqlens", "expected a contiguous tensor")),
    Case("num_splits_non_contiguous",
         set_(num_splits=lambda d, x: x.zeros(2 * B + 2, dtype=I32)[::2]), ValueError,
         M("num_splits", "expected a contiguous tensor")),
    Case("metadata_non_contiguous",
         set_(tile_scheduler_metadata=lambda d, x: x.every_other(d[TSM])), ValueError,
         M(TSM, "expected a contiguous tensor")),

    # --- data pointer alignment -> ValueError
    Case("q_pointer_2_bytes_off", set_(q=lambda d, x: x.offset(d["q"], 1)), ValueError,
         M("q", "data pointer must be 16-byte aligned")),
    Case("k_cache_pointer_8_bytes_off", set_(k_cache=lambda d, x: x.offset(d["k_cache"], 4)),
         ValueError, M("k_cache", "data pointer must be 16-byte aligned")),
    Case("out_pointer_2_bytes_off",
         set_(out=lambda d, x: x.offset(x.zeros(B, S_Q, H_Q, DV), 1)), ValueError,
         M("out", "data pointer must be 16-byte aligned")),
    Case("metadata_pointer_16_bytes_off",
         set_(tile_scheduler_metadata=lambda d, x: x.offset(d[TSM], 4)), ValueError,
         M(TSM, "data pointer must be 32-byte aligned")),

    # --- devices -> RuntimeError
    Case("q_on_cpu", set_(q=lambda d, x: x.host(d["q"])), RuntimeError,
         M("q", "expected a cuda tensor", "got one on cpu")),
    Case("k_cache_on_cpu", set_(k_cache=lambda d, x: x.host(d["k_cache"])), RuntimeError,
         M("k_cache", "expected a cuda tensor", "got one on cpu")),
    Case("block_table_on_cpu", set_(block_table=lambda d, x: x.host(d["block_table"])),
         RuntimeError, M("block_table", "expected a cuda tensor", "got one on cpu")),
    Case("cache_seqlens_on_cpu", set_(cache_seqlens=lambda d, x: x.host(d["cache_seqlens"])),
         RuntimeError, M("cache_seqlens", "expected a cuda tensor", "got one on cpu")),
    Case("metadata_on_cpu", set_(tile_scheduler_metadata=lambda d, x: x.host(d[TSM])),
         RuntimeError, M(TSM, "expected a cuda tensor", "got one on cpu")),
    Case("num_splits_on_cpu", set_(num_splits=lambda d, x: x.host(d["num_splits"])),
         RuntimeError, M("num_splits", "expected a cuda tensor", "got one on cpu")),
    Case("out_on_cpu", set_(out=lambda d, x: x.host(x.zeros(B, S_Q, H_Q, DV))), RuntimeError,
         M("out", "expected a cuda tensor", "got one on cpu")),
    Case("lse_on_cpu", set_(lse=lambda d, x: x.host(x.zeros(B, H_Q, S_Q, dtype=F32))),
         RuntimeError, M("lse", "expected a cuda tensor", "got one on cpu")),
    Case("k_cache_on_cuda1", set_(k_cache=lambda d, x: x.cuda(d["k_cache"], 1)), RuntimeError,
         M("k_cache", "expected a tensor on cuda:0 (the device of q)", "got cuda:1"), gpus=2),
    Case("block_table_on_cuda1", set_(block_table=lambda d, x: x.cuda(d["block_table"], 1)),
         RuntimeError, M("block_table", "expected a tensor on cuda:0", "got cuda:1"), gpus=2),
    Case("num_splits_on_cuda1", set_(num_splits=lambda d, x: x.cuda(d["num_splits"], 1)),
         RuntimeError, M("num_splits", "expected a tensor on cuda:0", "got cuda:1"), gpus=2),
    Case("lse_on_cuda1", set_(lse=lambda d, x: x.cuda(x.zeros(B, H_Q, S_Q, dtype=F32), 1)),
         RuntimeError, M("lse", "expected a tensor on cuda:0", "got cuda:1"), gpus=2),

    # --- softmax_scale -> ValueError
    Case("softmax_scale_0", set_(softmax_scale=0.0), ValueError,
         M("softmax_scale", "must be finite and > 0", "got 0")),
    Case("softmax_scale_negative", set_(softmax_scale=-0.1), ValueError,
         M("softmax_scale", "must be finite and > 0", "got -0.1")),
    Case("softmax_scale_nan", set_(softmax_scale=math.nan), ValueError,
         M("softmax_scale", "must be finite and > 0", "got nan")),
    Case("softmax_scale_inf", set_(softmax_scale=math.inf), ValueError,
         M("softmax_scale", "must be finite and > 0", "got inf")),
    Case("softmax_scale_minus_inf", set_(softmax_scale=-math.inf), ValueError,
         M("softmax_scale", "must be finite and > 0")),
    Case("softmax_scale_overflows_float32", set_(softmax_scale=1e39), ValueError,
         M("softmax_scale", "must be finite and > 0")),
]


def _desc(d, key, **over):
    """Mutation helper for described-only cases: the baseline's description with fields replaced."""
    ptr, shape, strides, dtype, device, index = describe(d[key])
    fields = dict(ptr=ptr, shape=shape, strides=strides, dtype=dtype, device=device, index=index)
    for k, v in over.items():
        fields[k] = v(fields[k]) if callable(v) else v
    return tuple(fields[k] for k in ("ptr", "shape", "strides", "dtype", "device", "index"))


def desc_(key, **over):
    return set_(**{key: lambda d, x: _desc(d, key, **over)})


def _lse_pointer_off(d):
    d["_keep"] = torch.zeros(B, H_Q, S_Q)  # owns the memory the description points into
    ptr, shape, strides, dtype, device, index = describe(d["_keep"])
    d["lse"] = (ptr + 2, shape, strides, dtype, device, index)


DESCRIBED_ONLY_CASES = [
    # required arguments left out
    Case("q_missing", set_(q=None), ValueError, M("q", "is required")),
    Case("k_cache_missing", set_(k_cache=None), ValueError, M("k_cache", "is required")),
    Case("block_table_missing", set_(block_table=None), ValueError,
         M("block_table", "is required")),
    Case("cache_seqlens_missing", set_(cache_seqlens=None), ValueError,
         M("cache_seqlens", "is required")),
    Case("metadata_missing", set_(tile_scheduler_metadata=None), ValueError,
         M(TSM, "is required (from get_mla_metadata)")),
    Case("num_splits_missing", set_(num_splits=None), ValueError,
         M("num_splits", "is required (from get_mla_metadata)")),
    # pointers
    Case("q_null_pointer", desc_("q", ptr=0), ValueError, M("q", "null pointer")),
    Case("k_cache_null_pointer", desc_("k_cache", ptr=0), ValueError, M("k_cache", "null pointer")),
    Case("block_table_pointer_2_bytes_off", desc_("block_table", ptr=lambda p: p + 2), ValueError,
         M("block_table", "data pointer must be 4-byte aligned")),
    Case("cache_seqlens_pointer_2_bytes_off", desc_("cache_seqlens", ptr=lambda p: p + 2),
         ValueError, M("cache_seqlens", "data pointer must be 4-byte aligned")),
    Case("num_splits_pointer_1_byte_off", desc_("num_splits", ptr=lambda p: p + 1), ValueError,
         M("num_splits", "data pointer must be 4-byte aligned")),
    Case("lse_pointer_2_bytes_off", lambda d, x: _lse_pointer_off(d), ValueError,
         M("lse", "data pointer must be 4-byte aligned")),
    # strides torch cannot make (negative), dtypes and devices only a description has
    Case("k_cache_negative_page_stride", desc_("k_cache", strides=lambda s: [-s[0]] + s[1:]),
         ValueError, M("k_cache", "page stride must be a non-negative multiple of 16 bytes")),
    Case("q_negative_head_stride", desc_("q", strides=lambda s: s[:2] + [-s[2], 1]), ValueError,
         M("q", "head stride must be a non-negative multiple of 16 bytes")),
    Case("q_dtype_other", desc_("q", dtype="float64"), TypeError,
         M("q", "expected dtype bfloat16 or float16")),
    Case("q_on_other_device_kind", desc_("q", device="mps"), RuntimeError,
         M("q", "expected a cuda tensor", "got one on a non-CPU, non-CUDA device")),
    Case("k_cache_on_other_device_kind", desc_("k_cache", device="xla"), RuntimeError,
         M("k_cache", "expected a cuda tensor", "non-CPU, non-CUDA")),
    Case("q_on_cuda1_rest_on_cuda0", desc_("q", index=1), RuntimeError,
         M("k_cache", "expected a tensor on cuda:1 (the device of q)", "got cuda:0")),
    # sizes past int32 / the sequence-length limit
    Case("k_cache_2_31_pages", desc_("k_cache", shape=lambda s: [2 ** 31] + s[1:]), ValueError,
         M("k_cache", "num_pages (dim 0) must fit in int32")),
    Case("block_table_2_25_columns",
         desc_("block_table", shape=lambda s: [s[0], 2 ** 25], strides=[2 ** 25, 1]), ValueError,
         M("block_table", "pages of 64 tokens exceed the int32 sequence length")),
    Case("block_table_2_31_columns",
         desc_("block_table", shape=lambda s: [s[0], 2 ** 31], strides=[2 ** 31, 1]), ValueError,
         M("block_table", "must fit in int32")),
    Case("seqlen_q_2_32_plus_1", desc_("q", shape=lambda s: [s[0], 2 ** 32 + 1] + s[2:]),
         ValueError, M("q", "seqlen_q")),
    Case("page_size_2_32_plus_64", desc_("k_cache", shape=lambda s: [s[0], 2 ** 32 + 64] + s[2:]),
         ValueError, M("k_cache", "page size")),
    Case("h_kv_2_32_plus_1", desc_("k_cache", shape=lambda s: s[:2] + [2 ** 32 + 1, s[3]]),
         ValueError, M("k_cache", "num_heads_kv")),
]


def _ids_unique():
    ids = [c.id for c in DECODE_CASES + DESCRIBED_ONLY_CASES]
    assert len(ids) == len(set(ids)), "duplicate case ids"


_ids_unique()


# Valid variations: both paths must accept them (CPU: a workspace size; GPU: the decode runs, or
# says its kernel is not built yet).
def _new_q(s_q=S_Q, h_q=H_Q):
    return lambda d, x: x.zeros(B, s_q, h_q, D)


def _plan(rows, heads):
    def mutate(d, x):
        d["tile_scheduler_metadata"], d["num_splits"] = G(d["cache_seqlens"], rows, heads)
    return mutate


def _chain(*mutations):
    def mutate(d, x):
        for m in mutations:
            m(d, x)
    return mutate


VALID_CASES = [
    ("baseline", lambda d, x: None),
    ("with_out_and_lse", set_(out=lambda d, x: x.zeros(B, S_Q, H_Q, DV),
                              lse=lambda d, x: x.zeros(B, H_Q, S_Q, dtype=F32))),
    ("float16", set_(q=lambda d, x: d["q"].half(), k_cache=lambda d, x: d["k_cache"].half())),
    ("causal", set_(causal=True)),
    ("batch_1", _chain(set_(q=lambda d, x: d["q"][:1], block_table=lambda d, x: d["block_table"][:1],
                            cache_seqlens=lambda d, x: d["cache_seqlens"][:1]), _plan(ROWS, H_KV))),
    ("seqlen_q_2_causal", _chain(set_(q=_new_q(s_q=2), causal=True), _plan(2 * H_Q, H_KV))),
    ("h_kv_2", _chain(set_(k_cache=lambda d, x: x.zeros(8, 64, 2, D)), _plan(H_Q // 2, 2))),
    ("h_q_128", _chain(set_(q=_new_q(h_q=128)), _plan(128, H_KV))),
    ("q_batch_stride_padded_16_bytes", set_(q=lambda d, x: x.pad_first(d["q"], 8))),
    ("k_cache_row_stride_padded_16_bytes", set_(k_cache=lambda d, x: x.pad_last(d["k_cache"], 8))),
    ("lse_strided", set_(lse=lambda d, x: x.zeros(B, H_Q, 2 * S_Q, dtype=F32)[..., ::2])),
    ("softmax_scale_1", set_(softmax_scale=1.0)),
]


# ================================================================================================
# (a) CPU path: described tensors
# ================================================================================================

@pytest.fixture
def cpu_case():
    return baseline("cpu"), Ctx("cpu")


def test_described_baseline_is_valid(cpu_case):
    d, _ = cpu_case
    assert d["k_cache"].shape == (8, 64, 1, D) and d["block_table"].shape == (B, 4)
    assert d["tile_scheduler_metadata"].shape[1] == 8 and d["num_splits"].shape == (B + 1,)
    assert check_described(d) > 0


@pytest.mark.parametrize("name,mutate", VALID_CASES, ids=[v[0] for v in VALID_CASES])
def test_described_valid_variants(cpu_case, name, mutate):
    d, x = cpu_case
    mutate(d, x)
    assert check_described(d) > 0




@pytest.mark.parametrize("mutate", [
    # k_cache (8, 64, 1, 576) with padded rows, as torch <= 2.8 exports it: head stride 1.
    pytest.param(desc_("k_cache", strides=lambda s: s[:2] + [1, 1]),
                 id="k_cache_h_kv_1_head_stride_1"),
    # q (2, 1, 16, 576) from a transpose, as torch <= 2.8 exports it: seq stride 1.
    pytest.param(desc_("q", strides=lambda s: [s[0], 1] + s[2:]), id="q_s_q_1_seq_stride_1"),
])
def test_described_size1_dim_strides_are_ignored(cpu_case, mutate):
    d, x = cpu_case
    mutate(d, x)
    assert check_described(d) > 0


@pytest.mark.parametrize("case", [c.param() for c in DECODE_CASES + DESCRIBED_ONLY_CASES])
def test_described_decode_rejects(cpu_case, case):
    d, x = cpu_case
    case.mutate(d, x)
    with pytest.raises(case.exc, match=case.match):
        check_described(d)


# --- check_metadata_described ------------------------------------------------------------------

_SL_BUF = torch.zeros(16, dtype=I32)  # real memory for the described cache_seqlens


def _sl_desc(n=B, **over):
    fields = dict(ptr=_SL_BUF.data_ptr(), shape=[n], strides=[1], dtype="int32", device="cuda",
                  index=0)
    fields.update(over)
    return tuple(fields[k] for k in ("ptr", "shape", "strides", "dtype", "device", "index"))


METADATA_DESCRIBED_CASES = [
    # id, description overrides (n, fields), rows, heads, exception, message
    ("missing", None, ROWS, H_KV, ValueError, M("cache_seqlens", "is required")),
    ("int64", dict(dtype="int64"), ROWS, H_KV, TypeError, M("cache_seqlens", "expected dtype int32")),
    ("float32", dict(dtype="float32"), ROWS, H_KV, TypeError,
     M("cache_seqlens", "expected dtype int32", "got float32")),
    ("other_device_kind", dict(device="mps"), ROWS, H_KV, RuntimeError,
     M("cache_seqlens", "expected a cpu or cuda tensor")),
    ("rank2", dict(shape=[1, B], strides=[B, 1]), ROWS, H_KV, ValueError,
     M("cache_seqlens", "expected 1 dimension(s) (batch,)", "got 2")),
    ("non_contiguous", dict(strides=[2]), ROWS, H_KV, ValueError,
     M("cache_seqlens", "expected a contiguous tensor")),
    ("batch_0", dict(n=0), ROWS, H_KV, ValueError,
     M("cache_seqlens", "batch size must be in [1, 16384]", "got 0")),
    ("batch_16385", dict(n=16385), ROWS, H_KV, ValueError,
     M("cache_seqlens", "batch size must be in [1, 16384]", "got 16385")),
    ("num_heads_k_0", {}, ROWS, 0, ValueError, M("num_heads_k", "must be in [1, 128]", "got 0")),
    ("num_heads_k_129", {}, ROWS, 129, ValueError, M("num_heads_k", "must be in [1, 128]", "got 129")),
    ("rows_0", {}, 0, H_KV, ValueError,
     M("num_q_tokens_per_head_k", "must be seqlen_q * num_heads_q // num_heads_k", "got 0")),
    ("rows_8193", {}, 8193, H_KV, ValueError,
     M("num_q_tokens_per_head_k", "in [1, 8192]", "got 8193")),
]


@pytest.mark.parametrize("device", ["cuda", "cpu"])
def test_described_metadata_valid(device):
    _C.check_metadata_described(_sl_desc(device=device), ROWS, H_KV)


@pytest.mark.parametrize("case_id,over,rows,heads,exc,match", METADATA_DESCRIBED_CASES,
                         ids=[c[0] for c in METADATA_DESCRIBED_CASES])
def test_described_metadata_rejects(case_id, over, rows, heads, exc, match):
    desc = None if over is None else _sl_desc(**over)
    with pytest.raises(exc, match=match):
        _C.check_metadata_described(desc, rows, heads)


# --- get_mla_metadata on the CPU (real tensors: the planner runs on the host) ------------------

def _sl(values, dtype=I32):
    return torch.tensor(values, dtype=dtype)


METADATA_CPU_CASES = [
    ("negative_length", lambda: G(_sl([5, -1]), ROWS, H_KV), ValueError,
     M("cache_seqlens", "entry 1 is -1", "must be >= 0")),
    ("int64", lambda: G(_sl([5, 1], I64), ROWS, H_KV), TypeError,
     M("cache_seqlens", "expected dtype int32")),
    ("float32", lambda: G(_sl([5.0, 1.0], F32), ROWS, H_KV), TypeError,
     M("cache_seqlens", "expected dtype int32", "got float32")),
    ("rank2", lambda: G(_sl([[5, 1]]), ROWS, H_KV), ValueError,
     M("cache_seqlens", "expected 1 dimension(s)", "got 2")),
    ("non_contiguous", lambda: G(torch.zeros(4, dtype=I32)[::2], ROWS, H_KV), ValueError,
     M("cache_seqlens", "expected a contiguous tensor")),
    ("batch_0", lambda: G(torch.zeros(0, dtype=I32), ROWS, H_KV), ValueError,
     M("cache_seqlens", "batch size must be in [1, 16384]", "got 0")),
    ("batch_16385", lambda: G(torch.zeros(16385, dtype=I32), ROWS, H_KV), ValueError,
     M("cache_seqlens", "batch size must be in [1, 16384]", "got 16385")),
    ("num_heads_k_0", lambda: G(_sl([5, 1]), ROWS, 0), ValueError,
     M("num_heads_k", "must be in [1, 128]", "got 0")),
    ("num_heads_k_129", lambda: G(_sl([5, 1]), ROWS, 129), ValueError,
     M("num_heads_k", "must be in [1, 128]", "got 129")),
    ("num_heads_k_float", lambda: G(_sl([5, 1]), ROWS, 1.0), TypeError,
     M("num_heads_k", "expected an int", "got float")),
    ("num_heads_k_bool", lambda: G(_sl([5, 1]), ROWS, True), TypeError,
     M("num_heads_k", "expected an int", "got bool")),
    ("num_heads_k_missing", lambda: G(_sl([5, 1]), ROWS), TypeError,
     M("num_heads_k", "expected an int", "got NoneType")),
    ("rows_0", lambda: G(_sl([5, 1]), 0, H_KV), ValueError,
     M("num_q_tokens_per_head_k", "got 0")),
    ("rows_str", lambda: G(_sl([5, 1]), "16", H_KV), TypeError,
     M("num_q_tokens_per_head_k", "expected an int", "got str")),
    ("cache_seqlens_list", lambda: G([5, 1], ROWS, H_KV), TypeError,
     M("cache_seqlens", "expected a torch.Tensor", "got list")),
    ("num_sms_str", lambda: G(_sl([5, 1]), ROWS, H_KV, num_sms="132"), TypeError,
     M("num_sms", "expected an int", "got str")),
    ("is_fp8_kvcache", lambda: G(_sl([5, 1]), ROWS, H_KV, is_fp8_kvcache=True),
     NotImplementedError, M("is_fp8_kvcache", "not supported")),
    ("topk", lambda: G(_sl([5, 1]), ROWS, H_KV, topk=64), NotImplementedError,
     M("topk", "not supported")),
]


def test_get_mla_metadata_cpu_valid():
    metadata, num_splits = G(_sl(SEQLENS), ROWS, H_KV, num_sms=132)
    assert metadata.dtype == I32 and metadata.shape == (132, 8)
    assert num_splits.dtype == I32 and num_splits.shape == (B + 1,)
    lazy, none = G()
    assert isinstance(lazy, MlaSchedMeta) and none is None


@pytest.mark.parametrize("case_id,call,exc,match", METADATA_CPU_CASES,
                         ids=[c[0] for c in METADATA_CPU_CASES])
def test_get_mla_metadata_cpu_rejects(case_id, call, exc, match):
    with pytest.raises(exc, match=match):
        call()


# --- _C.check_seqlens (the value check behind validate_seqlens=True) ---------------------------

def test_check_seqlens_valid():
    _C.check_seqlens(_sl([0, 256]), 4)   # exactly the capacity of 4 pages x 64
    _C.check_seqlens(_sl([10 ** 6]), 0)  # 0 columns: no capacity check


@pytest.mark.parametrize("values,max_pages,match", [
    pytest.param([5, 257], 4, M("cache_seqlens", "entry 1 is 257",
                                "above the block table's capacity of 4 pages x 64 tokens"),
                 id="above_capacity"),
    pytest.param([65], 1, M("cache_seqlens", "entry 0 is 65", "capacity"), id="above_one_page"),
    pytest.param([5, -1], 4, M("cache_seqlens", "entry 1 is -1", "lengths must be >= 0"),
                 id="negative"),
])
def test_check_seqlens_rejects(values, max_pages, match):
    with pytest.raises(ValueError, match=match):
        _C.check_seqlens(_sl(values), max_pages)


def test_check_seqlens_needs_int32():
    with pytest.raises(TypeError, match=M("cache_seqlens", "expected dtype int32", "int64")):
        _C.check_seqlens(_sl([5, 1], I64), 4)


@pytest.mark.parametrize("t", [
    pytest.param(_sl([[5, 1]]), id="rank2"),
    pytest.param(torch.zeros(4, dtype=I32)[::2], id="non_contiguous"),
])
def test_check_seqlens_needs_host_int32(t):
    with pytest.raises(ValueError, match=M("cache_seqlens", "contiguous 1-D int32 host copy")):
        _C.check_seqlens(t, 4)


# --- flash_mla_with_kvcache on CPU tensors: the Python layer ------------------------------------

@pytest.fixture
def cpu_call():
    d = baseline("cpu")
    for k in ("out", "lse"):
        d.pop(k)
    return d


def _kw(**kw):
    return lambda d: d.update(kw)


PY_CASES = [
    ("cpu_tensors", lambda d: None, RuntimeError, M("q", "expected a cuda tensor", "got one on cpu")),
    ("q_list", _kw(q=[1.0]), TypeError, M("q", "expected a torch.Tensor", "got list")),
    ("k_cache_none", _kw(k_cache=None), TypeError,
     M("k_cache", "expected a torch.Tensor", "got NoneType")),
    ("block_table_tuple", _kw(block_table=(0, 1)), TypeError,
     M("block_table", "expected a torch.Tensor", "got tuple")),
    ("cache_seqlens_list", _kw(cache_seqlens=SEQLENS), TypeError,
     M("cache_seqlens", "expected a torch.Tensor", "got list")),
    ("head_dim_v_float", _kw(head_dim_v=512.0), TypeError,
     M("head_dim_v", "expected an int", "got float")),
    ("head_dim_v_bool", _kw(head_dim_v=True), TypeError,
     M("head_dim_v", "expected an int", "got bool")),
    ("metadata_list", _kw(tile_scheduler_metadata=[[0] * 8]), TypeError,
     M(TSM, "expected a torch.Tensor", "got list")),
    ("num_splits_list", _kw(num_splits=[0, 1, 2]), TypeError,
     M("num_splits", "expected a torch.Tensor", "got list")),
    ("softmax_scale_str", _kw(softmax_scale="0.04"), TypeError,
     M("softmax_scale", "expected a float", "got str")),
    ("softmax_scale_tensor", _kw(softmax_scale=torch.tensor(0.04)), TypeError,
     M("softmax_scale", "expected a float", "got Tensor")),
    ("out_int", _kw(out=5), TypeError, M("out", "expected a torch.Tensor", "got int")),
    ("lse_list", _kw(lse=[0.0]), TypeError, M("lse", "expected a torch.Tensor", "got list")),
    ("is_fp8_kvcache", _kw(is_fp8_kvcache=True), NotImplementedError,
     M("is_fp8_kvcache", "not supported by cute-mla's dense decode")),
] + [
    (name, (lambda n: lambda d: d.update({n: torch.zeros(1, dtype=I32)}))(name),
     NotImplementedError, M(name, "not supported by cute-mla's dense decode"))
    for name in ("indices", "attn_sink", "extra_k_cache", "extra_indices_in_kvcache",
                 "topk_length", "extra_topk_length")
] + [
    ("lazy_metadata_with_num_splits", _kw(tile_scheduler_metadata=MlaSchedMeta()), ValueError,
     M("num_splits", "must be None when tile_scheduler_metadata is an MlaSchedMeta")),
]

PY_LAYER_CASES = [
    pytest.param("lazy_metadata_q_rank3",
                 _kw(q=torch.zeros(B, H_Q, D, dtype=BF16), tile_scheduler_metadata=MlaSchedMeta(),
                     num_splits=None),
                 (RuntimeError, ValueError), M("q", "expected"),
                 id="lazy_metadata_q_rank3"),
    pytest.param("q_head_dim_0_default_scale", lambda d: d.update(q=d["q"][..., :0],
                                                                   softmax_scale=None),
                 (RuntimeError, ValueError), M("q", "expected"),
                 id="q_head_dim_0_default_scale"),
]


@pytest.mark.parametrize("case_id,mutate,exc,match",
                         [pytest.param(*c, id=c[0]) for c in PY_CASES] + PY_LAYER_CASES)
def test_flash_mla_python_layer_rejects(cpu_call, case_id, mutate, exc, match):
    mutate(cpu_call)
    with pytest.raises(exc, match=match):
        call_gpu(cpu_call)


def test_lazy_metadata_reused_for_another_configuration(cpu_call):
    meta = MlaSchedMeta()
    cpu_call.update(tile_scheduler_metadata=meta, num_splits=None)
    # The first call plans on the host (CPU lengths), then stops at the device check.
    with pytest.raises(RuntimeError, match=M("q", "expected a cuda tensor")):
        call_gpu(cpu_call)
    assert meta.config is not None and meta.num_splits.shape == (B + 1,)
    cpu_call.update(q=cpu_call["q"][:1], block_table=cpu_call["block_table"][:1],
                    cache_seqlens=cpu_call["cache_seqlens"][:1])
    with pytest.raises(ValueError, match=M(TSM, "this MlaSchedMeta was planned for")):
        call_gpu(cpu_call)


def test_case_counts():
    """The table is the point of this file: keep it broad."""
    assert len(DECODE_CASES) + len(DESCRIBED_ONLY_CASES) >= 30
    assert sum(c.gpus == 1 for c in DECODE_CASES) >= 15


# ================================================================================================
# (b) GPU path: real CUDA tensors through flash_mla_with_kvcache
# ================================================================================================

def _cuda_healthy():
    """No sticky CUDA error: a small op runs and the device synchronizes."""
    x = torch.arange(1024, device="cuda", dtype=torch.float32)
    assert float(x.sum().item()) == 1023 * 1024 / 2
    torch.cuda.synchronize()


@pytest.fixture
def gpu_case():
    return baseline("cuda"), Ctx("cuda")


@needs_cuda
@pytest.mark.parametrize("case", [c.param() for c in DECODE_CASES])
def test_gpu_decode_rejects(gpu_case, case):
    if torch.cuda.device_count() < case.gpus:
        pytest.skip(f"needs {case.gpus} CUDA GPUs")
    d, x = gpu_case
    case.mutate(d, x)
    with pytest.raises(case.exc, match=case.match):
        call_gpu(d)
    _cuda_healthy()


def _expect_decode_or_not_built(d):
    if cute_mla.build_info()["decode_kernel"]:
        out, lse = call_gpu(d)
        torch.cuda.synchronize()
        b, s_q, h_q, _ = d["q"].shape
        assert out.shape == (b, s_q, h_q, DV) and out.dtype == d["q"].dtype
        assert lse.shape == (b, h_q, s_q) and lse.dtype == F32
    else:
        with pytest.raises(NotImplementedError, match="decode kernel"):
            call_gpu(d)


@needs_cuda
@pytest.mark.parametrize("name,mutate", VALID_CASES, ids=[v[0] for v in VALID_CASES])
def test_gpu_valid_call_runs_or_says_kernel_missing(gpu_case, name, mutate):
    d, x = gpu_case
    mutate(d, x)
    _expect_decode_or_not_built(d)
    _cuda_healthy()


@needs_cuda
def test_gpu_lazy_metadata_valid(gpu_case):
    d, _ = gpu_case
    d.update(tile_scheduler_metadata=MlaSchedMeta(), num_splits=None)
    _expect_decode_or_not_built(d)
    _cuda_healthy()


@needs_cuda
@pytest.mark.parametrize("lengths,match", [
    pytest.param([100, 300], M("cache_seqlens", "entry 1 is 300", "capacity of 4 pages x 64"),
                 id="above_capacity"),
    pytest.param([-3, 100], M("cache_seqlens", "entry 0 is -3", "must be >= 0"), id="negative"),
])
def test_gpu_validate_seqlens_rejects(gpu_case, lengths, match):
    d, _ = gpu_case
    d["cache_seqlens"] = torch.tensor(lengths, dtype=I32, device="cuda")
    with pytest.raises(ValueError, match=match):
        call_gpu({**d, "validate_seqlens": True})
    _cuda_healthy()


@needs_cuda
def test_gpu_validate_seqlens_accepts_full_capacity(gpu_case):
    d, _ = gpu_case
    d["cache_seqlens"] = torch.tensor([0, 256], dtype=I32, device="cuda")
    d["tile_scheduler_metadata"], d["num_splits"] = G(d["cache_seqlens"], ROWS, H_KV)
    _expect_decode_or_not_built({**d, "validate_seqlens": True})
    _cuda_healthy()


GPU_METADATA_CASES = [
    ("int64", lambda: G(torch.tensor([5, 1], dtype=I64, device="cuda"), ROWS, H_KV), TypeError,
     M("cache_seqlens", "expected dtype int32")),
    ("rank2", lambda: G(torch.zeros(1, B, dtype=I32, device="cuda"), ROWS, H_KV), ValueError,
     M("cache_seqlens", "expected 1 dimension(s)")),
    ("batch_0", lambda: G(torch.zeros(0, dtype=I32, device="cuda"), ROWS, H_KV), ValueError,
     M("cache_seqlens", "batch size must be in [1, 16384]", "got 0")),
    ("batch_16385", lambda: G(torch.zeros(16385, dtype=I32, device="cuda"), ROWS, H_KV),
     ValueError, M("cache_seqlens", "got 16385")),
    ("num_heads_k_0", lambda: G(torch.zeros(B, dtype=I32, device="cuda"), ROWS, 0), ValueError,
     M("num_heads_k", "must be in [1, 128]")),
    ("non_contiguous", lambda: G(torch.zeros(4, dtype=I32, device="cuda")[::2], ROWS, H_KV),
     ValueError, M("cache_seqlens", "expected a contiguous tensor")),
]


@needs_cuda
@pytest.mark.parametrize("case_id,call,exc,match", GPU_METADATA_CASES,
                         ids=[c[0] for c in GPU_METADATA_CASES])
def test_gpu_get_mla_metadata_rejects(case_id, call, exc, match):
    with pytest.raises(exc, match=match):
        call()
    _cuda_healthy()


def _sparse(t: torch.Tensor) -> torch.Tensor:
    return t.to_sparse()


def _nested(t: torch.Tensor) -> torch.Tensor:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "nested tensors are a prototype"
        return torch.nested.nested_tensor(list(t.unbind(0)))


# Tensors with no plain data pointer and strides: named, never read (torch's DLPack exchange
# crashes on them, so the fast reader must not see them either).
NON_STRIDED_CASES = [
    ("q", "sparse", _sparse), ("q", "nested", _nested), ("k_cache", "sparse", _sparse),
    ("k_cache", "nested", _nested), ("block_table", "sparse", _sparse),
    ("cache_seqlens", "sparse", _sparse), (TSM, "sparse", _sparse), ("num_splits", "sparse", _sparse),
    ("out", "sparse", None), ("lse", "sparse", None),
]


def _make_non_strided(d, arg, make):
    if make is None:  # an output: a sparse tensor of the right shape and dtype
        b, s_q, h_q, _ = d["q"].shape
        shape, dtype = ((b, s_q, h_q, DV), d["q"].dtype) if arg == "out" else ((b, h_q, s_q), F32)
        d[arg] = _sparse(torch.zeros(shape, dtype=dtype, device=d["q"].device))
    else:
        d[arg] = make(d[arg])


@pytest.mark.parametrize("arg,kind,make", [c for c in NON_STRIDED_CASES if c[0] == "q"],
                         ids=[f"{c[0]}_{c[1]}" for c in NON_STRIDED_CASES if c[0] == "q"])
def test_non_strided_tensor_named_cpu(cpu_call, arg, kind, make):
    _make_non_strided(cpu_call, arg, make)
    with pytest.raises(ValueError, match=M(arg, "expected a dense (strided) tensor")):
        call_gpu(cpu_call)


@needs_cuda
@pytest.mark.parametrize("arg,kind,make", NON_STRIDED_CASES,
                         ids=[f"{c[0]}_{c[1]}" for c in NON_STRIDED_CASES])
def test_gpu_non_strided_tensor_named(gpu_case, arg, kind, make):
    d, _ = gpu_case
    _make_non_strided(d, arg, make)
    with pytest.raises(ValueError, match=M(arg, "expected a dense (strided) tensor")):
        call_gpu(d)
    _cuda_healthy()


@needs_cuda
def test_gpu_meta_tensor_named(gpu_case):
    d, _ = gpu_case
    d["k_cache"] = d["k_cache"].to("meta")
    with pytest.raises(RuntimeError, match=M("k_cache", "expected a cuda tensor",
                                               "non-CPU, non-CUDA")):
        call_gpu(d)
    _cuda_healthy()


@needs_cuda
def test_gpu_no_sticky_error_after_all_cases():
    """Runs last in this file: nothing above left the context broken."""
    _cuda_healthy()
    y = torch.randn(64, 64, device="cuda") @ torch.randn(64, 64, device="cuda")
    torch.cuda.synchronize()
    assert torch.isfinite(y).all()
