"""Exercises of notebook 06, a neural network from your kernels: the ReLU backward kernel, the
gradient of softmax cross-entropy, and the SGD update. Every kernel of that notebook is a
grid-stride loop, so each check launches it twice under the tracer: with fewer threads than
elements (the loop must cover the rest) and with more (the loop condition must guard).

Known mistakes are recognised by reproducing the learner's output with the mistaken formula.
"""
from __future__ import annotations

import numpy as np

from gpuviz.exercises.check import COL_ROW, Case, KernelExercise

SEED = 606
BLOCK2 = (4, 4)          # 16 threads; the small launch is one block, the large one covers everything
BLOCK1 = 16

STRIDE_HINT = ("Loop with a grid stride, as the other kernels in this notebook do: "
               "`for row in range(r0, n_rows, sr): for col in range(c0, n_cols, sc):` with "
               "`c0, r0 = cuda.grid(2)` and `sc, sr = cuda.gridsize(2)`.")
STRIDE_HINT_1D = ("Loop with a grid stride: `for i in range(cuda.grid(1), w.size, cuda.gridsize(1)):` "
                  "(notebook 01), so any grid covers every element.")
BOUNDS_2D = ("Rows run along shape[0] and columns along shape[1]: loop rows from r0 up to shape[0] and "
             f"columns from c0 up to shape[1], where `c0, r0 = cuda.grid(2)`. {COL_ROW}")
ONE_WRITER = "Each element should be written by exactly one thread."
HINTS_2D = {"out_of_bounds": BOUNDS_2D, "negative_index": BOUNDS_2D, "race": ONE_WRITER, "unwritten": STRIDE_HINT}


def _launches_2d(shape):
    small = (1, 1)
    full = (-(-shape[1] // BLOCK2[0]) + 1, -(-shape[0] // BLOCK2[1]) + 1)   # more threads than elements
    return [(small, BLOCK2), (full, BLOCK2)]


def _launches_1d(n):
    return [(1, BLOCK1), (-(-n // BLOCK1) + 1, BLOCK1)]


# ---------------------------------------------------------------- 06-relu-backward

def relu_backward_reference(dH, Z, dZ):
    return {"dZ": np.where(Z > 0, dH, np.float32(0)).astype(np.float32)}


def _relu_cases(rng):
    for shape in ((5, 7), (9, 3)):
        dH = rng.standard_normal(shape).astype(np.float32)
        Z = rng.standard_normal(shape).astype(np.float32)
        for grid, block in _launches_2d(shape):
            yield Case((dH, Z, np.full(shape, np.nan, np.float32)), grid, block,
                       f"launch [{grid}, {block}] on shape {shape}", shape=shape)


def _dZ(f):
    return lambda dH, Z, dZ: {"dZ": f(dH, Z)}


_relu_backward = KernelExercise(
    "relu_backward", reference=relu_backward_reference, cases=_relu_cases, seed=SEED, rtol=1e-6, atol=1e-7,
    hints=HINTS_2D, mistakes=[
        (_dZ(lambda dH, Z: dH.copy()),
         "the gradient went through everywhere, also where Z <= 0. There ReLU's output is the constant 0, "
         "so nothing flows back: dZ = dH where Z > 0, else 0."),
        (_dZ(lambda dH, Z: np.where(dH > 0, dH, 0).astype(np.float32)),
         "the mask must come from the forward pass's input Z (was the unit active?), not from the incoming "
         "gradient dH: dZ = dH where Z > 0."),
        (_dZ(lambda dH, Z: (Z > 0).astype(np.float32)),
         "that is ReLU's derivative (1 where Z > 0, else 0) on its own. The chain rule multiplies it by the "
         "gradient arriving from above: dZ = dH * (Z > 0)."),
        (_dZ(lambda dH, Z: np.maximum(dH, 0).astype(np.float32)),
         "that is ReLU applied to dH. The backward pass keeps dH (negative values too) where the forward "
         "input Z was positive, and puts 0 elsewhere."),
        (_dZ(lambda dH, Z: np.where(Z > 0, Z, 0).astype(np.float32)),
         "that is ReLU's forward output, relu(Z). The backward pass passes dH through where Z > 0."),
        (_dZ(lambda dH, Z: np.where(Z <= 0, dH, 0).astype(np.float32)),
         "the mask is the wrong way round: the gradient flows where Z > 0 (the unit was active), not where Z <= 0."),
    ])


# ---------------------------------------------------------------- 06-xent-grad

def _softmax(logits):
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _onehot(labels, k):
    out = np.zeros((len(labels), k), np.float32)
    out[np.arange(len(labels)), labels] = 1
    return out


def xent_grad_reference(probs, labels, dlogits):
    return {"dlogits": ((probs - _onehot(labels, probs.shape[1])) / np.float32(probs.shape[0])).astype(np.float32)}


def _xent_cases(rng):
    for n, k in ((6, 10), (9, 4)):
        probs = _softmax(rng.standard_normal((n, k)) * 2).astype(np.float32)
        labels = rng.integers(0, k, n).astype(np.int32)
        labels[0] = k - 1                       # the last column is a true class somewhere
        for grid, block in _launches_2d((n, k)):
            yield Case((probs, labels, np.full((n, k), np.nan, np.float32)), grid, block,
                       f"launch [{grid}, {block}] on {n} rows, {k} classes", shape=(n, k))


def _rows_sum_to_zero(run):
    if np.allclose(run.after("dlogits").sum(axis=1), 0, atol=1e-5):
        return ""
    return ("Each row of the right answer sums to 0 (the probabilities sum to 1, minus the one 1 of onehot); "
            "yours do not.")


def _dlogits(f):
    return lambda p, y, d: {"dlogits": np.asarray(f(p, y), np.float32)}


_xent_grad = KernelExercise(
    "xent_grad", reference=xent_grad_reference, cases=_xent_cases, seed=SEED + 1, rtol=1e-5, atol=1e-7,
    hints=HINTS_2D | {"wrong": _rows_sum_to_zero}, mistakes=[
        (_dlogits(lambda p, y: p - _onehot(y, p.shape[1])),
         "every value is batch-size times too big. The loss is the MEAN over the batch, so each row's "
         "gradient is divided by the number of rows: (probs - onehot) / probs.shape[0]."),
        (_dlogits(lambda p, y: (_onehot(y, p.shape[1]) - p) / p.shape[0]),
         "the sign is flipped: the gradient of the loss is probs - onehot (it points uphill; SGD subtracts it)."),
        (_dlogits(lambda p, y: p / p.shape[0]),
         "the -1 at the true class is missing: the gradient is (probs - onehot) / n, where onehot is 1 in "
         "column labels[row] and 0 elsewhere."),
        (_dlogits(lambda p, y: (p - _onehot(y, p.shape[1])) / p.shape[1]),
         "divided by the number of classes (probs.shape[1]); the mean is over the batch: divide by probs.shape[0]."),
        (_dlogits(lambda p, y: (p - 1) / p.shape[0]),
         "1 was subtracted in every column; only the true class's column, labels[row], gets the -1."),
        (_dlogits(lambda p, y: (p - _onehot(y, p.shape[1])) / p.shape[0] * p * (1 - p)),
         "there is an extra factor p * (1 - p): with softmax and cross-entropy together, the derivative "
         "simplifies to (probs - onehot) / n, nothing more."),
    ])


# ---------------------------------------------------------------- 06-sgd

def sgd_reference(w, g, lr):
    return {"w": (w - lr * g).astype(np.float32)}


def _sgd_cases(rng):
    lr = np.float32(0.25)
    for n in (37, 5):
        w0 = rng.standard_normal(n).astype(np.float32)
        g = rng.standard_normal(n).astype(np.float32)
        for grid, block in _launches_1d(n):
            yield Case((w0, g, lr), grid, block, f"launch [{grid}, {block}]", shape=(n,))


def _sgd_writes(run):
    g, want = run.after("g"), run.want["w"]
    if not np.array_equal(g, run.before("g")) and np.allclose(g, want, rtol=1e-6):
        return "the new weights went into g: update w in place, w[i] -= lr * g[i]."
    writes = run.trace.counts("w", "write") + run.trace.counts("w", "atomic")
    if run.problem is None and (writes > 1).any():
        return (f"w[{int(np.argmax(writes))}] was written {int(writes.max())} times in one launch: "
                "each thread should update its own elements once.")
    return None


def _w(f):
    return lambda w, g, lr: {"w": np.asarray(f(w, g, lr), np.float32)}


_sgd = KernelExercise(
    "sgd", reference=sgd_reference, cases=_sgd_cases, seed=SEED + 2, rtol=1e-6, atol=1e-7, diagnose=[_sgd_writes],
    hints={"out_of_bounds": "Stop the loop at w.size.", "negative_index": "Stop the loop at w.size.",
           "race": ONE_WRITER, "unwritten": STRIDE_HINT_1D}, mistakes=[
        (_w(lambda w, g, lr: w + lr * g), "the weights moved uphill: the gradient points to where the loss GROWS, "
                                          "so subtract it: w[i] -= lr * g[i]."),
        (_w(lambda w, g, lr: w - g), "the learning rate is missing: w[i] -= lr * g[i]."),
        (_w(lambda w, g, lr: -lr * g), "w[i] = -lr * g[i] replaces the weight; the step is taken FROM the old "
                                       "weight: w[i] -= lr * g[i] (that is, w[i] = w[i] - lr * g[i])."),
        (_w(lambda w, g, lr: w - g / lr), "divided by the learning rate; multiply: w[i] -= lr * g[i]."),
        (_w(lambda w, g, lr: w * (1 - lr * g)), "the step is lr * g[i], not lr * g[i] * w[i]: w[i] -= lr * g[i]."),
    ])


CHECKS = {
    "06-relu-backward": (2, _relu_backward),
    "06-xent-grad": (2, _xent_grad),
    "06-sgd": (2, _sgd),
}
