"""gpuviz bench: one copy of the ladder kernels; --quick checks them without a GPU; a full run refuses
clearly where there is no GPU or the simulator is on; results render. The GPU path itself needs a GPU."""
import re

import numpy as np
import pytest
from numba import cuda, types

from gpuviz import bench
from gpuviz import matmul_kernels as mk
from tests.helpers import run_python

SIG = (types.float32[:, ::1],) * 3


@pytest.mark.parametrize("rung", mk.LADDER, ids=lambda r: r.name)
def test_kernel_is_right_under_the_tracer(rung):
    from gpuviz.trace import trace

    rng = np.random.default_rng(1)
    M, K, N = 37, 21, 45                       # no side is a multiple of any tile
    A, B = rng.random((M, K), dtype=np.float32), rng.random((K, N), dtype=np.float32)
    C = np.full((M, N), np.nan, np.float32)
    t = trace(rung.kernel, rung.grid(M, N), rung.block, A, B, C, max_threads=1 << 20)
    assert not t.problems
    assert np.allclose(C, A @ B, rtol=1e-5)


def test_ptx_traps_and_registers():
    """The float64 trap shows in the PTX; the fast kernels keep their sums in registers (no local memory)."""
    ptx = {r.name: cuda.compile_ptx(r.kernel.py_func, SIG, cc=(7, 5))[0] for r in mk.LADDER}
    for r in mk.LADDER:
        has_f64 = bool(re.search(r"\b(fma|add|mul)(\.rn)?\.f64", ptx[r.name]))
        assert has_f64 == r.float64, r.name
        assert not re.search(r"(ld|st)\.local", ptx[r.name]), r.name
    assert len(re.findall(r"fma\.rn\.f32", ptx["regblock2d"])) >= 64     # the 8x8 outer product, unrolled


def test_requested_bytes_and_grid():
    n = 4096
    r = mk.RUNGS
    assert r["coalesced"].requested_bytes(n, n, n) == 4 * (2 * n**3 + n**2)
    assert r["tiled"].requested_bytes(n, n, n) == 4 * (2 * n**3 // mk.TILE + n**2)
    assert r["naive_rows"].grid(100, 10) == (4, 2) and r["coalesced"].grid(100, 10) == (1, 13)


def test_quick_passes_here(capsys):
    assert bench.main(["--quick"]) == 0
    out = capsys.readouterr().out
    assert "all kernels correct" in out and "compiles to PTX" in out


def test_full_run_refuses_without_gpu(monkeypatch, capsys):
    monkeypatch.setattr("gpuviz.runtime.cuda_device_count", lambda: 0)
    assert bench.main(["--sizes", "64"]) == 2
    assert "no CUDA GPU is visible" in capsys.readouterr().err


def test_full_run_refuses_in_simulator():
    p = run_python("from gpuviz.bench import main; raise SystemExit(main(['--sizes', '64']))")
    assert p.returncode == 2 and "simulator is switched on" in p.stderr


FAKE = {"sizes": [256, 4096], "rows": [
    {"n": n, "kernel": k, "label": k, "median_s": s, "gflops": 2 * n**3 / s / 1e9, "pct_cublas": 100 * c / s,
     "intensity": i} for n, c in ((256, 1e-4), (4096, 0.01))
    for k, s, i in (("cublas", c, n / 6), ("naive_rows", c * 40, 0.25), ("coalesced", c * 6, 0.25),
                    ("regblock2d", c * 1.6, 32))]}


def test_summary_and_figures():
    s = bench.summarize(FAKE["rows"])
    assert s["best_kernel"] == "regblock2d" and s["best_pct_cublas"] == pytest.approx(62.5)
    assert s["coalesced_over_uncoalesced"] == pytest.approx(40 / 6)
    lines = bench.summary_lines(s)
    assert "meets the target of 50 %" in lines[0] and "meets the target of 5x" in lines[1]
    assert bench.plot_ladder(FAKE) is not None
    pts = bench.roofline_points(FAKE)
    assert len(pts) == 4 and pts[0].kind == "library"
