"""A stand-in for ``cute_mla._C`` that records calls (CPU tests of the Python call path).

Every attribute forwards to the real module, counting calls by name; ``decode_torch`` is
replaced by a model of its contract (no GPU here): it needs ``need`` bytes of workspace,
returns ``need`` without launching when allowed to grow and given less, else 0.
"""

from __future__ import annotations

import collections

import pytest

from cute_mla import _native


class NativeSpy:
    def __init__(self, real, need: int = 4096):
        self._real = real
        self.need = need
        self.calls = collections.Counter()
        self.workspaces = []  # the workspace of each decode_torch call

    def __getattr__(self, name):
        target = getattr(self._real, name)
        if not callable(target):
            return target

        def counted(*args, **kwargs):
            self.calls[name] += 1
            return target(*args, **kwargs)

        return counted

    def decode_torch(self, *args):
        self.calls["decode_torch"] += 1
        workspace, may_grow = args[13], args[14]  # after out, lse, q_pe, kpe_cache
        self.workspaces.append(workspace)
        given = 0 if workspace is None else workspace.numel()
        if given < self.need:
            if may_grow:
                return self.need
            raise ValueError(f"workspace: {given} bytes given, {self.need} needed")
        return 0


@pytest.fixture
def native_spy(monkeypatch):
    spy = NativeSpy(_native.module())
    monkeypatch.setattr(_native, "_module", spy)
    return spy
