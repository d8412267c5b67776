import time

import numpy as np
import pytest
from matplotlib.figure import Figure

from gpuviz import timing
from gpuviz.timing import Timing, benchmark


def test_benchmark_measures_and_warms_up():
    calls = []

    def work():
        calls.append(1)
        time.sleep(0.002)

    t = benchmark(work, min_repeats=5, max_time=0.5)
    assert calls and len(t.samples) >= 5
    assert 0.0018 < t.median < 0.02
    assert t.meaningful and t.sync is None


def test_fast_calls_are_batched_and_rates_computed():
    a = np.ones(1000, np.float32)
    t = benchmark(np.sum, a, flops=1000, nbytes=4000, label="sum", size=1000)
    assert t.median < 1e-3  # per call, not per batch
    assert t.gflops == pytest.approx(1000 / t.median / 1e9)
    assert t.gbps == pytest.approx(4000 / t.median / 1e9)
    assert "sum:" in str(t) and "GFLOP/s" in str(t)


def test_warmup_keeps_compilation_out():
    state = {"first": True}

    def jit_like():
        if state["first"]:
            state["first"] = False
            time.sleep(0.2)  # a "compile" on the first call only

    t = benchmark(jit_like, min_repeats=3, max_time=0.2)
    assert max(t.samples) < 0.1


def test_repeats_stop_at_time_cap():
    rng = np.random.default_rng(0)

    def noisy():
        time.sleep(float(rng.uniform(0.0005, 0.004)))

    t0 = time.perf_counter()
    t = benchmark(noisy, max_time=0.3, max_repeats=1000, target_spread=0.0)
    assert time.perf_counter() - t0 < 1.5
    assert len(t.samples) < 1000


def test_simulator_numba_timings_are_not_meaningful(monkeypatch):
    monkeypatch.setenv("NUMBA_ENABLE_CUDASIM", "1")
    t = benchmark(lambda: None, sync="numba")
    assert not t.meaningful and "not meaningful" in str(t)


def test_sync_names_a_library_and_keywords_are_not_forwarded():
    with pytest.raises(ValueError, match="sync must be one of"):
        benchmark(lambda: None, sync="tpu")
    with pytest.raises(TypeError, match="`device=` is now `sync=`"):
        benchmark(lambda: None, device="torch")
    with pytest.raises(TypeError, match=r"lambda: fn\(x, key=value\)"):
        benchmark(np.bincount, np.arange(3), minlength=8)      # once forwarded to np.bincount: ambiguous
    assert benchmark(lambda: np.bincount(np.arange(3), minlength=8), min_repeats=1, max_time=0.01).sync is None


def _series(label, sizes, scale, meaningful=True):
    return [Timing(label, [scale * s, 1.1 * scale * s], None, meaningful, s, flops=2 * s**3) for s in sizes]


def test_speedups_and_refusal():
    base = _series("cpu", [1, 2, 4], 1.0)
    fast = _series("gpu", [2, 4], 0.1)
    assert timing.speedups(base, fast) == [(2, pytest.approx(10)), (4, pytest.approx(10))]
    with pytest.raises(ValueError, match="not meaningful"):
        timing.speedups(base, _series("sim", [2], 0.1, meaningful=False))


def test_round_trip():
    t = _series("x", [3], 1.0)[0]
    assert Timing.from_dict(t.to_dict()) == t
    old = {**t.to_dict(), "device": "cpu"}
    del old["sync"]
    assert Timing.from_dict(old) == t                  # a record written before `sync` was named


def test_plots_render():
    cpu, gpu = _series("cpu", [64, 128, 256], 1e-3), _series("gpu", [64, 128, 256], 1e-4)
    sim = _series("kernel", [64, 128], 1e-2, meaningful=False)
    for fig in (timing.plot_scaling(cpu + gpu + sim), timing.plot_scaling(cpu + gpu, metric="gflops"),
                timing.plot_speedup(cpu, gpu), timing.plot_bars(cpu + sim),
                timing.plot_breakdown({"in": gpu, "compute": gpu}, baseline=cpu)):
        assert isinstance(fig, Figure)
        fig.canvas.draw()


def test_simulator_timings_are_never_drawn_as_speedups():
    cpu, sim = _series("cpu", [64], 1e-3), _series("kernel", [64], 1e-2, meaningful=False)
    fig = timing.plot_speedup(cpu, sim)
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert any("not meaningful" in t for t in texts) and not fig.axes[0].lines
    labels = [t.get_text() for t in timing.plot_scaling(sim).axes[0].get_legend().get_texts()]
    assert labels == ["kernel (simulator: not meaningful): measured here"]


def test_launch_floor_is_drawn_only_when_measured():
    gpu = _series("kernel", [64, 128], 1e-5)
    floor = Timing("empty Numba kernel launch", [8e-6], "numba")
    labels = [t.get_text() for t in timing.plot_scaling(gpu, floor=floor).axes[0].get_legend().get_texts()]
    assert sorted(labels) == ["empty Numba kernel launch, 8 µs: measured here", "kernel: measured here"]
    sim_floor = Timing("empty Numba kernel launch", [1e-3], "numba", meaningful=False)
    labels = [t.get_text() for t in timing.plot_scaling(gpu, floor=sim_floor).axes[0].get_legend().get_texts()]
    assert labels == ["kernel: measured here"]


def test_launch_overhead_in_the_simulator():
    from helpers import run_python

    p = run_python("""
        import gpuviz as gv
        gv.setup(quiet=True)
        o = gv.timing.launch_overhead()
        assert o is gv.timing.launch_overhead()               # measured once per process
        print(o["numba"].meaningful, o["torch"].meaningful, o["torch"].label)
    """)
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["False", "True", "one-element", "torch", "op", "(cpu)"]


def test_cpu_copy_counts_threads_and_both_directions():
    import torch

    before = torch.get_num_threads()
    one = timing.cpu_copy(2**20, threads=1, max_time=0.1)
    assert one.label == "CPU memory copy, 1 thread" and one.nbytes == 2 * 2**20 and one.size == 2**20
    assert one.gbps > 0 and one.meaningful and torch.get_num_threads() == before      # the setting is restored
    every = timing.cpu_copy(2**20, max_time=0.1)
    assert every.label == f"CPU memory copy, {before} thread" + ("s" if before > 1 else "")
