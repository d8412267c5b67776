"""Exercises of notebook 06, a neural network from your kernels: the ReLU backward kernel, the
gradient of softmax cross-entropy, and the SGD update. Every kernel of that notebook is a
grid-stride loop, so each check launches it twice under the tracer: with fewer threads than
elements (the loop must cover the rest) and with more (the loop condition must guard).

Known mistakes are recognised by reproducing the learner's output with the mistaken formula.
"""
from __future__ import annotations

import numpy as np

from gpuviz.exercises.lesson01 import first_problem, mismatch, run_traced

SEED = 606
BLOCK2 = (4, 4)          # 16 threads; the small launch is one block, the large one covers everything
BLOCK1 = 16

STRIDE_HINT = ("Loop with a grid stride, as the other kernels in this notebook do: "
               "`for row in range(r0, n_rows, sr): for col in range(c0, n_cols, sc):` with "
               "`c0, r0 = cuda.grid(2)` and `sc, sr = cuda.gridsize(2)`.")
STRIDE_HINT_1D = ("Loop with a grid stride: `for i in range(cuda.grid(1), w.size, cuda.gridsize(1)):` "
                  "(notebook 01), so any grid covers every element.")


def _launches_2d(shape):
    small = (1, 1)
    full = (-(-shape[1] // BLOCK2[0]) + 1, -(-shape[0] // BLOCK2[1]) + 1)   # more threads than elements
    return [(small, BLOCK2), (full, BLOCK2)]


def _launches_1d(n):
    return [(1, BLOCK1), (-(-n // BLOCK1) + 1, BLOCK1)]


def _describe(grid, block):
    return f"launch [{grid}, {block}]"


def _run(kernel, grid, block, args, bounds_hint):
    """Run under the tracer; (trace, None) or (None, message)."""
    t, err = run_traced(kernel, grid, block, *args)
    if err:
        return None, err
    p = first_problem(t)
    if p is not None:
        extra = {"out_of_bounds": bounds_hint, "negative_index": bounds_hint,
                 "race": "Each element should be written by exactly one thread."}.get(p.kind, "")
        return None, f"{_describe(grid, block)}: {p.message} {extra}".strip()
    return t, None


BOUNDS_2D = ("Rows run along shape[0] and columns along shape[1]: loop rows from r0 up to shape[0] and "
             "columns from c0 up to shape[1], where `c0, r0 = cuda.grid(2)` (x runs along columns).")
BOUNDS_1D = "Stop the loop at w.size."


def _unwritten(t, name, out_shape, grid, block, hint):
    writes = t.counts(name, "write") + t.counts(name, "atomic")
    missing = int((writes == 0).sum())
    if missing:
        nthreads = int(np.prod(grid)) * int(np.prod(block))
        return (f"{_describe(grid, block)} ({nthreads} threads for {int(np.prod(out_shape))} elements): "
                f"{missing} elements of {name} were never written. {hint}")
    return None


def _changed(before, after, name):
    if not np.array_equal(before, after, equal_nan=True):
        return f"your kernel changed {name}, an input: write the result into the output array only."
    return None


# ---------------------------------------------------------------- 06-relu-backward

def relu_backward_reference(dH, Z):
    return np.where(Z > 0, dH, np.float32(0)).astype(np.float32)


RELU_MISTAKES = [
    (lambda dH, Z: dH.copy(),
     "the gradient went through everywhere, also where Z <= 0. There ReLU's output is the constant 0, "
     "so nothing flows back: dZ = dH where Z > 0, else 0."),
    (lambda dH, Z: np.where(dH > 0, dH, 0).astype(np.float32),
     "the mask must come from the forward pass's input Z (was the unit active?), not from the incoming "
     "gradient dH: dZ = dH where Z > 0."),
    (lambda dH, Z: (Z > 0).astype(np.float32),
     "that is ReLU's derivative (1 where Z > 0, else 0) on its own. The chain rule multiplies it by the "
     "gradient arriving from above: dZ = dH * (Z > 0)."),
    (lambda dH, Z: np.maximum(dH, 0).astype(np.float32),
     "that is ReLU applied to dH. The backward pass keeps dH (negative values too) where the forward "
     "input Z was positive, and puts 0 elsewhere."),
    (lambda dH, Z: np.where(Z > 0, Z, 0).astype(np.float32),
     "that is ReLU's forward output, relu(Z). The backward pass passes dH through where Z > 0."),
    (lambda dH, Z: np.where(Z <= 0, dH, 0).astype(np.float32),
     "the mask is the wrong way round: the gradient flows where Z > 0 (the unit was active), not where Z <= 0."),
]


def relu_backward(kernel):
    rng = np.random.default_rng(SEED)
    for shape in ((5, 7), (9, 3)):
        dH = rng.standard_normal(shape).astype(np.float32)
        Z = rng.standard_normal(shape).astype(np.float32)
        want = relu_backward_reference(dH, Z)
        for grid, block in _launches_2d(shape):
            dZ = np.full(shape, np.nan, np.float32)
            args = (dH.copy(), Z.copy(), dZ)
            t, err = _run(kernel, grid, block, args, BOUNDS_2D)
            if err:
                return False, err
            why = _changed(dH, args[0], "dH") or _changed(Z, args[1], "Z") or \
                _unwritten(t, "dZ", shape, grid, block, STRIDE_HINT)
            if why:
                return False, why
            if np.allclose(dZ, want, rtol=1e-6, atol=1e-7):
                continue
            for wrong, diagnosis in RELU_MISTAKES:
                if np.allclose(dZ, wrong(dH, Z), rtol=1e-6, atol=1e-7):
                    return False, diagnosis
            return False, f"{_describe(grid, block)} on shape {shape}: " + mismatch(dZ, want, "dZ")
    return True, ""


# ---------------------------------------------------------------- 06-xent-grad

def softmax(logits):
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def onehot(labels, k):
    out = np.zeros((len(labels), k), np.float32)
    out[np.arange(len(labels)), labels] = 1
    return out


def xent_grad_reference(probs, labels):
    return ((probs - onehot(labels, probs.shape[1])) / np.float32(probs.shape[0])).astype(np.float32)


XENT_MISTAKES = [
    (lambda p, y: p - onehot(y, p.shape[1]),
     "every value is batch-size times too big. The loss is the MEAN over the batch, so each row's "
     "gradient is divided by the number of rows: (probs - onehot) / probs.shape[0]."),
    (lambda p, y: (onehot(y, p.shape[1]) - p) / p.shape[0],
     "the sign is flipped: the gradient of the loss is probs - onehot (it points uphill; SGD subtracts it)."),
    (lambda p, y: p / p.shape[0],
     "the -1 at the true class is missing: the gradient is (probs - onehot) / n, where onehot is 1 in "
     "column labels[row] and 0 elsewhere."),
    (lambda p, y: (p - onehot(y, p.shape[1])) / p.shape[1],
     "divided by the number of classes (probs.shape[1]); the mean is over the batch: divide by probs.shape[0]."),
    (lambda p, y: (p - 1) / p.shape[0],
     "1 was subtracted in every column; only the true class's column, labels[row], gets the -1."),
    (lambda p, y: (p - onehot(y, p.shape[1])) / p.shape[0] * p * (1 - p),
     "there is an extra factor p * (1 - p): with softmax and cross-entropy together, the derivative "
     "simplifies to (probs - onehot) / n, nothing more."),
]


def xent_grad(kernel):
    rng = np.random.default_rng(SEED + 1)
    for n, k in ((6, 10), (9, 4)):
        probs = softmax(rng.standard_normal((n, k)) * 2).astype(np.float32)
        labels = rng.integers(0, k, n).astype(np.int32)
        labels[0] = k - 1                       # the last column is a true class somewhere
        want = xent_grad_reference(probs, labels)
        for grid, block in _launches_2d((n, k)):
            dlogits = np.full((n, k), np.nan, np.float32)
            args = (probs.copy(), labels.copy(), dlogits)
            t, err = _run(kernel, grid, block, args, BOUNDS_2D)
            if err:
                return False, err
            why = _changed(probs, args[0], "probs") or _changed(labels, args[1], "labels") or \
                _unwritten(t, "dlogits", (n, k), grid, block, STRIDE_HINT)
            if why:
                return False, why
            if np.allclose(dlogits, want, rtol=1e-5, atol=1e-7):
                continue
            for wrong, diagnosis in XENT_MISTAKES:
                if np.allclose(dlogits, np.asarray(wrong(probs, labels), np.float32), rtol=1e-5, atol=1e-7):
                    return False, diagnosis
            if not np.allclose(dlogits.sum(axis=1), 0, atol=1e-5):
                hint = (" Each row of the right answer sums to 0 (the probabilities sum to 1, minus the one 1 "
                        "of onehot); yours do not.")
            else:
                hint = ""
            return False, f"{_describe(grid, block)} on {n} rows, {k} classes: " + \
                mismatch(dlogits, want, "dlogits", rtol=1e-5, atol=1e-7) + hint
    return True, ""


# ---------------------------------------------------------------- 06-sgd

def sgd(kernel):
    rng = np.random.default_rng(SEED + 2)
    lr = np.float32(0.25)
    for n in (37, 5):
        w0 = rng.standard_normal(n).astype(np.float32)
        g = rng.standard_normal(n).astype(np.float32)
        want = (w0 - lr * g).astype(np.float32)
        for grid, block in _launches_1d(n):
            w = w0.copy()
            gg = g.copy()
            t, err = _run(kernel, grid, block, (w, gg, lr), BOUNDS_1D)
            if err:
                return False, err
            if not np.array_equal(gg, g):
                if np.allclose(gg, want, rtol=1e-6):
                    return False, "the new weights went into g: update w in place, w[i] -= lr * g[i]."
                return False, _changed(g, gg, "g")
            writes = t.counts("w", "write") + t.counts("w", "atomic")
            if (writes == 0).any():
                nthreads = int(np.prod(grid)) * int(np.prod(block))
                return False, (f"{_describe(grid, block)} ({nthreads} threads for {n} weights): "
                               f"{int((writes == 0).sum())} weights were never updated. {STRIDE_HINT_1D}")
            if (writes > 1).any():
                return False, (f"w[{int(np.argmax(writes))}] was written {int(writes.max())} times in one launch: "
                               "each thread should update its own elements once.")
            if np.allclose(w, want, rtol=1e-6, atol=1e-7):
                continue
            mistakes = [
                (w0 + lr * g, "the weights moved uphill: the gradient points to where the loss GROWS, so "
                              "subtract it: w[i] -= lr * g[i]."),
                (w0 - g, "the learning rate is missing: w[i] -= lr * g[i]."),
                (-lr * g, "w[i] = -lr * g[i] replaces the weight; the step is taken FROM the old weight: "
                          "w[i] -= lr * g[i] (that is, w[i] = w[i] - lr * g[i])."),
                (w0 - g / lr, "divided by the learning rate; multiply: w[i] -= lr * g[i]."),
                (w0 * (1 - lr * g), "the step is lr * g[i], not lr * g[i] * w[i]: w[i] -= lr * g[i]."),
            ]
            for wrong, diagnosis in mistakes:
                if np.allclose(w, wrong.astype(np.float32), rtol=1e-6, atol=1e-7):
                    return False, diagnosis
            return False, f"{_describe(grid, block)}: " + mismatch(w, want, "w")
    return True, ""


CHECKS = {
    "06-relu-backward": (2, relu_backward),
    "06-xent-grad": (2, xent_grad),
    "06-sgd": (2, sgd),
}
