"""Zero-allocation calls (issue 4, item 3): ``out=``/``lse=``, a reusable workspace, metadata
planned into caller buffers; the default workspace cached per (device, stream)."""

from __future__ import annotations

import pytest
import torch

import cute_mla
from cute_mla._workspace import WorkspaceCache
from gpu_marks import requires_sm90
from native_spy import native_spy  # noqa: F401  (fixture)

I32 = torch.int32


# --- metadata into caller buffers (CPU planner: same code path, same bits as the GPU) ------------

def test_metadata_out_writes_the_given_buffers():
    seqlens = torch.tensor([5000, 0, 64, 65, 130000], dtype=I32)
    want_meta, want_splits = cute_mla.get_mla_metadata(seqlens, 128, 1, num_sms=132)
    meta = torch.full_like(want_meta, -7)
    splits = torch.full_like(want_splits, -7)
    got = cute_mla.get_mla_metadata(seqlens, 128, 1, out=(meta, splits))
    assert got[0] is meta and got[1] is splits
    assert torch.equal(meta, want_meta) and torch.equal(splits, want_splits)


def test_metadata_out_pads_a_longer_num_splits_with_its_last_value():
    """A captured batch of 8, a live batch of 3: entries past batch + 1 repeat the total, so
    the requests past the live batch have no pieces."""
    live = torch.tensor([700, 12, 9000], dtype=I32)
    want_meta, want_splits = cute_mla.get_mla_metadata(live, 16, 1, num_sms=132)
    meta = torch.full_like(want_meta, -7)
    splits = torch.full((9,), -7, dtype=I32)
    cute_mla.get_mla_metadata(live, 16, 1, out=(meta, splits))
    assert torch.equal(meta, want_meta)
    total = int(want_splits[-1])
    assert splits.tolist() == want_splits.tolist() + [total] * 5


def test_metadata_out_is_validated():
    seqlens = torch.tensor([10, 20], dtype=I32)
    meta, splits = cute_mla.get_mla_metadata(seqlens, 16, 1, num_sms=132)
    with pytest.raises(TypeError, match=r"^out: expected a \(tile_scheduler_metadata"):
        cute_mla.get_mla_metadata(seqlens, 16, 1, out=meta)
    with pytest.raises(TypeError, match=r"^tile_scheduler_metadata: expected dtype int32"):
        cute_mla.get_mla_metadata(seqlens, 16, 1, out=(meta.float(), splits))
    with pytest.raises(ValueError, match=r"^num_splits: expected shape\[0\] == 3"):
        cute_mla.get_mla_metadata(seqlens, 16, 1, out=(meta, splits[:2]))


# --- the workspace cache ---------------------------------------------------------------------------

def test_workspace_cache_grows_per_stream_and_never_shrinks():
    cache = WorkspaceCache()
    like = torch.empty(1)
    assert cache.get(-1, 7) is None
    w = cache.grow(like, 7, 3 << 20)
    assert w.dtype == torch.uint8 and w.numel() == 4 << 20  # rounded up to 2 MiB
    assert cache.get(-1, 7) is w
    assert cache.get(-1, 8) is None  # another stream has its own
    cache.grow(like, 8, 1)
    assert cache.bytes_held() == (4 << 20) + (2 << 20)
    cache.clear()
    assert cache.bytes_held() == 0 and cache.get(-1, 7) is None


def test_steady_state_calls_reuse_the_cached_workspace(native_spy):
    """The Python side of the default path: the first call learns the size and allocates once;
    later calls hand over the same buffer and allocate nothing."""
    cute_mla.clear_workspace_cache()
    b, h_q = 2, 16
    q = torch.zeros(b, 1, h_q, 576, dtype=torch.bfloat16)
    k_cache = torch.zeros(8, 64, 1, 576, dtype=torch.bfloat16)
    table = torch.arange(8, dtype=I32).view(b, 4)
    seqlens = torch.tensor([100, 200], dtype=I32)
    meta, splits = cute_mla.get_mla_metadata(seqlens, h_q, 1, num_sms=8)
    out = torch.empty(b, 1, h_q, 512, dtype=torch.bfloat16)
    lse = torch.empty(b, h_q, 1)
    for _ in range(4):
        got = cute_mla.flash_mla_with_kvcache(q, k_cache, table, seqlens, 512, meta, splits,
                                              out=out, lse=lse)
        assert got[0] is out and got[1] is lse
    first = native_spy.workspaces
    assert first[0] is None and first[1] is not None  # learn the size, then launch
    assert all(w is first[1] for w in first[2:]), "the workspace was reallocated"
    assert native_spy.calls["decode_torch"] == 5
    cute_mla.clear_workspace_cache()


# --- GPU: allocation counts of real calls ---------------------------------------------------------

def _allocations() -> int:
    return torch.cuda.memory_stats()["allocation.all.allocated"]


def _gpu_step(b=8, h_q=64, L=3000):
    from cute_mla.testing import make_decode_inputs
    inp = make_decode_inputs(b, 1, h_q, 1, L, varlen=True, seed=2)
    meta, splits = cute_mla.get_mla_metadata(inp.cache_seqlens, h_q, 1)
    return inp, meta, splits


@requires_sm90
def test_steady_state_eager_calls_allocate_nothing():
    inp, meta, splits = _gpu_step()
    args = (inp.q, inp.k_cache, inp.block_table, inp.cache_seqlens, 512, meta, splits)
    out, lse = cute_mla.flash_mla_with_kvcache(*args)  # sizes the cached workspace
    torch.cuda.synchronize()
    before = _allocations()
    for _ in range(10):
        cute_mla.flash_mla_with_kvcache(*args, out=out, lse=lse)
        cute_mla.get_mla_metadata(inp.cache_seqlens, 64, 1, out=(meta, splits))
    assert _allocations() == before
    # Without out/lse the call allocates exactly those two: the workspace is cached.
    before = _allocations()
    for _ in range(10):
        cute_mla.flash_mla_with_kvcache(*args)
    assert _allocations() - before == 20
    ref_out, ref_lse = cute_mla.flash_mla_with_kvcache(*args)
    assert torch.equal(out, ref_out) and torch.equal(lse, ref_lse)


@requires_sm90
def test_explicit_workspace_is_used_and_checked():
    inp, meta, splits = _gpu_step()
    args = (inp.q, inp.k_cache, inp.block_table, inp.cache_seqlens, 512, meta, splits)
    need = cute_mla.decode_workspace_size(inp.q, inp.k_cache, meta)
    ws = torch.empty(need, dtype=torch.uint8, device="cuda")
    want_out, want_lse = cute_mla.flash_mla_with_kvcache(*args)
    out, lse = torch.empty_like(want_out), torch.empty_like(want_lse)
    before = _allocations()
    cute_mla.flash_mla_with_kvcache(*args, out=out, lse=lse, workspace=ws)
    assert _allocations() == before
    assert torch.equal(out, want_out) and torch.equal(lse, want_lse)
    with pytest.raises(ValueError, match=rf"^workspace: {need - 1} bytes given, {need} needed"):
        cute_mla.flash_mla_with_kvcache(*args, workspace=ws[:need - 1])
    with pytest.raises(TypeError, match=r"^workspace: expected dtype uint8, got float32"):
        cute_mla.flash_mla_with_kvcache(*args, workspace=torch.empty(need, device="cuda"))
    with pytest.raises(RuntimeError, match=r"^workspace: expected a cuda tensor"):
        cute_mla.flash_mla_with_kvcache(*args, workspace=ws.cpu())
    with pytest.raises(ValueError, match=r"^workspace: data pointer must be 256-byte aligned"):
        big = torch.empty(need + 512, dtype=torch.uint8, device="cuda")
        cute_mla.flash_mla_with_kvcache(*args, workspace=big[16:16 + need])
