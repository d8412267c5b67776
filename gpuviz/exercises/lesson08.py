"""Exercises of notebook 08, a CNN on Fashion-MNIST: im2col, a convolution's output size, a training step,
and extrapolating a measured training rate to a bigger workload."""
from __future__ import annotations

import copy

import numpy as np

from gpuviz.exercises.check import FunctionExercise

SEED = 800


# ---------------------------------------------------------------- 08-im2col

def im2col_reference(x, k, stride=1, padding=0):
    """(N, C, H, W) -> (N, C*k*k, L): column l holds the k x k patch under output position l, rows in
    (channel, kernel row, kernel column) order: the layout of torch.nn.functional.unfold."""
    n, c, h, w = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    oh, ow = (h + 2 * padding - k) // stride + 1, (w + 2 * padding - k) // stride + 1
    cols = np.empty((n, c, k, k, oh, ow), dtype=x.dtype)
    for i in range(k):
        for j in range(k):
            cols[:, :, i, j] = xp[:, :, i:i + stride * oh:stride, j:j + stride * ow:stride]
    return cols.reshape(n, c * k * k, oh * ow)


def _im2col_cases(rng):
    shapes = [(1, 1, 3, 3, 3, 1, 0), (1, 1, 4, 4, 2, 1, 0), (1, 2, 4, 5, 2, 1, 0), (2, 3, 5, 5, 3, 1, 1),
              (1, 2, 7, 6, 3, 2, 1), (2, 1, 6, 6, 2, 2, 0), (1, 1, 5, 5, 3, 2, 0)]
    for _ in range(4):
        k = int(rng.integers(1, 4))
        shapes.append((int(rng.integers(1, 3)), int(rng.integers(1, 4)), int(rng.integers(k, 9)),
                       int(rng.integers(k, 9)), k, int(rng.integers(1, 3)), int(rng.integers(0, 2))))
    return [(rng.standard_normal((n, c, h, w)).astype(np.float32), k, s, p) for n, c, h, w, k, s, p in shapes]


def _channels_last(x, k, stride=1, padding=0):
    n, c = x.shape[:2]
    cols = im2col_reference(x, k, stride, padding)
    return cols.reshape(n, c, k, k, -1).transpose(0, 2, 3, 1, 4).reshape(n, c * k * k, -1)


def _kernel_transposed(x, k, stride=1, padding=0):
    n, c = x.shape[:2]
    cols = im2col_reference(x, k, stride, padding)
    return cols.reshape(n, c, k, k, -1).transpose(0, 1, 3, 2, 4).reshape(n, c * k * k, -1)


_IM2COL = FunctionExercise(
    "im2col", im2col_reference, _im2col_cases, seed=SEED, mistakes=[
        (lambda x, k, stride=1, padding=0: im2col_reference(x, k, stride, padding).transpose(0, 2, 1),
         "The result is transposed: return shape (N, C·k·k, L), one column per output position, so that "
         "weights of shape (F, C·k·k) @ columns gives (F, L)."),
        (_channels_last,
         "The rows are in (kernel row, kernel column, channel) order. Use (channel, kernel row, kernel column), "
         "the order of the weight tensor (F, C, k, k) flattened to (F, C·k·k)."),
        (_kernel_transposed,
         "Each patch is read column by column (the kernel transposed): the row index inside a channel must be "
         "i·k + j for kernel row i and kernel column j."),
        (lambda x, k, stride=1, padding=0: im2col_reference(x, k, stride, 0),
         "The padding is ignored: pad H and W with `padding` zeros on each side before cutting patches "
         "(np.pad)."),
        (lambda x, k, stride=1, padding=0: im2col_reference(x, k, 1, padding),
         "The stride is ignored: neighbouring output positions start `stride` pixels apart."),
    ])


# ---------------------------------------------------------------- 08-out-size

def conv_out_size_reference(n, k, stride=1, padding=0):
    return (n + 2 * padding - k) // stride + 1


def _size_cases(rng):
    fixed = [(28, 3, 1, 1), (28, 3, 1, 0), (28, 2, 2, 0), (7, 7, 1, 0), (5, 3, 2, 0), (6, 3, 2, 1),
             (224, 7, 2, 3), (32, 5, 1, 2), (10, 4, 3, 0), (1, 1, 1, 0)]
    rand = []
    for _ in range(10):
        k = int(rng.integers(1, 8))
        rand.append((int(rng.integers(k, 100)), k, int(rng.integers(1, 5)), int(rng.integers(0, 4))))
    return fixed + rand


_OUT_SIZE = FunctionExercise(
    "conv_out_size", conv_out_size_reference, _size_cases, seed=SEED + 1, mistakes=[
        (lambda n, k, stride=1, padding=0: (n + 2 * padding - k) // stride,
         "One short: the first window starts at position 0 and counts too, so add 1 after dividing."),
        (lambda n, k, stride=1, padding=0: (n + 2 * padding - k) / stride + 1,
         "That can return a fraction: a window that does not fit is dropped, so divide with floor (//)."),
        (lambda n, k, stride=1, padding=0: -(-(n + 2 * padding - k) // stride) + 1,
         "That rounds up; a window that would hang over the edge is dropped, so round down (//)."),
        (lambda n, k, stride=1, padding=0: (n + padding - k) // stride + 1,
         "The padding is added once; it goes on both sides: n + 2·padding."),
        (lambda n, k, stride=1, padding=0: (n - k) // stride + 1,
         "The padding is ignored: the padded input is n + 2·padding wide."),
        (lambda n, k, stride=1, padding=0: n + 2 * padding - k + 1,
         "The stride is ignored: windows start `stride` pixels apart, so divide by the stride."),
        (lambda n, k, stride=1, padding=0: (n + 2 * padding) // stride,
         "The kernel size is missing: only positions where the whole k-wide window fits count."),
    ])


# ---------------------------------------------------------------- 08-train-step

def train_step_reference(model, x, y, optimizer):
    import torch.nn.functional as F

    model.train()
    loss = F.cross_entropy(model(x), y)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


def _variants():
    import torch
    import torch.nn.functional as F

    def no_zero(model, x, y, opt):
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss.item()

    def softmax_twice(model, x, y, opt):
        loss = F.cross_entropy(torch.softmax(model(x), dim=1), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item()

    def nll_raw(model, x, y, opt):
        loss = F.nll_loss(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item()

    def sum_loss(model, x, y, opt):
        loss = F.cross_entropy(model(x), y, reduction="sum")
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item()

    return [
        (no_zero, "The gradients are never reset: loss.backward() adds to .grad, so from the second step on "
                  "each update uses the sum of all gradients so far. Call optimizer.zero_grad() before "
                  "loss.backward()."),
        (softmax_twice, "The loss takes softmax twice: F.cross_entropy expects raw scores (logits) and applies "
                        "log-softmax itself. Pass model(x) directly."),
        (nll_raw, "F.nll_loss expects log-probabilities, and model(x) returns raw scores: use F.cross_entropy, "
                  "which applies log-softmax first."),
        (sum_loss, "The loss is summed over the batch, so the step grows with the batch size: use the mean "
                   "(F.cross_entropy's default)."),
    ]


def _setup():
    import torch
    import torch.nn as nn

    g = torch.Generator().manual_seed(SEED)
    model = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 4))
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.5)
    batches = [(torch.randn(8, 6, generator=g), torch.randint(0, 4, (8,), generator=g)) for _ in range(3)]
    return model, batches


def _run(fn, model, batches):
    import torch

    model = copy.deepcopy(model)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    losses = [fn(model, x, y, opt) for x, y in batches]
    return model, losses


def _params_close(a, b) -> bool:
    import torch

    return all(torch.allclose(p, q, rtol=1e-5, atol=1e-6) for p, q in zip(a.parameters(), b.parameters()))


def _train_step(fn):
    import torch

    if not callable(fn):
        return False, f"expected the function train_step, got {type(fn).__name__}."
    model, batches = _setup()
    want_model, want_losses = _run(train_step_reference, model, batches)
    got_model, got_losses = _run(fn, model, batches)
    if any(isinstance(v, torch.Tensor) for v in got_losses):
        return False, ("train_step returned a tensor: return loss.item(), a Python float. A loss tensor keeps its "
                       "whole autograd graph reachable; collecting them in a list over an epoch holds memory and "
                       "forces a GPU synchronization later anyway.")
    if _params_close(got_model, want_model) and np.allclose(got_losses, want_losses, rtol=1e-5):
        return True, f"{len(batches)} steps, parameters and losses match"
    if all(torch.equal(p, q) for p, q in zip(got_model.parameters(), model.parameters())):
        if any(p.grad is not None and bool(p.grad.any()) for p in got_model.parameters()):
            return False, "The parameters never change: call optimizer.step() after loss.backward()."
        return False, ("The parameters never change, and no gradients are left: optimizer.zero_grad() runs "
                       "between loss.backward() and optimizer.step(), so the step sees no gradients. Zero the "
                       "gradients before backward.")
    for wrong, why in _variants():
        m, losses = _run(wrong, model, batches)
        if _params_close(got_model, m):
            return False, why
    if _params_close(got_model, want_model):
        return False, (f"the parameters are right but the returned losses {np.round(got_losses, 4).tolist()} are "
                       f"not {np.round(want_losses, 4).tolist()}: return the loss of this batch, computed before "
                       "the update.")
    return False, ("after 3 steps of SGD (lr 0.1) the parameters differ from those of forward, "
                   "F.cross_entropy, zero_grad, backward, step.")


# ---------------------------------------------------------------- 08-extrapolate

def extrapolate_seconds_reference(images_per_s, flop_per_image, target_flop_per_image, images_per_epoch, epochs):
    """Seconds to train a target workload at the FLOP rate a measured run reached: the measured run did
    images_per_s * flop_per_image FLOP/s; the target needs epochs * images_per_epoch * target_flop_per_image
    FLOPs. A prediction: it assumes the target keeps the processor as busy as the measured network did."""
    return epochs * images_per_epoch * target_flop_per_image / (images_per_s * flop_per_image)


def _extrapolate_cases(rng):
    fixed = [(1000.0, 2.6e8, 2.46e10, 1_281_167, 90), (50.0, 2.6e8, 2.46e10, 1_281_167, 90),
             (20_000.0, 1e9, 1e9, 60_000, 1), (10.0, 5e8, 4e9, 1000, 3)]
    rand = [(float(rng.uniform(10, 1e5)), float(rng.uniform(1e7, 1e10)), float(rng.uniform(1e8, 1e11)),
             int(rng.integers(1000, 2_000_000)), int(rng.integers(2, 200))) for _ in range(8)]
    return fixed + rand


_EXTRAPOLATE = FunctionExercise(
    "extrapolate_seconds", extrapolate_seconds_reference, _extrapolate_cases, seed=SEED + 2, mistakes=[
        (lambda r, f, tf, n, e: e * n / r,
         "The FLOPs are missing: that is how long the target's images would take at THIS network's images "
         "per second. A target image costs target_flop_per_image, not flop_per_image: convert the measured "
         "rate to FLOP/s first (images_per_s · flop_per_image)."),
        (lambda r, f, tf, n, e: e * n * f / (r * tf),
         "The FLOP ratio is upside down: a target image that costs more FLOPs must take longer, so multiply by "
         "target_flop_per_image and divide by flop_per_image."),
        (lambda r, f, tf, n, e: n * tf / (r * f),
         "The epochs are missing: that is one epoch of the target. Training runs `epochs` passes over the data."),
        (lambda r, f, tf, n, e: e * tf / (r * f),
         "The images per epoch are missing: each epoch processes images_per_epoch images, each costing "
         "target_flop_per_image FLOPs."),
        (lambda r, f, tf, n, e: e * n * tf / (r * f) / 3600,
         "That is in hours: return seconds (the notebook converts to hours and days)."),
        (lambda r, f, tf, n, e: e * n * tf / (r * f) / 86400,
         "That is in days: return seconds (the notebook converts to hours and days)."),
        (lambda r, f, tf, n, e: e * n * tf / r,
         "flop_per_image is missing: the measured rate in FLOP/s is images_per_s · flop_per_image, and the "
         "time is the target's FLOPs divided by that rate."),
    ])


CHECKS = {
    "08-im2col": (3, _IM2COL),
    "08-out-size": (1, _OUT_SIZE),
    "08-train-step": (2, _train_step),
    "08-extrapolate": (2, _EXTRAPOLATE),
}
