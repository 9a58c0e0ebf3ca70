"""Shared pytest options."""


def pytest_addoption(parser):
    parser.addoption("--full-grid", action="store_true", default=False,
                     help="run FlashMLA's whole correctness grid (b up to 64) in the GPU tests")
