"""Exercises of notebook 07, PyTorch on the GPU: a correct timing function, a mixed-precision
training step, and spotting the lines that make the CPU wait for the GPU.

The timing function is checked against `ToyGPU`, a pretend asynchronous device (work is queued and
runs "later"; `synchronize()` waits for it; the first launch pays a one-time start-up cost), so the
check means the same with or without a GPU. The training step is checked on the CPU with spies on
the optimizer and the GradScaler that record the order of the calls.
"""
from __future__ import annotations

import time

import numpy as np

# ---------------------------------------------------------------- a toy asynchronous device


class ToyGPU:
    """A pretend GPU with a queue. `launch(seconds)` queues that much work and returns at once, as
    a CUDA kernel launch does; `synchronize()` blocks until the queue is empty. The very first launch
    costs `startup` seconds more (think: compiling the kernel, allocating memory).
    `log` lists what happened: "launch" and "sync"."""

    def __init__(self, startup: float = 0.2):
        self.startup = startup
        self.busy_until = 0.0
        self.launches = 0
        self.log: list[str] = []

    def launch(self, seconds: float) -> None:
        now = time.perf_counter()
        extra = self.startup if self.launches == 0 else 0.0
        self.busy_until = max(now, self.busy_until) + seconds + extra
        self.launches += 1
        self.log.append("launch")

    def synchronize(self) -> None:
        self.log.append("sync")
        while True:
            left = self.busy_until - time.perf_counter()
            if left <= 0:
                return
            time.sleep(left)

    def kernel(self, seconds: float):
        """A function that launches `seconds` of work: the `fn` to time."""
        def work():
            self.launch(seconds)
        work.__name__ = f"toy_kernel_{seconds * 1e3:g}ms"
        return work


# ---------------------------------------------------------------- 07-timing

WORK, STARTUP, REPEATS = 0.02, 0.2, 8


def _timing(fn):
    if not callable(fn):
        return False, f"expected your function time_per_call, got {type(fn).__name__}."
    toy = ToyGPU(startup=STARTUP)
    got = fn(toy.kernel(WORK), toy.synchronize, repeats=REPEATS)
    log = toy.log
    if got is None:
        return False, "time_per_call returned None: return the seconds per call (a float)."
    try:
        got = float(got)
    except (TypeError, ValueError):
        return False, f"time_per_call should return a number of seconds, got {type(got).__name__}."
    launches = log.count("launch")
    measured = f"With a toy device whose kernel takes {WORK * 1e3:g} ms, you measured {got * 1e3:.3g} ms per call."
    if launches < REPEATS:
        return False, (f"fn was called {launches} times for repeats={REPEATS}: call it `repeats` times in the "
                       f"timed loop. {measured}")
    last_launch = len(log) - 1 - log[::-1].index("launch")
    if "sync" not in log[last_launch:]:
        return False, ("no sync() after the last call: the clock stopped while the device was still working "
                       f"(launches return at once). Call sync() after the loop, before reading the clock. {measured}")
    close = abs(got - WORK) <= 0.3 * WORK
    if close:
        return True, f"{got * 1e3:.3g} ms per call measured for a {WORK * 1e3:g} ms toy kernel"
    if abs(got - 1e3 * WORK) <= 0.3e3 * WORK:
        return False, f"{got} looks like milliseconds: return seconds per call. {measured}"
    if abs(got - REPEATS * WORK) <= 0.35 * REPEATS * WORK:
        return False, f"that is the time for all {REPEATS} calls: divide by repeats. {measured}"
    if got > WORK:
        if launches == REPEATS:
            return False, ("no warm-up: the first call paid the one-time start-up cost (like compiling a kernel) "
                           "inside the timed loop. Call fn() once, then sync(), before starting the clock. "
                           + measured)
        at = [i for i, e in enumerate(log) if e == "launch"]
        if "sync" not in log[at[-REPEATS - 1]:at[-REPEATS]]:
            return False, ("the warm-up's work was still queued when the clock started: call sync() after the "
                           f"warm-up call, before reading the clock. {measured}")
    if got < 0.3 * WORK:
        return False, ("the clock stopped before the device finished: sync() must come after the last call "
                       f"and before you read the clock the second time. {measured}")
    return False, f"{measured} Expected about {WORK * 1e3:g} ms."


# ---------------------------------------------------------------- 07-amp-step

def _spies():
    import torch

    class SpySGD(torch.optim.SGD):
        log: list

        def zero_grad(self, set_to_none=True):
            self.log.append("zero_grad")
            return super().zero_grad(set_to_none=set_to_none)

        def step(self, closure=None):
            self.log.append("optimizer.step")
            return super().step(closure)

    class SpyScaler(torch.amp.GradScaler):
        log: list

        def scale(self, outputs):
            self.log.append("scale")
            return super().scale(outputs)

        def step(self, optimizer, *args, **kwargs):
            self.log.append("scaler.step")
            return super().step(optimizer, *args, **kwargs)

        def update(self, new_scale=None):
            self.log.append("update")
            return super().update(new_scale)

    return SpySGD, SpyScaler


def _tiny_problem(seed=7):
    import torch

    g = torch.Generator().manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3))
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.5)
    x = torch.randn(12, 6, generator=g)
    y = torch.randint(0, 3, (12,), generator=g)
    return model, x, y


def amp_step_reference(model, optimizer, scaler, x, y, dtype):
    import torch
    import torch.nn.functional as F

    optimizer.zero_grad(set_to_none=True)
    with torch.autocast(device_type=x.device.type, dtype=dtype):
        loss = F.cross_entropy(model(x), y)
    scaler.scale(loss).backward()
    scaler.step(optimizer)
    scaler.update()
    return loss.detach()


def _run_steps(step_fn, steps=2, dtype=None, spy=False):
    import copy

    import torch

    dtype = dtype or torch.bfloat16
    model, x, y = _tiny_problem()
    model = copy.deepcopy(model)
    SpySGD, SpyScaler = _spies()
    log: list = []
    opt = SpySGD(model.parameters(), lr=0.1)
    opt.log = log
    scaler = SpyScaler("cpu", init_scale=2.0 ** 10, growth_interval=1)
    scaler.log = log
    seen = []

    def hook(module, inputs, output):
        seen.append((torch.is_autocast_enabled("cpu"), output.dtype))
    model[0].register_forward_hook(hook)
    losses, error = [], None
    for s in range(steps):
        log.append(f"-- step {s}")
        try:
            losses.append(step_fn(model, opt, scaler, x, y, dtype))
        except NotImplementedError:
            raise
        except Exception as e:  # noqa: BLE001 the learner's code: diagnose from what it did first
            error = f"{type(e).__name__}: {e}"
            break
    return model, losses, log, seen, error


def _amp_step(fn):
    import torch

    if not callable(fn):
        return False, f"expected your function amp_step, got {type(fn).__name__}."
    ref_model, ref_losses, *_ = _run_steps(amp_step_reference)
    model, losses, log, seen, error = _run_steps(fn)
    why = _diagnose(losses, log, seen)
    if why:
        return False, why
    if error:
        return False, f"your amp_step raised {error}"
    got = [float(v) for v in losses]
    want = [float(v) for v in ref_losses]
    if not np.allclose(got, want, rtol=2e-2):
        return False, f"the losses {got} differ from the expected {want}: return the loss of this step's batch."
    for p, q in zip(model.parameters(), ref_model.parameters()):
        if not torch.allclose(p, q, rtol=1e-2, atol=1e-3):
            return False, "after two steps the weights differ from a correct mixed-precision step."
    return True, "autocast, scaled backward, scaler.step, update, in that order"


def _diagnose(losses, log, seen):
    import torch

    if any(v is None for v in losses):
        return "amp_step returned None: return the loss (loss.detach(), or loss.item())."
    if not seen:
        return "the model was never called: compute model(x) inside the step."
    if not seen[0][0]:
        return ("the forward pass ran in float32, without autocast: wrap the model call and the loss in "
                       "`with torch.autocast(device_type=x.device.type, dtype=dtype):`.")
    if seen[0][1] != torch.bfloat16:
        return (f"autocast ran the layers in {seen[0][1]}, but this step was asked for bfloat16: "
                       "pass dtype=dtype to torch.autocast.")
    steps = [s.split("\n") for s in "\n".join(log).split("-- step ")[1:]]
    first = steps[0][1:]

    def before(a, b):
        return a in first and (b not in first or first.index(a) < first.index(b))
    if "scale" not in first:
        return ("backward ran on the unscaled loss. In float16, small gradients round to 0; the scaler "
                "multiplies the loss first: scaler.scale(loss).backward().")
    if before("scale", "zero_grad") and "zero_grad" in first:
        return ("optimizer.zero_grad() came after the backward pass, so it threw the new gradients away "
                "before the step: call it at the start of the step.")
    if before("optimizer.step", "scaler.step"):
        return ("optimizer.step() used the SCALED gradients (thousands of times too big) and never "
                "checked them for inf/NaN: step through the scaler, scaler.step(optimizer).")
    if before("update", "scaler.step"):
        return "scaler.update() came before scaler.step(optimizer): step first, then update the scale."
    if "scaler.step" not in first:
        return "no optimizer step: call scaler.step(optimizer) after the backward pass."
    if "update" not in first:
        return ("scaler.update() is missing: without it the scale never adapts (it must shrink after an "
                "overflow and grow while none happen). Call it after scaler.step(optimizer), every step.")
    if "zero_grad" not in first:
        return ("the gradients were never reset, so each step adds its gradients to the previous ones: "
                "call optimizer.zero_grad() at the start of the step.")
    return None


# ---------------------------------------------------------------- 07-hidden-syncs

SYNC_LINES = {
    "A": ("y = x @ w", False, "a matmul on GPU tensors is queued; the CPU moves on at once."),
    "B": ("loss.item()", True, ".item() copies the number to the CPU, so the CPU waits until the GPU has "
                               "computed it."),
    "C": ("print(loss)", True, "printing a GPU tensor needs its value on the CPU: a copy, so a wait."),
    "D": ("z = torch.relu(y)", False, "another queued kernel: no wait."),
    "E": ('xb = x_pinned.to("cuda", non_blocking=True)', False,
          "a copy from pinned memory with non_blocking=True is queued like a kernel: no wait."),
    "F": ("y_host = y.cpu()", True, ".cpu() copies to the CPU and waits for the result."),
    "G": ("torch.cuda.synchronize()", True, "waiting is its whole job."),
    "H": ("if (y > 0).any(): ...", True, "Python's `if` needs a real True or False on the CPU: the GPU "
                                         "tensor is copied over, so the CPU waits."),
    "I": ("total = y.sum()", False, "the sum stays a GPU tensor; only reading its value would wait."),
    "J": ('noise = torch.randn(1000, device="cuda")', False, "generating numbers on the GPU is queued too."),
}
SYNCS = {k for k, (_, waits, _) in SYNC_LINES.items() if waits}


_wrong_tries: list[frozenset] = []     # the distinct wrong answers to 07-hidden-syncs checked in this session


def forget_tries() -> None:
    """Start 07-hidden-syncs' feedback from the first try again (a fresh session does)."""
    _wrong_tries.clear()


def _line(k: str) -> str:
    text, waits, why = SYNC_LINES[k]
    return f"{k} (`{text}`) {'does' if waits else 'does not'} wait: {why}"


def _hidden_syncs(answer):
    """Progressive feedback: the first wrong try says only how many lines are judged wrong; every further
    try with a new answer explains one more of the lines still wrong, so the answers come one at a time."""
    if answer is None:
        return False, "set `waits` to the set of letters of the lines that make the CPU wait, e.g. {\"A\", \"B\"}."
    if isinstance(answer, str):
        answer = [c for c in answer.replace(",", " ").split()] if (" " in answer or "," in answer) else list(answer)
    try:
        got = {str(a).strip().upper() for a in answer}
    except TypeError:
        return False, f"`waits` should be a set of letters like {{\"A\", \"B\"}}, got {type(answer).__name__}."
    unknown = sorted(got - set(SYNC_LINES))
    if unknown:
        return False, f"{', '.join(unknown)}: no such line; the lines are A to J."
    if got == SYNCS:
        return True, ""
    if frozenset(got) not in _wrong_tries:
        _wrong_tries.append(frozenset(got))
    wrong = sorted(got ^ SYNCS)
    extra, missing = len(got - SYNCS), len(SYNCS - got)
    parts = ([f"{extra} you marked {'does' if extra == 1 else 'do'} not wait"] if extra else []) + \
            ([f"{missing} that {'waits is' if missing == 1 else 'wait are'} missing"] if missing else [])
    head = f"{len(wrong)} of 10 lines judged wrong ({' and '.join(parts)})."
    shown = wrong[:len(_wrong_tries) - 1]
    if not shown:
        return False, (f"{head} For each line ask: does the CPU need a value the GPU computes (to copy, print "
                       "or branch on it), or does it only queue more work? Change your answer and check again: "
                       "each new try explains one more line.")
    more = ("" if len(shown) == len(wrong) else
            f" {len(wrong) - len(shown)} more to find; each new try explains one more line.")
    return False, f"{head} " + " ".join(_line(k) for k in shown) + more


CHECKS = {
    "07-timing": (2, _timing),
    "07-amp-step": (2, _amp_step),
    "07-hidden-syncs": (1, _hidden_syncs),
}
