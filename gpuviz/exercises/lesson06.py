"""Exercises of notebook 06, a neural network from your kernels: the ReLU backward kernel, the
gradient of softmax cross-entropy, the SGD update, and backpropagation itself (`backward`, the seven
launches of the backward pass). Every kernel of that notebook is a grid-stride loop, so each kernel
check launches it twice under the tracer: with fewer threads than elements (the loop must cover the
rest) and with more (the loop condition must guard).

Known mistakes are recognised by reproducing the learner's output with the mistaken formula. The
`backward` check runs the learner's function with every kernel launch it makes diverted to the tracer
(on the CPU, in either mode), on small networks whose forward pass NumPy computed, and reads each
launch back: which kernel wrote which gradient, from which arrays, with which grid.
"""
from __future__ import annotations

import inspect
import types

import numpy as np

from gpuviz.exercises.check import COL_ROW, Case, KernelExercise, mismatch

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


# ---------------------------------------------------------------- 06-backward

GRADIENTS = ("W2", "b2", "W1", "b1")          # where backward leaves dL/dW2, dL/db2, dL/dW1, dL/db1 (in s)
FORWARD = ("Z1", "H", "Z2", "P", "losses")    # what forward leaves in s for backward
# (B, D, H) of the networks the check runs: batch, inputs, hidden units; all differ, and from K = 10 classes.
# In the second, H and D are larger than B, so a product with a swapped operand reads past an array's end.
NETWORKS = ((6, 5, 4), (3, 7, 9))

# the seven steps, in the chain rule's order: (array written in s, kernel, inputs, what it is)
_STEPS = (
    ("dZ2", "xent_backward", ("P", "y"), "dZ2 = (P - onehot(y)) / B, the gradient at the logits"),
    ("W2", "matmul_tn", ("H", "dZ2"), "dW2 = H^T dZ2"),
    ("b2", "col_sums", ("dZ2",), "db2 = the column sums of dZ2"),
    ("dH", "matmul_nt", ("dZ2", "p.W2"), "dH = dZ2 W2^T"),
    ("dZ1", "relu_backward", ("dH", "Z1"), "dZ1 = dH where Z1 > 0, else 0"),
    ("W1", "matmul_tn", ("X", "dZ1"), "dW1 = X^T dZ1"),
    ("b1", "col_sums", ("dZ1",), "db1 = the column sums of dZ1"),
)
_WHAT = {"dZ2": "dZ2", "W2": "dW2", "b2": "db2", "dH": "dH", "dZ1": "dZ1", "W1": "dW1", "b1": "db1"}
_KERNELS = {
    "matmul": "matmul(A, B, C) computes C = A @ B",
    "matmul_tn": "matmul_tn(A, B, C) computes C = A^T @ B (it reads A[k, row]: no transpose is stored)",
    "matmul_nt": "matmul_nt(A, B, C) computes C = A @ B^T (it reads B[col, k])",
    "col_sums": "col_sums(A, out) writes out[col] = the sum of column col of A",
    "relu_backward": "relu_backward(dH, Z, dZ) writes dZ = dH where Z > 0, else 0",
    "xent_backward": "xent_backward(probs, labels, dlogits) writes (probs - onehot(labels)) / n",
}
_EXERCISE_OF = {"relu_backward": "06-relu-backward", "xent_backward": "06-xent-grad"}


def _host(a):
    return a.copy_to_host() if hasattr(a, "copy_to_host") and not isinstance(a, np.ndarray) else np.asarray(a)


def _put(dst, value):
    if isinstance(dst, np.ndarray):
        dst[...] = value
    else:                                           # a device array, in the simulator or on a GPU
        dst.copy_to_device(np.ascontiguousarray(value, dtype=dst.dtype))


def _backward_numpy(X, y, P, Z1, H, W2) -> dict:
    """Every array of the backward pass in float32: dZ2, dW2 (as "W2"), db2, dH, dZ1, dW1, db1."""
    B, K = P.shape
    g = {"dZ2": ((P - _onehot(y, K)) / np.float32(B)).astype(np.float32)}
    g["W2"] = H.T @ g["dZ2"]
    g["b2"] = g["dZ2"].sum(axis=0)
    g["dH"] = g["dZ2"] @ W2.T
    g["dZ1"] = np.where(Z1 > 0, g["dH"], np.float32(0))
    g["W1"] = X.T @ g["dZ1"]
    g["b1"] = g["dZ1"].sum(axis=0)
    return {k: np.asarray(v, np.float32) for k, v in g.items()}


def matmul_grads_reference(dC, A, B, dA, dB):
    """The backward rule of C = A @ B that notebook 06 plugs into PyTorch (section 8), in NumPy on the host
    (not kernels): writes dA = dC @ B.T and dB = A.T @ dC. NumPy or device arrays (simulator or GPU). The
    stand-in for the learner's `matmul_grads` (exercise 4's follow-up) until 06-backward has passed."""
    dC, A, B = _host(dC), _host(A), _host(B)
    _put(dA, dC @ B.T)
    _put(dB, A.T @ dC)


def backward_reference(X, y, p, s):
    """Notebook 06's backward pass, in NumPy on the host (not kernels): reads X, y, the weights p["W2"] and
    the forward values s["P"], s["Z1"], s["H"]; writes s["dZ2"], s["dH"], s["dZ1"] and the gradients
    s["W2"], s["b2"], s["W1"], s["b1"]. Device arrays (simulator or GPU) are copied to the host and back."""
    g = _backward_numpy(_host(X), _host(y), _host(s["P"]), _host(s["Z1"]), _host(s["H"]), _host(p["W2"]))
    for name, value in g.items():
        _put(s[name], value)


def _loss(X, y, w) -> float:
    """The mean softmax cross-entropy of the network with weights w, in whatever precision w has."""
    Z2 = np.maximum(X @ w["W1"] + w["b1"], 0) @ w["W2"] + w["b2"]
    m = Z2.max(axis=1, keepdims=True)
    return float(np.mean(np.log(np.exp(Z2 - m).sum(axis=1)) + m[:, 0] - Z2[np.arange(len(y)), y]))


def _finite_differences(X, y, p, eps=1e-5) -> dict:
    """Central differences (L(w + eps) - L(w - eps)) / 2 eps of the loss, weight by weight, in float64."""
    w = {k: v.astype(np.float64) for k, v in p.items()}
    X = X.astype(np.float64)
    out = {}
    for name in GRADIENTS:
        g = np.zeros_like(w[name])
        for idx in np.ndindex(w[name].shape):
            old = w[name][idx]
            w[name][idx] = old + eps
            up = _loss(X, y, w)
            w[name][idx] = old - eps
            down = _loss(X, y, w)
            w[name][idx] = old
            g[idx] = (up - down) / (2 * eps)
        out[name] = g
    return out


class _Net:
    """A small network, its forward values (NumPy, float32), its gradients, and their finite differences."""

    def __init__(self, rng, B, D, H, K):
        self.sizes = (B, D, H, K)
        while True:                                 # no Z1 near the kink of ReLU, some units on, some off
            X = rng.standard_normal((B, D)).astype(np.float32)
            p = {"W1": (rng.standard_normal((D, H)) * np.sqrt(2 / D)).astype(np.float32),
                 "b1": (0.1 * rng.standard_normal(H)).astype(np.float32),
                 "W2": (rng.standard_normal((H, K)) * np.sqrt(2 / H)).astype(np.float32),
                 "b2": (0.1 * rng.standard_normal(K)).astype(np.float32)}
            Z1 = X @ p["W1"] + p["b1"]
            if np.abs(Z1).min() > 0.05 and 0.25 < (Z1 > 0).mean() < 0.75:
                break
        y = rng.permutation(np.arange(B) % K).astype(np.int32)
        Hh = np.maximum(Z1, np.float32(0))
        Z2 = Hh @ p["W2"] + p["b2"]
        P = _softmax(Z2).astype(np.float32)
        losses = (-np.log(P[np.arange(B), y])).astype(np.float32)
        self.X, self.y, self.p = X, y, p
        self.forward = {"Z1": Z1, "H": Hh, "Z2": Z2, "P": P, "losses": losses}
        self.want = _backward_numpy(X, y, P, Z1, Hh, p["W2"])
        self.fd = _finite_differences(X, y, p)
        for name in GRADIENTS:                      # the reference itself agrees with finite differences
            if _fd_error(self.want[name], self.fd[name]) > 1e-3:
                raise RuntimeError(f"06-backward's own reference disagrees with finite differences on d{name}")

    def describe(self) -> str:
        B, D, H, K = self.sizes
        return f"a network with B = {B} images, D = {D} inputs, H = {H} hidden units and K = {K} classes"


def _fd_error(got, fd) -> float:
    return float(np.abs(got - fd).max() / max(np.abs(fd).max(), 1e-12)) if np.isfinite(got).all() else np.inf


class _KernelNotDone(Exception):
    """A kernel that backward launched raised NotImplementedError: its own exercise is not done."""


class _Grid2(tuple):
    asked = None


class _Grid1(int):
    asked = None


def _grid2(rows, cols):
    """The check's grid2: one block, as in the simulator (every kernel here loops with a grid stride, and the
    tracer runs one block fastest); the value remembers what it was asked for."""
    out = _Grid2((1, 1))
    out.asked = ("grid2", (rows, cols))
    return out


def _grid1(n):
    out = _Grid1(1)
    out.asked = ("grid1", (n,))
    return out


class _Launch:
    def __init__(self, name, args, griddim, problems, written):
        self.name, self.args, self.griddim = name, args, griddim
        self.asked = getattr(griddim, "asked", None)
        self.problems, self.written = problems, written


class _Launcher:
    """Stands in for a kernel in backward's globals: `k[grid, block](*args)` runs it under the tracer,
    on the CPU, and records the launch."""

    def __init__(self, name, kernel, log):
        self.name, self.kernel, self.log = name, kernel, log

    def __getitem__(self, config):
        from gpuviz.tracer.kernelsource import python_function
        from gpuviz.tracer.scheduler import trace

        griddim, blockdim = config[0], config[1]

        def launch(*args):
            try:
                t = trace(self.kernel, griddim, blockdim, *args)
            except NotImplementedError:
                raise _KernelNotDone(self.name) from None
            names = list(inspect.signature(python_function(self.kernel)).parameters)
            written = set()
            for i, (n, a) in enumerate(zip(names, args)):
                if isinstance(a, np.ndarray) and a.ndim and n in t.arrays and t.counts(n, "write").sum() > 0:
                    written.add(i)
            self.log.append(_Launch(self.name, args, griddim, list(t.problems), written))
        return launch


def _is_kernel(value) -> bool:
    from gpuviz.tracer.kernelsource import python_function

    if isinstance(value, (types.FunctionType, types.ModuleType, type)):
        return False
    try:
        return python_function(value) is not value and callable(getattr(value, "__getitem__", None))
    except Exception:  # noqa: BLE001 anything in a notebook's namespace: not a kernel
        return False


def _diverted(fn, log):
    """A copy of the learner's function whose kernel launches run under the tracer (see _Launcher)."""
    globs = dict(fn.__globals__)
    for name, value in fn.__globals__.items():
        if _is_kernel(value):
            globs[name] = _Launcher(name, value, log)
    for name, grid in (("grid2", _grid2), ("grid1", _grid1)):
        if isinstance(globs.get(name), types.FunctionType):      # the notebook's grid helpers
            globs[name] = grid
    globs.setdefault("BLOCK2", BLOCK2)              # the simulator's blocks, where the namespace has none
    globs.setdefault("BLOCK1", BLOCK1)
    return types.FunctionType(fn.__code__, globs, fn.__name__, fn.__defaults__, fn.__closure__)


def _close(got, want) -> bool:
    got = np.asarray(got)
    return got.shape == want.shape and bool(np.allclose(got, want, rtol=1e-4, atol=1e-6 * max(1, np.abs(want).max())))


def _backward_check(backward):
    if not isinstance(backward, types.FunctionType):
        return False, ("pass your function itself: gv.check(\"06-backward\", backward), where backward(X, y, p, s) "
                       f"writes the gradients into s; got {type(backward).__name__}.")
    rng = np.random.default_rng(SEED + 3)
    K = backward.__globals__.get("CLASSES", 10)
    K = K if isinstance(K, int) and 2 <= K <= 64 else 10
    nets = [_Net(rng, B, D, H, K) for B, D, H in NETWORKS]
    for net in nets:
        why = _one_network(backward, net)
        if why:
            return False, why
    n = sum(net.want[g].size for net in nets for g in GRADIENTS)
    return True, (f"all {n} weight gradients of {len(nets)} networks agree with NumPy and with finite "
                  "differences of the loss")


def _one_network(backward, net) -> str | None:
    log: list[_Launch] = []
    X, y = net.X.copy(), net.y.copy()
    p = {k: v.copy() for k, v in net.p.items()}
    s = {k: v.copy() for k, v in net.forward.items()}
    for name, value in net.want.items():            # NaN until written: "never written" shows
        s[name] = np.full(value.shape, np.nan, np.float32)
    try:
        _diverted(backward, log)(X, y, p, s)
    except _KernelNotDone as e:
        ex = _EXERCISE_OF.get(str(e))
        return (f"your backward launched {e}, whose body is still `raise NotImplementedError()`"
                + (f": finish exercise {ex} first (and run its check), then run this check again." if ex else "."))
    labels = {id(X): "X", id(y): "y"}
    labels |= {id(v): f'p["{k}"] (the weights {k})' for k, v in p.items()}
    labels |= {id(v): f's["{k}"]' + (f" ({_WHAT[k]})" if k in _WHAT and _WHAT[k] != k else "")
               for k, v in s.items()}
    arrays = {"X": X, "y": y, "p.W2": p["W2"]} | s
    where = f"on {net.describe()}"

    wrong = [g for g in GRADIENTS if not _close(s[g], net.want[g])]
    if wrong:
        names = ", ".join(_WHAT[g] for g in wrong[:-1]) + (" and " if len(wrong) > 1 else "") + _WHAT[wrong[-1]]
        head = f"{names} {'is' if len(wrong) == 1 else 'are'} wrong ({where}; compared with NumPy). "
        first = next(t for t, *_ in _STEPS if not _close(s[t], net.want[t]))
        return head + _diagnose(first, log, arrays, labels, s, net)

    for name, before, after in ([("X", net.X, X), ("y", net.y, y)] + [(f'p["{k}"]', net.p[k], p[k]) for k in p]
                                + [(f's["{k}"]', net.forward[k], s[k]) for k in FORWARD]):
        if not np.array_equal(before, after):
            return (f"the gradients are right, but backward changed {name}. backward only reads the weights, the "
                    "data and the forward values; it writes s[\"dZ2\"], s[\"dH\"], s[\"dZ1\"] and the gradients.")
    for g in GRADIENTS:
        err = _fd_error(s[g], net.fd[g])
        if err > 1e-3:
            return (f"d{g} disagrees with the finite differences of the loss by {err:.1e} of its largest "
                    f"value ({where}).")
    return _grid_problem(log, labels)


def _name(a, labels) -> str:
    return labels.get(id(a), f"an array of shape {getattr(a, 'shape', '?')}")


def _diagnose(t, log, arrays, labels, s, net) -> str:
    """Why s[t], the first wrong array along the chain rule, is wrong: read from the launches."""
    target, kernel, inputs, formula = next(step for step in _STEPS if step[0] == t)
    what = _WHAT[t]
    out = s[t]
    writers = [i for i, L in enumerate(log) if any(L.args[j] is out for j in L.written)]
    if not writers:
        if np.isnan(out).all():
            stray = [L for L in log if L.name == kernel and L.written
                     and not any(L.args[j] is arrays[u] for j in L.written for u, *_ in _STEPS)]
            if stray:
                dest = _name(stray[0].args[max(stray[0].written)], labels)
                return (f"{what} was never written: s[\"{t}\"] is still NaN. A {kernel} launch wrote into {dest} "
                        f"instead; {what} goes into s[\"{t}\"]"
                        + (" (p holds the weights, s the gradients)." if dest.startswith("p[") else "."))
            return (f"{what} was never written: s[\"{t}\"] is still NaN. Is a step missing? The backward pass is "
                    f"seven launches, one per step of the skeleton, and this one is {formula}.")
        return (f"{what} (s[\"{t}\"]) is wrong, yet no launch wrote into it: {formula}. "
                + mismatch(out, net.want[t], what, rtol=1e-4))
    k = writers[-1]
    L = log[k]
    got_in = [a for j, a in enumerate(L.args) if j not in L.written]
    want_in = [arrays[u] for u in inputs]
    if L.name != kernel:
        return _wrong_kernel(t, L.name, kernel, formula)
    if len(got_in) != len(want_in) or any(a is not b for a, b in zip(got_in, want_in)):
        return _wrong_arguments(t, L, got_in, want_in, labels, formula) + _oob(L)
    for u in inputs:                                # an input computed only after this launch read it
        later = [i for i, M in enumerate(log) if i > k and any(M.args[j] is arrays[u] for j in M.written)]
        if later and u in _WHAT:
            return (f"{what} was computed before {u}: launch {k + 1} ({kernel}) read s[\"{u}\"] while it was "
                    f"still unwritten, and launch {later[0] + 1} wrote it only afterwards. Follow the chain rule "
                    "from the loss backward, in the order of the skeleton's steps.")
    if L.problems:
        return f"launch {k + 1} ({kernel}): " + str(L.problems[0]) + _oob(L)
    if kernel in _EXERCISE_OF:
        return (f"launch {k + 1}, {kernel} into s[\"{t}\"], has the right arguments, so the kernel itself is "
                f"wrong: does {_EXERCISE_OF[kernel]} pass its check? " + mismatch(out, net.want[t], what, rtol=1e-4))
    return (f"launch {k + 1}, {kernel} into s[\"{t}\"], has the right arguments, yet {what} is wrong: is {kernel} "
            f"still the notebook's ({_KERNELS.get(kernel, '')})? " + mismatch(out, net.want[t], what, rtol=1e-4))


def _oob(L) -> str:
    bad = [q for q in L.problems if q.kind in ("out_of_bounds", "negative_index")]
    if not bad:
        return ""
    q = bad[0]
    at = f"{q.array}[{', '.join(map(str, q.index))}]" if q.index else q.array
    return (f" The shapes do not fit, either: {L.name} went past the end of its argument {q.array} ({at}); the "
            "tracer skipped that access, a GPU would read garbage or crash.")


def _wrong_kernel(t, got, kernel, formula) -> str:
    what = _WHAT[t]
    if kernel == "matmul_tn" and got == "matmul":
        first = "H" if t == "W2" else "X"
        return (f"{what} was computed with matmul, without the transpose: {formula} needs {first} transposed. "
                f"{_KERNELS['matmul']}; {_KERNELS['matmul_tn']}.")
    if kernel == "matmul_nt" and got == "matmul":
        return (f"dH was computed with matmul, without the transpose: {formula} needs W2 transposed. "
                f"{_KERNELS['matmul']}; {_KERNELS['matmul_nt']}.")
    if kernel == "matmul_tn" and got == "matmul_nt":
        return (f"{what} was computed with matmul_nt, which transposes the second operand; {formula} transposes "
                f"the first. {_KERNELS['matmul_tn']}.")
    if kernel == "matmul_nt" and got == "matmul_tn":
        return (f"dH was computed with matmul_tn, which transposes the first operand; {formula} transposes the "
                f"second. {_KERNELS['matmul_nt']}.")
    doc = f" {_KERNELS[got]}." if got in _KERNELS else ""
    return f"{what} was written by {got}, but {formula}.{doc}"


def _wrong_arguments(t, L, got_in, want_in, labels, formula) -> str:
    what = _WHAT[t]
    got_names = ", ".join(_name(a, labels) for a in got_in)
    doc = _KERNELS.get(L.name, "")
    if len(got_in) == len(want_in) and sorted(map(id, got_in)) == sorted(map(id, want_in)):
        return (f"{what}: the operands of {L.name} are in the wrong order ({got_names}). {doc}; "
                f"{formula}.")
    s_w2 = [a for a in got_in if labels.get(id(a), "").startswith('s["W2"]')]
    if t == "dH" and s_w2:
        return ('dH was computed from s["W2"], which holds the gradient dW2, not the weights: dH = dZ2 W2^T uses '
                'the weights p["W2"] (p holds the weights, s the gradients).')
    if t == "W1" and any(labels.get(id(a), "").startswith('s["H"]') for a in got_in):
        return ("dW1 was computed from H: the first layer's input is X, so dW1 = X^T dZ1 "
                "(H^T dZ2 was the second layer's dW2).")
    if t in ("W1", "b1") and any(labels.get(id(a), "").startswith('s["dH"]') for a in got_in):
        return (f"{what} was computed from dH, before ReLU's mask: the gradient reaches the first layer through "
                f"ReLU, so use dZ1: {formula}.")
    if t == "b2" and any(labels.get(id(a), "").startswith('s["dH"]') for a in got_in) or \
            t == "b1" and any(labels.get(id(a), "").startswith('s["dZ2"]') for a in got_in):
        return f"{what} sums the wrong array ({got_names}): {formula}; each bias gets its own layer's dZ."
    return f"{what} was computed by {L.name}({got_names}, ...), but {formula}. {doc}."


def _grid_problem(log, labels) -> str | None:
    """A launch whose grid was sized (grid2 / grid1) for an array of another shape than the one it writes."""
    for k, L in enumerate(log):
        if L.asked is None or not L.written:
            continue
        out = L.args[max(L.written)]
        fn, args = L.asked
        args = tuple(int(a) if isinstance(a, (int, np.integer)) else a for a in args)
        want = ("grid2", tuple(out.shape)) if out.ndim == 2 else ("grid1", (out.shape[0],))
        if (fn, args) == want:
            continue
        call = f"{want[0]}({', '.join(map(str, want[1]))})"
        got = f"{fn}({', '.join(map(str, args))})"
        return (f"the gradients are right, but launch {k + 1} ({L.name} into {_name(out, labels)}, shape "
                f"{tuple(out.shape)}) sized its grid with {got}; for that array it is {call}"
                + (" (rows first, then columns)" if out.ndim == 2 else "")
                + ". The values come out right anyway because every kernel here loops with a grid stride, which "
                  "covers the whole array with any grid (and in the simulator grid2 and grid1 always give one "
                  "block). On a GPU they size the grid for one thread per element of the shape they are given: "
                  "give them the shape of the array the kernel writes.")
    return None


CHECKS = {
    "06-relu-backward": (2, _relu_backward),
    "06-xent-grad": (2, _xent_grad),
    "06-sgd": (2, _sgd),
    "06-backward": (3, _backward_check),
}
