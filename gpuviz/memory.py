"""Where a PyTorch training step's memory goes: measured on a GPU, estimated from tensor sizes on the CPU.

- `Tracker(model, optimizer)` watches an unchanged training loop through hooks. Three times per
  step (after the forward pass, after the backward pass, after the optimizer step) it records a
  `Sample`: bytes of parameters, gradients, optimizer state and activations (the outputs of the
  model's leaf modules during the forward pass, found by forward hooks) and, on a GPU, torch's
  allocated, reserved and peak allocated memory. On the CPU the same breakdown is an *estimate*
  from tensor sizes, and every sample and figure says so.
- `estimate(model, input_shape, ...)` predicts peak training memory before running anything:
  parameters + gradients + optimizer state + activations saved for backward, with the caveats
  (cuDNN workspace, allocator rounding, the CUDA context) it does not count.
- `saved_for_backward(fn)` counts, exactly, the bytes autograd keeps for the backward pass.
- `compare(...)` runs a real training step on a GPU and sets the estimate against torch's peak.
- `plot_timeline(samples)` draws the timeline, `plot_fit(estimate)` an estimate against GPU capacities,
  `plot_remedies(rows)` the ways of training one batch (pure functions returning Figures);
  `gv.widgets.MemoryView(tracker)` redraws the timeline as training runs, `gv.widgets.EstimatorWidget`
  the estimate as sliders move.
"""
from __future__ import annotations

import copy
import weakref
from dataclasses import asdict, dataclass, field

import numpy as np

PHASES = ("forward", "backward", "step")
PARTS = ("params", "grads", "optimizer", "activations")
PART_LABELS = {"params": "parameters", "grads": "gradients", "optimizer": "optimizer state",
               "activations": "activations"}
ESTIMATE_LABEL = "estimate from tensor sizes (CPU): not a measurement"
MEASURED_LABEL = "measured by torch's CUDA allocator"
CAVEATS = ("not counted: the CUDA context (a few hundred MB per process, outside torch's allocator), "
           "cuDNN/cuBLAS workspaces (up to hundreds of MB, chosen per layer at run time), temporaries "
           "inside single operations and the optimizer step, and the allocator's rounding and cache "
           "(reserved ≥ allocated).")
OPTIMIZERS = {"sgd": 0, "sgd_momentum": 1, "adam": 2, "adamw": 2}   # state tensors the size of each parameter


def tensor_bytes(t) -> int:
    return int(t.numel()) * int(t.element_size())


def _tensors(obj):
    """Every tensor in a nested output (tensor, tuple, list, dict, PackedSequence-like)."""
    import torch

    if isinstance(obj, torch.Tensor):
        yield obj
    elif isinstance(obj, (tuple, list)):
        for o in obj:
            yield from _tensors(o)
    elif isinstance(obj, dict):
        for o in obj.values():
            yield from _tensors(o)


def _leaves(model):
    return [m for m in model.modules() if not list(m.children())]


def param_bytes(model) -> int:
    return sum(tensor_bytes(p) for p in model.parameters())


def grad_bytes(model) -> int:
    return sum(tensor_bytes(p.grad) for p in model.parameters() if p.grad is not None)


def optimizer_bytes(optimizer) -> int:
    """Bytes of every tensor the optimizer keeps (momentum buffers, Adam's two moments, step counters)."""
    if optimizer is None:
        return 0
    return sum(tensor_bytes(t) for state in optimizer.state.values() for t in _tensors(state))


class _Distinct:
    """Counts each tensor's memory once: in-place layers (ReLU(inplace=True)) return their input, and
    views (Flatten, reshape) share their base's memory. Works the same for meta tensors (no data)."""

    def __init__(self):
        self.seen = {}
        self.total = 0

    def add(self, t) -> None:
        base = t._base if t._base is not None else t
        ref = self.seen.get(id(base))
        if ref is not None and ref() is base:
            return
        self.seen[id(base)] = weakref.ref(base)
        self.total += tensor_bytes(base)


def _activation_hooks(model, counter_fn):
    """Forward hooks on every leaf module that count its outputs; returns the hook handles."""
    import torch

    def hook(module, inputs, output):
        if torch.is_grad_enabled():
            counter = counter_fn()
            if counter is not None:
                for t in _tensors(output):
                    if t.requires_grad:
                        counter.add(t)

    return [m.register_forward_hook(hook) for m in _leaves(model)]


@dataclass
class Sample:
    """Memory at one point of one training step, in bytes."""
    step: int
    phase: str                      # "forward", "backward" or "step"
    params: int
    grads: int
    optimizer: int
    activations: int                # outputs of leaf modules kept from this step's forward pass
    measured: bool                  # True: on a GPU, with torch's allocator numbers below
    allocated: int | None = None    # torch.cuda.memory_allocated()
    reserved: int | None = None     # torch.cuda.memory_reserved()
    peak: int | None = None         # torch.cuda.max_memory_allocated() since the step began

    @property
    def total(self) -> int:
        """The breakdown's sum (what the tensors add up to; on a GPU `allocated` is the measurement)."""
        return self.params + self.grads + self.optimizer + self.activations

    def to_dict(self) -> dict:
        return asdict(self)


class Tracker:
    """Records a `Sample` after each forward pass, backward pass and optimizer step of a training loop.

        tracker = gv.memory.Tracker(model, optimizer)
        for x, y in batches:               # the loop itself is unchanged
            loss = loss_fn(model(x), y)
            optimizer.zero_grad(); loss.backward(); optimizer.step()
        tracker.samples, tracker.figure(); tracker.remove()

    Forward passes without gradients (evaluation) are not recorded. On a GPU the allocator's numbers
    are read after a synchronize; on the CPU `label` says the breakdown is an estimate.
    """

    def __init__(self, model, optimizer=None, *, device=None, max_samples: int = 3000):
        import torch

        self.model, self.optimizer = model, optimizer
        if device is None:
            p = next(model.parameters(), None)
            device = p.device if p is not None else torch.device("cpu")
        self.device = torch.device(device)
        self.measured = self.device.type == "cuda"
        self.label = MEASURED_LABEL if self.measured else ESTIMATE_LABEL
        self.samples: list[Sample] = []
        self.max_samples = max_samples
        self.step = 0
        self._acts: _Distinct | None = None
        self._pending = 0
        self._listeners = []
        self._handles = _activation_hooks(model, lambda: self._acts)
        self._handles.append(model.register_forward_pre_hook(self._begin))
        self._handles.append(model.register_forward_hook(self._forward_done))
        self._params = [p for p in model.parameters() if p.requires_grad]
        for p in self._params:
            self._handles.append(p.register_post_accumulate_grad_hook(self._grad_done))
        if optimizer is not None:
            self._handles.append(optimizer.register_step_post_hook(self._step_done))

    # ---- hooks
    def _begin(self, module, inputs):
        import torch

        if not torch.is_grad_enabled():
            return
        self.step += 1
        self._acts = _Distinct()
        self._pending = len(self._params)
        if self.measured:
            torch.cuda.reset_peak_memory_stats(self.device)

    def _forward_done(self, module, inputs, output):
        import torch

        if torch.is_grad_enabled() and self._acts is not None:
            self._record("forward")

    def _grad_done(self, p):
        self._pending -= 1
        if self._pending == 0 and self._acts is not None:
            self._acts = None            # the graph's saved tensors are freed once backward is done
            self._record("backward")

    def _step_done(self, optimizer, args, kwargs):
        self._record("step")

    def _record(self, phase: str) -> None:
        import torch

        acts = self._acts.total if self._acts is not None else 0
        s = Sample(self.step, phase, param_bytes(self.model), grad_bytes(self.model),
                   optimizer_bytes(self.optimizer), acts, self.measured)
        if self.measured:
            torch.cuda.synchronize(self.device)
            s.allocated = int(torch.cuda.memory_allocated(self.device))
            s.reserved = int(torch.cuda.memory_reserved(self.device))
            s.peak = int(torch.cuda.max_memory_allocated(self.device))
        self.samples.append(s)
        del self.samples[:-self.max_samples]
        for fn in self._listeners:
            fn(s)

    # ---- use
    def on_sample(self, fn) -> None:
        """Call fn(sample) after every new sample (gv.widgets.MemoryView uses this)."""
        self._listeners.append(fn)

    def peak(self) -> int:
        """The largest measured peak (GPU) or breakdown total (CPU estimate) so far."""
        if not self.samples:
            return 0
        return max((s.peak if s.measured else s.total) for s in self.samples)

    def figure(self, title: str | None = None):
        return plot_timeline(self.samples, title=title)

    def remove(self) -> None:
        """Take every hook off the model and the optimizer."""
        for h in self._handles:
            h.remove()
        self._handles = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()


# ---------------------------------------------------------------- counting and estimating

def saved_for_backward(fn, *args, exclude=()) -> int:
    """Bytes of the distinct tensors autograd saves for the backward pass while `fn(*args)` runs,
    not counting tensors in `exclude` (pass model.parameters(): weights are saved by reference)."""
    import torch

    skip = {(p.untyped_storage().data_ptr()) for p in exclude}
    seen, total = set(), 0

    def pack(t):
        nonlocal total
        if t.device.type != "meta":
            key = (t.untyped_storage().data_ptr(), t.untyped_storage().nbytes())
            if key[0] not in skip and key not in seen:
                seen.add(key)
                total += int(t.untyped_storage().nbytes())
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn(*args)
    del out
    return total


def activation_bytes(model, x) -> int:
    """Bytes of the distinct outputs of the model's leaf modules in one forward pass on `x`
    (the forward-hook count the Tracker and the estimator use)."""
    import torch

    counter = _Distinct()
    handles = _activation_hooks(model, lambda: counter)
    try:
        with torch.enable_grad():
            out = model(x)
    finally:
        for h in handles:
            h.remove()
    del out
    return counter.total


@dataclass
class Estimate:
    """A prediction of peak training memory, bytes, for one model, input and optimizer."""
    params: int
    grads: int
    optimizer: int
    activations: int
    inputs: int
    batch_size: int
    optimizer_name: str
    method: str                           # how activations were counted
    caveats: str = CAVEATS
    parts: dict = field(default_factory=dict, repr=False)   # per leaf module activation bytes

    @property
    def total(self) -> int:
        return self.params + self.grads + self.optimizer + self.activations + self.inputs

    def __str__(self) -> str:
        rows = [(PART_LABELS[k], getattr(self, k)) for k in PARTS] + [("input batch", self.inputs)]
        lines = [f"predicted peak training memory, batch {self.batch_size}, {self.optimizer_name}: "
                 f"{fmt_bytes(self.total)}"]
        lines += [f"  {name:<16} {fmt_bytes(b):>10}" for name, b in rows]
        return "\n".join(lines + [f"  ({self.caveats})"])

    def to_dict(self) -> dict:
        d = asdict(self)
        d["total"] = self.total
        return d


def optimizer_state_bytes(model, optimizer: str = "adam", *, mixed_precision: bool = False) -> int:
    """State the optimizer keeps after its first step: SGD none, SGD with momentum one buffer per
    parameter, Adam/AdamW two (exp_avg, exp_avg_sq) plus a 4-byte step counter per parameter tensor.

    Buffers have the parameters' dtype, unless `mixed_precision`: then the model's parameters are
    16-bit and the optimizer keeps a float32 master copy of every weight and its buffers in float32
    (the usual mixed-precision setup, counted as in the ZeRO paper: for Adam, 4 + 4 + 4 = 12 bytes
    of state per parameter)."""
    name = optimizer.lower()
    if name not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, not {optimizer!r}")
    params = [p for p in model.parameters() if p.requires_grad]
    if mixed_precision:
        n = sum(int(p.numel()) for p in params)
        state = (1 + OPTIMIZERS[name]) * 4 * n    # float32 master weights + float32 buffers
    else:
        state = OPTIMIZERS[name] * sum(tensor_bytes(p) for p in params)
    if name.startswith("adam"):
        state += 4 * len(params)          # torch keeps `step` as a float32 scalar tensor per parameter
    return state


def estimate(model, input_shape, *, batch_size: int, dtype=None, optimizer: str = "adam",
             input_dtype=None, mixed_precision: bool = False) -> Estimate:
    """Predict peak memory of one training step: parameters + gradients + optimizer state +
    activations (outputs of leaf modules, counted by forward hooks on a shape-only copy of the
    model on torch's `meta` device, so nothing is computed) + the input batch.

    input_shape excludes the batch dimension; dtype is the dtype of parameters and activations
    (float32 by default; torch.float16 for a half model); input_dtype defaults to dtype (use
    torch.long for token ids). The sum is an upper bound of the tensors alive at the start of the
    backward pass: `CAVEATS` lists what it leaves out.

    mixed_precision=True counts mixed-precision training: 16-bit weights and gradients (dtype
    float16 or bfloat16, required) and a float32 master copy of the weights with float32 optimizer
    state; for Adam that is 2 + 2 + 12 = 16 bytes per parameter (`bytes_per_param`).
    """
    import torch

    dtype = dtype or torch.float32
    if mixed_precision and dtype not in (torch.float16, torch.bfloat16):
        raise ValueError(f"mixed_precision=True needs dtype=torch.float16 or torch.bfloat16, not {dtype}")
    input_dtype = input_dtype or dtype
    shape = (int(batch_size), *tuple(input_shape))
    shadow = copy.deepcopy(model).to(device="meta", dtype=dtype) if dtype.is_floating_point else \
        copy.deepcopy(model).to("meta")
    parts = {}
    counter = _Distinct()
    names = {m: n for n, m in shadow.named_modules()}

    def hook(module, inputs, output):
        before = counter.total
        for t in _tensors(output):
            if t.requires_grad:
                counter.add(t)
        parts[names[module]] = parts.get(names[module], 0) + counter.total - before

    handles = [m.register_forward_hook(hook) for m in _leaves(shadow)]
    try:
        x = torch.zeros(shape, dtype=input_dtype, device="meta")
        method = "forward hooks on a meta-device copy (shapes only, no compute)"
        with torch.enable_grad():
            shadow(x)
    except (NotImplementedError, RuntimeError):
        # an op without a meta kernel: one CPU sample, scaled by the batch size
        for h in handles:
            h.remove()
        cpu = copy.deepcopy(model).to(device="cpu", dtype=dtype) if dtype.is_floating_point else copy.deepcopy(model)
        names = {m: n for n, m in cpu.named_modules()}
        counter, parts = _Distinct(), {}
        handles = [m.register_forward_hook(hook) for m in _leaves(cpu)]
        one = (1, *tuple(input_shape))
        with torch.enable_grad():
            cpu(torch.zeros(one, dtype=input_dtype))
        counter.total *= int(batch_size)
        parts = {k: v * int(batch_size) for k, v in parts.items()}
        method = "forward hooks on one CPU sample, times the batch size"
    finally:
        for h in handles:
            h.remove()
    p = sum(tensor_bytes(q) for q in shadow.parameters())
    g = sum(tensor_bytes(q) for q in shadow.parameters() if q.requires_grad)
    opt = optimizer_state_bytes(shadow, optimizer, mixed_precision=mixed_precision)
    inputs = int(np.prod(shape)) * torch.empty((), dtype=input_dtype).element_size()
    name = f"{optimizer}, mixed precision (float32 master weights and state)" if mixed_precision else optimizer
    return Estimate(p, g, opt, counter.total, inputs, int(batch_size), name, method, parts=parts)


def bytes_per_param(est: Estimate, n_params: int) -> float:
    """Parameters + gradients + optimizer state of an estimate, per parameter (activations and
    inputs left out): 16 for mixed-precision Adam, 8 for Adam on a 16-bit model, 16 in float32."""
    return (est.params + est.grads + est.optimizer) / n_params


def compare(model, input_shape, *, batch_size: int, loss_fn=None, optimizer: str = "adam",
            dtype=None, input_dtype=None, target=None, steps: int = 2) -> dict:
    """Estimate, then (on a GPU) measure: run `steps` training steps on a random batch and read
    torch.cuda.max_memory_allocated over the last one (after the first step created the optimizer
    state), less what was allocated before the call. Returns {"estimate": Estimate.to_dict(), "measured_peak": bytes or None,
    "ratio": measured/estimated or None, "label": ...}. Without a GPU only the estimate comes back.
    """
    import torch

    est = estimate(model, input_shape, batch_size=batch_size, dtype=dtype, optimizer=optimizer,
                   input_dtype=input_dtype)
    out = {"estimate": est.to_dict(), "measured_peak": None, "ratio": None, "label": ESTIMATE_LABEL}
    if not torch.cuda.is_available():
        return out
    dev = torch.device("cuda")
    dtype = dtype or torch.float32
    input_dtype = input_dtype or dtype
    torch.cuda.synchronize()
    base = torch.cuda.memory_allocated(dev)          # what the caller already holds: not this model's
    m = copy.deepcopy(model).to(dev, dtype=dtype)
    opt = make_optimizer(m.parameters(), optimizer)
    shape = (batch_size, *tuple(input_shape))
    gen = torch.Generator(device=dev).manual_seed(0)
    if input_dtype.is_floating_point:
        x = torch.randn(shape, dtype=input_dtype, device=dev, generator=gen)
    else:
        x = torch.zeros(shape, dtype=input_dtype, device=dev)
    loss_fn = loss_fn or (lambda out, t: out.float().square().mean())
    for _ in range(steps):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats(dev)
        loss = loss_fn(m(x), target)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        torch.cuda.synchronize()
    peak = int(torch.cuda.max_memory_allocated(dev)) - base
    out.update(measured_peak=peak, ratio=peak / est.total, label=MEASURED_LABEL)
    return out


def make_optimizer(params, name: str, lr: float = 1e-3):
    import torch

    name = name.lower()
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr)
    if name == "sgd_momentum":
        return torch.optim.SGD(params, lr=lr, momentum=0.9)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr)
    raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, not {name!r}")


# ---------------------------------------------------------------- drawing

def fmt_bytes(b) -> str:
    b = float(b)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(b) < 1024 or unit == "GiB":
            return f"{b:.0f} {unit}" if unit == "B" else f"{b:.1f} {unit}"
        b /= 1024
    return f"{b:.1f} GiB"


def _unit(maxbytes: float):
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if maxbytes >= scale:
            return unit, scale
    return "B", 1


COLORS = {"params": "#4c72b0", "grads": "#dd8452", "optimizer": "#55a868", "activations": "#c44e52"}


def plot_timeline(samples, title: str | None = None, max_points: int = 600):
    """Memory over a training run: the breakdown stacked at every forward/backward/step sample and,
    when measured on a GPU, torch's allocated, reserved and peak memory as lines. Returns a Figure."""
    from matplotlib.figure import Figure

    samples = list(samples)[-max_points:]
    fig = Figure(figsize=(9, 3.6), layout="constrained")
    ax = fig.add_subplot()
    if not samples:
        ax.text(0.5, 0.5, "no training step recorded yet", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return fig
    measured = all(s.measured for s in samples)
    x = np.arange(len(samples))
    stack = np.array([[getattr(s, k) for s in samples] for k in PARTS], float)
    top = stack.sum(0).max()
    if measured:
        top = max(top, max(s.reserved or 0 for s in samples), max(s.peak or 0 for s in samples))
    unit, scale = _unit(top)
    edges = np.arange(len(samples) + 1)            # sample i covers [i, i + 1)
    ax.stackplot(edges, np.c_[stack, stack[:, -1:]] / scale, labels=[PART_LABELS[k] for k in PARTS],
                 colors=[COLORS[k] for k in PARTS], alpha=0.85, step="post")
    if measured:
        for attr, style, name in (("allocated", "-", "allocated"), ("reserved", "--", "reserved")):
            v = [getattr(s, attr) / scale for s in samples]
            ax.step(edges, v + v[-1:], where="post", color="k", ls=style, lw=1.5 if style == "-" else 1, label=name)
        ax.plot(x + 0.5, [s.peak / scale for s in samples], "v", color="k", ms=4, label="peak so far in step")
    steps = [i for i, s in enumerate(samples) if s.phase == "forward"]
    if len(samples) <= 60:
        ax.set_xticks(x + 0.5, [f"{s.step}{s.phase[0]}" for s in samples], fontsize=7, rotation=90)
        ax.set_xlabel("training step and phase (f = after forward, b = after backward, s = after optimizer step)")
    else:
        ticks = steps[:: max(1, len(steps) // 10)]
        ax.set_xticks([i + 0.5 for i in ticks], [samples[i].step for i in ticks])
        ax.set_xlabel("training step")
    ax.set_xlim(0, len(samples))
    ax.set_ylabel(unit)
    ax.set_ylim(0, top / scale * 1.1)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8, framealpha=0.9)
    ax.set_title(title or ("training memory, " + (MEASURED_LABEL if measured else ESTIMATE_LABEL)), fontsize=10)
    return fig


def plot_estimate(est: Estimate, measured_peak: int | None = None, title: str | None = None):
    """One stacked bar of an Estimate's parts, beside the measured peak when there is one."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5, 3.6), layout="constrained")
    ax = fig.add_subplot()
    vals = {PART_LABELS[k]: getattr(est, k) for k in PARTS}
    vals["input batch"] = est.inputs
    unit, scale = _unit(max(est.total, measured_peak or 0))
    bottom = 0.0
    colors = [*(COLORS[k] for k in PARTS), "#8172b3"]
    for (name, v), c in zip(vals.items(), colors):
        ax.bar(0, v / scale, bottom=bottom, color=c, label=f"{name}: {fmt_bytes(v)}", width=0.5)
        bottom += v / scale
    labels = ["estimate"]
    if measured_peak is not None:
        ax.bar(1, measured_peak / scale, color="0.3", width=0.5, label=f"measured peak: {fmt_bytes(measured_peak)}")
        labels.append("measured (GPU)")
    ax.set_xticks(range(len(labels)), labels)
    ax.set_ylabel(unit)
    ax.legend(fontsize=8, loc="upper right", framealpha=0.9)
    ax.set_xlim(-0.5, len(labels) + 1.6)
    ax.set_title(title or f"peak training memory, batch {est.batch_size}, {est.optimizer_name}", fontsize=10)
    return fig


# ---- figures of an estimate (notebook 10) -----------------------------------------------------------

CAPACITIES_GIB = {"T4": 16, "L4 / A10 / RTX 4090": 24, "A100 40GB": 40, "A100/H100 80GB": 80}
DTYPES = ("float32", "bfloat16", "float16")


def plot_fit(est, capacities: dict | None = None, title: str | None = None):
    """One horizontal stacked bar of an Estimate's parts (GiB) with vertical lines at GPU memory
    capacities; red title when the estimate exceeds the smallest capacity shown. Returns a Figure."""
    from matplotlib.figure import Figure

    caps = CAPACITIES_GIB if capacities is None else capacities
    fig = Figure(figsize=(8, 3.0), layout="constrained")
    ax = fig.add_subplot()
    left = 0.0
    vals = [(PART_LABELS[k], getattr(est, k), COLORS[k]) for k in PARTS] + [("input batch", est.inputs, "#8172b3")]
    for name, v, c in vals:
        ax.barh(0, v / 2**30, left=left, color=c, label=f"{name}: {fmt_bytes(v)}", height=0.5)
        left += v / 2**30
    total = est.total / 2**30
    for i, (name, gib) in enumerate(caps.items()):
        ax.axvline(gib, color="k", lw=1, ls=(0, (4, 2 + i)))
        ax.text(gib, 0.42 - 0.12 * (i % 2), f" {name}: {gib} GB", fontsize=7, va="bottom")
    ax.set_xlim(0, max([total * 1.15, *[g * 1.25 for g in caps.values()]] or [1]))
    ax.set_ylim(-0.4, 0.75)
    ax.set_yticks([])
    ax.set_xlabel("GiB (estimate)")
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.35), ncol=3, frameon=False)
    fits = [n for n, g in caps.items() if est.total <= g * 2**30]
    ax.set_title(title or (f"batch {est.batch_size}, {est.optimizer_name}: {fmt_bytes(est.total)}, "
                           + (f"fits: {', '.join(fits)}" if fits else "fits none of these GPUs")),
                 fontsize=9, color="k" if fits else "C3")
    return fig


def plot_remedies(rows: list[dict], title: str | None = None):
    """Bars side by side for each way of training the same batch: memory (left) and time per step
    (right). rows: {"name", "bytes", "seconds", "memory_label", "time_label"}; a None value is drawn
    as 'not measured here'. Returns a Figure."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9.5, 0.9 + 0.45 * len(rows)), layout="constrained")
    ax, ax2 = fig.subplots(1, 2, sharey=True)
    names = [r["name"] for r in rows]
    y = list(range(len(rows)))
    for a, key, scale, unit, color in ((ax, "bytes", 2**20, "MiB", "C0"), (ax2, "seconds", 1e-3, "ms", "C1")):
        vals = [r[key] for r in rows]
        a.barh(y, [0 if v is None else v / scale for v in vals], color=color)
        for i, v in enumerate(vals):
            a.text(0 if v is None else v / scale, i, " not measured here" if v is None else f" {v / scale:,.2f}",
                   va="center", fontsize=8)
        a.margins(x=0.35)
        label = next((r.get(f"{'memory' if key == 'bytes' else 'time'}_label") for r in rows), "") or ""
        a.set_xlabel(f"{unit}{': ' + label if label else ''}", fontsize=8)
    ax.set_yticks(y, names, fontsize=8)
    ax.invert_yaxis()
    fig.suptitle(title or "the same batch, trained four ways", fontsize=9)
    return fig
