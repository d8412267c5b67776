"""Data parallelism with torch.distributed, launched from a notebook.

    results = gv.ddp.launch(gv.ddp.ddp_vs_single, world_size=2, args=(x, y))   # one result per rank

`launch` starts `world_size` fresh Python processes (torch.multiprocessing, start method "spawn"),
joins them into one process group (gloo on the CPU; NCCL when there is one GPU per process), runs
`worker(rank, world_size, *args)` in each and returns what each returned, by rank. Workers must be
importable functions (spawned processes cannot see functions defined in a notebook), which is why
the workers of notebook 12 live here:

- `ddp_vs_single`: one DistributedDataParallel step on two shards of a batch against one ordinary
  step on the whole batch: the gradients agree, which is the whole promise of data parallelism.
- `scaling`: per batch size, the time of a training step in one process alone, of both processes
  computing without communicating (`no_sync`), and of a full DDP step; and the time of one
  all-reduce of all gradients on its own.
- `allreduce_sizes`: the time of an all-reduce against the message size (latency and bandwidth).
- `try_average`: runs a learner's hand-written gradient averaging (its source code, executed in the
  worker) and DDP on the same data, for exercise 12-average-grads.

On a CPU the processes share the machine's cores: times say how gloo and the cores behave under
contention, not what GPUs connected by NVLink would do.
"""
from __future__ import annotations

import datetime
import os
import pickle
import sys
import tempfile
import textwrap
import time
import traceback
from pathlib import Path

import numpy as np

CPU_LABEL = ("gloo over loopback TCP, 2 processes sharing this machine's CPU cores (1 thread each): "
             "the times show the shape of the trade-off, not GPU or network performance")
TIMEOUT_S = 30          # a collective that waits longer (a rank that never joins) fails instead of hanging


def default_backend(world_size: int = 2) -> str:
    """'nccl' when torch sees at least one GPU per process and NCCL is built in, else 'gloo'."""
    import torch
    import torch.distributed as dist

    if torch.cuda.is_available() and torch.cuda.device_count() >= world_size and dist.is_nccl_available():
        return "nccl"
    return "gloo"


def _entry(rank, worker, world_size, backend, outdir, args, threads):
    import torch
    import torch.distributed as dist

    if threads:
        torch.set_num_threads(threads)
    if backend == "nccl":
        torch.cuda.set_device(rank)
    elif sys.platform.startswith("linux"):
        # all processes are on this machine: talk over loopback, which exists even in a container
        # without a network, where the hostname may resolve to no usable interface
        os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")
    # rendezvous through a file in a fresh directory: no port to pick, so no race for one
    dist.init_process_group(backend, init_method=f"file://{Path(outdir) / 'rendezvous'}", rank=rank,
                            world_size=world_size, timeout=datetime.timedelta(seconds=TIMEOUT_S))
    try:
        result = worker(rank, world_size, *args)
        with open(Path(outdir) / f"{rank}.pkl", "wb") as f:
            pickle.dump(result, f)
    finally:
        dist.destroy_process_group()
    # Leave at once, skipping interpreter and C++ static teardown: gloo's threads sometimes abort
    # there ("terminate called without an active exception", SIGABRT), after the work is done.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


class LaunchFailed(RuntimeError):
    """A worker process failed; the message carries its traceback."""


def launch(worker, world_size: int = 2, args: tuple = (), *, backend: str | None = None,
           threads: int | None = 1, timeout: float | None = 600) -> list:
    """Run `worker(rank, world_size, *args)` in `world_size` new processes joined in one process
    group; return their results, by rank. `threads`: torch threads per process (1 keeps two CPU
    processes from fighting over 2 cores; None leaves torch's default). Workers still running after
    `timeout` seconds (a loop that never ends), or when the caller is interrupted, are terminated."""
    import torch.multiprocessing as mp

    backend = backend or default_backend(world_size)
    with tempfile.TemporaryDirectory(prefix="gpuviz-ddp-") as outdir:
        ctx = mp.start_processes(_entry, args=(worker, world_size, backend, outdir, args, threads),
                                 nprocs=world_size, join=False, start_method="spawn")
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            while not ctx.join(timeout=0.5):
                if deadline is not None and time.monotonic() > deadline:
                    raise LaunchFailed(f"the {world_size} worker processes did not finish within {timeout:g} s "
                                       "(a loop that never ends, or a rank waiting for another): stopped them")
        except mp.ProcessRaisedException as e:
            raise LaunchFailed(f"a worker process failed:\n{e}") from None
        except mp.ProcessExitedException as e:
            raise LaunchFailed(f"a worker process died: {e}") from None
        finally:
            for proc in ctx.processes:         # on a timeout or Ctrl-C: leave no process behind
                if proc.is_alive():
                    proc.terminate()
                    proc.join(5)
        out = []
        for rank in range(world_size):
            with open(Path(outdir) / f"{rank}.pkl", "rb") as f:
                out.append(pickle.load(f))
    return out


# ---------------------------------------------------------------- the model and the data

def make_model(width: int = 128, seed: int = 0):
    """A small MLP for 28x28 images (Fashion-MNIST), identical in every process for a given seed."""
    import torch
    from torch import nn

    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(784, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU(),
                         nn.Linear(width, 10))


def _device(rank: int):
    import torch
    import torch.distributed as dist

    return torch.device(f"cuda:{rank}") if dist.get_backend() == "nccl" else torch.device("cpu")


def _tensors(x, y, device):
    import torch

    xt = torch.tensor(np.asarray(x), dtype=torch.float32, device=device)
    if xt.max() > 1.5:
        xt = xt / 255.0
    return xt, torch.tensor(np.asarray(y), dtype=torch.long, device=device)


def _grads(model) -> np.ndarray:
    import torch

    return torch.cat([p.grad.detach().flatten() for p in model.parameters()]).cpu().double().numpy()


# ---------------------------------------------------------------- workers

def ddp_vs_single(rank, world_size, x, y, width: int = 128):
    """The global batch (x, y) is split into `world_size` equal shards, shard r on rank r. One DDP step
    (forward, backward: gradients all-reduced and averaged) against one ordinary step on the whole
    batch in one process. Returns {"ddp": grads, "single": grads, "local": this rank's own shard's
    grads, "rank": rank, "backend": ...}."""
    import torch.distributed as dist
    import torch.nn.functional as F
    from torch.nn.parallel import DistributedDataParallel as DDP

    dev = _device(rank)
    x, y = _tensors(x, y, dev)
    n = len(x) // world_size
    xs, ys = x[rank * n:(rank + 1) * n], y[rank * n:(rank + 1) * n]

    single = make_model(width).to(dev)                 # the reference: one process, the whole batch
    F.cross_entropy(single(x[:n * world_size]), y[:n * world_size]).backward()

    local = make_model(width).to(dev)                  # no communication: this shard's gradient only
    F.cross_entropy(local(xs), ys).backward()

    model = DDP(make_model(width).to(dev), device_ids=[rank] if dev.type == "cuda" else None)
    F.cross_entropy(model(xs), ys).backward()          # DDP all-reduces the gradients during backward
    return {"rank": rank, "backend": dist.get_backend(), "ddp": _grads(model.module),
            "single": _grads(single), "local": _grads(local)}


def _sync(dev):
    import torch

    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def _time(fn, dev, steps: int, warmup: int = 2) -> list[float]:
    for _ in range(warmup):                             # warm-up, and DDP's bucket rebuild after step 1
        fn()
    out = []
    for _ in range(steps):
        _sync(dev)
        t = time.perf_counter()
        fn()
        _sync(dev)
        out.append(time.perf_counter() - t)
    return out


def scaling(rank, world_size, x, y, batch_sizes, width: int = 128, steps: int = 9):
    """For each per-process batch size b: seconds per training step (forward, backward, SGD step)
    - "alone": rank 0 alone with b samples while the other ranks wait (the 1-process baseline);
    - "no_sync": every rank computes its b samples at once, without communicating;
    - "ddp": every rank computes and DDP all-reduces the gradients (a real data-parallel step).
    And "allreduce": seconds for one all-reduce of all the model's gradients, alone. Lists of
    `steps` samples each (rank 0's result is the one to read; the steps are in lock-step)."""
    import torch
    import torch.distributed as dist
    import torch.nn.functional as F
    from torch.nn.parallel import DistributedDataParallel as DDP

    dev = _device(rank)
    x, y = _tensors(x, y, dev)
    model = DDP(make_model(width).to(dev), device_ids=[rank] if dev.type == "cuda" else None)
    plain = make_model(width).to(dev)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    opt_plain = torch.optim.SGD(plain.parameters(), lr=0.01)
    out = {"rank": rank, "backend": dist.get_backend(), "world_size": world_size, "batch_sizes": list(batch_sizes),
           "alone": [], "no_sync": [], "ddp": [], "threads": torch.get_num_threads()}
    for b in batch_sizes:
        lo = (rank * b) % max(1, len(x) - b)
        xb, yb = x[lo:lo + b], y[lo:lo + b]

        def step_plain():
            opt_plain.zero_grad(set_to_none=True)
            F.cross_entropy(plain(xb), yb).backward()
            opt_plain.step()

        def step_no_sync():
            opt.zero_grad(set_to_none=True)
            with model.no_sync():
                F.cross_entropy(model(xb), yb).backward()
            opt.step()

        def step_ddp():
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(model(xb), yb).backward()
            opt.step()

        dist.barrier()
        out["alone"].append(_time(step_plain, dev, steps) if rank == 0 else [])
        dist.barrier()
        out["no_sync"].append(_time(step_no_sync, dev, steps))
        dist.barrier()
        out["ddp"].append(_time(step_ddp, dev, steps))
    flat = torch.cat([p.detach().flatten() for p in model.parameters()]).clone()
    dist.barrier()
    out["allreduce"] = _time(lambda: dist.all_reduce(flat), dev, steps * 2)
    out["grad_bytes"] = flat.numel() * flat.element_size()
    return out


def allreduce_sizes(rank, world_size, sizes_bytes, repeats: int = 15):
    """Seconds of one all-reduce (sum) of a float32 tensor of each size: the best of `repeats` (on a
    shared machine the minimum is the run least disturbed by other work), timed on every rank."""
    import torch
    import torch.distributed as dist

    dev = _device(rank)
    out = {"rank": rank, "backend": dist.get_backend(), "bytes": list(sizes_bytes), "seconds": []}
    for nbytes in sizes_bytes:
        t = torch.ones(max(1, int(nbytes) // 4), device=dev)
        dist.barrier()
        out["seconds"].append(float(np.min(_time(lambda: dist.all_reduce(t), dev, repeats))))
    return out


# ---------------------------------------------------------------- exercise 12-average-grads

TRY_NAMESPACE = "torch, dist (torch.distributed), nn (torch.nn) and F (torch.nn.functional)"


def try_average(rank, world_size, candidates, x, y, width: int = 32):
    """For each candidate (source code, function name): build the model, compute this rank's shard
    gradient, call the learner's function `fn(model)`, and record the gradients it leaves, beside
    DDP's gradients on the same shards and the local (unaveraged) ones. Errors are returned as text."""
    import torch
    import torch.distributed as dist
    import torch.nn.functional as F
    from torch import nn
    from torch.nn.parallel import DistributedDataParallel as DDP

    dev = _device(rank)
    x, y = _tensors(x, y, dev)
    n = len(x) // world_size
    xs, ys = x[rank * n:(rank + 1) * n], y[rank * n:(rank + 1) * n]
    ddp = DDP(make_model(width).to(dev), device_ids=[rank] if dev.type == "cuda" else None)
    F.cross_entropy(ddp(xs), ys).backward()
    want = _grads(ddp.module)
    results = []
    for source, name in candidates:
        ns = {"torch": torch, "dist": dist, "nn": nn, "F": F}
        model = make_model(width).to(dev)
        before = torch.cat([p.detach().flatten() for p in model.parameters()]).clone()
        F.cross_entropy(model(xs), ys).backward()
        local = _grads(model)
        r = {"rank": rank, "local": local, "ddp": want, "error": None, "got": None, "params_changed": False}
        try:
            exec(compile(source, f"<your {name}>", "exec"), ns)
            ns[name](model)
            r["got"] = _grads(model)
            after = torch.cat([p.detach().flatten() for p in model.parameters()])
            r["params_changed"] = not torch.equal(before, after)
        except Exception as e:  # noqa: BLE001 the learner's code: report it in their words
            r["error"] = f"{type(e).__name__}: {e}"
            r["traceback"] = traceback.format_exc(limit=3)
        results.append(r)
        dist.barrier()            # a candidate that left a collective unmatched fails here, not later
    return results


# ---------------------------------------------------------------- summaries and figures

def summarize_scaling(result: dict) -> list[dict]:
    """Per batch size, from `scaling`'s rank-0 result: the best (minimum) seconds of each kind of step
    (on a shared machine the least disturbed run; medians are noisier), the
    communication time (ddp - no_sync, at least 0), the scaling efficiency t_alone / t_ddp (1.0: N
    processes do N times the work in the same time) and the throughput in samples/s of all processes."""
    rows = []
    p = result["world_size"]
    for i, b in enumerate(result["batch_sizes"]):
        alone, nosync, ddp = (float(np.min(result[k][i])) for k in ("alone", "no_sync", "ddp"))
        rows.append({"batch_per_process": b, "alone_s": alone, "no_sync_s": nosync, "ddp_s": ddp,
                     "comm_s": max(0.0, ddp - nosync), "efficiency": alone / ddp,
                     "samples_per_s_1": b / alone, "samples_per_s_n": p * b / ddp})
    return rows


def _plain_ticks(ax):
    """Log-scale y ticks as plain numbers (0.5, 2, 30) instead of 5×10⁻¹."""
    from matplotlib.ticker import FormatStrFormatter, LogLocator

    ax.yaxis.set_minor_locator(LogLocator(subs=(2.0, 5.0)))
    ax.yaxis.set_major_formatter(FormatStrFormatter("%g"))
    ax.yaxis.set_minor_formatter(FormatStrFormatter("%g"))
    ax.tick_params(axis="y", which="minor", labelsize=7)


def plot_scaling(result: dict, label: str | None = None, doc: dict | None = None):
    """Left: seconds per step against the batch size per process, for one process alone, N processes
    computing without communicating, and N processes with DDP; the shaded gap between the last two is
    the communication. Right: scaling efficiency t_alone / t_ddp. Every line says where its numbers
    come from (gpuviz.series): recorded in the reference `doc` when `result` was loaded from one, else
    measured here. Returns a Figure."""
    from matplotlib.figure import Figure

    from gpuviz import series

    rows = summarize_scaling(result)
    b = [r["batch_per_process"] for r in rows]
    fig = Figure(figsize=(9.5, 3.8), layout="constrained")
    ax, ax2 = fig.subplots(1, 2)
    p = result["world_size"]
    ms = {k: [1e3 * r[k] for r in rows] for k in ("alone_s", "no_sync_s", "ddp_s")}
    series.draw_lines(ax, [series.measured_or_recorded("1 process alone", b, ms["alone_s"], doc),
                           series.measured_or_recorded(f"{p} processes, no communication", b, ms["no_sync_s"], doc),
                           series.measured_or_recorded(f"{p} processes, DDP (all-reduce)", b, ms["ddp_s"], doc)],
                      styles=[dict(marker="o", ls="-", color="C0"), dict(marker="s", ls="--", color="C2"),
                              dict(marker="^", ls="-", color="C3")])
    ax.fill_between(b, ms["no_sync_s"], ms["ddp_s"], color="C3", alpha=0.15)     # the communication
    ax.annotate("shaded: communication", (0.02, 0.02), xycoords="axes fraction", fontsize=7.5, color="C3")
    ax.set(xscale="log", yscale="log", xlabel="batch size per process", ylabel="ms per training step")
    _plain_ticks(ax)
    ax.set_xticks(b, [str(v) for v in b])
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7.5)
    series.draw_lines(ax2, [series.measured_or_recorded("DDP efficiency", b, [100 * r["efficiency"] for r in rows],
                                                        doc)], styles=[dict(color="C3")])
    ax2.axhline(100, color="0.5", ls=":")
    ax2.annotate("ideal: N× the work in the same time", (b[0], 100), fontsize=7.5, color="0.4", va="bottom")
    ax2.set(xscale="log", xlabel="batch size per process", ylabel="scaling efficiency (%)",
            ylim=(0, max(115, 10 + max(100 * r["efficiency"] for r in rows))))
    ax2.set_xticks(b, [str(v) for v in b])
    ax2.grid(alpha=0.3)
    ax2.legend(fontsize=7.5, loc="lower right")
    fig.suptitle(textwrap.fill(label or f"{p} processes, backend {result['backend']}", 120), fontsize=9)
    return fig


def fit_latency_bandwidth(nbytes, seconds) -> tuple[float, float]:
    """t = latency + nbytes / bandwidth, from the ends of the curve: the latency is the median time of
    the messages of at most 16 KiB (or the smallest one), the bandwidth the slope between the
    smallest and the largest message. Returns (latency s, bandwidth bytes/s)."""
    n, t = np.asarray(nbytes, float), np.asarray(seconds, float)
    order = np.argsort(n)
    n, t = n[order], t[order]
    small = t[n <= 16384]
    latency = float(np.median(small)) if small.size else float(t[0])
    slope = (t[-1] - t[0]) / (n[-1] - n[0]) if n[-1] > n[0] else 0.0
    return latency, float(1.0 / slope) if slope > 0 else float("inf")


def plot_allreduce(result: dict, grad_bytes: int | None = None, label: str | None = None,
                   doc: dict | None = None):
    """All-reduce time against message size (log-log), with the fit latency + bytes/bandwidth (written
    on the figure) and a mark at the size of a model's gradients. The points say where they come from
    (gpuviz.series): recorded in the reference `doc` when given, else measured here. Returns a Figure."""
    from matplotlib.figure import Figure

    from gpuviz import series

    n, t = np.asarray(result["bytes"], float), np.asarray(result["seconds"], float)
    lat, bw = fit_latency_bandwidth(n, t)
    fig = Figure(figsize=(6, 3.6), layout="constrained")
    ax = fig.add_subplot()
    series.draw_lines(ax, [series.measured_or_recorded("all-reduce, best of several", n, 1e3 * t, doc)],
                      styles=[dict(ls="", color="C0")])
    grid = np.logspace(np.log10(n.min()), np.log10(n.max()), 100)
    ax.plot(grid, 1e3 * (lat + grid / bw), "-", color="C1")           # the fit: a model of these points
    ax.annotate(f"fit: {1e6 * lat:.0f} µs + bytes / ({bw / 1e9:.2g} GB/s)", (0.02, 0.95), xycoords="axes fraction",
                fontsize=8, color="C1", va="top")
    if grad_bytes:
        series.draw_marks(ax, {f"this model's gradients ({grad_bytes / 2**20:.1f} MiB)": grad_bytes})
    ax.set(xscale="log", yscale="log", xlabel="bytes all-reduced per process", ylabel="ms per all-reduce")
    _plain_ticks(ax)
    ax.grid(alpha=0.3, which="both")
    fig.legend(*ax.get_legend_handles_labels(), loc="outside lower center", fontsize=8, frameon=False)
    ax.set_title(textwrap.fill(label or f"all-reduce, backend {result['backend']}", 70), fontsize=9)
    return fig


def plot_data_parallel(world_size: int = 2, batch: int = 8):
    """The picture of data parallelism: one global batch split into shards; every process holds a
    copy of the model, computes the gradient of its shard, all-reduce averages the gradients, and
    every copy takes the same optimizer step. Returns a Figure."""
    from matplotlib.figure import Figure
    from matplotlib.patches import FancyBboxPatch

    fig = Figure(figsize=(9, 4.2), layout="constrained")
    ax = fig.add_subplot()
    ax.set_xlim(0, 10)
    ax.set_ylim(0, 6.2)
    ax.set_axis_off()
    per = batch // world_size

    def box(x, y, w, h, text, color, fs=8):
        ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.04", fc=color, ec="0.3", lw=0.8))
        ax.text(x + w / 2, y + h / 2, text, ha="center", va="center", fontsize=fs)

    def arrow(x0, y0, x1, y1):
        ax.annotate("", (x1, y1), (x0, y0), arrowprops=dict(arrowstyle="->", color="0.3", lw=1))

    # the global batch
    for i in range(batch):
        ax.add_patch(FancyBboxPatch((0.3 + 0.28 * i, 5.5), 0.22, 0.4, boxstyle="square,pad=0",
                                    fc=f"C{i // per}", alpha=0.6, ec="0.3", lw=0.5))
    ax.text(0.3, 6.05, f"global batch: {batch} samples, split into {world_size} shards (one colour each)",
            fontsize=8)
    h = 4.6 / world_size
    for r in range(world_size):
        y = 5.0 - (r + 1) * h + 0.15
        c = f"C{r}"
        box(0.6, y, 1.6, h - 0.35, "", "#f2f2f2")
        ax.text(1.4, y + h - 0.6, f"process {r}", ha="center", fontsize=8)
        ax.text(1.4, y + 0.15, f"shard {r}: {per} samples", ha="center", fontsize=7)
        for i in range(per):
            ax.add_patch(FancyBboxPatch((1.4 - 0.15 * per + 0.3 * i + 0.04, y + (h - 0.35) / 2 - 0.2), 0.22, 0.4,
                                        boxstyle="square,pad=0", fc=c, alpha=0.6, ec="0.3", lw=0.5))
        box(2.6, y, 1.8, h - 0.35, "same model copy\nforward + backward", "#dde8f5")
        box(4.8, y, 1.3, h - 0.35, f"gradient\n$g_{r}$", "#f8e0d0")
        arrow(2.2, y + (h - 0.35) / 2, 2.6, y + (h - 0.35) / 2)
        arrow(4.4, y + (h - 0.35) / 2, 4.8, y + (h - 0.35) / 2)
        arrow(6.1, y + (h - 0.35) / 2, 6.6, 2.6)
        box(8.2, y, 1.6, h - 0.35, "optimizer step\n(identical on\nevery process)", "#e0f0dc")
        arrow(7.8, 2.6, 8.2, y + (h - 0.35) / 2)
    terms = " + ".join(f"g_{r}" for r in range(world_size))
    box(6.6, 1.6, 1.2, 2.0, f"all-reduce\n(average)\n\n$g = ({terms})/{world_size}$", "#fbe3e8", fs=7)
    ax.text(5, 0.05, "Only gradients travel between processes, once per step; each process then holds the "
            "same averaged gradient,\nso the model copies stay identical without ever sending weights.",
            ha="center", fontsize=8)
    return fig
