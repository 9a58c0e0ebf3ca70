"""CUDA graphs: metadata + combine, and whole decode steps (metadata + one decode per layer),
captured once and replayed with new lengths, padded rows and a smaller live batch."""

from __future__ import annotations

import warnings

import pytest
import torch

import cute_mla
from cute_mla.reference import merge_partials_reference, mla_decode_reference
from cute_mla.testing import LSE_TOLERANCE, OUT_TOLERANCE, check_close, make_decode_inputs
from gpu_marks import requires_sm90

pytestmark = requires_sm90
DV = 512


def test_metadata_and_combine_replay_with_new_lengths():
    b, s_q, h_q, h_kv = 64, 1, 128, 1
    rows = s_q * h_q // h_kv
    sms = torch.cuda.get_device_properties(0).multi_processor_count
    parts = cute_mla._C.num_sm_parts(sms, h_kv, rows)
    slots = b + parts
    seqlens = torch.zeros(b, dtype=torch.int32, device="cuda")
    o_accum = torch.empty(slots, h_kv, rows, DV, device="cuda")
    lse_accum = torch.empty(slots, h_kv, rows, device="cuda")
    out = torch.empty(b, s_q, h_q, DV, dtype=torch.bfloat16, device="cuda")
    lse = torch.empty(b, h_q, s_q, device="cuda")

    def step():
        meta, splits = cute_mla.get_mla_metadata(seqlens, rows, h_kv)
        cute_mla._C.combine(o_accum, lse_accum, splits, out, lse, parts,
                            torch.cuda.current_stream().cuda_stream)
        return meta, splits

    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        step()  # warm-up outside capture (kernel attributes, lazy module load)
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        meta, splits = step()

    gen = torch.Generator(device="cuda").manual_seed(3)
    for replay in range(4):
        new = torch.randint(0, 30000, (b,), dtype=torch.int32, device="cuda", generator=gen)
        if replay == 2:
            new[b // 2:] = 0  # padded rows of length 0
        seqlens.copy_(new)
        o_accum.copy_(torch.randn(o_accum.shape, device="cuda", generator=gen))
        lse_accum.copy_(torch.randn(lse_accum.shape, device="cuda", generator=gen) * 3)
        out.fill_(float("nan"))
        lse.fill_(float("nan"))
        graph.replay()
        torch.cuda.synchronize()

        cpu_meta, cpu_splits = cute_mla.get_mla_metadata(new.cpu(), rows, h_kv, num_sms=sms)
        assert torch.equal(meta.cpu(), cpu_meta), f"replay {replay}: metadata"
        assert torch.equal(splits.cpu(), cpu_splits), f"replay {replay}: num_splits"
        starts = cpu_splits.tolist()
        merged = 0
        for i in range(b):
            lo, hi = starts[i], starts[i + 1]
            if hi - lo == 1:
                assert torch.isnan(lse[i]).all(), f"replay {replay}: unsplit request {i} touched"
                continue
            o_ref, lse_ref = merge_partials_reference(o_accum[lo:hi], lse_accum[lo:hi])
            check_close(f"out[{i}]", out[i, 0], o_ref[0].to(torch.bfloat16), **OUT_TOLERANCE)
            check_close(f"lse[{i}]", lse[i, :, 0], lse_ref[0], **LSE_TOLERANCE)
            merged += 1
        assert merged > 0, f"replay {replay}: no split request exercised the combine"


# ------------------------------------------------------------------------------------------------
# A decode step as an engine captures it: metadata + one decode per layer, in one graph.
# ------------------------------------------------------------------------------------------------
LAYERS = 3
B_CAP, S_Q, H_Q, H_KV, MAX_LEN = 8, 1, 128, 1, 2048
ROWS = S_Q * H_Q // H_KV


def _allocations() -> int:
    return torch.cuda.memory_stats()["allocation.all.allocated"]


def _capture_overhead() -> int:
    """Allocations torch's capture itself counts (an empty capture makes 2 on torch 2.11)."""
    graph = torch.cuda.CUDAGraph()
    before = _allocations()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "the CUDA Graph is empty"
        with torch.cuda.graph(graph):
            pass
    return _allocations() - before


class CapturedStep:
    """Static buffers for B_CAP requests and LAYERS layers (each its own q and cache), captured
    once: metadata from the lengths buffer, then every layer's decode into its out/lse."""

    def __init__(self, metadata_in_graph: bool):
        self.metadata_in_graph = metadata_in_graph
        self.inputs = [make_decode_inputs(B_CAP, S_Q, H_Q, H_KV, MAX_LEN, seed=11 + i)
                       for i in range(LAYERS)]
        first = self.inputs[0]
        # Every layer shares the lengths and the block table, as in a model.
        for inp in self.inputs[1:]:
            inp.block_table = first.block_table
            inp.cache_seqlens = first.cache_seqlens
        self.seqlens = first.cache_seqlens
        self.block_table = first.block_table
        self.meta, self.splits = cute_mla.get_mla_metadata(self.seqlens, ROWS, H_KV)
        self.outs = [torch.empty(B_CAP, S_Q, H_Q, DV, dtype=torch.bfloat16, device="cuda")
                     for _ in range(LAYERS)]
        self.lses = [torch.empty(B_CAP, H_Q, S_Q, device="cuda") for _ in range(LAYERS)]
        ws_bytes = cute_mla.decode_workspace_size(first.q, first.k_cache, self.meta)
        self.workspace = torch.empty(ws_bytes, dtype=torch.uint8, device="cuda")

    def step(self):
        if self.metadata_in_graph:
            cute_mla.get_mla_metadata(self.seqlens, ROWS, H_KV, out=(self.meta, self.splits))
        for inp, out, lse in zip(self.inputs, self.outs, self.lses):
            cute_mla.flash_mla_with_kvcache(
                inp.q, inp.k_cache, self.block_table, self.seqlens, DV, self.meta, self.splits,
                out=out, lse=lse, workspace=self.workspace)

    def capture(self) -> torch.cuda.CUDAGraph:
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            self.step()
        torch.cuda.current_stream().wait_stream(side)
        torch.cuda.synchronize()
        graph = torch.cuda.CUDAGraph()
        overhead = _capture_overhead()
        before = _allocations()
        # The default capture error mode ("global") makes any sync or host read inside the
        # region fail the capture.
        with torch.cuda.graph(graph):
            self.step()
        allocated = _allocations() - before - overhead
        assert allocated == 0, f"the captured step allocated memory {allocated} time(s)"
        return graph

    def poison(self):
        for out, lse in zip(self.outs, self.lses):
            out.fill_(float("nan"))
            lse.fill_(float("nan"))

    def check_rows(self, rows, what):
        for layer, (inp, out, lse) in enumerate(zip(self.inputs, self.outs, self.lses)):
            ref_out, ref_lse = mla_decode_reference(inp.q[rows], inp.k_cache,
                                                    self.block_table[rows], self.seqlens[rows],
                                                    DV)
            check_close(f"{what} layer {layer} out", out[rows], ref_out.to(out.dtype),
                        **OUT_TOLERANCE)
            check_close(f"{what} layer {layer} lse", lse[rows], ref_lse, **LSE_TOLERANCE)


def _new_lengths(gen, n):
    return torch.randint(1, MAX_LEN + 1, (n,), dtype=torch.int32, device="cuda", generator=gen)


def test_layers_replay_with_new_lengths_and_padded_rows():
    """Metadata in the graph: replays with new length values, and with padded rows of length 0
    whose block-table rows hold ids no page has."""
    s = CapturedStep(metadata_in_graph=True)
    graph = s.capture()
    gen = torch.Generator(device="cuda").manual_seed(5)
    live = B_CAP // 2 + 1
    for replay, padded in enumerate((False, False, True, True)):
        lengths = _new_lengths(gen, B_CAP)
        if padded:
            lengths[live:] = 0
            s.block_table[live:] = 2**31 - 1  # a padded row's table is garbage
        s.seqlens.copy_(lengths)
        s.poison()
        graph.replay()
        torch.cuda.synchronize()
        n = live if padded else B_CAP
        s.check_rows(slice(0, n), f"replay {replay}")
        if padded:
            for out, lse in zip(s.outs, s.lses):
                assert torch.equal(out[live:], torch.zeros_like(out[live:])), "padded out != 0"
                assert torch.isposinf(lse[live:]).all(), "padded lse != +inf"


def test_layers_replay_with_smaller_live_batch():
    """Metadata planned outside the graph for a live batch smaller than the captured one, into
    the captured buffers (num_splits padded with its last value): the live rows are right and
    the rows past them are not written."""
    s = CapturedStep(metadata_in_graph=False)
    graph = s.capture()
    gen = torch.Generator(device="cuda").manual_seed(6)
    for live in (B_CAP, 1, 3, B_CAP - 1):
        lengths = _new_lengths(gen, B_CAP)
        s.seqlens.copy_(lengths)
        cute_mla.get_mla_metadata(s.seqlens[:live], ROWS, H_KV, out=(s.meta, s.splits))
        assert s.splits.shape == (B_CAP + 1,)
        s.poison()
        graph.replay()
        torch.cuda.synchronize()
        s.check_rows(slice(0, live), f"live {live}")
        for out, lse in zip(s.outs, s.lses):
            assert torch.isnan(out[live:]).all() and torch.isnan(lse[live:]).all(), \
                f"live {live}: a row past the live batch was written"


def test_default_path_captures():
    """No buffers given: out/lse/workspace come from the graph's pool; replay still right."""
    # New lengths stay within each request's first one: the cache rows past it hold NaN.
    inp = make_decode_inputs(4, 2, 16, 1, 0, causal=True, seed=3, seqlens=[700, 300, 5, 640])
    rows = 2 * 16
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())

    def step():
        meta, splits = cute_mla.get_mla_metadata(inp.cache_seqlens, rows, 1)
        return cute_mla.flash_mla_with_kvcache(inp.q, inp.k_cache, inp.block_table,
                                               inp.cache_seqlens, DV, meta, splits, causal=True)

    with torch.cuda.stream(side):
        step()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        out, lse = step()
    new = torch.tensor([650, 2, 0, 640], dtype=torch.int32, device="cuda")
    inp.cache_seqlens.copy_(new)
    graph.replay()
    torch.cuda.synchronize()
    ref_out, ref_lse = mla_decode_reference(inp.q, inp.k_cache, inp.block_table,
                                            inp.cache_seqlens, DV, None, True)
    check_close("out", out, ref_out.to(out.dtype), **OUT_TOLERANCE)
    check_close("lse", lse, ref_lse, **LSE_TOLERANCE)


def _fill(ws: torch.Tensor, how: str) -> None:
    if how == "zeros":
        ws.zero_()
    elif how == "ones":
        ws.fill_(0xFF)
    else:
        gen = torch.Generator(device="cuda").manual_seed(3)
        ws.copy_(torch.randint(0, 256, ws.shape, dtype=torch.uint8, device="cuda", generator=gen))


@pytest.mark.parametrize("how", ["zeros", "ones", "random"])
def test_two_piece_requests_merge_whatever_the_workspace_held(how):
    """A request cut into exactly two pieces is merged by the decode kernel itself, through a
    flag in the workspace that needs no initial value (the launch's token marks the first piece
    done; the merging piece resets it). Zeros, 0xFF bytes or random bytes in the workspace give
    the bits of the cached workspace's call, eagerly and in a graph replayed three times on the
    same workspace (a graph keeps one token: a flag left set by a replay would let the next
    replay merge before the first piece's partial is written)."""
    b, h_q = 80, 128
    inp = make_decode_inputs(b, 1, h_q, 1, 3000, varlen=True, seed=5)
    meta, splits = cute_mla.get_mla_metadata(inp.cache_seqlens, h_q, 1)
    # The decode kernel merges pairs only with a batch at least as large as the parts
    # (kernel::merge_pairs_in_decode); below that the combine merges them.
    assert b >= meta.shape[0], f"batch {b} < {meta.shape[0]} parts: the combine would merge the pairs"
    pieces = (splits[1:b + 1] - splits[:b]).cpu()
    assert int((pieces == 2).sum()) >= 16, f"the plan has too few two-piece requests: {pieces.tolist()}"
    args = (inp.q, inp.k_cache, inp.block_table, inp.cache_seqlens, DV, meta, splits)
    want_out, want_lse = cute_mla.flash_mla_with_kvcache(*args)
    ref_out, ref_lse = mla_decode_reference(inp.q, inp.k_cache, inp.block_table, inp.cache_seqlens, DV)
    check_close("out", want_out, ref_out.to(want_out.dtype), **OUT_TOLERANCE)
    check_close("lse", want_lse, ref_lse, **LSE_TOLERANCE)

    ws = torch.empty(cute_mla.decode_workspace_size(inp.q, inp.k_cache, meta), dtype=torch.uint8,
                     device="cuda")
    out, lse = torch.full_like(want_out, float("nan")), torch.full_like(want_lse, float("nan"))
    _fill(ws, how)
    cute_mla.flash_mla_with_kvcache(*args, out=out, lse=lse, workspace=ws)
    assert torch.equal(out, want_out) and torch.equal(lse, want_lse), "eager call"

    _fill(ws, how)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        cute_mla.flash_mla_with_kvcache(*args, out=out, lse=lse, workspace=ws)
    for replay in range(3):
        out.fill_(float("nan"))
        lse.fill_(float("nan"))
        graph.replay()
        torch.cuda.synchronize()
        assert torch.equal(out, want_out) and torch.equal(lse, want_lse), f"replay {replay}"
