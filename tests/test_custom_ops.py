"""torch.library custom ops (issue 4, item 2): registration, fake kernels, opcheck, and
torch.compile(fullgraph=True) of the public functions.

CPU: opcheck of the metadata ops (the CPU planner is a real kernel), the decode ops' fake kernels
on fake CUDA tensors, and a fullgraph compile that must route both public functions to the ops.
GPU: opcheck of the decode ops and a compiled decode step equal to eager, bit for bit.
"""

from __future__ import annotations

import pytest
import torch
from torch._subclasses.fake_tensor import FakeTensorMode

import cute_mla
from gpu_marks import requires_sm90

OPS = torch.ops.cute_mla
I32 = torch.int32


def _op_targets(gm: torch.fx.GraphModule) -> list:
    return [n.target for n in gm.graph.nodes if n.op == "call_function"]


def test_ops_are_registered():
    for name in ("get_mla_metadata", "get_mla_metadata_out", "flash_mla_with_kvcache",
                 "flash_mla_with_kvcache_out", "mla_decode", "mla_decode_out"):
        assert hasattr(OPS, name), name


@pytest.mark.parametrize("seqlens", [[100, 0, 7000], [1] * 33, [130000]])
def test_opcheck_metadata_cpu(seqlens):
    sl = torch.tensor(seqlens, dtype=I32)
    torch.library.opcheck(OPS.get_mla_metadata.default, (sl, 128, 1, 132))
    meta, splits = OPS.get_mla_metadata(sl, 128, 1, 132)
    torch.library.opcheck(OPS.get_mla_metadata_out.default,
                          (sl, 128, 1, torch.empty_like(meta), torch.empty_like(splits)))


@pytest.mark.parametrize("convention", ["576-wide", "latent+rope views"])
def test_decode_fake_kernels_on_fake_cuda_tensors(convention):
    """The decode ops' fake kernels; the second convention takes operands strided as views
    of one 576-wide q and cache, as vLLM passes them (made with empty_strided: slicing a fake
    CUDA tensor needs a CUDA build of torch, which CI has not)."""
    split = convention != "576-wide"
    dtype = torch.bfloat16 if split else torch.float16
    with FakeTensorMode():
        b, s_q, h_q = (2, 1, 128) if split else (3, 2, 64)
        q = torch.empty(b, s_q, h_q, 576, dtype=dtype, device="cuda")
        k_cache = torch.empty(40, 64, 1, 576, dtype=dtype, device="cuda")
        table = torch.empty(b, 10, dtype=I32, device="cuda")
        sl = torch.empty(b, dtype=I32, device="cuda")
        meta, splits = OPS.get_mla_metadata(sl, s_q * h_q, 1, 132)
        assert meta.shape == (cute_mla._C.num_sm_parts(132, 1, s_q * h_q), 8)
        assert splits.shape == (b + 1,) and splits.dtype == I32 and splits.is_cuda
        if split:
            def part(t, cols):  # t[..., :cols] or t[..., -cols:]'s shape and strides
                return torch.empty_strided((*t.shape[:3], cols), t.stride(), dtype=dtype,
                                           device="cuda")
            operands = (part(q, 512), part(q, 64), part(k_cache, 512), part(k_cache, 64),
                        table, sl, meta, splits, 0.07, False)
            functional, out_variant = OPS.mla_decode, OPS.mla_decode_out
        else:
            operands = (q, k_cache, table, sl, 512, meta, splits, 0.04, True)
            functional, out_variant = OPS.flash_mla_with_kvcache, OPS.flash_mla_with_kvcache_out
        out, lse = functional(*operands)
        assert out.shape == (b, s_q, h_q, 512) and out.dtype == dtype and out.is_cuda
        assert lse.shape == (b, h_q, s_q) and lse.dtype == torch.float32 and lse.is_cuda
        assert out_variant(*operands, out, lse, None) is None


def _split_step(q, kv0, kv1, table, seqlens, out1, lse1):
    """A decode step in the second convention: latent and RoPE parts as views, the second
    layer into caller buffers."""
    b, s_q, h_q, _ = q.shape
    meta, splits = cute_mla.get_mla_metadata(seqlens, s_q * h_q, 1)
    q_nope, q_pe = q[..., :512], q[..., 512:]
    o0, l0 = cute_mla.mla_decode(q_nope, q_pe, kv0[..., :512], kv0[..., 512:], table, seqlens,
                                 meta, splits)
    cute_mla.mla_decode(q_nope, q_pe, kv1[..., :512], kv1[..., 512:], table, seqlens, meta,
                        splits, out=out1, lse=lse1)
    return o0, l0, out1, lse1


def _two_layer_step(q, k0, k1, table, seqlens, out1, lse1):
    """What a model's decode step does: plan once, attend in every layer (the second one into
    caller buffers)."""
    b, s_q, h_q, _ = q.shape
    meta, splits = cute_mla.get_mla_metadata(seqlens, s_q * h_q, 1)
    o0, l0 = cute_mla.flash_mla_with_kvcache(q, k0, table, seqlens, 512, meta, splits)
    cute_mla.flash_mla_with_kvcache(q, k1, table, seqlens, 512, meta, splits, out=out1,
                                    lse=lse1)
    return o0, l0, out1, lse1


def _traced_op_names(step_fn, first_arg_name: str) -> list:
    """CPU tensors: Dynamo traces the whole step into one graph of the custom ops (a graph
    break would raise under fullgraph=True); running it then reaches the native validation,
    which rejects CPU tensors as eager does, naming the step's first operand. Returns the
    graph's call targets."""
    graphs = []

    def backend(gm, example_inputs):
        graphs.append(gm)
        return gm.forward

    torch._dynamo.reset()
    step = torch.compile(step_fn, fullgraph=True, backend=backend)
    q = torch.zeros(2, 1, 16, 576, dtype=torch.bfloat16)
    k = torch.zeros(8, 64, 1, 576, dtype=torch.bfloat16)
    table = torch.arange(8, dtype=I32).view(2, 4)
    seqlens = torch.tensor([100, 200], dtype=I32)
    out1 = torch.empty(2, 1, 16, 512, dtype=torch.bfloat16)
    lse1 = torch.empty(2, 16, 1)
    with pytest.raises(RuntimeError, match=f"^{first_arg_name}: expected a cuda tensor"):
        step(q, k, k, table, seqlens, out1, lse1)
    assert len(graphs) == 1
    return [str(t) for t in _op_targets(graphs[0])]


def test_compile_fullgraph_routes_to_the_ops():
    names = _traced_op_names(_two_layer_step, "q")
    assert sum("cute_mla.get_mla_metadata.default" in n for n in names) == 1, names
    assert sum("cute_mla.flash_mla_with_kvcache.default" in n for n in names) == 1, names
    assert sum("cute_mla.flash_mla_with_kvcache_out.default" in n for n in names) == 1, names


def test_compile_fullgraph_routes_mla_decode_to_the_ops():
    """The second convention: mla_decode and mla_decode_out in the graph, and the native
    validation reached with this convention's argument names."""
    names = _traced_op_names(_split_step, "q_nope")
    assert sum("cute_mla.mla_decode.default" in n for n in names) == 1, names
    assert sum("cute_mla.mla_decode_out.default" in n for n in names) == 1, names


def test_compiled_metadata_matches_eager_cpu():
    torch._dynamo.reset()
    plan = torch.compile(lambda sl: cute_mla.get_mla_metadata(sl, 64, 1, num_sms=132),
                         fullgraph=True, backend="aot_eager")
    sl = torch.tensor([5, 0, 4096, 64 * 1000], dtype=I32)
    got = plan(sl)
    want = cute_mla.get_mla_metadata(sl, 64, 1, num_sms=132)
    assert torch.equal(got[0], want[0]) and torch.equal(got[1], want[1])


# --- GPU -----------------------------------------------------------------------------------------

def _gpu_inputs(b=4, s_q=2, h_q=32, L=900, seed=0):
    from cute_mla.testing import make_decode_inputs
    return make_decode_inputs(b, s_q, h_q, 1, L, varlen=True, causal=True, seed=seed)


@requires_sm90
def test_opcheck_metadata_and_decode_gpu():
    inp = _gpu_inputs()
    rows = 2 * 32
    torch.library.opcheck(OPS.get_mla_metadata.default, (inp.cache_seqlens, rows, 1, 0))
    meta, splits = OPS.get_mla_metadata(inp.cache_seqlens, rows, 1, 0)
    torch.library.opcheck(OPS.get_mla_metadata_out.default,
                          (inp.cache_seqlens, rows, 1, torch.empty_like(meta),
                           torch.empty_like(splits)))
    args = (inp.q, inp.k_cache, inp.block_table, inp.cache_seqlens, 512, meta, splits,
            inp.softmax_scale, True)
    torch.library.opcheck(OPS.flash_mla_with_kvcache.default, args)
    out, lse = OPS.flash_mla_with_kvcache(*args)
    ws = torch.empty(cute_mla.decode_workspace_size(inp.q, inp.k_cache, meta),
                     dtype=torch.uint8, device="cuda")
    for workspace in (None, ws):
        torch.library.opcheck(OPS.flash_mla_with_kvcache_out.default,
                              args + (torch.empty_like(out), torch.empty_like(lse), workspace))


def _compiled_matches_eager(step_fn, backend, seed):
    """step_fn compiled (fullgraph) equals step_fn eager bit for bit, and writes the caller's
    buffers; returns the compiled outputs and the step's arguments."""
    inp = _gpu_inputs(seed=seed)
    b, s_q, h_q, _ = inp.q.shape
    buffers = (torch.empty(b, s_q, h_q, 512, dtype=inp.q.dtype, device="cuda"),
               torch.empty(b, h_q, s_q, device="cuda"))
    args = (inp.q, inp.k_cache, inp.k_cache * 0.5, inp.block_table, inp.cache_seqlens)
    want = [t.clone() for t in step_fn(*args, *[t.clone() for t in buffers])]
    torch._dynamo.reset()
    step = torch.compile(step_fn, fullgraph=True, backend=backend)
    got = step(*args, *buffers)
    for name, g, w in zip(("out0", "lse0", "out1", "lse1"), got, want):
        assert torch.equal(g, w), f"{name}: compiled != eager"
    assert torch.equal(buffers[0], want[2]) and torch.equal(buffers[1], want[3]), \
        "the compiled step did not write the caller's buffers"
    return got, args, buffers


@requires_sm90
@pytest.mark.parametrize("backend", ["aot_eager", "inductor"])
def test_compiled_step_matches_eager_gpu(backend):
    _compiled_matches_eager(_two_layer_step, backend, seed=1)


@requires_sm90
def test_opcheck_mla_decode_gpu():
    inp = _gpu_inputs(h_q=64)
    q, kv = inp.q, inp.k_cache
    meta, splits = cute_mla.get_mla_metadata(inp.cache_seqlens, 2 * 64, 1)
    args = (q[..., :512], q[..., 512:], kv[..., :512], kv[..., 512:], inp.block_table,
            inp.cache_seqlens, meta, splits, inp.softmax_scale, True)
    torch.library.opcheck(OPS.mla_decode.default, args)
    out, lse = OPS.mla_decode(*args)
    torch.library.opcheck(OPS.mla_decode_out.default,
                          args + (torch.empty_like(out), torch.empty_like(lse), None))


@requires_sm90
@pytest.mark.parametrize("backend", ["aot_eager", "inductor"])
def test_compiled_mla_decode_matches_eager_gpu(backend):
    """Compiled second-convention step equal to eager bit for bit, and to the 576-wide call."""
    got, args, buffers = _compiled_matches_eager(_split_step, backend, seed=2)
    wide = _two_layer_step(*args, *[torch.empty_like(t) for t in buffers])
    assert torch.equal(got[0], wide[0]) and torch.equal(got[1], wide[1]), \
        "second convention != 576-wide convention"
