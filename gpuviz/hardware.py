"""Choosing a GPU with numbers: the course's workloads on the rooflines of the spec table, time, memory
fit and cost of a job on each GPU, and energy measured through NVML.

- Workloads carry FLOPs and bytes *computed* from their dimensions: `vector_add(n)`,
  `matmul_naive(n)`, `matmul_tiled(n, tile)`, `matmul_ideal(n)`, and `training_step(model, x, y)`,
  which counts one forward + backward + optimizer step of a real PyTorch model with
  `torch.utils.flop_counter.FlopCounterMode` (FLOPs) and `TrafficCounter` (bytes every operation
  reads and writes), on the `meta` device: shapes only, nothing computed, any size.
- `roofline_seconds(w, spec)`: the roofline's lower bound on the time, max(FLOPs / peak, bytes /
  bandwidth); `plot_rooflines` draws every GPU's roofline with the workloads on it; `plot_bounds`
  shows which resource bounds each workload on each GPU.
- `costs(job, specs, prices)`: time, memory fit and cost per run from price assumptions.
- `PowerSampler`: GPU power through NVML (`pynvml`, from the `nvidia-ml-py` package, imported only
  when used), integrated to joules; `nvml_status()` says why it cannot run where it cannot.
- `CpuEnergy`: the CPU's side, from RAPL's energy counters where they can be read, else an estimate,
  an assumed TDP × the measured time, that says it is one.

Spec figures come from `gpuviz.roofline.SPECS` (datasheets, dense rates).
"""
from __future__ import annotations

import re
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

PRECISIONS = ("fp32", "tf32", "fp16", "bf16", "fp64")


@dataclass(frozen=True)
class Workload:
    """FLOPs and bytes of global-memory traffic of one unit of work (a kernel launch, a training step)."""
    name: str
    flops: float
    nbytes: float
    how: str                     # how the numbers were obtained
    ops: int | None = None       # operations (kernel launches, roughly) per unit, when counted

    @property
    def intensity(self) -> float:
        return self.flops / self.nbytes

    def to_dict(self) -> dict:
        return asdict(self) | {"intensity": self.intensity}


def vector_add(n: int, itemsize: int = 4) -> Workload:
    """c = a + b over n elements: n additions; read a and b, write c."""
    return Workload(f"vector add (n={n:,})", n, 3 * n * itemsize, "1 add per element; read 2, write 1 element", 1)


def matmul_naive(n: int, itemsize: int = 4) -> Workload:
    """The naive kernel (notebook 04): each of the n² threads reads a row of A and a column of B from
    global memory (2n loads, no reuse through shared memory) and writes one element of C."""
    return Workload(f"naive matmul (n={n})", 2 * n**3, itemsize * (2 * n**3 + n**2),
                    "2n³ FLOPs; every thread loads 2n values, writes 1", 1)


def matmul_tiled(n: int, tile: int, itemsize: int = 4) -> Workload:
    """The shared-memory tiled kernel (notebook 05): each element of A and B is loaded once per tile of
    C that needs it, n / tile times, so the loads fall by the tile width."""
    return Workload(f"tiled matmul (n={n}, tile {tile})", 2 * n**3, itemsize * (2 * n**3 / tile + n**2),
                    f"2n³ FLOPs; A and B each read n/{tile} times, C written once", 1)


def matmul_ideal(n: int, itemsize: int = 4) -> Workload:
    """A matmul that moves each matrix once (what cuBLAS approaches for large n): intensity n/6 in FP32."""
    return Workload(f"matmul, each matrix moved once (n={n})", 2 * n**3, itemsize * 3 * n**2,
                    "2n³ FLOPs; compulsory traffic 3n² elements", 1)


class TrafficCounter:
    """A torch dispatch mode that adds up, for every ATen operation, the bytes of its tensor inputs
    and outputs: the global-memory traffic if each operation read its inputs and wrote its outputs
    once (eager PyTorch without fusion; caches can only lower it, fused kernels such as cuDNN's LSTM
    lower it a lot). Views (reshape, transpose, ...) move nothing and are skipped."""

    SKIP = {"aten::detach", "aten::empty", "aten::empty_like", "aten::lift_fresh", "aten::_to_copy"}

    def __new__(cls):
        from torch.utils._python_dispatch import TorchDispatchMode

        class _Mode(TorchDispatchMode):
            def __init__(self):
                super().__init__()
                self.nbytes = 0
                self.ops = 0

            def __torch_dispatch__(self, func, types, args=(), kwargs=None):
                import torch
                from torch.utils._pytree import tree_flatten

                out = func(*args, **(kwargs or {}))
                if func.is_view or func._schema.name in cls.SKIP:
                    return out
                self.ops += 1
                for t in tree_flatten((args, kwargs))[0] + tree_flatten(out)[0]:
                    if isinstance(t, torch.Tensor):
                        self.nbytes += t.numel() * t.element_size()
                return out

        return _Mode()


def training_step(name: str, model, x, y, loss_fn=None, optimizer: str = "sgd") -> Workload:
    """FLOPs and bytes of one training step (forward, loss, backward, optimizer step) of `model` on
    the batch (x, y), counted on a `meta`-device copy: shapes only, no arithmetic, so any size is
    quick. loss_fn(output, y) defaults to cross-entropy over the last dimension."""
    import copy

    import torch
    import torch.nn.functional as F
    from torch.utils.flop_counter import FlopCounterMode

    meta = copy.deepcopy(model).to("meta")
    x, y = x.to("meta"), y.to("meta")
    loss_fn = loss_fn or (lambda out, t: F.cross_entropy(out.reshape(-1, out.shape[-1]), t.reshape(-1)))
    if optimizer == "sgd":
        opt = torch.optim.SGD(meta.parameters(), lr=0.1, momentum=0.9)
    elif optimizer == "adam":
        opt = torch.optim.Adam(meta.parameters(), lr=1e-3)
    else:
        raise ValueError(f"optimizer must be 'sgd' or 'adam', not {optimizer!r}")
    flops, traffic = FlopCounterMode(display=False), TrafficCounter()
    with flops, traffic:
        loss = loss_fn(meta(x), y)
        loss.backward()
        opt.step()
    return Workload(name, float(flops.get_total_flops()), float(traffic.nbytes),
                    "FlopCounterMode (FLOPs of matmuls and convolutions) + bytes read and written by every "
                    f"operation, unfused; one step with {optimizer.upper()}", traffic.ops)


# ---------------------------------------------------------------- rooflines of the spec table

def roofline_seconds(w: Workload, spec, precision: str = "fp32") -> float | None:
    """Lower bound on the time: max(FLOPs / peak rate, bytes / bandwidth). None if the GPU has no
    rate for this precision on its datasheet."""
    peak = spec.rate(precision)
    if peak is None:
        return None
    return max(w.flops / (peak * 1e9), w.nbytes / (spec.bandwidth_gbs * 1e9))


def workload_bound(w: Workload, spec, precision: str = "fp32") -> str | None:
    """'memory' or 'compute' (gpuviz.roofline.bound), None without a rate for this precision."""
    from gpuviz.roofline import bound as roof_bound

    peak = spec.rate(precision)
    return None if peak is None else roof_bound(w.intensity, peak, spec.bandwidth_gbs)


def plot_rooflines(workloads, specs: dict, precision: str = "fp32", title: str | None = None):
    """Every GPU's roofline (one colour each; dashed: AMD) for one precision, and each workload as a
    vertical line at its arithmetic intensity. Left of a GPU's ridge (marked with a dot) a workload
    is memory-bound on that GPU. Returns a Figure."""
    from matplotlib import colormaps
    from matplotlib.figure import Figure

    from gpuviz import series

    fig = Figure(figsize=(11, 5.4 + 0.16 * ((len(specs) + 1) // 2)), layout="constrained")
    ax = fig.add_subplot()
    ints = [w.intensity for w in workloads]
    rows = [(k, s, s.rate(precision)) for k, s in specs.items()]
    rows = [r for r in rows if r[2] is not None]
    ridges = [p / s.bandwidth_gbs for _, s, p in rows]
    lo = min([0.02, *[i / 3 for i in ints]])
    hi = max([300, *[i * 3 for i in ints], *[r * 4 for r in ridges]])
    xs = np.logspace(np.log10(lo), np.log10(hi), 400)
    cmap = colormaps["tab20"]
    for i, (key, s, peak) in enumerate(rows):
        c = cmap(i % 20)
        name = f"{key}, {peak / 1e3:,.3g} TFLOP/s, {s.bandwidth_gbs:,.0f} GB/s, ridge {peak / s.bandwidth_gbs:.0f}"
        roof = series.Series(name, tuple(xs), tuple(np.minimum(xs * s.bandwidth_gbs, peak) / 1e3), "predicted", s.name)
        series.draw_lines(ax, [roof], styles=[dict(color=c, lw=1.8, ls="--" if s.vendor != "NVIDIA" else "-")])
        ax.plot(peak / s.bandwidth_gbs, peak / 1e3, "o", color=c, ms=5)
    ymin = min(lo * s.bandwidth_gbs for _, s, _ in rows) / 1e3
    ymax = max(p for *_, p in rows) / 1e3 * 3
    for j, w in enumerate(workloads):
        ax.axvline(w.intensity, color="0.25", lw=1, ls=":")
        ax.text(w.intensity / 1.04, ymin * 1.4, f"{w.name}: {w.intensity:.3g} FLOP/B", fontsize=7,
                rotation=90, va="bottom", ha="right", color="0.15")
    ax.set(xscale="log", yscale="log", xlim=(lo, hi), ylim=(ymin, ymax),
           xlabel="arithmetic intensity (FLOP per byte)", ylabel=f"attainable TFLOP/s ({precision.upper()})")
    ax.grid(alpha=0.3, which="major")
    fig.legend(*ax.get_legend_handles_labels(), loc="outside lower center", ncol=2, fontsize=7, frameon=False,
               title="dense rates; dot: ridge", title_fontsize=7)
    ax.set_title(title or f"Rooflines of the spec table, {precision.upper()}, with the course's workloads",
                 fontsize=10)
    return fig


def plot_bounds(workloads, specs: dict, precision: str = "fp32", title: str | None = None):
    """A grid, workloads × GPUs: blue where memory bandwidth bounds the workload, orange where the
    arithmetic rate does, grey where the datasheet has no rate; each cell shows the roofline time
    bound per unit of work. Returns a Figure."""
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    from gpuviz.timing import fmt_seconds

    keys = list(specs)
    fig = Figure(figsize=(1.0 + 0.9 * len(keys), 0.9 + 0.5 * len(workloads)), layout="constrained")
    ax = fig.add_subplot()
    colors = {"memory": "#9ecae1", "compute": "#fdae6b", None: "#e0e0e0"}
    for i, w in enumerate(workloads):
        for j, k in enumerate(keys):
            b = workload_bound(w, specs[k], precision)
            t = roofline_seconds(w, specs[k], precision)
            ax.add_patch(Rectangle((j, i), 1, 1, fc=colors[b], ec="white"))
            ax.text(j + 0.5, i + 0.5, "n/a" if t is None else fmt_seconds(t), ha="center", va="center", fontsize=7)
    ax.set_xlim(0, len(keys))
    ax.set_ylim(len(workloads), 0)
    ax.set_xticks(np.arange(len(keys)) + 0.5, keys, rotation=35, ha="right", fontsize=8)
    ax.set_yticks(np.arange(len(workloads)) + 0.5, [w.name for w in workloads], fontsize=8)
    ax.tick_params(length=0)
    for s in ax.spines.values():
        s.set_visible(False)
    ax.set_title(title or f"{precision.upper()}: blue = memory-bound, orange = compute-bound "
                 "(roofline time per launch or step)", fontsize=9)
    return fig


# ---------------------------------------------------------------- which GPU for this job

@dataclass(frozen=True)
class Job:
    """A training run: `steps` repetitions of `step`, needing `memory_bytes` of GPU memory."""
    name: str
    step: Workload
    steps: int
    memory_bytes: float
    precision: str = "fp32"


def costs(job: Job, specs: dict, prices_per_hour: dict, overhead_s_per_op: float = 0.0) -> list[dict]:
    """For each GPU: the roofline time of the whole job (plus `overhead_s_per_op` for each counted
    operation, a launch-overhead assumption), whether the memory fits, and the cost at the given
    hourly price (None where no price is given). Times are lower bounds: real runs are slower."""
    rows = []
    for key, spec in specs.items():
        t_step = roofline_seconds(job.step, spec, job.precision)
        if t_step is None:
            continue
        overhead = overhead_s_per_op * (job.step.ops or 0)
        seconds = job.steps * (t_step + overhead)
        price = prices_per_hour.get(key)
        rows.append({"gpu": key, "seconds": seconds, "roofline_s": job.steps * t_step,
                     "overhead_s": job.steps * overhead, "bound": workload_bound(job.step, spec, job.precision),
                     "fits": job.memory_bytes <= spec.memory_gib * 2**30, "memory_gib": spec.memory_gib,
                     "price_per_hour": price, "cost": None if price is None else seconds / 3600 * price})
    return rows


def plot_costs(rows: list[dict], job: Job, title: str | None = None,
                 overhead_label: str = "launch overhead (assumed)"):
    """Bars per GPU: time of the job (roofline part and overhead part) and cost per run; GPUs whose
    memory is too small for the job are hatched and marked. `overhead_label` says where the
    per-operation overhead comes from (assumed, or measured and where). Returns a Figure."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 0.9 + 0.36 * len(rows)), layout="constrained")
    ax, ax2 = fig.subplots(1, 2, sharey=True)
    labels = [r["gpu"] for r in rows]
    y = np.arange(len(rows))
    roof = np.array([r["roofline_s"] for r in rows])
    over = np.array([r["overhead_s"] for r in rows])
    hatch = ["//" if not r["fits"] else "" for r in rows]
    scale, unit = (3600, "hours") if (roof + over).max() > 3 * 3600 else (60, "minutes") \
        if (roof + over).max() > 180 else (1, "seconds")
    ax.barh(y, roof / scale, color="C0", hatch=hatch, label="roofline bound")
    if over.any():
        ax.barh(y, over / scale, left=roof / scale, color="C7", hatch=hatch, label=overhead_label)
    for i, r in enumerate(rows):
        ax.text((roof[i] + over[i]) / scale, i, "  does not fit" if not r["fits"] else "", va="center",
                fontsize=7, color="C3")
    ax.set(xlabel=f"{unit} per run (lower bound)", yticks=y)
    ax.set_yticks(y, labels, fontsize=8)
    ax.invert_yaxis()
    ax.legend(fontsize=7, loc="lower right")
    ax.margins(x=0.3)
    costs = [r["cost"] for r in rows]
    ax2.barh(y, [c or 0 for c in costs], color=["C2" if r["fits"] else "0.8" for r in rows], hatch=hatch)
    for i, c in enumerate(costs):
        ax2.text(c or 0, i, " no price" if c is None else f" {c:,.3g}", va="center", fontsize=7)
    ax2.set(xlabel="cost per run (price assumptions × time)")
    ax2.margins(x=0.3)
    fig.suptitle(title or f"{job.name}: {job.steps:,} steps, needs {job.memory_bytes / 2**30:.1f} GiB, "
                 f"{job.precision.upper()}", fontsize=9)
    return fig


# ---------------------------------------------------------------- energy through NVML

def nvml_status(index: int = 0) -> tuple[bool, str]:
    """(True, device name) if NVML can read this GPU's power, else (False, why not)."""
    try:
        import pynvml
    except ImportError:
        return False, ("pynvml is not installed (pip install nvidia-ml-py), so GPU power cannot be read "
                       "here")
    try:
        pynvml.nvmlInit()
    except Exception as e:  # noqa: BLE001 NVMLError_LibraryNotFound, DriverNotLoaded, ...
        return False, f"NVML is not available here ({type(e).__name__}: {e}): no NVIDIA driver, or no GPU"
    try:
        h = _handle(pynvml, index)
        pynvml.nvmlDeviceGetPowerUsage(h)
        name = pynvml.nvmlDeviceGetName(h)
        return True, name.decode() if isinstance(name, bytes) else str(name)
    except Exception as e:  # noqa: BLE001 NVMLError_NotSupported on some GPUs and virtual machines
        return False, f"this GPU does not report its power through NVML ({type(e).__name__}: {e})"
    finally:
        pynvml.nvmlShutdown()


def _handle(pynvml, index: int):
    """The NVML handle of torch's GPU `index` (matched by UUID: CUDA_VISIBLE_DEVICES can renumber)."""
    try:
        import torch

        uuid = str(torch.cuda.get_device_properties(index).uuid)
        return pynvml.nvmlDeviceGetHandleByUUID(uuid if uuid.startswith("GPU-") else "GPU-" + uuid)
    except Exception:  # noqa: BLE001 older torch without .uuid, MIG, ...: fall back to the index
        return pynvml.nvmlDeviceGetHandleByIndex(index)


class PowerSampler:
    """Samples the GPU's power draw (NVML, milliwatts) in a background thread while the `with` block
    runs, and integrates it to joules. Where the GPU has the total-energy counter (Volta and later),
    `joules` is the counter's difference and the samples are only for the plot.

        with PowerSampler() as power:
            train_one_epoch()
        power.joules, power.seconds, power.mean_watts
    """

    def __init__(self, index: int = 0, interval_s: float = 0.05):
        self.index, self.interval_s = index, interval_s
        self.times: list[float] = []
        self.watts: list[float] = []
        self.joules = self.seconds = None
        self.method = None

    def __enter__(self):
        import pynvml

        pynvml.nvmlInit()
        self._nvml = pynvml
        self._h = _handle(pynvml, self.index)
        try:
            self._e0 = pynvml.nvmlDeviceGetTotalEnergyConsumption(self._h)     # millijoules
        except Exception:  # noqa: BLE001 not supported before Volta
            self._e0 = None
        self._stop = threading.Event()
        self._t0 = time.perf_counter()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self):
        while not self._stop.is_set():
            self.times.append(time.perf_counter() - self._t0)
            self.watts.append(self._nvml.nvmlDeviceGetPowerUsage(self._h) / 1000.0)
            self._stop.wait(self.interval_s)

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.seconds = time.perf_counter() - self._t0
        if self._e0 is not None:
            self.joules = (self._nvml.nvmlDeviceGetTotalEnergyConsumption(self._h) - self._e0) / 1000.0
            self.method = "NVML total-energy counter"
        else:
            t = np.array(self.times + [self.seconds])
            w = np.array(self.watts + self.watts[-1:])
            self.joules = float(np.trapezoid(w, t)) if hasattr(np, "trapezoid") else float(np.trapz(w, t))
            self.method = f"NVML power samples every {1e3 * self.interval_s:.0f} ms, integrated"
        self._nvml.nvmlShutdown()

    @property
    def mean_watts(self) -> float:
        return self.joules / self.seconds

    def figure(self, title: str | None = None):
        from matplotlib.figure import Figure

        fig = Figure(figsize=(6, 3), layout="constrained")
        ax = fig.add_subplot()
        ax.plot(self.times, self.watts, color="C3")
        ax.set(xlabel="seconds", ylabel="watts", ylim=(0, None))
        ax.grid(alpha=0.3)
        ax.set_title(title or f"GPU power while training: {self.joules:,.0f} J in {self.seconds:.1f} s "
                     f"({self.method})", fontsize=9)
        return fig


# ---------------------------------------------------------------- the CPU's side: RAPL, or TDP × time

POWERCAP = "/sys/class/powercap"


def _read(path: Path, cast=str):
    """A sysfs file's value, or None where it cannot be read (missing, root only, not a number)."""
    try:
        with open(path) as f:
            return cast(f.read().strip())
    except (OSError, ValueError):
        return None


def _rapl_packages(root: str = POWERCAP) -> dict:
    """{zone name: (energy in µJ, wrap-around range in µJ)} for every readable top-level RAPL zone
    (`intel-rapl:N`, one per CPU package; AMD's kernels expose theirs under the same name). Sub-zones
    (`intel-rapl:N:M`: cores, uncore, DRAM) lie inside their package's count and are skipped.
    Linux makes `energy_uj` readable by root only since 2020 (the PLATYPUS side channel): where it
    cannot be read, the zone is left out."""
    zones = {}
    for d in sorted(Path(root).glob("intel-rapl:*")):
        uj = _read(d / "energy_uj", int) if re.fullmatch(r"intel-rapl:\d+", d.name) else None
        if uj is not None:
            zones[f"{_read(d / 'name') or d.name} ({d.name})"] = (uj, _read(d / "max_energy_range_uj", int))
    return zones


class CpuEnergy:
    """The CPU's energy while a block of code runs: measured through RAPL where its counters can be read
    (`/sys/class/powercap/intel-rapl:N/energy_uj`, the packages' energy, in µJ), else *estimated* as
    `tdp_w` (the CPU's rated power, an assumption you state) × the wall time, which is only an estimate:
    a busy CPU can draw more or less than its TDP, and other programs share it.

        with CpuEnergy(tdp_w=65) as cpu:
            train_on_the_cpu()
        cpu.joules, cpu.seconds, cpu.measured, cpu.method

    `measured` says which it was: True for RAPL (draw with `series.measured`), False for the estimate
    (draw with `series.modelled(..., model=cpu.method)`). RAPL counts the whole package, every program
    running on it included, and not the DRAM's or the rest of the machine's power."""

    def __init__(self, tdp_w: float, root: str = POWERCAP):
        if not tdp_w > 0:
            raise ValueError(f"tdp_w must be a positive number of watts, not {tdp_w!r}")
        self.tdp_w, self.root = float(tdp_w), root
        self.joules = self.seconds = None
        self.measured = False
        self.method = None

    def __enter__(self):
        self._start = _rapl_packages(self.root)
        self._t0 = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self._t0
        end = _rapl_packages(self.root)
        deltas = {}
        for z in self._start.keys() & end.keys():
            (u0, wrap), (u1, _) = self._start[z], end[z]
            if u1 >= u0:
                deltas[z] = u1 - u0
            elif wrap:
                deltas[z] = u1 + wrap - u0          # the counter wrapped around once
        zones = sorted(deltas)
        if zones and len(zones) == len(self._start.keys() & end.keys()):
            self.joules, self.measured = sum(deltas.values()) / 1e6, True
            self.method = f"RAPL energy counters of {', '.join(zones)}"
        else:
            self.joules, self.measured = self.tdp_w * self.seconds, False
            self.method = f"TDP {self.tdp_w:.0f} W (assumed) × the CPU time measured here"
        return False

    @property
    def mean_watts(self) -> float:
        return self.joules / self.seconds
