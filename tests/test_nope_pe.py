"""The second call convention, ``cute_mla.mla_decode(q_nope, q_pe, ckv_cache, kpe_cache, ...)``:
the latent and RoPE parts as separate tensors, or as strided views of one 576-wide tensor.

Without a GPU: the validation of the four operands through ``_C.check_decode_described`` (each
error names the argument of this convention). On an SM90 GPU: the results equal
``flash_mla_with_kvcache`` on the 576-wide tensors bit for bit (same kernel, same data; the
views need no copy), and match the float32 reference.
"""

from __future__ import annotations

import pytest
import torch

import cute_mla
from cute_mla import _native
from cute_mla.reference import mla_decode_reference
from cute_mla.testing import LSE_TOLERANCE, OUT_TOLERANCE, check_close, make_decode_inputs
from gpu_marks import requires_sm90
from test_validation import describe as _describe  # a CPU tensor described as on cuda:0

DV = 512


def _split_inputs(b=3, s_q=2, h_q=16, h_kv=1, seqlen=200, device="cpu"):
    inp = make_decode_inputs(b, s_q, h_q, h_kv, seqlen, varlen=True, device=device)
    meta, splits = cute_mla.get_mla_metadata(inp.cache_seqlens.cpu(), s_q * h_q // h_kv, h_kv,
                                             num_sms=132)
    return inp, meta, splits


def _check(q_nope, q_pe, ckv, kpe, inp, meta, splits):
    C = _native.module()
    return C.check_decode_described(
        _describe(q_nope), _describe(ckv), _describe(inp.block_table),
        _describe(inp.cache_seqlens), DV, _describe(meta), _describe(splits), 0.1, False,
        q_pe=_describe(q_pe), kpe_cache=_describe(kpe))


@pytest.mark.skipif(not _native.available(), reason="cute_mla._C is not built")
class TestValidation:
    def test_views_of_576_wide_tensors_pass(self):
        inp, meta, splits = _split_inputs()
        q, k = inp.q, inp.k_cache
        assert _check(q[..., :512], q[..., 512:], k[..., :512], k[..., 512:], inp, meta,
                      splits) > 0

    def test_separate_tensors_pass(self):
        inp, meta, splits = _split_inputs()
        q, k = inp.q, inp.k_cache
        assert _check(q[..., :512].contiguous(), q[..., 512:].contiguous(),
                      k[..., :512].contiguous(), k[..., 512:].contiguous(), inp, meta,
                      splits) > 0

    @pytest.mark.parametrize("case, exc, words", [
        ("q_nope_576", ValueError, ["q_nope", "512"]),
        ("ckv_576", ValueError, ["ckv_cache", "512"]),
        ("q_pe_dim", ValueError, ["q_pe", "64"]),
        ("q_pe_heads", ValueError, ["q_pe", "q_nope"]),
        ("kpe_pages", ValueError, ["kpe_cache", "ckv_cache"]),
        ("kpe_dtype", TypeError, ["kpe_cache", "dtype"]),
        ("q_pe_strided_last", ValueError, ["q_pe"]),
    ])
    def test_bad_operands_are_named(self, case, exc, words):
        inp, meta, splits = _split_inputs()
        q, k = inp.q, inp.k_cache
        args = [q[..., :512], q[..., 512:], k[..., :512], k[..., 512:]]
        if case == "q_nope_576":
            args[0] = q
        elif case == "ckv_576":
            args[2] = k
        elif case == "q_pe_dim":
            args[1] = q[..., 448:]
        elif case == "q_pe_heads":
            args[1] = q[:, :, :8, 512:]
        elif case == "kpe_pages":
            args[3] = k[1:, ..., 512:]
        elif case == "kpe_dtype":
            args[3] = k[..., 512:].to(torch.float16)
        elif case == "q_pe_strided_last":
            args[1] = q[..., 448::2]  # 64 columns, last stride 2
        with pytest.raises(exc) as e:
            _check(*args, inp, meta, splits)
        for w in words:
            assert w in str(e.value), str(e.value)

    @pytest.mark.parametrize("case, exc, message", [
        ("q_nope_on_cpu", RuntimeError, "q_nope: expected a cuda tensor, got one on cpu"),
        ("q_nope_float32", TypeError, "q_nope: expected dtype bfloat16 or float16"),
        ("ckv_on_cpu", RuntimeError, "ckv_cache: expected a cuda tensor"),
    ])
    def test_device_and_dtype_errors_use_this_conventions_names(self, case, exc, message):
        """The first checks (device, dtype) name q_nope / ckv_cache, not q / k_cache."""
        inp, meta, splits = _split_inputs()
        q, k = inp.q, inp.k_cache
        operands = {"q_nope": _describe(q[..., :512]), "ckv": _describe(k[..., :512])}
        if case == "q_nope_on_cpu":
            operands["q_nope"] = _describe(q[..., :512], device="cpu")
        elif case == "q_nope_float32":
            operands["q_nope"] = _describe(q[..., :512].float())
        else:
            operands["ckv"] = _describe(k[..., :512], device="cpu")
        C = _native.module()
        with pytest.raises(exc) as e:
            C.check_decode_described(
                operands["q_nope"], operands["ckv"], _describe(inp.block_table),
                _describe(inp.cache_seqlens), DV, _describe(meta), _describe(splits), 0.1,
                False, q_pe=_describe(q[..., 512:]), kpe_cache=_describe(k[..., 512:]))
        assert str(e.value).startswith(message), str(e.value)

    def test_one_rope_operand_alone_is_refused(self):
        inp, meta, splits = _split_inputs()
        q, k = inp.q, inp.k_cache
        C = _native.module()
        with pytest.raises(ValueError, match="kpe_cache"):
            C.check_decode_described(
                _describe(q[..., :512]), _describe(k[..., :512]), _describe(inp.block_table),
                _describe(inp.cache_seqlens), DV, _describe(meta), _describe(splits), 0.1,
                False, q_pe=_describe(q[..., 512:]))


@requires_sm90
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=["bf16", "fp16"])
@pytest.mark.parametrize("b, s_q, h_q, h_kv, seqlen, causal", [
    (1, 1, 16, 1, 1, False),
    (4, 1, 128, 1, 4100, False),
    (6, 2, 64, 2, 140, True),
    (3, 4, 9, 3, 65, True),
])
def test_equals_576_convention(dtype, b, s_q, h_q, h_kv, seqlen, causal):
    inp = make_decode_inputs(b, s_q, h_q, h_kv, seqlen, varlen=True, causal=causal, dtype=dtype)
    meta, splits = cute_mla.get_mla_metadata(inp.cache_seqlens, s_q * h_q // h_kv, h_kv)
    q, k = inp.q, inp.k_cache
    ref_out, ref_lse = cute_mla.flash_mla_with_kvcache(q, k, inp.block_table, inp.cache_seqlens,
                                                       DV, meta, splits, causal=causal)
    layouts = {
        "views": (q[..., :512], q[..., 512:], k[..., :512], k[..., 512:]),
        "separate": (q[..., :512].contiguous(), q[..., 512:].contiguous(),
                     k[..., :512].contiguous(), k[..., 512:].contiguous()),
    }
    for name, (q_nope, q_pe, ckv, kpe) in layouts.items():
        out = torch.full_like(ref_out, float("nan"))
        lse = torch.full_like(ref_lse, float("nan"))
        got_out, got_lse = cute_mla.mla_decode(q_nope, q_pe, ckv, kpe, inp.block_table,
                                               inp.cache_seqlens, meta, splits, causal=causal,
                                               out=out, lse=lse)
        assert got_out is out and got_lse is lse
        assert torch.equal(out, ref_out), f"{name}: out differs from the 576-wide convention"
        assert torch.equal(lse, ref_lse), f"{name}: lse differs from the 576-wide convention"
    exp_out, exp_lse = mla_decode_reference(q, k, inp.block_table, inp.cache_seqlens, DV, None,
                                            causal)
    check_close("out", out, exp_out.to(dtype), **OUT_TOLERANCE)
    check_close("lse", lse, exp_lse, **LSE_TOLERANCE)
