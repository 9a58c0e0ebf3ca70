"""The low-level module ``cute_mla._C`` driven by other DLPack frameworks, no torch tensors
involved in the calls:

* on the GPU (where the framework is installed with GPU support and an sm_90 GPU is present):
  ``plan_metadata`` + ``check_decode`` + ``decode`` on CuPy (FP16, on a CuPy stream of its own)
  and JAX (BF16 and FP16) arrays, checked against ``cute_mla.reference`` with FlashMLA's
  tolerances. JAX arrays are immutable; ``_C``'s out-parameters are filled in place through
  DLPack, which is what this low-level API does (a JAX integration proper would wrap it in
  ``jax.ffi``);
* on the CPU (numpy always, JAX where installed): the host planner gives the same bits for that
  framework's arrays as for torch's, and ``check_decode``/``decode`` reject CPU arrays with a
  RuntimeError naming the argument (the device contract of check.hpp).
"""

from __future__ import annotations

import pytest
import torch

from cute_mla import _native
from cute_mla.reference import mla_decode_reference
from cute_mla.testing import LSE_TOLERANCE, OUT_TOLERANCE, check_close, make_decode_inputs
from dlpack_adapters import cupy_gpu, jax_cpu, jax_gpu
from gpu_marks import SM90_MISSING

_C = _native.module()
DV = 512

CASES = [  # b, s_q, h_q, h_kv, mean length, causal
    (3, 1, 16, 1, 300, False),
    (2, 2, 128, 1, 1000, True),
    (4, 4, 64, 8, 140, True),
]


def _adapter(make):
    if SM90_MISSING is not None:
        pytest.skip(SM90_MISSING)
    adapter = make()
    if isinstance(adapter, str):
        pytest.skip(adapter)
    return adapter


def _host(t: torch.Tensor):
    return t.float().numpy() if t.is_floating_point() else t.numpy()


def _decode_with(fw, inputs, dtype: str):
    """plan_metadata, check_decode and decode on ``fw``'s arrays; returns (out, lse) as torch."""
    b, s_q, h_q, _ = inputs.q.shape
    h_kv = inputs.k_cache.shape[2]
    rows = s_q * h_q // h_kv
    q = fw.put(_host(inputs.q), dtype)
    k_cache = fw.put(_host(inputs.k_cache), dtype)
    block_table = fw.put(_host(inputs.block_table), "int32")
    seqlens = fw.put(_host(inputs.cache_seqlens), "int32")
    meta = fw.empty((_C.num_sm_parts(fw.num_sms, h_kv, rows), 8), "int32")
    splits = fw.empty((b + 1,), "int32")
    _C.plan_metadata(seqlens, rows, h_kv, meta, splits, fw.stream())
    out = fw.empty((b, s_q, h_q, DV), dtype)
    lse = fw.empty((b, h_q, s_q), "float32")
    scale, causal = inputs.softmax_scale, inputs.causal
    nbytes = _C.check_decode(q, k_cache, block_table, seqlens, DV, meta, splits, scale, causal,
                             out, lse)
    workspace = fw.empty((nbytes,), "uint8") if nbytes else None
    _C.decode(q, k_cache, block_table, seqlens, DV, meta, splits, scale, causal, out, lse,
              workspace, fw.stream())
    fw.sync()
    return torch.from_numpy(fw.get(out)), torch.from_numpy(fw.get(lse))


def _check_against_reference(fw, dtype: str, torch_dtype):
    for seed, (b, s_q, h_q, h_kv, length, causal) in enumerate(CASES):
        inputs = make_decode_inputs(b, s_q, h_q, h_kv, length, varlen=True, causal=causal,
                                    dtype=torch_dtype, device="cpu", seed=seed)
        out, lse = _decode_with(fw, inputs, dtype)
        ref_out, ref_lse = mla_decode_reference(inputs.q, inputs.k_cache, inputs.block_table,
                                                inputs.cache_seqlens, DV, inputs.softmax_scale,
                                                causal)
        label = f"{fw.name} {dtype} b={b} s_q={s_q} h_q={h_q} h_kv={h_kv} causal={causal}"
        check_close(f"{label} out", out, ref_out.to(torch_dtype).float(), **OUT_TOLERANCE)
        check_close(f"{label} lse", lse, ref_lse, **LSE_TOLERANCE)


def test_cupy_arrays_on_a_cupy_stream():
    # CuPy has no bfloat16 dtype; FP16 is the kernel's other type.
    _check_against_reference(_adapter(cupy_gpu), "float16", torch.float16)


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_jax_arrays(dtype):
    _check_against_reference(_adapter(jax_gpu), dtype, getattr(torch, dtype))


# --- CPU: no GPU needed ---------------------------------------------------------------------


def _numpy_asarray():
    return pytest.importorskip("numpy", reason="numpy is not installed").asarray


def _jax_asarray():
    jnp = jax_cpu()
    if isinstance(jnp, str):
        pytest.skip(jnp)
    import jax

    # Placed on the CPU explicitly: where JAX has a GPU backend, that is its default device.
    cpu = jax.devices("cpu")[0]
    return lambda x: jax.device_put(jnp.asarray(x), cpu)


@pytest.fixture(params=[_numpy_asarray, _jax_asarray], ids=["numpy", "jax"])
def as_cpu_array(request):
    """Converter from a host numpy array to that framework's CPU array."""
    return request.param()


def _aligned_int32(shape, fill):
    """numpy aligns to 16 bytes; the planner's outputs must be 32-byte aligned even on the host
    (check.hpp refuses others, naming the argument)."""
    import numpy as np

    count = int(np.prod(shape))
    raw = np.full(count + 8, fill, np.int32)
    skip = (-raw.ctypes.data % 32) // 4
    return raw[skip:skip + count].reshape(shape)


def test_host_planner_gives_the_same_bits_for_cpu_arrays(as_cpu_array):
    import numpy as np

    lengths = torch.tensor([0, 1, 63, 64, 65, 4096, 130000, 7], dtype=torch.int32)
    parts = _C.num_sm_parts(132, 1, 128)
    want_meta = torch.zeros(parts, 8, dtype=torch.int32)
    want_splits = torch.zeros(len(lengths) + 1, dtype=torch.int32)
    _C.plan_metadata(lengths, 128, 1, want_meta, want_splits)
    # The outputs are numpy arrays for every framework: JAX's own are immutable.
    meta = _aligned_int32((parts, 8), -1)
    splits = _aligned_int32((len(lengths) + 1,), -1)
    _C.plan_metadata(as_cpu_array(lengths.numpy()), 128, 1, meta, splits)
    assert np.array_equal(meta, want_meta.numpy()) and np.array_equal(splits, want_splits.numpy())


def test_decode_rejects_cpu_arrays_naming_the_argument(as_cpu_array):
    import numpy as np

    inputs = make_decode_inputs(2, 1, 16, 1, 100, dtype=torch.float16, device="cpu", seed=0)
    q = as_cpu_array(inputs.q.numpy())
    k_cache = as_cpu_array(inputs.k_cache.numpy())
    args = [q, k_cache, as_cpu_array(inputs.block_table.numpy()),
            as_cpu_array(inputs.cache_seqlens.numpy())]
    out = np.zeros((2, 1, 16, DV), np.float16)
    lse = np.zeros((2, 16, 1), np.float32)
    with pytest.raises(RuntimeError, match=r"^q: expected a cuda tensor, got one on cpu"):
        _C.check_decode(*args, DV, None, None, 0.1, False, out, lse)
    with pytest.raises(RuntimeError, match=r"^q: expected a cuda tensor, got one on cpu"):
        _C.decode(*args, DV, None, None, 0.1, False, out, lse, None, 0)


def test_read_only_input_arrays_are_accepted():
    np = pytest.importorskip("numpy", reason="numpy is not installed")
    lengths = np.array([5, 70, 200], np.int32)
    lengths.setflags(write=False)
    parts = _C.num_sm_parts(132, 1, 16)
    meta = _aligned_int32((parts, 8), 0)
    splits = _aligned_int32((4,), 0)
    _C.plan_metadata(lengths, 16, 1, meta, splits)
    assert splits[-1] > 0
