"""The compile-for-GPU check: kernels recorded at launch are rebuilt and compiled to PTX for sm_75/sm_90.

This test process uses Numba's real CUDA target (no GPU needed to compile); simulator runs happen in
subprocesses, as in CI.
"""
import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from gpuviz import kernelrecord
from gpuviz.course import compilecheck

FIXTURES = Path(__file__).parent / "compilecheck_fixtures"
BOTH = [(7, 5), (9, 0)]


def _load_fixture_kernels():
    spec = importlib.util.spec_from_file_location("compilecheck_kernels", FIXTURES / "kernels.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def k():
    return _load_fixture_kernels()


def _records(log):
    return [json.loads(line) for line in Path(log).read_text().splitlines()]


def _by_name_and_cc(results):
    return {(r.name, r.cc): r for r in results}


def test_record_captures_globals_device_functions_and_argument_types(k, tmp_path):
    log = tmp_path / "log.jsonl"
    a = np.ones((8, 8), np.float32)
    args = (a, np.zeros_like(a), np.float32(2))
    kernelrecord.record(k.tiled_copy, args, path=str(log))
    kernelrecord.record(k.tiled_copy, args, path=str(log))  # same kernel and types: one record
    kernelrecord.record(k.tiled_copy, (a, np.zeros_like(a), 2.0), path=str(log))  # new types: new record
    first, second = _records(log)

    assert first["name"] == "tiled_copy" and first["errors"] == []
    assert first["origin"].startswith(str(FIXTURES / "kernels.py") + ":")
    assert first["argtypes"][:2] == [{"kind": "array", "dtype": "float32", "ndim": 2, "layout": "C"}] * 2
    assert first["argtypes"][2]["repr"] == "float32" and second["argtypes"][2]["repr"] == "float64"
    ns = first["namespace"]
    assert ns["cuda"] == {"kind": "module", "module": "numba.cuda"}
    assert ns["numba"] == {"kind": "module", "module": "numba"}
    assert ns["TPB"]["repr"] == "4" and ns["SCALE"]["repr"] == "np.float32(0.5)"
    assert ns["float32"]["kind"] == "value" and ns["float32"]["repr"] == "float32"
    norm2 = ns["norm2"]
    assert norm2["kind"] == "device"
    assert norm2["function"]["namespace"]["math"] == {"kind": "module", "module": "math"}
    assert norm2["function"]["namespace"]["square"]["kind"] == "device"  # captured recursively
    assert "shape" not in ns and "grid" not in ns  # attribute names are not free names

    results = compilecheck.check_log(log, BOTH)
    assert [(r.cc, r.ok) for r in results] == [((7, 5), True), ((9, 0), True)] * 2, \
        [r.line() for r in results]


def test_closure_kernels_and_array_layouts_round_trip(k, tmp_path):
    log = tmp_path / "log.jsonl"
    scale3 = k.make_scale(3)
    kernelrecord.record(scale3, (np.zeros(8, np.float32), 8), path=str(log))
    kernelrecord.record(k.make_scale(0.25), (np.zeros((4, 4))[:, 0], 4), path=str(log))  # strided column
    f = np.zeros((4, 4), np.float32, order="F")
    kernelrecord.record(k.tiled_copy, (f, f, 1.0), path=str(log))
    one, two, three = _records(log)
    assert one["namespace"]["k"]["repr"] == "3" and two["namespace"]["k"]["repr"] == "0.25"
    assert one["options"]["fastmath"] is True
    assert one["argtypes"][1]["repr"] == "int64"
    assert two["argtypes"][0] == {"kind": "array", "dtype": "float64", "ndim": 1, "layout": "A"}
    assert three["argtypes"][0] == {"kind": "array", "dtype": "float32", "ndim": 2, "layout": "F"}

    results = compilecheck.check_log(log, [(7, 5)])
    assert [r.ok for r in results] == [True] * 3, [r.line() for r in results]
    ptx = kernelrecord.compile_record(one, (7, 5))
    assert ".target sm_75" in ptx
    assert "mul.ftz.f32" in ptx and "0f40400000" in ptx  # times 3.0f, with fastmath (ftz) as declared


def test_what_cannot_be_captured_is_reported_not_raised(k, tmp_path):
    log = tmp_path / "log.jsonl"
    kernelrecord.record(object(), (), path=str(log))  # not a kernel at all
    kernelrecord.record(k.tiled_copy, (np.ones(2), object(), 1), path=str(log))  # an untypeable argument
    results = compilecheck.check_log(log)
    assert [(r.ok, r.cc) for r in results] == [(False, None), (False, None)]
    assert "recording failed: TypeError: not a kernel: expected a @cuda.jit kernel or a Python function, got object" in results[0].message
    assert "could not be captured" in results[1].message and "argument of type object" in results[1].message


def test_record_does_nothing_without_a_log(k, monkeypatch, tmp_path):
    monkeypatch.delenv(kernelrecord.ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    kernelrecord.record(k.tiled_copy, (np.ones((2, 2)),) * 2 + (1.0,))
    assert list(tmp_path.iterdir()) == []


SIM_SCRIPT = """
    import importlib.util, sys
    import numpy as np
    from numba import cuda
    from gpuviz.kernelrecord import record

    spec = importlib.util.spec_from_file_location("kernels", {fixture!r})
    k = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(k)

    @cuda.jit("void(float32[:])")
    def declared(a):
        a[0] = 1.0

    def launch(kernel, grid, block, *args):
        record(kernel, args)  # what gpuviz's launch hook does when GPUVIZ_KERNEL_LOG is set
        kernel[grid, block](*args)

    a = np.arange(16, dtype=np.float32).reshape(4, 4)
    out = np.zeros_like(a)
    launch(k.tiled_copy, 1, (4, 4), cuda.to_device(a), out, np.float32(2))
    assert np.allclose(out, a), out
    x = np.ones(8, np.float32)
    launch(k.make_scale(3), 1, 8, x, 8)
    assert (x == 3).all()
    launch(k.alloc_inside, 1, 8, x)   # runs in the simulator ...
    assert (x == 0).all()
    launch(declared, 1, 1, np.zeros(4))  # float64 passes here; a GPU would refuse the launch
    print("simulator run ok", cuda.compile_ptx)
"""


def test_a_kernel_that_runs_in_the_simulator_but_not_on_a_gpu_fails_the_check(tmp_path):
    """The proof: record launches in the simulator, then compile in a process without it."""
    log, script = tmp_path / "kernels.jsonl", tmp_path / "launch_kernels.py"
    script.write_text(textwrap.dedent(SIM_SCRIPT.format(fixture=str(FIXTURES / "kernels.py"))))
    env = {**os.environ, "NUMBA_ENABLE_CUDASIM": "1", kernelrecord.ENV: str(log)}
    p = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=120, check=False)
    assert p.returncode == 0, p.stderr
    assert "simulator run ok None" in p.stdout  # it really ran in the simulator, where compile_ptx is None

    # The CLI, started with the simulator still set in its environment, as a CI job would.
    cli = subprocess.run([sys.executable, "-m", "gpuviz.course.compilecheck", str(log)], env=env,
                         capture_output=True, text=True, timeout=120, check=False)
    lines = cli.stdout.splitlines()
    assert cli.returncode == 1, cli.stdout + cli.stderr
    for name in ("tiled_copy", "scale"):
        for sm in ("sm_75", "sm_90"):
            assert any(ln.startswith(f"ok     {sm}  {name}(") for ln in lines), cli.stdout
    script_origin = f"[{script}:"
    for sm in ("sm_75", "sm_90"):
        bad = [ln for ln in lines if ln.startswith(f"FAILED {sm}  alloc_inside(array(float32, 1d, C))")]
        assert bad and f"[{FIXTURES / 'kernels.py'}:" in bad[0], cli.stdout
        assert any(ln.startswith(f"FAILED {sm}  declared(array(float64, 1d, C))") and script_origin in ln
                   for ln in lines), cli.stdout
    assert "No implementation of function Function(<built-in function zeros>)" in cli.stdout
    assert "matches none of the declared signatures: void(float32[:])" in cli.stdout
    assert lines[-2:] == ["4 kernel(s) compiled for sm_75, sm_90", "compile-check: 4 passed, 4 failed"]

    # The same as a function, in this (non-simulator) process.
    results = _by_name_and_cc(compilecheck.check_log(log))
    assert {key: r.ok for key, r in results.items()} == {
        ("tiled_copy", (7, 5)): True, ("tiled_copy", (9, 0)): True, ("scale", (7, 5)): True,
        ("scale", (9, 0)): True, ("alloc_inside", (7, 5)): False, ("alloc_inside", (9, 0)): False,
        ("declared", (7, 5)): False, ("declared", (9, 0)): False}


def test_log_shared_by_processes_is_deduplicated(tmp_path, k):
    log = tmp_path / "log.jsonl"
    for _ in range(2):  # two notebooks launching the same kernel: same line twice in the log
        kernelrecord._seen.clear()
        kernelrecord.record(k.make_scale(2), (np.zeros(4, np.float32), 4), path=str(log))
    assert len(_records(log)) == 2 and len(kernelrecord.read_log(log)) == 1


def test_cli_reports_a_missing_log_and_bad_arguments(tmp_path, capsys):
    assert compilecheck.main([str(tmp_path / "none.jsonl")]) == 2
    assert "no kernel log at" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        compilecheck.main([str(tmp_path), "--cc", "sm75"])


def test_kernels_defined_in_a_notebook_are_recorded_with_their_source(tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    log = tmp_path / "nb.jsonl"
    cell = textwrap.dedent("""
        import numpy as np
        from numba import cuda
        from gpuviz.kernelrecord import record
        N = 8

        @cuda.jit
        def add_one(a):
            i = cuda.grid(1)
            if i < N:
                a[i] += 1

        x = np.zeros(N, np.float32)
        record(add_one, (x,))
        add_one[1, N](x)
        assert (x == 1).all() and cuda.compile_ptx is None  # the simulator ran it
    """)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(cell)])
    monkeypatch.setenv("NUMBA_ENABLE_CUDASIM", "1")  # the kernel process inherits these
    monkeypatch.setenv(kernelrecord.ENV, str(log))
    nbclient.NotebookClient(nb, kernel_name="python3", timeout=120, resources={"metadata": {"path": str(tmp_path)}}
                            ).execute()
    monkeypatch.delenv("NUMBA_ENABLE_CUDASIM")  # Numba re-reads it when it compiles, here too
    (rec,) = _records(log)
    assert rec["errors"] == [] and rec["name"] == "add_one"
    assert rec["source"].startswith("@cuda.jit\ndef add_one(a):")
    assert "cell" in rec["origin"]  # "notebook cell /tmp/ipykernel_.../N.py:L", or the notebook's name
    assert rec["namespace"]["N"]["repr"] == "8"
    results = compilecheck.check_log(log, [(7, 5)])
    assert [(r.name, r.ok) for r in results] == [("add_one", True)], [r.line() for r in results]


# ---- kernels a notebook defines but launches only on a GPU -------------------------------------------

GPU_ONLY_CELLS = ["""
import numpy as np
from numba import cuda
import gpuviz as gv
gv.setup()
""", """
@cuda.jit(device=True)
def twice(v):                      # a device function: compiled through the kernels that call it
    return 2 * v

@cuda.jit
def everywhere(a):
    i = cuda.grid(1)
    if i < a.size:
        a[i] = twice(a[i])

x = np.ones(4, np.float32)
everywhere[1, 4](x)
""", """
%time y = 1
if gv.on_gpu():
    @cuda.jit
    def gpu_only(a):               # defined and launched only on a GPU: the simulator never sees it
        a[cuda.grid(1)] = 0
    gpu_only[1, 4](x)

def make():
    @cuda.jit(fastmath=True)
    def in_a_function(a):
        a[0] = 3
    return in_a_function
""", """
make()[1, 1](x)
"""]


def _run_notebook(cells, path, log, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    nbformat.write(nb, str(path))
    monkeypatch.setenv("NUMBA_ENABLE_CUDASIM", "1")  # the notebook's kernel process inherits these
    monkeypatch.setenv("GPUVIZ_OFFLINE", "1")
    monkeypatch.setenv(kernelrecord.ENV, str(log))
    nbclient.NotebookClient(nb, kernel_name="python3", timeout=120,
                            resources={"metadata": {"path": str(path.parent)}}).execute()
    monkeypatch.delenv("NUMBA_ENABLE_CUDASIM")  # Numba re-reads it when it compiles, here too


def test_notebook_kernels_are_found_wherever_they_are_defined(tmp_path):
    nbformat = pytest.importorskip("nbformat")
    path = tmp_path / "gpu_only.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in GPU_ONLY_CELLS]),
                   str(path))
    found = compilecheck.notebook_kernels([tmp_path])
    assert [(name, where) for name, _, where in found] == [
        ("everywhere", f"{path}, cell 2"), ("gpu_only", f"{path}, cell 3"), ("in_a_function", f"{path}, cell 3")]
    assert found[1][1].startswith("    @cuda.jit\n    def gpu_only(a):") and found[1][1].endswith("= 0")


def test_a_kernel_launched_only_on_a_gpu_fails_the_check(tmp_path, monkeypatch):
    """The class of defect: a kernel behind `if gv.on_gpu():` is never recorded in the simulator."""
    path, log = tmp_path / "gpu_only.ipynb", tmp_path / "kernels.jsonl"
    _run_notebook(GPU_ONLY_CELLS, path, log, monkeypatch)
    assert sorted(r["name"] for r in _records(log)) == ["everywhere", "in_a_function"]

    (missing,) = compilecheck.check_notebooks(log, [path])
    assert (missing.name, missing.origin, missing.ok) == ("gpu_only", f"{path}, cell 3", False)
    assert "never launched while the kernel log was written" in missing.message
    assert "give it a small launch in simulator mode too" in missing.message

    cli = subprocess.run([sys.executable, "-m", "gpuviz.course.compilecheck", str(log), "--notebooks", str(tmp_path)],
                         capture_output=True, text=True, timeout=300, check=False)
    lines = cli.stdout.splitlines()
    assert cli.returncode == 1, cli.stdout + cli.stderr
    assert f"FAILED -      gpu_only(never launched)  [{path}, cell 3]" in lines, cli.stdout
    assert sum(ln.startswith("ok     sm_") for ln in lines) == 4, cli.stdout   # the two recorded, twice
    assert lines[-1] == "compile-check: 4 passed, 1 failed", cli.stdout

    # Given a launch in the simulator too, it is recorded, and the check passes.
    cells = GPU_ONLY_CELLS[:2] + [GPU_ONLY_CELLS[2].replace("if gv.on_gpu():", "if True:")] + GPU_ONLY_CELLS[3:]
    _run_notebook(cells, path, log, monkeypatch)
    assert compilecheck.check_notebooks(log, [path]) == []


def test_a_changed_kernel_needs_its_own_record(tmp_path, monkeypatch):
    """Records match by name and source: the student version of a kernel is not the solution's."""
    path, log = tmp_path / "nb.ipynb", tmp_path / "kernels.jsonl"
    cells = GPU_ONLY_CELLS[:2]
    _run_notebook(cells, path, log, monkeypatch)
    assert compilecheck.check_notebooks(log, [path]) == []
    nbformat = pytest.importorskip("nbformat")
    changed = [cells[0], cells[1].replace("a[i] = twice(a[i])", "a[i] = twice(a[i]) + 1")]
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in changed]), str(path))
    assert [r.name for r in compilecheck.check_notebooks(log, [path])] == ["everywhere"]


def test_cli_needs_a_log_or_the_ladder(capsys):
    with pytest.raises(SystemExit):
        compilecheck.main([])
    assert "give a kernel log, --ladder, or both" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        compilecheck.main(["--ladder", "--notebooks", "x.ipynb"])
    assert "--notebooks needs the kernel log" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        compilecheck.main(["--ladder", "--cc", "8.0"])
    assert "knows the SM limits of 7.5, 9.0 only" in capsys.readouterr().err


# ---- registers, spills and occupancy -----------------------------------------------------------------

PTXAS_SM75 = """ptxas info    : 0 bytes gmem
ptxas info    : Compiling entry function '_Z6kernelPf' for 'sm_75'
ptxas info    : Function properties for _Z6kernelPf
ptxas         .     240 bytes stack frame, 384 bytes spill stores, 432 bytes spill loads
ptxas info    : Used 80 registers, 8320 bytes smem, 568 bytes cmem[0]
"""
NVJITLINK_SM90 = """ptxas info    : Compiling entry function '_Z6kernelPf' for 'sm_90'
ptxas info    : Function properties for _Z6kernelPf
ptxas         .     0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
ptxas info    : Used 147 registers, used 1 barriers
info    : used 147 registers, used 1 barriers, 0 stack, 9344 bytes smem, 744 bytes cmem[0], 0 bytes lmem
"""


def test_parse_ptxas_reports():
    assert compilecheck.parse_ptxas(PTXAS_SM75) == compilecheck.Resources(80, 384, 432, 240, 8320)
    r = compilecheck.parse_ptxas(NVJITLINK_SM90)
    assert (r.registers, r.spills, r.stack, r.shared) == (147, 0, 0, 9344)
    with pytest.raises(ValueError, match="no register report"):
        compilecheck.parse_ptxas("ptxas fatal   : Unsupported .version 9.5")


@pytest.mark.parametrize("regs, threads, shared, cc, blocks, limiter, fraction", [
    (147, 256, 8320, (9, 0), 1, "registers", 0.125),   # regblock2d without launch bounds: 4864 regs a warp
    (128, 256, 8320, (9, 0), 2, "registers", 0.25),    # 4096 a warp: 4 warps in each of 4 sub-partitions
    (128, 256, 8320, (7, 5), 2, "registers", 0.5),
    (32, 256, 0, (9, 0), 8, "warps", 1.0),              # 64 warps of 32 registers fill both files exactly
    (32, 256, 0, (7, 5), 4, "warps", 1.0),
    (16, 32, 0, (9, 0), 32, "blocks", 0.5),             # 1-warp blocks: the 32-block limit comes first
    (16, 32, 0, (7, 5), 16, "blocks", 0.5),
    (40, 512, 4096, (9, 0), 3, "registers", 0.75),      # 1280 a warp: 12 per sub-partition, 48 warps
    (32, 256, 48 * 1024, (7, 5), 1, "shared memory", 0.25),
    (32, 256, 48 * 1024, (9, 0), 4, "shared memory", 0.5),   # 49 KiB with the reserved 1 KiB: 4 in 228 KiB
    (255, 1024, 0, (9, 0), 0, "registers", 0.0),       # does not fit at all: a launch would fail
    (256, 32, 0, (9, 0), 0, "registers", 0.0),         # over 255 registers per thread
])
def test_occupancy_arithmetic(regs, threads, shared, cc, blocks, limiter, fraction):
    from gpuviz.launch import occupancy

    o = occupancy(regs, threads, shared, cc)
    assert (o.blocks, o.limiter, o.fraction) == (blocks, limiter, fraction)
    assert o.warps == blocks * -(-threads // 32)


def test_ladder_compiles_without_spills_and_regblock2d_fits_two_blocks():
    rows = compilecheck.check_ladder(sizes=(256, 4096))
    assert [r.line() for r in rows if not r.ok] == []
    assert {(r.name, r.cc) for r in rows} == {(n, cc) for n in mk_names() for cc in BOTH}
    for row in rows:
        assert row.res.spills == 0 and row.res.registers <= 255, row.line()
        if row.name == "regblock2d":
            assert row.res.registers <= 128 and row.occ.blocks >= 2 and row.occ.limiter == "registers", row.line()
            assert row.shared == 4 * 8 * (128 + 4) + 4 * 8 * 128


def mk_names():
    from gpuviz import matmul_kernels as mk

    return [r.name for r in mk.LADDER]


def test_ladder_check_fails_a_kernel_that_fits_one_block(monkeypatch):
    """Without its launch bounds, regblock2d needs about 147 registers: one block per SM, caught here."""
    import dataclasses

    from numba import cuda

    from gpuviz import matmul_kernels as mk

    plain = dataclasses.replace(mk.RUNGS["regblock2d"], kernel=cuda.jit(mk.matmul_regblock2d.py_func))
    monkeypatch.setattr(mk, "LADDER", [plain])
    monkeypatch.setattr(mk, "RUNGS", {"regblock2d": plain})
    rows = compilecheck.check_ladder(ccs=[(9, 0)])
    (row,) = rows
    assert not row.ok and row.res.registers > 128 and row.occ.blocks == 1, row.line()
    assert "1 block(s) per SM, below the 2 its rung promises (registers limit it)" in row.message


def test_cli_ladder_table():
    p = subprocess.run([sys.executable, "-m", "gpuviz.course.compilecheck", "--ladder", "--cc", "9.0"],
                       capture_output=True, text=True, timeout=300, check=False)
    lines = p.stdout.splitlines()
    assert p.returncode == 0, p.stdout + p.stderr
    assert lines[0].startswith("compile-check: numba-cuda ") and ", NVVM of CUDA " in lines[0]
    assert lines[2] == compilecheck.LADDER_HEADER
    (rb2,) = [ln.split() for ln in lines if " regblock2d " in ln]
    assert rb2[:2] == ["ok", "regblock2d"] and rb2[2] == "sm_90" and int(rb2[3]) <= 128 and rb2[7:9] == ["2", "25%"]
    assert lines[-1] == "compile-check --ladder: 7 passed, 0 failed"


def test_launch_bounds_are_recorded_and_compiled(tmp_path):
    """A kernel recorded on a GPU keeps its launch bounds, which change its registers (not its result)."""
    from numba import cuda

    from gpuviz import matmul_kernels as mk

    log = tmp_path / "log.jsonl"
    bounded = cuda.jit(launch_bounds=(mk.NT2, 2))(mk.matmul_regblock2d.py_func)
    a = np.zeros((4, 4), np.float32)
    kernelrecord.record(bounded, (a, a, a), path=str(log))
    (rec,) = _records(log)
    assert rec["options"]["launch_bounds"] == [mk.NT2, 2]
    ptx = kernelrecord.compile_record(rec, (9, 0))
    assert f".maxntid {mk.NT2}" in ptx and ".minnctapersm 2" in ptx
    assert compilecheck.resources(ptx, (9, 0)).registers <= 128


LOCAL_KERNELS = '''
import numpy as np
from numba import cuda, float32, int32


@cuda.jit
def local_by_data(x, out):                # a local array indexed by data: local memory
    counts = cuda.local.array(8, int32)
    for b in range(8):
        counts[b] = 0
    i = cuda.grid(1)
    if i < out.shape[0]:
        for k in range(x.shape[1]):
            counts[x[i, k]] += 1
        for b in range(8):
            out[i, b] = counts[b]


@cuda.jit
def local_unrolled(a, out):               # every index known once the loops are unrolled: registers
    acc = cuda.local.array(4, float32)
    for j in range(4):
        acc[j] = float32(0.0)
    i = cuda.grid(1)
    if i < out.shape[0]:
        for k in range(a.shape[1]):
            for j in range(4):
                acc[j] += a[i, k] * float32(j)
        for j in range(4):
            out[i, j] = acc[j]


ARGS = {"local_by_data": (np.zeros((4, 3), np.int32), np.zeros((4, 8), np.int32)),
        "local_unrolled": (np.zeros((4, 3), np.float32), np.zeros((4, 4), np.float32))}
'''


def _local_ops(ptx):
    import re

    return len(re.findall(r"\bld\.local", ptx)), len(re.findall(r"\bst\.local", ptx))


def test_kernel_ptx_shows_local_memory_here_and_under_the_simulator(tmp_path):
    """kernel_ptx compiles a notebook's kernel to PTX without a GPU: in this process (real target), and
    from a simulator process through a child. A local array indexed by data stays in local memory."""
    path = tmp_path / "local_kernels.py"
    path.write_text(LOCAL_KERNELS)
    spec = importlib.util.spec_from_file_location("local_kernels", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    by_data = kernelrecord.kernel_ptx(mod.local_by_data, *mod.ARGS["local_by_data"])
    unrolled = kernelrecord.kernel_ptx(mod.local_unrolled, *mod.ARGS["local_unrolled"], cc=(9, 0))
    assert ".target sm_75" in by_data and ".target sm_90" in unrolled
    assert min(_local_ops(by_data)) > 0 and _local_ops(unrolled) == (0, 0)
    script = tmp_path / "sim.py"
    script.write_text(textwrap.dedent(f"""
        import importlib.util, json, re
        from numba import cuda
        from gpuviz import kernelrecord
        spec = importlib.util.spec_from_file_location("local_kernels", {str(path)!r})
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        assert cuda.compile_ptx is None                     # really the simulator
        ptx = kernelrecord.kernels_ptx([(mod.local_by_data, mod.ARGS["local_by_data"]),
                                        (mod.local_unrolled, mod.ARGS["local_unrolled"])])
        print(json.dumps([len(re.findall(r"\\bld\\.local", p)) for p in ptx]))
    """))
    env = {**os.environ, "NUMBA_ENABLE_CUDASIM": "1"}
    p = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    counts = json.loads(p.stdout.strip().splitlines()[-1])
    assert counts[0] > 0 and counts[1] == 0
