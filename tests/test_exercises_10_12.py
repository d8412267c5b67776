"""Exercises of notebooks 10-12: the stub fails (as "not done yet"), the solution passes, and every known
wrong answer, written the way a learner would write it, is rejected with the right diagnosis. The
exercises of 10 and 11 are predictions (numbers, within a stated tolerance of the model's value). The
12-average-grads bank runs in one 2-process gloo group."""
import math

import pytest
import torch.distributed as dist

from gpuviz.exercises import lesson10, lesson11, lesson12
from gpuviz.exercises.check import NOT_DONE
from gpuviz.exercises.check import check as gv_check
from gpuviz.roofline import SPECS


def stub(*args):
    raise NotImplementedError()


def verdict(ex_id, fn):
    return gv_check(ex_id, fn, strict=False)


# ---------------- the predictions of 10 and 11: the stub, the model's answer, and every wrong value of each bank

PREDICTIONS = {   # exercise ID -> (the stub, the model's answer, the bank of wrong values: (key, value, diagnosis))
    "10-training-memory": ({"sgd": None, "momentum": None, "adam": None}, lesson10.training_memory_reference(),
                           lesson10._memory_mistakes()),
    "10-max-batch": (None, lesson10.max_batch_reference(), lesson10._batch_mistakes()),
    "11-bound": ({"T4 fp32": None, "H100 SXM bf16": None}, lesson11.crossover_reference(),
                 lesson11._crossover_mistakes()),
    "11-roofline-time": ({"vector add": None, "matmul": None}, lesson11.roofline_time_reference(),
                         lesson11._time_mistakes()),
}
RTOL = {"10-training-memory": lesson10.MEMORY_RTOL, "10-max-batch": lesson10.BATCH_RTOL,
        "11-bound": lesson11.CROSSOVER_RTOL, "11-roofline-time": lesson11.TIME_RTOL}


def with_wrong(answer, key, value):
    return value if not isinstance(answer, dict) else answer | {key: value}


@pytest.mark.parametrize("ex_id", PREDICTIONS)
def test_prediction_stub_and_reference(ex_id):
    stub, right, _ = PREDICTIONS[ex_id]
    r = verdict(ex_id, stub)
    assert not r and r.message.startswith("not done yet") and r.points == 0
    r = verdict(ex_id, right)
    assert r and r.points == r.max_points == 2


@pytest.mark.parametrize("ex_id,index", [(k, i) for k, v in PREDICTIONS.items() for i in range(len(v[2]))])
def test_every_banked_wrong_value_is_named(ex_id, index):
    _, right, bank = PREDICTIONS[ex_id]
    key, wrong, why = bank[index]
    model = right[key] if isinstance(right, dict) else right
    assert abs(wrong - model) > RTOL[ex_id] * abs(model), "a banked wrong value within the tolerance would pass"
    first = next(w for k, v, w in bank if k == key and abs(v - wrong) <= RTOL[ex_id] * abs(v))
    assert first == why or first in (w for k, v, w in bank[:index]), "an earlier entry names this value"
    r = verdict(ex_id, with_wrong(right, key, wrong))
    assert not r and first in r.message, r.message


@pytest.mark.parametrize("ex_id", PREDICTIONS)
def test_prediction_tolerance_is_as_stated(ex_id):
    _, right, _ = PREDICTIONS[ex_id]
    key = next(iter(right)) if isinstance(right, dict) else None
    model = right[key] if key else right
    inside, outside = model * (1 + 0.9 * RTOL[ex_id]), model * (1 + 3 * RTOL[ex_id]) + 1
    if ex_id == "10-max-batch":
        inside = model                                 # a batch is whole: within 1 % of a few dozen is exact
    assert verdict(ex_id, with_wrong(right, key, inside))
    assert not verdict(ex_id, with_wrong(right, key, outside))


def test_not_a_prediction():
    assert "should be a dict" in verdict("11-bound", 3).message
    assert "should be a dict" in verdict("11-bound", {"T4 fp32": 152}).message
    assert "should be a number" in verdict("11-roofline-time", {"vector add": "2.5", "matmul": 17}).message
    assert "whole number" in verdict("10-max-batch", 41.4).message
    assert "should be a number" in verdict("10-max-batch", True).message


def test_prediction_constants_are_notebook_10s_model():
    """lesson10's numbers are make_net(16)'s (the notebook's model, copied here) and gv.memory.estimate's."""
    from torch import nn

    from gpuviz import memory

    def block(c_in, c_out):
        return [nn.Conv2d(c_in, c_out, 3, padding=1), nn.ReLU(), nn.Conv2d(c_out, c_out, 3, padding=1), nn.ReLU(),
                nn.MaxPool2d(2)]

    w = lesson10.SMALL_WIDTH
    net = nn.Sequential(*block(1, w), *block(w, 2 * w), *block(2 * w, 4 * w), nn.Flatten(), nn.Linear(4 * w * 3 * 3, 10))
    assert sum(p.numel() for p in net.parameters()) == lesson10.SMALL_PARAMS
    e1, e2 = (memory.estimate(net, (1, 28, 28), batch_size=b, optimizer="adam") for b in (1, 2))
    assert e2.total - e1.total == lesson10.SMALL_BYTES_PER_IMAGE
    assert 2 * e1.total - e2.total == lesson10.SMALL_FIXED_BYTES


def test_crossover_uses_the_packages_roofline():
    """The model's crossover is where roofline.bound turns: n - 1 is memory-bound, n compute-bound."""
    from gpuviz import roofline
    from gpuviz.roofline import SPECS

    for (name, gpu, precision, itemsize), n in zip(lesson11.CROSSOVERS, lesson11.crossover_reference().values()):
        def kind(m):
            return roofline.bound(roofline.matmul_flops(m, m, m) / roofline.matmul_bytes(m, m, m, itemsize),
                                  SPECS[gpu].rate(precision), SPECS[gpu].bandwidth_gbs)
        assert (kind(n - 1), kind(n)) == ("memory", "compute"), name


# ---------------- 12-ring-bytes: a function exercise

RING = lesson12.CHECKS["12-ring-bytes"][1]


def test_ring_stub_and_reference():
    r = verdict("12-ring-bytes", stub)
    assert not r and r.message == NOT_DONE and r.points == 0
    r = verdict("12-ring-bytes", RING.reference)
    assert r and r.points == r.max_points > 0


@pytest.mark.parametrize("index", range(len(RING.mistakes)))
def test_every_banked_ring_mistake_is_named(index):
    wrong, why = RING.mistakes[index]
    r = verdict("12-ring-bytes", wrong)
    assert not r and r.message.startswith(why), r.message


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


def test_ring_learner_versions():
    assert verdict("12-ring-bytes", ring_loop)
    r = verdict("12-ring-bytes", ring_half)
    assert not r and r.message.startswith("That is only the first half"), r.message


# ---------------- learners' own versions (other ways to the right number, and slips)

T4 = SPECS["T4"]
N_SMALL = 77_562


@pytest.mark.parametrize("ex_id,answer,diagnosis", [
    ("10-training-memory", {o: N_SMALL * 4 * c for o, c in (("sgd", 2), ("momentum", 3), ("adam", 4))}, None),
    ("10-training-memory", {"sgd": 620_500, "momentum": 930_700, "adam": 1_241_048}, None),    # Adam's step counters
    ("10-training-memory", {o: N_SMALL * 4 * c for o, c in (("sgd", 1), ("momentum", 2), ("adam", 3))},
     "that is the parameters alone"),
    ("10-training-memory", {"sgd": 620_496, "momentum": 930_744, "adam": 930_744}, "Adam keeps two tensors"),
    ("10-max-batch", (16 * 2**20 - 1_241_048) // 375_528, None),
    ("10-max-batch", int((16 * 2**20 - 1_241_048) / 375_528), None),
    ("10-max-batch", math.ceil((16 * 2**20 - 1_241_048) / 375_528), "one image too many"),
    ("10-max-batch", 16 * 2**20 // 375_528, "the fixed part is missing"),
    ("11-bound", {"T4 fp32": math.ceil(6 * T4.rate("fp32") / T4.bandwidth_gbs),
                  "H100 SXM bf16": math.ceil(3 * SPECS["H100 SXM"].rate("bf16") / SPECS["H100 SXM"].bandwidth_gbs)},
     None),
    ("11-bound", {"T4 fp32": 151, "H100 SXM bf16": 886}, None),            # the last memory-bound size: within 2 %
    ("11-bound", {"T4 fp32": 152, "H100 SXM bf16": 1773}, "that counts 4 bytes per element"),
    ("11-roofline-time", {"vector add": 12 * 2**26 / 320e9 * 1e3, "matmul": 2 * 4096**3 / 8.1e12 * 1e3}, None),
    ("11-roofline-time", {"vector add": 2.5, "matmul": 17}, None),
    ("11-roofline-time", {"vector add": 12 * 2**26 / 320e9, "matmul": 2 * 4096**3 / 8.1e12}, "that is in seconds"),
    ("11-roofline-time", {"vector add": 2.52, "matmul": 2 * 4096**3 / 8.1e12 * 1e3 + 4 * 3 * 4096**2 / 320e9 * 1e3},
     "that adds the compute time and the memory time"),
])
def test_learner_versions(ex_id, answer, diagnosis):
    r = verdict(ex_id, answer)
    if diagnosis is None:
        assert r, r.message
    else:
        assert not r and diagnosis in r.message, r.message


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
