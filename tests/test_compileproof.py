"""A kernel check that passes under the tracer must also compile for a GPU (PTX for sm_75): the compile
error comes back in a learner's words, verdicts are cached, and without a compiler the check says so
once and still passes. (The grading tests cover the child-process path used under the simulator.)"""
import pytest
from numba import cuda

import gpuviz as gv
from gpuviz import kernelrecord
from gpuviz.exercises import compileproof


def axpy(a, x, y):
    return a * x + y


@cuda.jit(device=True)
def axpy_device(a, x, y):
    return a * x + y


@cuda.jit
def saxpy_helper(a, x, y, out):       # 01-saxpy asks for a grid-stride loop
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        out[i] = axpy(a, x[i], y[i])           # bug: a plain Python function


@cuda.jit
def saxpy_device(a, x, y, out):       # 01-saxpy asks for a grid-stride loop
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        out[i] = axpy_device(a, x[i], y[i])


@cuda.jit
def saxpy_tuple_index(a, x, y, out):       # 01-saxpy asks for a grid-stride loop
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        out[i] = a * x[i] + y[i] + len(str(i)) * 0     # bug: str() does not exist on a GPU


@pytest.fixture(autouse=True)
def fresh_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(compileproof, "_said_unavailable", False)


def test_a_plain_python_helper_fails_with_the_fix():
    r = gv.check("01-saxpy", saxpy_helper)
    assert not r.passed and r.message == ("`saxpy_helper` runs in the simulator but does not compile for a GPU: "
                                          "`axpy` is a plain Python function: decorate it with "
                                          "`@cuda.jit(device=True)`.")


def test_other_compile_errors_quote_the_compiler():
    r = gv.check("01-saxpy", saxpy_tuple_index)
    assert not r.passed
    assert r.message.startswith("`saxpy_tuple_index` runs in the simulator but does not compile for a GPU "
                                "(PTX for sm_75); the compiler says:\nTypingError")


def test_a_device_function_passes_and_the_verdict_is_cached(monkeypatch, tmp_path):
    assert gv.check("01-saxpy", saxpy_device).passed
    assert list((tmp_path / "gpuviz" / "compileproof").glob("*.json"))
    monkeypatch.setattr(compileproof, "_compile", lambda recs: pytest.fail("compiled again"))
    assert gv.check("01-saxpy", saxpy_device).passed


def test_without_a_compiler_the_check_says_so_once(monkeypatch, capsys):
    monkeypatch.setattr(kernelrecord, "_cannot_compile_here", lambda: "no CUDA libraries")
    monkeypatch.setattr(compileproof, "_compile", compileproof.compile_all)     # here, not in the child
    assert gv.check("01-saxpy", saxpy_helper).passed            # cannot be proven either way
    first = capsys.readouterr().err
    assert "could not verify that `saxpy_helper` compiles for a GPU: no CUDA libraries" in first
    assert gv.check("01-saxpy", saxpy_device).passed
    assert "could not verify" not in capsys.readouterr().err


def test_a_failed_check_is_not_compiled(monkeypatch):
    monkeypatch.setattr(compileproof, "verify", lambda *a: pytest.fail("a failing kernel was compiled"))
    assert not gv.check("01-grayscale", saxpy_device).passed
