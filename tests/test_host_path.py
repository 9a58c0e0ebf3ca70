"""Host overhead of an eager call (issue 4, item 4; PERFORMANCE.md target 6: <= 20 us).

The shape of the call path that makes it cheap: one native call per operation, tensors handed
over as plain descriptions, never through a DLPack export (``__dlpack__`` costs several
microseconds a tensor, and the decode passes nine). The host time itself is a benchmark figure,
not a test assertion: ``python -m bench.bench_decode --serving`` reports it next to FlashMLA's.
"""

from __future__ import annotations

import pytest
import torch

import cute_mla
from cute_mla import interface
from gpu_marks import requires_sm90
from native_spy import native_spy  # noqa: F401  (fixture)



def _inputs(device="cpu", b=2, s_q=1, h_q=16, pages=4):
    q = torch.zeros(b, s_q, h_q, 576, dtype=torch.bfloat16, device=device)
    k_cache = torch.zeros(pages * b, 64, 1, 576, dtype=torch.bfloat16, device=device)
    block_table = torch.arange(pages * b, dtype=torch.int32, device=device).view(b, pages)
    seqlens = torch.full((b,), 100, dtype=torch.int32, device=device)
    return q, k_cache, block_table, seqlens


@pytest.fixture
def no_dlpack(monkeypatch):
    def refuse(self, *args, **kwargs):
        raise AssertionError("a tensor was exported through DLPack on the eager path")
    monkeypatch.setattr(torch.Tensor, "__dlpack__", refuse)


def test_decode_is_one_native_call_without_dlpack(native_spy, no_dlpack):
    q, k_cache, block_table, seqlens = _inputs()
    meta, splits = cute_mla.get_mla_metadata(seqlens, 16, 1, num_sms=8)
    out = torch.empty(2, 1, 16, 512, dtype=torch.bfloat16)
    lse = torch.empty(2, 16, 1)
    cute_mla.flash_mla_with_kvcache(q, k_cache, block_table, seqlens, 512, meta, splits,
                                    out=out, lse=lse)  # first call: sizes the workspace
    native_spy.calls.clear()
    for _ in range(5):
        cute_mla.flash_mla_with_kvcache(q, k_cache, block_table, seqlens, 512, meta, splits,
                                        out=out, lse=lse)
    assert dict(native_spy.calls) == {"decode_torch": 5}


def test_plain_call_skips_the_python_type_checks(native_spy, monkeypatch):
    """Plain tensors, an int head_dim_v and explicit metadata are recognised by one test of
    exact types; anything else (here a subclass) takes the full checks, which name the
    argument. Both reach the native call."""
    checked = []
    full = interface._check_decode_types
    monkeypatch.setattr(interface, "_check_decode_types",
                        lambda *args: checked.append(args) or full(*args))
    q, k_cache, block_table, seqlens = _inputs()
    meta, splits = cute_mla.get_mla_metadata(seqlens, 16, 1, num_sms=8)
    cute_mla.flash_mla_with_kvcache(q, k_cache, block_table, seqlens, 512, meta, splits)
    assert not checked and native_spy.calls["decode_torch"] >= 1
    native_spy.calls.clear()
    cute_mla.flash_mla_with_kvcache(torch.nn.Parameter(q, requires_grad=False), k_cache,
                                    block_table, seqlens, 512, meta, splits)
    assert len(checked) == 1 and native_spy.calls["decode_torch"] >= 1
    with pytest.raises(TypeError, match=r"^head_dim_v: expected an int, got bool$"):
        cute_mla.flash_mla_with_kvcache(q, k_cache, block_table, seqlens, True, meta, splits)


def test_metadata_is_one_native_call_without_dlpack(native_spy, no_dlpack):
    seqlens = torch.tensor([100, 0, 7000], dtype=torch.int32)
    cute_mla.get_mla_metadata(seqlens, 16, 1, num_sms=8)  # fills the parts cache
    native_spy.calls.clear()
    meta, splits = cute_mla.get_mla_metadata(seqlens, 16, 1, num_sms=8)
    assert dict(native_spy.calls) == {"plan_metadata_torch": 1}
    assert splits.tolist()[0] == 0 and meta.shape[1] == 8


@pytest.mark.parametrize("dtype, name", [(torch.int64, "int64"), (torch.float64, "float64"),
                                         (torch.uint8, "uint8"), (torch.bool, "bool"),
                                         (torch.bfloat16, "bfloat16")])
def test_tensors_are_read_without_dlpack(no_dlpack, dtype, name):
    """The native side reads torch tensors itself: dtypes named as torch names them, strided
    views read with their strides (the CPU planner runs on what it read)."""
    with pytest.raises(TypeError, match=rf"^cache_seqlens: expected dtype int32, got {name}$"):
        cute_mla.get_mla_metadata(torch.zeros(3, dtype=dtype), 16, 1, num_sms=8)
    base = torch.tensor([[100, -1], [0, -1], [7000, -1]], dtype=torch.int32)
    with pytest.raises(ValueError, match=r"^cache_seqlens: expected a contiguous tensor"):
        cute_mla.get_mla_metadata(base[:, 0], 16, 1, num_sms=8)
    want = cute_mla.get_mla_metadata(base[:, 0].contiguous(), 16, 1, num_sms=8)
    meta = torch.empty(want[0].shape[0], 16, dtype=torch.int32)[:, ::2]
    with pytest.raises(ValueError, match=r"^tile_scheduler_metadata: expected a contiguous"):
        cute_mla.get_mla_metadata(base[:, 0].contiguous(), 16, 1, out=(meta, want[1]))


def test_tensor_subclasses_are_read_by_attribute_name(no_dlpack):
    """A plain torch.Tensor is read through torch's descriptors (looked up once); a subclass may
    override any attribute, so it is read by name: the same plan, and its overrides are seen."""
    class Sub(torch.Tensor):
        pass

    class Int64Dtype(torch.Tensor):
        @property
        def dtype(self):
            return torch.int64

    seqlens = torch.tensor([100, 0, 7000], dtype=torch.int32)
    plain = cute_mla.get_mla_metadata(seqlens, 16, 1, num_sms=8)
    sub = cute_mla.get_mla_metadata(seqlens.as_subclass(Sub), 16, 1, num_sms=8)
    assert all(torch.equal(a, b) for a, b in zip(plain, sub))
    with pytest.raises(TypeError, match=r"^cache_seqlens: expected dtype int32, got int64$"):
        cute_mla.get_mla_metadata(seqlens.as_subclass(Int64Dtype), 16, 1, num_sms=8)


@requires_sm90
def test_cuda_subclass_inputs_give_the_same_bits():
    """Plain CUDA tensors are read through torch's DLPack C exchange API, subclasses attribute by
    attribute (they may override any attribute): both readings launch the same work, so the
    outputs are equal bit for bit, written into subclass outputs as well."""
    from cute_mla.testing import make_decode_inputs

    class Sub(torch.Tensor):
        pass

    inp = make_decode_inputs(4, 2, 16, 1, 300, varlen=True, causal=True)
    meta, splits = cute_mla.get_mla_metadata(inp.cache_seqlens, 32, 1)
    args = (inp.q, inp.k_cache, inp.block_table, inp.cache_seqlens)
    out, lse = cute_mla.flash_mla_with_kvcache(*args, 512, meta, splits, causal=True)
    sub_out = torch.full_like(out, float("nan")).as_subclass(Sub)
    sub_lse = torch.full_like(lse, float("nan")).as_subclass(Sub)
    cute_mla.flash_mla_with_kvcache(*(t.as_subclass(Sub) for t in args), 512,
                                    meta.as_subclass(Sub), splits.as_subclass(Sub), causal=True,
                                    out=sub_out, lse=sub_lse)
    torch.cuda.synchronize()
    assert torch.isfinite(out).all()
    assert torch.equal(out, sub_out.as_subclass(torch.Tensor))
    assert torch.equal(lse, sub_lse.as_subclass(torch.Tensor))
