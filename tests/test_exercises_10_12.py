"""Exercises of notebooks 10-12: the stub fails (as "not done yet"), the solution passes, and every known
wrong answer, written the way a learner would write it, is rejected with the right diagnosis. The
12-average-grads bank runs in one 2-process gloo group."""
import math

import pytest
import torch.distributed as dist

from gpuviz.exercises import lesson10, lesson11, lesson12
from gpuviz.exercises.check import NOT_DONE
from gpuviz.exercises.check import check as gv_check


def stub(*args):
    raise NotImplementedError()


def verdict(ex_id, fn):
    return gv_check(ex_id, fn, strict=False)


# ---------------- generic: the stub, the reference, and every mistake of each FunctionExercise's bank

FUNCTION_EXERCISES = {
    "10-training-memory": lesson10.MEMORY, "10-max-batch": lesson10.BATCH,
    "11-bound": lesson11.BOUND, "11-roofline-time": lesson11.TIME, "12-ring-bytes": lesson12.RING,
}


@pytest.mark.parametrize("ex_id", FUNCTION_EXERCISES)
def test_stub_and_reference(ex_id):
    r = verdict(ex_id, stub)
    assert not r and r.message == NOT_DONE and r.points == 0
    r = verdict(ex_id, FUNCTION_EXERCISES[ex_id].reference)
    assert r and r.points == r.max_points > 0


@pytest.mark.parametrize("ex_id,index", [(k, i) for k, ex in FUNCTION_EXERCISES.items() for i in range(len(ex.mistakes))])
def test_every_banked_mistake_is_named(ex_id, index):
    wrong, why = FUNCTION_EXERCISES[ex_id].mistakes[index]
    r = verdict(ex_id, wrong)
    assert not r and r.message.startswith(why), r.message


def test_not_a_function():
    assert "expected the function" in verdict("11-bound", 3).message


# ---------------- learners' own versions (other spellings of right and wrong answers)

def memory_dict(n_params, optimizer, activation_bytes, itemsize=4):
    copies = {"sgd": 2, "momentum": 3, "adam": 4}
    return copies[optimizer] * n_params * itemsize + activation_bytes


def memory_no_grads(n_params, optimizer, activation_bytes, itemsize=4):
    total = n_params * itemsize                       # parameters
    if optimizer == "momentum":
        total += n_params * itemsize
    elif optimizer == "adam":
        total += 2 * n_params * itemsize
    return total + activation_bytes


def memory_adam_one(n_params, optimizer, activation_bytes, itemsize=4):
    state = 0 if optimizer == "sgd" else 1
    return (2 + state) * n_params * itemsize + activation_bytes


def batch_floor(free_bytes, fixed_bytes, bytes_per_sample):
    left = free_bytes - fixed_bytes
    return math.floor(left / bytes_per_sample) if left > 0 else 0


def batch_ceil(free_bytes, fixed_bytes, bytes_per_sample):
    return max(0, math.ceil((free_bytes - fixed_bytes) / bytes_per_sample))


def batch_no_fixed(free_bytes, fixed_bytes, bytes_per_sample):
    return free_bytes // bytes_per_sample


def bound_ridge(flops, nbytes, peak_gflops, bandwidth_gbs):
    ridge = peak_gflops * 1e9 / (bandwidth_gbs * 1e9)
    return "compute" if flops / nbytes >= ridge else "memory"


def bound_ridge_le(flops, nbytes, peak_gflops, bandwidth_gbs):
    return "compute" if flops / nbytes > peak_gflops / bandwidth_gbs else "memory"


def bound_bytes_per_flop(flops, nbytes, peak_gflops, bandwidth_gbs):
    return "memory" if nbytes / flops < peak_gflops / bandwidth_gbs else "compute"


def time_units(flops, nbytes, peak_gflops, bandwidth_gbs):
    compute = flops / peak_gflops
    memory = nbytes / bandwidth_gbs
    return max(compute, memory) / 1e9


def time_sum(flops, nbytes, peak_gflops, bandwidth_gbs):
    return flops / peak_gflops / 1e9 + nbytes / bandwidth_gbs / 1e9


def ring_loop(nbytes, world_size):
    chunk = nbytes / world_size
    sent = 0
    for _ in range(world_size - 1):       # reduce-scatter
        sent += chunk
    for _ in range(world_size - 1):       # all-gather
        sent += chunk
    return sent


def ring_half(nbytes, world_size):
    return (world_size - 1) / world_size * nbytes


@pytest.mark.parametrize("ex_id,fn,diagnosis", [
    ("10-training-memory", memory_dict, None),
    ("10-training-memory", memory_no_grads, "The gradients are missing"),
    ("10-training-memory", memory_adam_one, "Adam keeps two tensors"),
    ("10-max-batch", batch_floor, None),
    ("10-max-batch", batch_ceil, "That rounds up"),
    ("10-max-batch", batch_no_fixed, "The fixed part is missing"),
    ("11-bound", bound_ridge, None),
    ("11-bound", bound_ridge_le, "Exactly at the ridge point"),
    ("11-bound", bound_bytes_per_flop, "That divides bytes by FLOPs"),
    ("11-roofline-time", time_units, None),
    ("11-roofline-time", time_sum, "That adds the compute time and the memory time"),
    ("12-ring-bytes", ring_loop, None),
    ("12-ring-bytes", ring_half, "That is only the first half"),
])
def test_learner_versions(ex_id, fn, diagnosis):
    r = verdict(ex_id, fn)
    if diagnosis is None:
        assert r, r.message
    else:
        assert not r and r.message.startswith(diagnosis), r.message


# ---------------- 12-average-grads: learners' functions, checked in one 2-process gloo group

def avg_ok(model):
    world = dist.get_world_size()
    for p in model.parameters():
        dist.all_reduce(p.grad)
        p.grad /= world


def avg_op_avg(model):                           # ReduceOp.AVG: accepted where the backend has it
    for p in model.parameters():
        dist.all_reduce(p.grad, op=dist.ReduceOp.AVG)


def avg_no_divide(model):
    for p in model.parameters():
        dist.all_reduce(p.grad)


def avg_no_reduce(model):
    for p in model.parameters():
        p.grad /= dist.get_world_size()


def avg_on_copy(model):
    for p in model.parameters():
        g = p.grad.clone()
        dist.all_reduce(g)
        p.grad /= dist.get_world_size()


def avg_weights(model):
    for p in model.parameters():
        dist.all_reduce(p.data)
        p.data /= dist.get_world_size()


def avg_broadcast(model):
    for p in model.parameters():
        dist.broadcast(p.grad, src=0)


def avg_first_only(model):
    p = next(model.parameters())
    dist.all_reduce(p.grad)
    p.grad /= dist.get_world_size()


def avg_notebook_global(model):
    for p in model.parameters():
        dist.all_reduce(p.grad)
        p.grad /= WORLD  # noqa: F821 a name from the learner's notebook


def avg_changes_weights(model):
    for p in model.parameters():
        dist.all_reduce(p.grad)
        p.grad /= dist.get_world_size()
        p.data -= 0.1 * p.grad


def avg_stub(model):
    # YOUR CODE HERE
    raise NotImplementedError()


AVERAGE_BANK = [
    (avg_ok, None),
    (avg_op_avg, None),
    (avg_no_divide, "the gradients are 2 times DDP's"),
    (avg_no_reduce, "each process's gradient was divided by the world size but never combined"),
    (avg_on_copy, "each process's gradient was divided by the world size but never combined"),
    (avg_weights, "every process kept its own gradient, unchanged"),
    (avg_broadcast, "every process now holds rank 0's gradient"),
    (avg_first_only, "only "),
    (avg_notebook_global, "your function raised NameError"),
    (avg_changes_weights, "the gradients are right, but the function also changed the weights"),
]


def test_average_grads_bank():
    verdicts = lesson12.check_average_many([fn for fn, _ in AVERAGE_BANK])
    for (fn, diagnosis), (ok, message) in zip(AVERAGE_BANK, verdicts):
        if diagnosis is None:
            assert ok, f"{fn.__name__}: {message}"
        else:
            assert not ok and message.startswith(diagnosis), f"{fn.__name__}: {message}"


def avg_never_returns(model):
    while True:
        pass


def test_average_grads_that_never_returns_is_stopped(monkeypatch):
    monkeypatch.setattr(lesson12, "TIMEOUT_S", 10)
    [(ok, message)] = lesson12.check_average_many([avg_never_returns])
    assert not ok and "did not finish within 10 s" in message, message


def test_average_grads_stub_and_wrong_type():
    r = verdict("12-average-grads", avg_stub)
    assert not r and r.message == NOT_DONE
    assert "expected the function average_gradients" in verdict("12-average-grads", "avg").message


def test_average_grads_solution_through_check():
    r = verdict("12-average-grads", avg_ok)
    assert r and r.points == 3


# ---------------- notebook 10's figures

def test_memory_widget_figures():
    import torch
    from matplotlib.figure import Figure
    from torch import nn

    from gpuviz import memory, widgets

    def make(width):
        return nn.Sequential(nn.Flatten(), nn.Linear(784, width), nn.ReLU(), nn.Linear(width, 10))

    est = memory.estimate(make(32), (1, 28, 28), batch_size=64)
    assert isinstance(memory.plot_fit(est), Figure)
    assert isinstance(memory.plot_fit(est, {"tiny": 0}), Figure)
    w = widgets.EstimatorWidget(make, (1, 28, 28), widths=(8, 32), batch_sizes=(16, 1024))
    first = w.estimate().total
    w.batch.value = 16
    assert w.estimate().total < first and len(w.out.outputs) == 1
    w.dtype.value = "bfloat16"
    assert w.estimate().params == sum(p.numel() for p in make(32).parameters()) * 2
    assert isinstance(memory.plot_remedies(
        [{"name": "a", "bytes": 2**20, "seconds": 0.1}, {"name": "b", "bytes": None, "seconds": None}]), Figure)
    assert torch.float32 == torch.float32
