"""CuPy and JAX seen through the few operations the DLPack tests need: put a host array on the
GPU, read one back, allocate, name the stream to launch on, wait. Each ``*_gpu()`` returns an
adapter, or a reason why that framework cannot run GPU work here (for the skip).

Neither framework is a dependency of cute-mla; both are imported only when a test asks.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable, Union

# JAX takes 75 % of the GPU at start-up by default; torch (the reference, the sync) needs some.
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")


@dataclass
class Adapter:
    name: str
    put: Callable        # (numpy array, dtype name) -> device array
    get: Callable        # device array -> numpy array (float32 for float dtypes)
    empty: Callable      # (shape, dtype name) -> device array
    stream: Callable     # () -> int handle for _C's stream argument
    sync: Callable       # () -> None: the work launched on stream() is done
    num_sms: int


def cupy_gpu() -> Union[Adapter, str]:
    try:
        import cupy
    except ImportError as e:
        return f"CuPy is not installed (optional; e.g. pip install cupy-cuda13x): {e}"
    try:
        device = cupy.cuda.Device(0)
        sms = device.attributes["MultiProcessorCount"]
    except Exception as e:  # CUDARuntimeError without a GPU or driver
        return f"CuPy sees no CUDA GPU: {e}"
    # A stream of CuPy's own (not the default one), so the handle really is followed.
    stream = cupy.cuda.Stream(non_blocking=True)
    dtypes = {"float16": cupy.float16, "float32": cupy.float32, "int32": cupy.int32,
              "uint8": cupy.uint8}

    def put(a, dtype):
        with stream:
            return cupy.asarray(a).astype(dtypes[dtype])

    def get(a):
        stream.synchronize()
        host = cupy.asnumpy(a)
        return host.astype("float32") if host.dtype.kind == "f" else host

    def empty(shape, dtype):
        with stream:
            return cupy.full(shape, float("nan") if dtype.startswith("float") else 0,
                             dtype=dtypes[dtype])

    return Adapter("cupy", put, get, empty, lambda: stream.ptr, stream.synchronize, sms)


def jax_gpu() -> Union[Adapter, str]:
    try:
        import jax
        import jax.numpy as jnp
    except ImportError as e:
        return f"JAX is not installed (optional; e.g. pip install 'jax[cuda13]'): {e}"
    try:
        gpu = jax.devices("gpu")[0]
    except RuntimeError as e:
        return f"JAX has no GPU backend here (CPU-only jaxlib): {e}"
    import torch

    dtypes = {"bfloat16": jnp.bfloat16, "float16": jnp.float16, "float32": jnp.float32,
              "int32": jnp.int32, "uint8": jnp.uint8}

    def ready(a):
        # JAX dispatches asynchronously; the kernel must not read a buffer still being filled.
        return a.block_until_ready()

    def put(a, dtype):
        return ready(jax.device_put(a, gpu).astype(dtypes[dtype]))

    def get(a):
        host = a.astype(jnp.float32) if jnp.issubdtype(a.dtype, jnp.floating) else a
        import numpy
        return numpy.asarray(host)

    def empty(shape, dtype):
        fill = float("nan") if dtype in ("bfloat16", "float16", "float32") else 0
        return ready(jax.device_put(jnp.full(shape, fill, dtype=dtypes[dtype]), gpu))

    def sync():
        # JAX exposes no stream handle; the launch goes to the legacy default stream (0) and
        # the whole device (one primary context, shared with XLA) is waited for.
        torch.cuda.synchronize()

    sms = torch.cuda.get_device_properties(0).multi_processor_count
    return Adapter("jax", put, get, empty, lambda: 0, sync, sms)


def jax_cpu() -> Union[object, str]:
    """jax.numpy when JAX imports (its CPU backend is always there), else why not."""
    try:
        import jax.numpy as jnp
    except ImportError as e:
        return f"JAX is not installed (optional): {e}"
    return jnp
