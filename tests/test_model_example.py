"""The DeepSeek-V3 example's absorption math on the CPU: a transformers DeepseekV3Attention
decoding with its own eager attention and cache against the absorbed latent path through
cute_mla.reference (float32), so every step of the rewrite (W_UK into the query, the paged
latent cache, the layer's softmax scale, W_UV and o_proj after) is checked without a GPU.
The same code runs on the kernel in test_model_example_gpu.py."""

from __future__ import annotations

import pytest
import torch

from model_example import TRANSFORMERS_MIN, load_example


@pytest.fixture(scope="module")
def example():
    return load_example()


def _assert_all_ok(results, bound):
    for r in results:
        assert r.ok and r.rel_l2 <= bound and r.max_err <= bound, r


def test_default_run_matches_the_model_in_float32(example, capsys):
    assert example.main(["--backend", "reference"]) == 0
    table = capsys.readouterr().out
    assert "all steps within tolerance" in table
    results = example.run("reference")
    assert len(results) == 6
    # 61 + 6 crosses the first page boundary; lengths are one past the prompt per step.
    assert results[0].lengths == [62, 131, 204] and results[-1].lengths == [67, 136, 209]
    _assert_all_ok(results, 2e-5)


@pytest.mark.parametrize("kwargs", [
    dict(heads=128, tokens_per_step=2, steps=2, prompts=(1, 64, 65)),
    dict(q_lora_rank=None, yarn=False, steps=2, prompts=(5, 200)),
], ids=["128-heads-2-tokens-per-step", "no-q-lora-plain-rope"])
def test_other_layer_shapes_match_in_float32(example, kwargs):
    _assert_all_ok(example.run("reference", **kwargs), 2e-5)


def test_bfloat16_rounding_of_query_and_cache_is_within_the_gpu_tolerance(example):
    # What the kernel's inputs lose to bf16 alone must leave room under the GPU test's bound.
    results = example.run("reference", dtype=torch.bfloat16, steps=2)
    tol = example.TOLERANCE[torch.bfloat16]
    for r in results:
        assert r.ok and r.rel_l2 < tol["rel_l2"] / 2, r


def test_the_kernels_default_scale_is_caught(example):
    # DeepSeek-V3's YaRN makes the layer's scale 192**-0.5 * mscale**2, not 576**-0.5.
    results = example.run("reference", steps=1, softmax_scale=576 ** -0.5)
    assert not any(r.ok for r in results)
    assert results[0].rel_l2 > 0.1


def test_help_explains_the_backends(example, capsys):
    with pytest.raises(SystemExit) as e:
        example.parse_args(["--help"])
    assert e.value.code == 0
    text = capsys.readouterr().out
    assert "--backend" in text and "cute_mla.reference" in text and "rel_l2" in text


def test_minimum_transformers_version_is_the_examples(example):
    assert example.TRANSFORMERS_MIN == TRANSFORMERS_MIN
