"""The CPU tracer: buggy kernels are caught with the right kind, thread and index; correct kernels run
exactly and are not flagged; launches a GPU refuses are refused; both Numba CUDA modes work."""
import kernels_bank as K
import numpy as np
import pytest
from helpers import run_python
from numba import cuda

from gpuviz.launch import LaunchError
from gpuviz.tracer.scheduler import trace

rng = np.random.default_rng(0)


def only(t, kind):
    found = [p for p in t.problems if p.kind == kind]
    assert found, t.report()
    return found


def mats(n=16):
    return rng.random((n, n), dtype=np.float32), rng.random((n, n), dtype=np.float32), np.zeros((n, n), np.float32)


# ---- buggy kernels --------------------------------------------------------------------------------

def test_missing_barrier_before_tile_use():
    t = trace(K.matmul_no_barrier_before_use, (2, 2), (8, 8), *mats())
    # without the barrier, threads also read tile elements before their writer ran: both are reported,
    # the race first (it names the fix)
    assert {p.kind for p in t.problems} == {"race", "uninitialized_read"}
    assert t.problems[0].kind == "race" and t.problems[-1].kind == "uninitialized_read"
    p = next(p for p in t.problems if p.array == "sA" and p.op == "read")
    # thread (1,0) reads sA[0,0] that thread (0,0) wrote, with no barrier in between
    assert (p.block, p.thread, p.other, p.index, p.interval) == ((0, 0), (1, 0), ((0, 0), (0, 0)), (0, 0), 0)
    assert "thread (1,0) of block (0,0) reads sA[0,0], which thread (0,0) wrote" in p.message
    assert "cuda.syncthreads()" in p.message and p.count > 1


@cuda.jit
def transpose_reads_unwritten(A, out):
    """Notebook 05's first transpose_tile: a (32, 8) block fills only 8 columns of the 32 x 32 tile,
    and then reads all of row y of it."""
    s = cuda.shared.array((32, 32), np.float32)
    x, y = cuda.threadIdx.x, cuda.threadIdx.y
    s[x, y] = A[y, x]
    cuda.syncthreads()
    out[y, x] = s[y, x]


@cuda.jit
def transpose_whole_tile(A, out):
    s = cuda.shared.array((32, 32), np.float32)
    x, y = cuda.threadIdx.x, cuda.threadIdx.y
    for j in range(0, 32, 8):
        s[x, y + j] = A[y + j, x]
    cuda.syncthreads()
    for j in range(0, 32, 8):
        out[y + j, x] = s[y + j, x]


@cuda.jit
def hist_bins_not_zeroed(x, hist):
    bins = cuda.shared.array(4, np.int32)
    i = cuda.grid(1)
    cuda.atomic.add(bins, x[i], 1)              # the bins were never zeroed
    cuda.syncthreads()
    if cuda.threadIdx.x < 4:
        cuda.atomic.add(hist, cuda.threadIdx.x, bins[cuda.threadIdx.x])


def test_reads_of_shared_memory_no_thread_wrote():
    tile = rng.standard_normal((32, 32)).astype(np.float32)
    t = trace(transpose_reads_unwritten, 1, (32, 8), tile[:8].copy(), np.zeros((8, 32), np.float32))
    p = only(t, "uninitialized_read")[0]
    assert [q.kind for q in t.problems] == ["uninitialized_read"]      # no race: there is a barrier
    assert p.array == "s" and p.op == "read" and p.index == (0, 8) and p.thread == (8, 0)
    assert "no thread of the block has written" in p.message and p.count == 8 * 24     # columns 8-31 of rows 0-7
    assert t.marks[("uninitialized_read", "s")] == {y * 32 + x for y in range(8) for x in range(8, 32)}
    out = np.zeros_like(tile)
    assert not trace(transpose_whole_tile, 1, (32, 8), tile, out).problems
    assert np.array_equal(out, tile.T)
    # an atomic on shared memory nobody zeroed reads garbage too
    t = trace(hist_bins_not_zeroed, 2, 8, np.arange(16, dtype=np.int32) % 4, np.zeros(4, np.int32))
    p = only(t, "uninitialized_read")[0]
    assert (p.op, p.array, p.block, p.thread, p.index) == ("atomic", "bins", (0,), (0,), (0,))


def test_missing_barrier_after_tile_use():
    t = trace(K.matmul_no_barrier_after_use, (2, 2), (8, 8), *mats())
    p = next(p for p in t.problems if p.array == "sA" and p.op == "write")
    # the second tile load overwrites sA[0,1] after thread (0,0) read it, with no barrier between
    assert (p.kind, p.thread, p.other[1], p.index, p.interval) == ("race", (1, 0), (0, 0), (0, 1), 1)
    assert "between the read and the write" in p.message


def test_missing_guard():
    a = np.ones(100, np.float32)
    out = np.zeros(100, np.float32)
    t = trace(K.add_no_guard, 4, 32, a, a, out)
    oob = only(t, "out_of_bounds")
    assert {p.array for p in oob} == {"a", "b", "out"}
    w = next(p for p in oob if p.array == "out")
    assert (w.block, w.thread, w.index, w.op, w.count) == ((3,), (4,), (100,), "write", 28)
    assert (out == 2).all()               # the in-bounds work was done, nothing past the end was written


def test_swapped_indices_non_square():
    a = np.arange(15, dtype=np.float32).reshape(3, 5)
    out = np.zeros((3, 5), np.float32)
    t = trace(K.scale_swapped, (1, 1), (8, 8), a, out)
    (p,) = only(t, "out_of_bounds")
    assert (p.array, p.block, p.thread, p.index) == ("out", (0, 0), (3, 0), (3, 0))
    assert "dimension 0" in p.message


def test_histogram_without_atomics():
    data = np.array([3, 1, 3, 0, 3, 2, 1, 3] * 8)
    hist = np.zeros(4, np.int64)
    t = trace(K.histogram_no_atomic, 2, 32, data, hist)
    (p,) = only(t, "race")
    assert (p.array, p.thread, p.other, p.index, p.op) == ("hist", (2,), ((0,), (0,)), (3,), "read")
    assert "cuda.atomic.add" in p.message


def test_stencil_negative_index():
    a = np.arange(16, dtype=np.float32)
    out = np.zeros(16, np.float32)
    t = trace(K.stencil_no_left_guard, 1, 16, a, out)
    (p,) = t.problems
    assert (p.kind, p.array, p.block, p.thread, p.index) == ("negative_index", "a", (0,), (0,), (-1,))
    assert out[0] == pytest.approx((15 + 0 + 1) / 3)     # it wrapped, as NumPy and Numba do


def test_barrier_inside_branch():
    x = np.arange(16, dtype=np.float32)
    t = trace(K.barrier_in_branch, 1, 16, x, np.zeros(16, np.float32))
    (p,) = only(t, "divergent_barrier")
    assert p.thread == (0,) and p.other == ((0,), (8,))
    assert "8 thread(s)" in p.message and "out of the `if`" in p.message


def test_reduction_missing_barrier():
    x = np.arange(16, dtype=np.float32)
    t = trace(K.reduce_no_barrier, 1, 16, x, np.zeros(1, np.float32))
    (p,) = only(t, "race")
    # thread 0 runs all its steps (its last one reads s[1]); thread 1's first step then writes s[1]
    assert p.array == "s" and p.interval == 1 and p.other == ((0,), (0,))
    assert p.thread == (1,) and p.index == (1,) and p.op == "write"


def test_findings_are_folded_and_reported():
    t = trace(K.add_no_guard, 4, 32, np.ones(100), np.ones(100), np.zeros(100))
    assert len(t.problems) == 3 and all(p.count == 28 for p in t.problems)
    text = t.report()
    assert "3 problem(s)" in text and "27 more like it" in text
    assert "out_of_bounds" in repr(t) and "<pre>" in t._repr_html_()


# ---- correct kernels: no findings, exact results ------------------------------------------------

def test_tiled_matmul_exact():
    A = rng.random((20, 12), dtype=np.float32)
    B = rng.random((12, 18), dtype=np.float32)
    C = np.zeros((20, 18), np.float32)
    t = trace(K.matmul_tiled, (3, 3), (8, 8), A, B, C)
    assert t.problems == []
    np.testing.assert_allclose(C, A @ B, rtol=1e-5)
    assert t.metrics["sA"]["ways_max"] == 1
    assert t.arithmetic_intensity(2 * 20 * 12 * 18) > 1.0


def test_reduction_with_device_function_exact():
    x = rng.random(40, dtype=np.float32)
    out = np.zeros(1, np.float32)
    t = trace(K.reduce_sum, 3, 16, x, out)
    assert t.problems == [] and int(t.barriers[0]) == 5
    assert out[0] == pytest.approx(x.sum(), rel=1e-5)


def test_atomic_histogram_exact():
    data = rng.integers(0, 7, 50)
    hist = np.zeros(7, np.int64)
    t = trace(K.histogram_atomic, 2, 32, data, hist)
    assert t.problems == []
    assert (hist == np.bincount(data, minlength=7)).all()
    assert t.per_array()["hist"] == {"space": "global", "reads": 0, "writes": 0, "atomics": 50, "bytes": 400}


def test_guarded_stencil_exact():
    a = rng.random(30, dtype=np.float32)
    out = np.zeros(30, np.float32)
    t = trace(K.stencil_guarded, 2, 16, a, out)
    assert t.problems == []
    np.testing.assert_allclose(out[1:-1], 0.25 * a[:-2] + 0.5 * a[1:-1] + 0.25 * a[2:], rtol=1e-6)


def test_transpose_exact_and_metrics():
    a = np.arange(5 * 11, dtype=np.float32).reshape(5, 11)
    out = np.zeros((11, 5), np.float32)
    t = trace(K.transpose_tiled, (2, 1), (8, 8), a, out)
    assert t.problems == []
    assert (out == a.T).all()
    assert t.counts("out", "write").sum() == 55 and t.counts("a", "read").max() == 1


def test_local_array_math_and_casts():
    x = np.array([2.0, 9.5, 16.0], np.float32)
    out = np.zeros(3, np.float32)
    assert trace(K.vector_math, 1, 4, x, out).problems == []
    np.testing.assert_allclose(out, np.sqrt(x) + np.trunc(x))


def test_coalescing_metrics():
    @cuda.jit
    def copy_rows(a, out):          # thread x walks a column: stride of a whole row between lanes
        i = cuda.grid(1)
        for j in range(a.shape[1]):
            out[i, j] = a[i, j]

    a = np.zeros((32, 32), np.float32)
    t = trace(copy_rows, 1, 32, a, np.zeros_like(a))
    assert t.metrics["a"]["sectors_per_request"] == 32 and t.metrics["a"]["efficiency"] == 1 / 8
    r = t.warp_request("a", k=3)
    assert list(r["flat"][:3]) == [3, 35, 67] and r["count"] == 32


def test_bank_conflicts():
    @cuda.jit
    def column(x):
        s = cuda.shared.array((32, 32), np.float32)
        t = cuda.threadIdx.x
        s[t, 0] = x[t]                  # 32 lanes, one bank: 32-way

    t = trace(column, 1, 32, np.zeros(32, np.float32))
    assert t.metrics["s"]["ways_max"] == 32


def test_plain_python_function_and_imports_from_numba_cuda():
    from numba.cuda import grid

    def k(x):
        i = grid(1)
        if i < x.size:
            x[i] = i * 2

    x = np.zeros(10, np.int32)
    t = trace(k, 2, 8, x)
    assert (x == 2 * np.arange(10)).all() and t.problems == []
    assert grid is cuda.grid            # the kernel's globals are put back


def test_kernel_errors_propagate_and_globals_restored():
    @cuda.jit
    def bad(x):
        x[cuda.grid(1) / 2] = 1.0       # / where // was meant

    with pytest.raises(TypeError, match="not an integer"):
        trace(bad, 1, 4, np.zeros(4))
    assert K.cuda is cuda


# ---- launches a GPU would refuse ------------------------------------------------------------------

@pytest.mark.parametrize("grid,block,match", [(1, 2000, "2000 threads"), (0, 32, "at least 1")])
def test_launch_errors(grid, block, match):
    with pytest.raises(LaunchError, match=match):
        trace(K.add_no_guard, grid, block, np.ones(4), np.ones(4), np.ones(4))


def test_too_much_shared_memory():
    with pytest.raises(LaunchError, match="48 KiB"):
        trace(K.too_much_shared, 1, 1, np.ones(1, np.float32))


# ---- the same under the simulator ---------------------------------------------------------------

@pytest.mark.slow
def test_under_simulator():
    r = run_python("""
        import sys, numpy as np
        sys.path.insert(0, "tests")
        import kernels_bank as K
        from gpuviz.tracer.scheduler import trace
        assert type(K.matmul_tiled).__name__ == "FakeCUDAKernel"
        A = np.ones((16, 16), np.float32); C = np.zeros_like(A)
        assert trace(K.matmul_tiled, (2, 2), (8, 8), A, A, C).problems == [] and (C == 16).all()
        x = np.arange(16, dtype=np.float32); out = np.zeros(1, np.float32)
        assert trace(K.reduce_sum, 1, 16, x, out).problems == [] and out[0] == 120
        t = trace(K.barrier_in_branch, 1, 16, x, np.zeros(16, np.float32))
        assert "divergent_barrier" in {p.kind for p in t.problems}
        t = trace(K.add_no_guard, 4, 32, np.ones(100), np.ones(100), np.zeros(100))
        assert {p.kind for p in t.problems} == {"out_of_bounds"}
        print("ok")
    """, sim=True, timeout=120)
    assert r.returncode == 0 and "ok" in r.stdout, r.stderr


def test_shared_memory_starts_uninitialized_as_on_a_gpu():
    """A reduction that forgets to zero-pad its shared tile reads garbage, as it would on a GPU."""
    from numba import cuda, float32

    def block_sum(x, out):
        s = cuda.shared.array(8, float32)
        i = cuda.grid(1)
        t = cuda.threadIdx.x
        if i < x.size:
            s[t] = x[i]            # threads past the end leave their slot unwritten
        cuda.syncthreads()
        step = 4
        while step > 0:
            if t < step:
                s[t] += s[t + step]
            cuda.syncthreads()
            step //= 2
        if t == 0:
            out[cuda.blockIdx.x] = s[0]

    x, out = np.ones(5, np.float32), np.zeros(1, np.float32)
    trace(block_sum, 1, 8, x, out)
    assert np.isnan(out[0])


# ---- warp shuffles: the simulator has none, the tracer runs them ------------------------------------

@cuda.jit
def warp_sum(x, out):
    i = cuda.grid(1)
    v = x[i] if i < x.size else np.float32(0.0)
    offset = 16
    while offset > 0:
        v += cuda.shfl_down_sync(0xFFFFFFFF, v, offset)
        offset //= 2
    if cuda.threadIdx.x % 32 == 0:
        cuda.atomic.add(out, 0, v)


@cuda.jit
def butterfly_max(x, out):
    i = cuda.grid(1)
    v = x[i]
    for m in (16, 8, 4, 2, 1):
        v = max(v, cuda.shfl_xor_sync(0xFFFFFFFF, v, m))    # every lane ends with the warp's maximum
    out[i] = v


@cuda.jit
def shuffle_in_branch(x, out):
    i = cuda.grid(1)
    v = x[i]
    if cuda.threadIdx.x < 16:                                  # bug: lanes 16..31 never reach the shuffle
        v += cuda.shfl_down_sync(0xFFFFFFFF, v, 8)
    out[i] = v


def test_warp_shuffle_reduction_is_exact():
    x = rng.random(300, dtype=np.float32)
    out = np.zeros(1, np.float32)
    t = trace(warp_sum, 3, 128, x, out)
    assert not t.problems and np.isclose(out[0], x.sum(dtype=np.float64), rtol=1e-5)
    assert t.per_array()["out"]["atomics"] == 3 * 128 // 32           # one atomic per warp


def test_shuffle_xor_gives_every_lane_the_warp_result():
    x = rng.random(64, dtype=np.float32)
    out = np.zeros(64, np.float32)
    trace(butterfly_max, 1, 64, x, out)
    assert np.array_equal(out, np.repeat(x.reshape(2, 32).max(1), 32))


def test_a_shuffle_some_lanes_skip_is_reported():
    x = np.ones(32, np.float32)
    p = only(trace(shuffle_in_branch, 1, 32, x, np.zeros(32, np.float32)), "divergent_shuffle")[0]
    assert p.thread == (8,) and p.other[1] == (16,)
    assert "thread 16 is not at that shuffle" in p.message and "mask" in p.message
