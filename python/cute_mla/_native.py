"""Access to the compiled module ``cute_mla._C``.

Importing ``cute_mla`` must work without it (the reference and the test helpers are pure
torch), so the import error is kept and raised, with a hint, where the module is needed.
"""

from __future__ import annotations

try:
    from . import _C as _module
    _import_error = None
except ImportError as e:  # pragma: no cover - depends on the installation
    _module = None
    _import_error = e


def module():
    """The compiled module; ImportError with the original cause if it is missing."""
    if _module is None:
        raise ImportError(
            "cute_mla._C (the compiled module) could not be imported: install the package "
            "with `pip install .` from the repository root") from _import_error
    return _module


def available() -> bool:
    return _module is not None
