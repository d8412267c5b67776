"""gpuviz.memory on the CPU: the tracker's breakdown and the estimator agree with exact tensor-size
accounting (numel * itemsize of parameters, hook outputs, optimizer state, autograd's saved tensors)."""
import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from matplotlib.figure import Figure

from gpuviz import memory as M
from gpuviz.widgets import MemoryView

B = 8


def mlp():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(10, 20), nn.ReLU(), nn.Linear(20, 5))


def cnn():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(inplace=True), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(4 * 14 * 14, 10))


class CharLSTM(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb, self.lstm, self.head = nn.Embedding(65, 16), nn.LSTM(16, 32, batch_first=True), nn.Linear(32, 65)

    def forward(self, x):
        return self.head(self.lstm(self.emb(x))[0])


def hook_outputs(model, x):
    """Exact accounting by hand: numel * itemsize of every leaf module's output, each memory once."""
    outs = []
    def flat(o):
        return [t for x in o for t in flat(x)] if isinstance(o, tuple) else [o]

    hs = [m.register_forward_hook(lambda m, i, o: outs.extend(flat(o)))       # LSTM: (output, (h, c))
          for m in model.modules() if not list(m.children())]
    model(x)
    for h in hs:
        h.remove()
    bases = {}
    for o in outs:
        base = o._base if o._base is not None else o
        bases[id(base)] = base
    return sum(t.numel() * t.element_size() for t in bases.values())


def test_params_and_grads_are_numel_times_itemsize():
    m = mlp()
    assert M.param_bytes(m) == 4 * (10 * 20 + 20 + 20 * 5 + 5)
    assert M.grad_bytes(m) == 0
    m(torch.randn(B, 10)).sum().backward()
    assert M.grad_bytes(m) == M.param_bytes(m)
    assert M.param_bytes(m.half()) == 2 * (10 * 20 + 20 + 20 * 5 + 5)


@pytest.mark.parametrize("make,shape,dtype", [(mlp, (10,), torch.float32), (cnn, (1, 28, 28), torch.float32),
                                              (CharLSTM, (12,), torch.long)])
def test_estimated_activations_equal_the_hook_outputs(make, shape, dtype):
    m = make()
    x = torch.randn(B, *shape) if dtype.is_floating_point else torch.randint(0, 65, (B, *shape))
    exact = hook_outputs(m, x)
    assert M.activation_bytes(m, x) == exact
    est = M.estimate(m, shape, batch_size=B, input_dtype=dtype, optimizer="sgd")
    assert est.activations == exact
    assert sum(est.parts.values()) == exact
    assert est.inputs == x.numel() * x.element_size()
    assert est.params == est.grads == M.param_bytes(m)
    assert est.total == est.params + est.grads + est.optimizer + est.activations + est.inputs


def test_in_place_layers_and_views_are_counted_once():
    m = cnn()
    conv, pool = 4 * 28 * 28 * 4, 4 * 14 * 14 * 4           # conv, batchnorm, relu(in place), pool, flatten(view)
    assert M.estimate(m, (1, 28, 28), batch_size=B).activations == B * (2 * conv + pool) + B * 10 * 4


def test_activations_scale_with_batch_and_halve_in_float16():
    m = cnn()
    a1 = M.estimate(m, (1, 28, 28), batch_size=1).activations
    assert M.estimate(m, (1, 28, 28), batch_size=64).activations == 64 * a1
    assert M.estimate(m, (1, 28, 28), batch_size=64, dtype=torch.float16).activations == 32 * a1


def test_estimate_leaves_the_model_untouched():
    m = cnn()
    before = {k: v.clone() for k, v in m.state_dict().items()}
    M.estimate(m, (1, 28, 28), batch_size=4)
    assert all(torch.equal(before[k], v) for k, v in m.state_dict().items())
    assert next(m.parameters()).device.type == "cpu"
    assert not any(mod._forward_hooks for mod in m.modules())


@pytest.mark.parametrize("name,per_param", [("sgd", 0), ("sgd_momentum", 1), ("adam", 2), ("adamw", 2)])
def test_optimizer_state_matches_the_real_optimizer(name, per_param):
    m = cnn()
    opt = M.make_optimizer(m.parameters(), name)
    assert M.optimizer_bytes(opt) == 0                          # nothing before the first step
    F.cross_entropy(m(torch.randn(B, 1, 28, 28)), torch.randint(0, 10, (B,))).backward()
    opt.step()
    assert M.optimizer_bytes(opt) == M.optimizer_state_bytes(m, name)
    tensors = len(list(m.parameters()))
    assert M.optimizer_state_bytes(m, name) == per_param * M.param_bytes(m) + (4 * tensors if "adam" in name else 0)


@pytest.mark.parametrize("half", [torch.float16, torch.bfloat16])
def test_mixed_precision_adam_is_16_bytes_per_parameter(half):
    """16-bit weights and gradients, a float32 master copy, Adam's two moments in float32: the
    estimate's state equals what a real mixed-precision setup allocates, tensor by tensor."""
    m = mlp()
    n = sum(p.numel() for p in m.parameters())
    tensors = len(list(m.parameters()))
    est = M.estimate(m, (10,), batch_size=B, dtype=half, optimizer="adam", mixed_precision=True)
    assert est.params == est.grads == 2 * n
    model16 = mlp().to(half)
    master = [p.detach().float().clone().requires_grad_(True) for p in model16.parameters()]
    opt = torch.optim.Adam(master, lr=1e-3)
    model16(torch.randn(B, 10, dtype=half)).float().sum().backward()
    for p16, p32 in zip(model16.parameters(), master):
        p32.grad = p16.grad.float()
    opt.step()
    real_state = sum(M.tensor_bytes(p) for p in master) + M.optimizer_bytes(opt)
    assert est.optimizer == real_state == 12 * n + 4 * tensors
    assert M.bytes_per_param(est, n) == 16 + 4 * tensors / n
    assert "mixed precision" in est.optimizer_name and "mixed precision" in str(est)


def test_mixed_precision_differs_from_a_pure_16_bit_model():
    m = mlp()
    n = sum(p.numel() for p in m.parameters())
    pure = M.estimate(m, (10,), batch_size=B, dtype=torch.float16, optimizer="adam")
    mixed = M.estimate(m, (10,), batch_size=B, dtype=torch.float16, optimizer="adam", mixed_precision=True)
    fp32 = M.estimate(m, (10,), batch_size=B, optimizer="adam")
    extra = 4 * len(list(m.parameters())) / n                 # Adam's step counters
    assert M.bytes_per_param(pure, n) == 8 + extra            # the default is unchanged: state in the model's dtype
    assert M.bytes_per_param(mixed, n) == M.bytes_per_param(fp32, n) == 16 + extra
    assert mixed.activations == pure.activations < fp32.activations
    sgd = M.estimate(m, (10,), batch_size=B, dtype=torch.float16, optimizer="sgd", mixed_precision=True)
    assert M.bytes_per_param(sgd, n) == 2 + 2 + 4             # the master copy only
    with pytest.raises(ValueError, match="float16 or torch.bfloat16"):
        M.estimate(m, (10,), batch_size=B, optimizer="adam", mixed_precision=True)


def test_unknown_optimizer_is_named():
    with pytest.raises(ValueError, match="adam"):
        M.optimizer_state_bytes(mlp(), "rmsprop")


def test_saved_for_backward_is_exact():
    m, x = mlp(), torch.randn(B, 10)
    # Linear 1 saves its input x, ReLU saves its output, which Linear 2 saves too (same memory);
    # the weights are saved by reference and excluded.
    assert M.saved_for_backward(m, x, exclude=list(m.parameters())) == 4 * B * (10 + 20)
    c, x = cnn(), torch.randn(B, 1, 28, 28)
    saved = M.saved_for_backward(c, x, exclude=list(c.parameters()))
    assert saved > M.activation_bytes(c, x) - B * 10 * 4       # max-pool also keeps int64 indices


def train(model, opt, steps, shape=(1, 28, 28)):
    g = torch.Generator().manual_seed(0)
    for _ in range(steps):
        x, y = torch.randn(B, *shape, generator=g), torch.randint(0, 10, (B,), generator=g)
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()


def test_tracker_records_each_phase_of_each_step():
    m = cnn()
    opt = torch.optim.Adam(m.parameters())
    with M.Tracker(m, opt) as tr:
        train(m, opt, 3)
        with torch.no_grad():
            m(torch.randn(2, 1, 28, 28))                        # evaluation: not a training step
    assert not tr.measured and "estimate" in tr.label and tr.samples[0].allocated is None
    assert [(s.step, s.phase) for s in tr.samples] == [(i, p) for i in (1, 2, 3) for p in M.PHASES]
    acts = hook_outputs(m, torch.randn(B, 1, 28, 28))
    params = M.param_bytes(m)
    for s in tr.samples:
        assert s.params == params
        assert s.activations == (acts if s.phase == "forward" else 0)
        if s.phase != "forward":
            assert s.grads == params
        assert s.optimizer == (0 if (s.step, s.phase) in ((1, "forward"), (1, "backward")) else
                               M.optimizer_state_bytes(m, "adam"))
    assert tr.peak() == max(s.total for s in tr.samples)
    assert not any(mod._forward_hooks or mod._forward_pre_hooks for mod in m.modules())   # removed on exit


def test_tracker_without_optimizer_and_listeners():
    m = mlp()
    tr = M.Tracker(m)
    seen = []
    tr.on_sample(seen.append)
    m(torch.randn(B, 10)).sum().backward()
    assert [s.phase for s in seen] == ["forward", "backward"] and seen[0].optimizer == 0
    tr.remove()


def test_timeline_figure_estimate_and_measured():
    m = cnn()
    opt = torch.optim.SGD(m.parameters(), lr=0.1, momentum=0.9)
    tr = M.Tracker(m, opt)
    train(m, opt, 2)
    fig = M.plot_timeline(tr.samples)
    assert isinstance(fig, Figure) and "estimate" in fig.axes[0].get_title()
    fake = [M.Sample(**{**s.to_dict(), "measured": True, "allocated": s.total + 512, "reserved": 2 * s.total,
                        "peak": s.total + 1024}) for s in tr.samples]
    fig = M.plot_timeline(fake)
    assert "measured" in fig.axes[0].get_title()
    assert {"allocated", "reserved"} <= {t.get_text() for t in fig.axes[0].get_legend().get_texts()}
    assert isinstance(M.plot_timeline([]), Figure)
    many = [M.Sample(i // 3 + 1, M.PHASES[i % 3], 1, 1, 1, i % 3 == 0, False) for i in range(300)]
    assert isinstance(M.plot_timeline(many), Figure)
    tr.remove()


def test_estimate_figure_and_text():
    est = M.estimate(cnn(), (1, 28, 28), batch_size=16)
    assert isinstance(M.plot_estimate(est), Figure)
    assert len(M.plot_estimate(est, measured_peak=est.total).axes[0].patches) == 6
    text = str(est)
    assert "predicted peak" in text and "workspace" in text and M.fmt_bytes(est.total) in text
    assert M.fmt_bytes(1536) == "1.5 KiB" and M.fmt_bytes(3 * 2**30) == "3.0 GiB"


def test_memory_view_redraws_once_shown():
    m = cnn()
    opt = torch.optim.SGD(m.parameters(), lr=0.1)
    tr = M.Tracker(m, opt)
    view = MemoryView(tr, every=1)
    train(m, opt, 1)
    assert view.live.figure is None                 # not shown yet: a loop must not display it
    updates = []

    class Handle:                                   # what IPython's display(..., display_id=True) returns
        def update(self, image):
            updates.append(image)

    view.live.handle = Handle()                     # as if shown as a cell's value in a notebook
    view.live.update = lambda *a, _u=view.live.update: (_u(*a), updates.append("redrawn"))[0]
    train(m, opt, 2)
    assert updates.count("redrawn") == 2            # one redraw per optimizer step (every=1)
    assert isinstance(view.live.figure, Figure) and isinstance(view.figure(), Figure)
    tr.remove()


def test_compare_without_a_gpu_gives_the_estimate_only():
    if torch.cuda.is_available():
        pytest.skip("a GPU is present: compare() measures there")
    out = M.compare(cnn(), (1, 28, 28), batch_size=4, optimizer="adam")
    assert out["measured_peak"] is None and out["ratio"] is None and "estimate" in out["label"]
    assert math.isclose(out["estimate"]["total"], M.estimate(cnn(), (1, 28, 28), batch_size=4).total)
