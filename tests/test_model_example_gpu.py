"""The DeepSeek-V3 example on the SM90 kernel: a transformers DeepseekV3Attention (float32,
eager, its own cache) against the absorbed latent path with cute-mla's decode in BF16/FP16 over
a shuffled paged cache, several steps, within the example's bf16/fp16 tolerance (its
TOLERANCE explains the bounds). The CPU twin (test_model_example.py) checks the same math in
float32 with the reference backend."""

from __future__ import annotations

import pytest
import torch

from gpu_marks import requires_sm90
from model_example import load_example

pytestmark = requires_sm90


@pytest.fixture(scope="module")
def example():
    return load_example()


def test_command_line_default_run(example, capsys):
    assert example.main(["--backend", "cute_mla"]) == 0
    assert "all steps within tolerance" in capsys.readouterr().out


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=["bf16", "fp16"])
@pytest.mark.parametrize("kwargs", [
    dict(),
    dict(heads=128, tokens_per_step=2, prompts=(1, 64, 65, 1000)),
    dict(q_lora_rank=None, yarn=False, prompts=(5, 200)),
], ids=["default", "128-heads-2-tokens-per-step", "no-q-lora-plain-rope"])
def test_kernel_matches_the_model(example, dtype, kwargs):
    results = example.run("cute_mla", dtype=dtype, **kwargs)
    assert len(results) == 6
    for r in results:
        assert r.ok, f"{r} (tolerance {example.TOLERANCE[dtype]})"


def test_kernel_with_the_default_scale_is_caught(example):
    results = example.run("cute_mla", steps=1, softmax_scale=576 ** -0.5)
    assert not results[0].ok
