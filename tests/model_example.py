"""Loads examples/deepseek_v3_decode.py for the tests, or skips them when transformers (an
optional dependency of the example only; CI does not install it) is missing or too old."""

from __future__ import annotations

import importlib.util
import os
import sys

import pytest

EXAMPLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples")
TRANSFORMERS_MIN = "5.0"  # kept equal to the example's own TRANSFORMERS_MIN by a test


def load_example():
    pytest.importorskip("transformers", minversion=TRANSFORMERS_MIN,
                        reason=f"the DeepSeek-V3 example needs transformers>={TRANSFORMERS_MIN} "
                        "(optional; not installed by CI)")
    path = os.path.join(EXAMPLES, "deepseek_v3_decode.py")
    spec = importlib.util.spec_from_file_location("deepseek_v3_decode", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module
