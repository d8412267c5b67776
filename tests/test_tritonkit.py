"""gpuviz.tritonkit: the interpreter's bounds check, the recording of launches, and the compile-for-GPU
check of Triton kernels (sm_75 and sm_90, no GPU): a kernel that runs in the interpreter but that Triton's
compiler rejects fails `gpuviz compile-check` with the compiler's words.
"""
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

triton = pytest.importorskip("triton", reason='Triton is not installed: pip install "gpuviz[triton]"')
import torch  # noqa: E402

from gpuviz import tritonkit  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

KERNELS = '''
import triton
import triton.language as tl

SCALE = tl.constexpr(2.0)


@triton.jit
def twice(x):
    return x * SCALE


@triton.jit
def scale_kernel(x_ptr, out_ptr, n, BLOCK: tl.constexpr):
    offsets = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offsets < n
    tl.store(out_ptr + offsets, twice(tl.load(x_ptr + offsets, mask=mask)), mask=mask)


@triton.jit
def sum_fp16(x_ptr, out_ptr, n, BLOCK: tl.constexpr):    # runs in the interpreter; the compiler refuses it
    acc = tl.zeros((BLOCK,), dtype=tl.float16)
    for k0 in range(0, n, BLOCK):
        offsets = k0 + tl.arange(0, BLOCK)
        acc += tl.load(x_ptr + offsets, mask=offsets < n, other=0.0)
    tl.store(out_ptr + tl.arange(0, BLOCK), acc)
'''


@pytest.fixture(scope="module")
def kernels(tmp_path_factory):
    import importlib.util

    path = tmp_path_factory.mktemp("tritonkit") / "tk_kernels.py"
    path.write_text(KERNELS)
    spec = importlib.util.spec_from_file_location("tk_kernels", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _compile_check(log):
    # TRITON_INTERPRET=1 stays set, as in a learner's session: the check compiles all the same
    assert os.environ.get("TRITON_INTERPRET") == "1"
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    return subprocess.run([sys.executable, "-m", "gpuviz.course.compilecheck", str(log)], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=600)


def test_signature_in_the_words_of_ast_source(kernels):
    x, out = torch.zeros(4), torch.zeros(4, dtype=torch.float16)
    sig, consts, opts = tritonkit.signature(kernels.scale_kernel.fn, (x, out, 4), {"BLOCK": 8, "num_warps": 2})
    assert sig == {"x_ptr": "*fp32", "out_ptr": "*fp16", "n": "i32", "BLOCK": "constexpr"}
    assert consts == {"BLOCK": 8} and opts == {"num_warps": 2}


def test_bounds_check_names_the_program_and_the_tensor(kernels):
    x, out = torch.arange(10, dtype=torch.float32), torch.empty(10)
    with tritonkit.bounds_checked(x=x, out=out):
        kernels.scale_kernel[(2,)](x, out, 10, BLOCK=8)          # masked: inside
    assert torch.equal(out, 2 * x)
    with pytest.raises(Exception) as e, tritonkit.bounds_checked(x=x, out=out):
        kernels.scale_kernel[(2,)](x, out, 16, BLOCK=8)          # n too large: the mask lets lanes through
    err = tritonkit.unwrap_error(e.value)
    assert isinstance(err, tritonkit.OutOfBounds)
    assert "program 1:" in str(err) and "past the end of x" in str(err), err


def test_recorded_kernels_compile_for_sm75_and_sm90(kernels, tmp_path):
    log = tmp_path / "kernels.jsonl"
    x, out = torch.randn(100), torch.empty(100)
    tritonkit.record(kernels.scale_kernel, (x, out, 100), {"BLOCK": 64, "num_warps": 2}, path=str(log))
    rec = json.loads(log.read_text())
    assert rec["kind"] == "triton" and not rec["errors"]
    assert rec["namespace"]["twice"]["kind"] == "triton" and rec["launch_options"] == {"num_warps": 2}
    p = _compile_check(log)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "ok     sm_75  scale_kernel(" in p.stdout and "ok     sm_90  scale_kernel(" in p.stdout, p.stdout


def test_a_kernel_the_compiler_refuses_fails_the_check(kernels, tmp_path):
    log = tmp_path / "kernels.jsonl"
    x, out = torch.randn(100), torch.empty(16)
    kernels.sum_fp16[(1,)](x, out, 100, BLOCK=16)               # the interpreter runs it
    tritonkit.record(kernels.sum_fp16, (x, out, 100), {"BLOCK": 16}, path=str(log))
    p = _compile_check(log)
    assert p.returncode == 1, p.stdout + p.stderr
    assert "FAILED sm_75  sum_fp16(" in p.stdout and "Loop-carried variable acc" in p.stdout, p.stdout


def test_launches_are_recorded_while_the_log_is_set(kernels, tmp_path, monkeypatch):
    log = tmp_path / "kernels.jsonl"
    monkeypatch.setenv("GPUVIZ_KERNEL_LOG", str(log))
    assert tritonkit.load() is triton
    x, out = torch.randn(30), torch.empty(30)
    kernels.scale_kernel[(1,)](x, out, 30, BLOCK=32)
    names = [json.loads(line)["name"] for line in log.read_text().splitlines()]
    assert names == ["scale_kernel"]


def test_missing_triton_says_how_to_get_it(monkeypatch):
    monkeypatch.setattr(tritonkit, "available", lambda: False)
    with pytest.raises(ModuleNotFoundError, match=r'pip install "gpuviz\[triton\]"'):
        tritonkit.load()


def test_setup_switches_triton_to_its_interpreter_without_a_gpu():
    code = textwrap.dedent("""
        import os, gpuviz as gv
        gv.setup(quiet=True)
        print(os.environ.get("TRITON_INTERPRET"))
    """)
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"} | {"NUMBA_ENABLE_CUDASIM": "1"}
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert p.stdout.strip() == "1", p.stderr


def test_inductor_writes_a_triton_kernel_for_a_fused_softmax():
    def dense_softmax(x, w, b):
        return torch.softmax(torch.relu(x @ w + b), dim=1)

    code = tritonkit.inductor_code(dense_softmax, torch.randn(64, 100), torch.randn(100, 50), torch.randn(50))
    kernels = tritonkit.kernels_in(code)
    assert len(kernels) == 1 and "extern_kernels.addmm(" in code
    (name, src), = kernels.items()
    assert "softmax" in name and src.startswith("@triton.jit") and "tl.sum(" in src


def test_annotation_names_are_captured_and_failed_runs_not_recorded(kernels, tmp_path, monkeypatch):
    import importlib.util

    path = tmp_path / "tk_stub.py"
    path.write_text("import triton\nimport triton.language as tl\n\n\n@triton.jit\n"
                    "def stub(x_ptr, BLOCK: tl.constexpr):\n    raise NotImplementedError()\n\n\n@triton.jit\n"
                    "def nothing(x_ptr, BLOCK: tl.constexpr):\n    x = tl.arange(0, BLOCK)\n")
    spec = importlib.util.spec_from_file_location("tk_stub", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    log = tmp_path / "kernels.jsonl"
    monkeypatch.setenv("GPUVIZ_KERNEL_LOG", str(log))
    tritonkit.load()
    mod.x = x = torch.zeros(4)                                  # a global of the kernels' module
    with pytest.raises(Exception):
        mod.stub[(1,)](x, BLOCK=4)
    mod.nothing[(1,)](x, BLOCK=4)
    recs = [json.loads(line) for line in log.read_text().splitlines()]
    # `tl` only in an annotation is captured; the global `x` (a tensor) is not: `x` is local to the kernel
    assert [r["name"] for r in recs] == ["nothing"] and "tl" in recs[0]["namespace"] and not recs[0]["errors"]
    p = _compile_check(log)
    assert p.returncode == 0, p.stdout + p.stderr
