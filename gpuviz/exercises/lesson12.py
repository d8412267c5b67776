"""Exercises of notebook 12, beyond one GPU: the traffic of a ring all-reduce, and gradient averaging
written by hand with torch.distributed and checked against DistributedDataParallel in 2 processes."""
from __future__ import annotations

import ast
import inspect
import textwrap

import numpy as np

from gpuviz.exercises.check import FunctionExercise

SEED = 12
TIMEOUT_S = 90          # the 2-process check of average_gradients, start-up included


# ---------------------------------------------------------------- 12-ring-bytes

def ring_allreduce_bytes_reference(nbytes, world_size):
    """Bytes each process sends in a ring all-reduce of `nbytes` (reduce-scatter, then all-gather)."""
    return 2 * (world_size - 1) * nbytes / world_size


def _ring_cases(rng):
    fixed = [(1000, 1), (1000, 2), (4_000_000, 4), (44_700_000, 8), (12, 3)]
    rand = [(int(rng.integers(1, 10**9)), int(rng.integers(2, 1025))) for _ in range(8)]
    return fixed + rand


RING = FunctionExercise(
    "ring_allreduce_bytes", ring_allreduce_bytes_reference, _ring_cases, seed=SEED, mistakes=[
        (lambda n, p: (p - 1) * n / p,
         ("That is only the first half, the reduce-scatter. Each process then sends its p - 1 finished "
          "chunks again in the all-gather: 2·(p-1)/p · nbytes in all.")),
        (lambda n, p: 2 * (p - 1) * n,
         ("That sends the whole gradient at every one of the 2·(p-1) ring steps. The ring splits the "
          "gradient into p chunks and sends one chunk per step: 2·(p-1)/p · nbytes.")),
        (lambda n, p: 2 * n,
         ("That is the limit for many processes, but with p processes each one sends 2·(p-1) chunks of "
          "nbytes/p: 2·(p-1)/p · nbytes (0 for a single process, nbytes for two).")),
        (lambda n, p: (p - 1) * n,
         ("That is what a naive all-to-all costs: every process sends its whole gradient to every other. "
          "The ring sends chunks of nbytes/p, twice around the ring: 2·(p-1)/p · nbytes.")),
        (lambda n, p: 2 * (p - 1) * n // p,
         "Integer division (//) rounds down: use / so a share of a byte is not lost."),
    ])


# ---------------------------------------------------------------- 12-average-grads

def _inputs(n=32, seed=SEED):
    rng = np.random.default_rng(seed)
    x = rng.random((n, 784), dtype=np.float32)
    y = rng.integers(0, 10, n)
    return x, y


def _source(fn) -> tuple[str, str]:
    """(source code, name) of a learner's function, or NotImplementedError for the untouched stub."""
    src = textwrap.dedent(inspect.getsource(fn))
    tree = ast.parse(src)
    body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.FunctionDef) else []
    code = [s for s in body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))]
    if code and all(isinstance(s, ast.Raise) for s in code) and "NotImplementedError" in ast.unparse(code[0]):
        raise NotImplementedError()
    return src, fn.__name__


def _close(a, b) -> np.ndarray:
    return np.isclose(a, b, rtol=1e-5, atol=1e-7)


def diagnose(per_rank: list[dict]) -> tuple[bool, str]:
    """Judge one candidate from every rank's record (see gpuviz.ddp.try_average)."""
    from gpuviz.ddp import TRY_NAMESPACE

    p = len(per_rank)
    errors = [r for r in per_rank if r["error"]]
    if errors:
        e = errors[0]["error"]
        if "AVG" in e or ("ReduceOp" in e and "gloo" in e.lower()):
            return False, (f"rank {errors[0]['rank']}: {e}. The gloo backend has no ReduceOp.AVG (only NCCL does): "
                           "all-reduce with the default op, SUM, then divide by dist.get_world_size().")
        if e.startswith("NameError"):
            return False, (f"your function raised {e}. The check runs it in {p} fresh processes where the "
                           f"names {TRY_NAMESPACE} exist but nothing else from the notebook: import or "
                           "compute anything else inside the function.")
        if "Timeout" in e or "timed out" in e.lower() or "Connection closed" in e:
            return False, (f"rank {errors[0]['rank']}: {e}. A process waited for a collective that another "
                           "process never called: every rank must call dist.all_reduce on the same tensors "
                           "in the same order.")
        return False, f"your function raised, on rank {errors[0]['rank']}: {e}"
    want = [r["ddp"] for r in per_rank]
    got = [r["got"] for r in per_rank]
    local = [r["local"] for r in per_rank]
    if all(_close(g, w).all() for g, w in zip(got, want)):
        if any(r["params_changed"] for r in per_rank):
            return False, ("the gradients are right, but the function also changed the weights: it should "
                           "only average p.grad, and leave the optimizer to update the parameters.")
        return True, f"gradients equal DistributedDataParallel's on all {p} processes"
    if any(r["params_changed"] for r in per_rank):
        return False, ("the weights changed and the gradients are not DDP's: average the gradients "
                       "(p.grad), not the parameters (p.data). The processes start from the same weights, and "
                       "identical gradients keep them identical.")
    if all(_close(g, p * w).all() for g, w in zip(got, want)):
        return False, (f"the gradients are {p} times DDP's: all_reduce adds the gradients of the {p} "
                       "processes; divide the sum by dist.get_world_size() to get the average.")
    if all(_close(g, lo).all() for g, lo in zip(got, local)):
        return False, ("every process kept its own gradient, unchanged: call dist.all_reduce(p.grad) for "
                       "each parameter p of model.parameters() (it works in place), then divide by the "
                       "world size. (All-reducing p or p.data, the weights, changes nothing: every process "
                       "already holds the same weights.)")
    if all(_close(g, lo / p).all() for g, lo in zip(got, local)):
        return False, ("each process's gradient was divided by the world size but never combined with the "
                       "others: dist.all_reduce works in place on the tensor you pass it; a copy "
                       "(p.grad.clone(), p.grad * 1, p.grad.data.numpy()) is reduced and thrown away.")
    if all(_close(g, local[0]).all() for g in got):
        return False, ("every process now holds rank 0's gradient: that is a broadcast, not an average. "
                       "Use dist.all_reduce, which sums over all processes, then divide by the world size.")
    match = _close(got[0], want[0])
    if match.any():
        return False, (f"only {int(match.sum())} of {match.size} gradient values equal DDP's: average the "
                       "gradient of every parameter (weights and biases), e.g. `for p in model.parameters():`.")
    return False, ("the gradients differ from DDP's on every value (max difference "
                   f"{float(np.abs(got[0] - want[0]).max()):.3g} on rank 0): each p.grad should become the "
                   "mean of that gradient over all processes.")


def check_average_many(fns, world_size: int = 2) -> list[tuple[bool, str]]:
    """Check several candidate functions in one 2-process gloo group (the tests' wrong-answer bank)."""
    from gpuviz.ddp import LaunchFailed, launch, try_average

    x, y = _inputs()
    cands = [_source(fn) for fn in fns]
    try:
        ranks = launch(try_average, world_size, (cands, x, y), backend="gloo", timeout=TIMEOUT_S)
    except LaunchFailed as e:
        msg = str(e).strip().splitlines()
        return [(False, "the 2-process run failed: " + (msg[-1] if msg else "no message"))] * len(fns)
    return [diagnose([ranks[r][i] for r in range(world_size)]) for i in range(len(fns))]


def check_average(fn):
    if not callable(fn):
        return False, f"expected the function average_gradients, got {type(fn).__name__}."
    return check_average_many([fn])[0]


CHECKS = {
    "12-ring-bytes": (2, RING),
    "12-average-grads": (3, check_average),
}
