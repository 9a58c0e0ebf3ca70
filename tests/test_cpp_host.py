"""The C++ host tests (tests/cpp/test_*.cpp) under pytest.

Each program is compiled with the system C++ compiler against include/ alone (no CUDA, no
CUTLASS, no GPU: the planner and the validation are plain C++17) and run; it prints its
failures as file:line and exits non-zero on any. CMake builds the same programs as ctest tests
(CUTE_MLA_BUILD_TESTS); this module lets the one pytest command cover them too.
"""

import os
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
INCLUDE = ROOT / "include"
SOURCES = sorted((ROOT / "tests" / "cpp").glob("test_*.cpp"))
FLAGS = ["-std=c++17", "-O1", "-Wall", "-Wextra", f"-I{INCLUDE}"]


def find_compiler():
    candidates = [os.environ.get("CXX", ""), "c++", "g++", "clang++"]
    for name in candidates:
        if name:
            path = shutil.which(name)
            if path:
                return path
    return None


def show(cmd, proc):
    return (
        f"$ {shlex.join(cmd)}\n(exit code {proc.returncode})\n"
        f"--- stdout ---\n{proc.stdout}\n--- stderr ---\n{proc.stderr}"
    )


@pytest.fixture(scope="module")
def cxx():
    compiler = find_compiler()
    if compiler is None:
        pytest.skip("no C++ compiler (c++, g++ or clang++; or $CXX) on PATH: "
                    "the C++ host tests need one")
    return compiler


def test_sources_present():
    assert SOURCES, f"no tests/cpp/test_*.cpp under {ROOT}"


@pytest.mark.parametrize("source", SOURCES, ids=[s.stem for s in SOURCES])
def test_cpp_host(cxx, source, tmp_path):
    exe = tmp_path / source.stem
    cmd = [cxx, *FLAGS, str(source), "-o", str(exe)]
    build = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, "compilation failed\n" + show(cmd, build)

    run = subprocess.run([str(exe)], cwd=tmp_path, capture_output=True, text=True,
                         timeout=600)
    assert run.returncode == 0, f"{source.name} reported failures\n" + show([str(exe)], run)
    print(run.stdout, end="")
