"""gpuviz.ddp: two processes joined by gloo on the CPU, DDP against a single process, the scaling and
all-reduce measurements, and the figures. Each launch starts 2 fresh interpreters (a few seconds)."""
import numpy as np
import pytest
from matplotlib.figure import Figure

from gpuviz import ddp, hardware


def data(n, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, 784), dtype=np.float32), rng.integers(0, 10, n)


def test_ddp_gradients_equal_one_process_on_the_whole_batch():
    x, y = data(32)
    ranks = ddp.launch(ddp.ddp_vs_single, 2, (x, y, 16), backend="gloo")
    assert [r["rank"] for r in ranks] == [0, 1] and {r["backend"] for r in ranks} == {"gloo"}
    for r in ranks:
        np.testing.assert_allclose(r["ddp"], r["single"], atol=1e-6)
        assert not np.allclose(r["local"], r["single"], atol=1e-4)
    assert not np.allclose(ranks[0]["local"], ranks[1]["local"])


def test_scaling_and_allreduce_measurements():
    x, y = data(256)
    res = ddp.launch(ddp.scaling, 2, (x, y, [8, 32], 16, 2), backend="gloo")[0]
    assert res["world_size"] == 2 and res["threads"] == 1 and res["grad_bytes"] > 0
    rows = ddp.summarize_scaling(res)
    assert [r["batch_per_process"] for r in rows] == [8, 32]
    assert all(r["alone_s"] > 0 and r["ddp_s"] > 0 and r["comm_s"] >= 0 for r in rows)
    assert isinstance(ddp.plot_scaling(res), Figure)
    sizes = ddp.launch(ddp.allreduce_sizes, 2, ([16, 4096, 2**20], 3), backend="gloo")[0]
    assert len(sizes["seconds"]) == 3 and all(t > 0 for t in sizes["seconds"])
    assert isinstance(ddp.plot_allreduce(sizes, grad_bytes=1000), Figure)


def test_a_failing_worker_is_reported():
    with pytest.raises(ddp.LaunchFailed, match="worker process failed"):
        ddp.launch(ddp.ddp_vs_single, 2, (np.zeros((4, 5), np.float32), np.zeros(4, np.int64)), backend="gloo")


def forever(rank, world_size):
    while True:
        pass


def test_a_worker_that_never_ends_is_stopped():
    import time

    import psutil

    before = {c.pid for c in psutil.Process().children(recursive=True)}
    t = time.monotonic()
    with pytest.raises(ddp.LaunchFailed, match="did not finish within 8 s"):
        ddp.launch(forever, 2, backend="gloo", timeout=8)
    assert time.monotonic() - t < 30
    left = [c for c in psutil.Process().children(recursive=True) if c.pid not in before and c.is_running()
            and c.status() != psutil.STATUS_ZOMBIE]
    assert not left, f"worker processes left running: {left}"


def test_fit_and_figures_without_processes():
    n = np.array([16, 1024, 2**20, 2**22], float)
    lat, bw = ddp.fit_latency_bandwidth(n, 1e-4 + n / 1e9)
    assert lat == pytest.approx(1e-4 + 520 / 1e9, rel=1e-6) and bw == pytest.approx(1e9, rel=1e-6)
    assert isinstance(ddp.plot_data_parallel(2), Figure) and isinstance(ddp.plot_data_parallel(4, 12), Figure)
    assert ddp.default_backend(2) == "gloo"          # no GPUs in CI


def test_hardware_workloads_and_comparison():
    import torch
    from torch import nn

    from gpuviz.roofline import SPECS

    assert hardware.vector_add(1000).intensity == 1 / 12
    assert hardware.matmul_naive(64).intensity == pytest.approx(2 * 64**3 / (4 * (2 * 64**3 + 64**2)))
    assert hardware.matmul_tiled(64, 16).nbytes < hardware.matmul_naive(64).nbytes
    model = nn.Sequential(nn.Linear(100, 50), nn.ReLU(), nn.Linear(50, 10))
    w = hardware.training_step("mlp", model, torch.zeros(8, 100), torch.zeros(8, dtype=torch.long))
    fwd = 2 * 8 * (100 * 50 + 50 * 10)
    assert 2 * fwd <= w.flops <= 3 * fwd and w.nbytes > 0 and w.ops > 0
    assert next(model.parameters()).device.type == "cpu"        # the model itself is untouched
    t4 = SPECS["T4"]
    assert hardware.workload_bound(hardware.vector_add(10**6), t4) == "memory"
    assert hardware.roofline_seconds(w, t4, "bf16") is None      # the T4 has no BF16 rate
    job = hardware.Job("j", w, 100, memory_bytes=20 * 2**30)
    rows = hardware.costs(job, {k: SPECS[k] for k in ("T4", "A100 80GB")}, {"T4": 1.0}, 1e-5)
    assert [r["fits"] for r in rows] == [False, True] and rows[1]["cost"] is None
    assert rows[0]["seconds"] == pytest.approx(100 * (hardware.roofline_seconds(w, t4) + 1e-5 * w.ops))
    for fig in (hardware.plot_rooflines([w], SPECS), hardware.plot_bounds([w], SPECS, "fp16"),
                hardware.plot_costs(rows, job)):
        assert isinstance(fig, Figure)
    legend = hardware.plot_costs(rows, job, overhead_label="per-op overhead (measured here)").axes[0].get_legend()
    assert "per-op overhead (measured here)" in [t.get_text() for t in legend.get_texts()]
    ok, why = hardware.nvml_status()
    assert not ok and why                                        # no NVIDIA GPU in CI


class FakeNVML:
    """pynvml's calls that PowerSampler makes, for a GPU drawing 100 W (energy counter optional)."""

    def __init__(self, counter: bool):
        self.counter, self.t0, self.calls = counter, None, []

    def nvmlInit(self):
        import time

        self.t0 = time.perf_counter()

    def nvmlShutdown(self):
        pass

    def nvmlDeviceGetHandleByUUID(self, uuid):
        return "gpu0"

    nvmlDeviceGetHandleByIndex = nvmlDeviceGetHandleByUUID

    def nvmlDeviceGetPowerUsage(self, h):
        return 100_000                                            # milliwatts

    def nvmlDeviceGetTotalEnergyConsumption(self, h):
        import time

        if not self.counter:
            raise RuntimeError("NVMLError_NotSupported")
        return int(100_000 * (time.perf_counter() - self.t0))     # millijoules at 100 W


@pytest.mark.parametrize("counter", [True, False], ids=["energy counter", "power samples"])
def test_power_sampler_integrates_to_joules(monkeypatch, counter):
    import sys
    import time

    monkeypatch.setitem(sys.modules, "pynvml", FakeNVML(counter))
    with hardware.PowerSampler(interval_s=0.01) as power:
        time.sleep(0.3)
    assert power.seconds == pytest.approx(0.3, abs=0.1)
    assert power.joules == pytest.approx(100 * power.seconds, rel=0.1)
    assert power.mean_watts == pytest.approx(100, rel=0.1)
    assert ("counter" in power.method) == counter and len(power.watts) >= 5
    assert isinstance(power.figure(), Figure)
