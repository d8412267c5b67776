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
    from gpuviz.tracer.scheduler import trace

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


def _unchecked_blocks(n, idx):
    """(kernel, 'row'/'column', block index) of every block of C at size n that holds none of `idx`."""
    missing = []
    for r in mk.LADDER:
        grid = r.grid(n, n)
        blocks_m, blocks_n = (grid[0], grid[1]) if r.x_rows else (grid[1], grid[0])
        for axis, tile, count in (("row", r.tile[0], blocks_m), ("column", r.tile[1], blocks_n)):
            hit = set(np.asarray(idx) // tile)
            missing += [(r.name, axis, b) for b in range(count) if b not in hit]
    return missing


@pytest.mark.parametrize("n", [*bench.DEFAULT_SIZES, 1000, 37, 1])
def test_correctness_check_covers_every_block_row_and_column(n):
    idx = bench.check_indices(n)
    assert idx[0] == 0 and idx[-1] == n - 1 and (np.diff(idx) > 0).all() and idx[-1] < n
    assert _unchecked_blocks(n, idx) == []
    stripe = min(min(r.tile) for r in mk.LADDER)
    if n >= stripe * stripe:   # and every position within a tile, not always the same one
        assert set(idx % stripe) == set(range(stripe))
    assert len(idx) <= n // stripe + 2   # a small part of C: the float64 product stays cheap


def test_the_old_check_missed_most_blocks():
    """The first 64 rows, all inside the first block row of the tiled kernels, are what the check used to see."""
    missing = _unchecked_blocks(4096, np.arange(64))
    assert ("regblock2d", "row", 31) in missing and ("coalesced", "row", 8) in missing
    assert not any(m[0] == "regblock2d" and m[1] == "row" and m[2] == 0 for m in missing)


@pytest.mark.parametrize("where", ["last block", "first rows", "one column"])
def test_sampled_error_sees_a_wrong_block_anywhere(where):
    """What a full run computes for every kernel (here on CPU tensors): a wrong block is caught wherever it is."""
    torch = pytest.importorskip("torch")
    g = torch.Generator().manual_seed(0)
    n = 512
    A, B = torch.rand(n, n, generator=g) - 0.5, torch.rand(n, n, generator=g) - 0.5
    rel_err = bench.sampled_error(A, B)
    C = A @ B
    assert rel_err(C) < 1e-6
    wrong = C.clone()
    if where == "last block":      # the last 128 x 128 block of regblock2d: never seen by the first 64 rows
        wrong[-128:, -128:] = 0
    elif where == "first rows":
        wrong[:8] += 1
    else:
        wrong[:, 304:312] = 0      # one block column (8 wide) of the uncoalesced naive kernels
    assert rel_err(wrong) > 1e-2


def test_reference_environment_without_nvidia_smi(monkeypatch, tmp_path):
    """Some machines have a GPU but no nvidia-smi: the driver is then unknown, not a crash."""
    import subprocess
    import types

    from gpuviz import reference

    monkeypatch.setenv("PATH", str(tmp_path))                  # no nvidia-smi anywhere on it
    assert reference._driver() is None
    smi = tmp_path / "nvidia-smi"
    smi.write_text("#!/bin/sh\necho 550.54.15\necho 550.54.15\n")   # two GPUs, one driver
    smi.chmod(0o755)
    assert reference._driver() == "550.54.15"
    smi.write_text("#!/bin/sh\necho 'NVIDIA-SMI has failed' >&2\nexit 9\n")
    assert reference._driver() is None

    def hangs(*a, **k):
        raise subprocess.TimeoutExpired("nvidia-smi", 30)

    monkeypatch.setattr(subprocess, "run", hangs)
    assert reference._driver() is None
    torch = pytest.importorskip("torch")
    props = types.SimpleNamespace(name="NVIDIA H100 NVL", major=9, minor=0, multi_processor_count=132,
                                  total_memory=94 * 2**30)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda i: props)
    env = reference.environment()
    assert env["driver"] is None and env["device"] == "NVIDIA H100 NVL" and env["compute_capability"] == "9.0"


def test_quick_passes_here(capsys):
    assert bench.main(["--quick"]) == 0
    out = capsys.readouterr().out
    assert "all kernels correct" in out and "compiles to PTX" in out
    (rb2,) = [ln.split() for ln in out.splitlines() if " regblock2d " in ln and " sm_75 " in ln]
    assert rb2[:3] == ["ok", "regblock2d", "sm_75"] and rb2[7] == "2"        # 2 blocks per SM


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


def test_launch_bound_rows_are_marked_and_the_overhead_reported():
    row = dict(FAKE["rows"][1], launch_bound=True)
    assert bench._fmt(row).endswith("(launch-bound)") and not bench._fmt(FAKE["rows"][5]).endswith("(launch-bound)")
    s = bench.summarize(FAKE["rows"]) | {"launch_overhead_s": {"numba": 8e-6, "torch": 4e-6}}
    assert bench.summary_lines(s)[-1] == ("launch overhead: 8.0 µs per empty Numba kernel, 4.0 µs per one-element "
                                         "torch op; times within 3x of these are marked launch-bound")
