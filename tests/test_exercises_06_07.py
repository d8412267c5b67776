"""Exercises of notebooks 06 and 07: for each, the stub fails, the solution passes, and every known
wrong answer is rejected with the right diagnosis. Kernels run under gpuviz's tracer (no GPU, no
simulator); the PyTorch exercises run on the CPU."""
import contextlib
import statistics
import time

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from numba import cuda, float32

from gpuviz.exercises import lesson06, lesson07
from gpuviz.exercises.check import NOT_DONE
from gpuviz.exercises.check import check as gv_check


# ---------------------------------------------------------------- 06-relu-backward
@cuda.jit
def stub3(a, b, c):
    raise NotImplementedError()


@cuda.jit
def relu_bwd_ok(dH, Z, dZ):
    c0, r0 = cuda.grid(2)
    sc, sr = cuda.gridsize(2)
    for row in range(r0, Z.shape[0], sr):
        for col in range(c0, Z.shape[1], sc):
            dZ[row, col] = dH[row, col] if Z[row, col] > float32(0.0) else float32(0.0)


@cuda.jit
def relu_bwd_multiply(dH, Z, dZ):          # also right: dH * (Z > 0)
    c0, r0 = cuda.grid(2)
    sc, sr = cuda.gridsize(2)
    for row in range(r0, Z.shape[0], sr):
        for col in range(c0, Z.shape[1], sc):
            dZ[row, col] = dH[row, col] * float32(Z[row, col] > float32(0.0))


@cuda.jit
def relu_bwd_no_mask(dH, Z, dZ):
    c0, r0 = cuda.grid(2)
    sc, sr = cuda.gridsize(2)
    for row in range(r0, Z.shape[0], sr):
        for col in range(c0, Z.shape[1], sc):
            dZ[row, col] = dH[row, col]


@cuda.jit
def relu_bwd_mask_on_dh(dH, Z, dZ):
    c0, r0 = cuda.grid(2)
    sc, sr = cuda.gridsize(2)
    for row in range(r0, Z.shape[0], sr):
        for col in range(c0, Z.shape[1], sc):
            dZ[row, col] = dH[row, col] if dH[row, col] > float32(0.0) else float32(0.0)


@cuda.jit
def relu_bwd_derivative_only(dH, Z, dZ):
    c0, r0 = cuda.grid(2)
    sc, sr = cuda.gridsize(2)
    for row in range(r0, Z.shape[0], sr):
        for col in range(c0, Z.shape[1], sc):
            dZ[row, col] = float32(1.0) if Z[row, col] > float32(0.0) else float32(0.0)


@cuda.jit
def relu_bwd_forward(dH, Z, dZ):
    c0, r0 = cuda.grid(2)
    sc, sr = cuda.gridsize(2)
    for row in range(r0, Z.shape[0], sr):
        for col in range(c0, Z.shape[1], sc):
            dZ[row, col] = max(Z[row, col], float32(0.0))


@cuda.jit
def relu_bwd_inverted(dH, Z, dZ):
    c0, r0 = cuda.grid(2)
    sc, sr = cuda.gridsize(2)
    for row in range(r0, Z.shape[0], sr):
        for col in range(c0, Z.shape[1], sc):
            dZ[row, col] = dH[row, col] if Z[row, col] <= float32(0.0) else float32(0.0)


@cuda.jit
def relu_bwd_no_stride(dH, Z, dZ):
    col, row = cuda.grid(2)
    if row < Z.shape[0] and col < Z.shape[1]:
        dZ[row, col] = dH[row, col] if Z[row, col] > float32(0.0) else float32(0.0)


@cuda.jit
def relu_bwd_shapes_swapped(dH, Z, dZ):
    c0, r0 = cuda.grid(2)
    sc, sr = cuda.gridsize(2)
    for row in range(r0, Z.shape[1], sr):
        for col in range(c0, Z.shape[0], sc):
            dZ[row, col] = dH[row, col] if Z[row, col] > float32(0.0) else float32(0.0)


@cuda.jit
def relu_bwd_in_place(dH, Z, dZ):
    c0, r0 = cuda.grid(2)
    sc, sr = cuda.gridsize(2)
    for row in range(r0, Z.shape[0], sr):
        for col in range(c0, Z.shape[1], sc):
            if Z[row, col] <= float32(0.0):
                dH[row, col] = float32(0.0)


# ---------------------------------------------------------------- 06-xent-grad
@cuda.jit
def xent_ok(probs, labels, dlogits):
    c0, r0 = cuda.grid(2)
    sc, sr = cuda.gridsize(2)
    n = probs.shape[0]
    for row in range(r0, n, sr):
        for col in range(c0, probs.shape[1], sc):
            target = float32(1.0) if col == labels[row] else float32(0.0)
            dlogits[row, col] = (probs[row, col] - target) / float32(n)


def xent_variant(body):
    """A wrong xent kernel; `body(p, t, n, k)` is the value written, `t` the one-hot target."""
    @cuda.jit
    def kernel(probs, labels, dlogits):
        c0, r0 = cuda.grid(2)
        sc, sr = cuda.gridsize(2)
        n = probs.shape[0]
        k = probs.shape[1]
        for row in range(r0, n, sr):
            for col in range(c0, k, sc):
                t = float32(1.0) if col == labels[row] else float32(0.0)
                dlogits[row, col] = body(probs[row, col], t, float32(n), float32(k))
    return kernel


xent_no_mean = xent_variant(lambda p, t, n, k: p - t)
xent_sign = xent_variant(lambda p, t, n, k: (t - p) / n)
xent_no_onehot = xent_variant(lambda p, t, n, k: p / n)
xent_by_classes = xent_variant(lambda p, t, n, k: (p - t) / k)
xent_minus_one_everywhere = xent_variant(lambda p, t, n, k: (p - float32(1.0)) / n)
xent_extra_factor = xent_variant(lambda p, t, n, k: (p - t) / n * p * (float32(1.0) - p))


@cuda.jit
def xent_no_stride(probs, labels, dlogits):
    col, row = cuda.grid(2)
    n = probs.shape[0]
    if row < n and col < probs.shape[1]:
        target = float32(1.0) if col == labels[row] else float32(0.0)
        dlogits[row, col] = (probs[row, col] - target) / float32(n)


@cuda.jit
def xent_in_place(probs, labels, dlogits):
    c0, r0 = cuda.grid(2)
    sc, sr = cuda.gridsize(2)
    n = probs.shape[0]
    for row in range(r0, n, sr):
        for col in range(c0, probs.shape[1], sc):
            target = float32(1.0) if col == labels[row] else float32(0.0)
            probs[row, col] = (probs[row, col] - target) / float32(n)
            dlogits[row, col] = probs[row, col]


# ---------------------------------------------------------------- 06-sgd
@cuda.jit
def sgd_ok(w, g, lr):
    for i in range(cuda.grid(1), w.size, cuda.gridsize(1)):
        w[i] -= lr * g[i]


def sgd_variant(body):
    @cuda.jit
    def kernel(w, g, lr):
        for i in range(cuda.grid(1), w.size, cuda.gridsize(1)):
            w[i] = body(w[i], g[i], lr)
    return kernel


sgd_ascent = sgd_variant(lambda w, g, lr: w + lr * g)
sgd_no_lr = sgd_variant(lambda w, g, lr: w - g)
sgd_replace = sgd_variant(lambda w, g, lr: -lr * g)
sgd_divide = sgd_variant(lambda w, g, lr: w - g / lr)
sgd_scaled = sgd_variant(lambda w, g, lr: w - lr * g * w)


@cuda.jit
def sgd_no_stride(w, g, lr):
    i = cuda.grid(1)
    if i < w.size:
        w[i] -= lr * g[i]


@cuda.jit
def sgd_no_guard(w, g, lr):
    i = cuda.grid(1)
    w[i] -= lr * g[i]


@cuda.jit
def sgd_off_by_one(w, g, lr):
    for i in range(cuda.grid(1), w.size + 1, cuda.gridsize(1)):
        w[i] -= lr * g[i]


@cuda.jit
def sgd_into_g(w, g, lr):
    for i in range(cuda.grid(1), w.size, cuda.gridsize(1)):
        g[i] = w[i] - lr * g[i]


# ---------------------------------------------------------------- 06-backward
# The notebook's namespace, as backward sees it: its kernels (under the notebook's names), grid helpers and
# sizes. grid2/grid1 compute a GPU's grid (one thread per element), so a grid sized for the wrong shape differs.
BLOCK2, BLOCK1, CLASSES = (4, 4), 16, 10


def grid2(rows, cols):
    return ((cols + BLOCK2[0] - 1) // BLOCK2[0], (rows + BLOCK2[1] - 1) // BLOCK2[1])


def grid1(n):
    return (n + BLOCK1 - 1) // BLOCK1


@cuda.jit
def matmul(A, B, C):
    c0, r0 = cuda.grid(2)
    sc, sr = cuda.gridsize(2)
    for row in range(r0, C.shape[0], sr):
        for col in range(c0, C.shape[1], sc):
            acc = float32(0.0)
            for k in range(A.shape[1]):
                acc += A[row, k] * B[k, col]
            C[row, col] = acc


@cuda.jit
def matmul_tn(A, B, C):
    c0, r0 = cuda.grid(2)
    sc, sr = cuda.gridsize(2)
    for row in range(r0, C.shape[0], sr):
        for col in range(c0, C.shape[1], sc):
            acc = float32(0.0)
            for k in range(A.shape[0]):
                acc += A[k, row] * B[k, col]
            C[row, col] = acc


@cuda.jit
def matmul_nt(A, B, C):
    c0, r0 = cuda.grid(2)
    sc, sr = cuda.gridsize(2)
    for row in range(r0, C.shape[0], sr):
        for col in range(c0, C.shape[1], sc):
            acc = float32(0.0)
            for k in range(A.shape[1]):
                acc += A[row, k] * B[col, k]
            C[row, col] = acc


@cuda.jit
def col_sums(A, out):
    for col in range(cuda.grid(1), A.shape[1], cuda.gridsize(1)):
        acc = float32(0.0)
        for row in range(A.shape[0]):
            acc += A[row, col]
        out[col] = acc


relu_backward, xent_backward = relu_bwd_ok, xent_ok       # the learner's checked kernels

BACKWARD_LINES = [
    'xent_backward[grid2(B, K), BLOCK2](s["P"], y, s["dZ2"])',
    'matmul_tn[grid2(H, K), BLOCK2](s["H"], s["dZ2"], s["W2"])',
    'col_sums[grid1(K), BLOCK1](s["dZ2"], s["b2"])',
    'matmul_nt[grid2(B, H), BLOCK2](s["dZ2"], p["W2"], s["dH"])',
    'relu_backward[grid2(B, H), BLOCK2](s["dH"], s["Z1"], s["dZ1"])',
    'matmul_tn[grid2(D, H), BLOCK2](X, s["dZ1"], s["W1"])',
    'col_sums[grid1(H), BLOCK1](s["dZ1"], s["b1"])',
]


def backward_variant(*changes, namespace=None):
    """backward(X, y, p, s) with line i replaced by text (None: removed; a list: several lines), for each
    (i, text) of changes; its globals are this module's (the kernels above) or `namespace`."""
    lines = list(BACKWARD_LINES)
    for i, text in changes:
        lines[i] = text
    body = []
    for line in lines:
        body += [] if line is None else line if isinstance(line, list) else [line]
    src = ("def backward(X, y, p, s):\n    B, H = s['Z1'].shape\n    D = X.shape[1]\n    K = s['Z2'].shape[1]\n"
           + "".join(f"    {line}\n" for line in body or ["pass"]))
    ns = {}
    exec(src, globals() if namespace is None else namespace, ns)
    return ns["backward"]


def backward_stub(X, y, p, s):
    B, H = s["Z1"].shape
    # YOUR CODE HERE
    raise NotImplementedError()


backward_ok = backward_variant()
backward_mask_from_h = backward_variant((4, 'relu_backward[grid2(B, H), BLOCK2](s["dH"], s["H"], s["dZ1"])'))
backward_classes = backward_variant(*[(i, line.replace("K)", "CLASSES)")) for i, line in enumerate(BACKWARD_LINES)])
backward_in_place = backward_variant(        # also right: dZ1 overwrites dH, element by element
    (4, 'relu_backward[grid2(B, H), BLOCK2](s["dH"], s["Z1"], s["dH"])'),
    (5, 'matmul_tn[grid2(D, H), BLOCK2](X, s["dH"], s["W1"])'), (6, 'col_sums[grid1(H), BLOCK1](s["dH"], s["b1"])'))
backward_reference_ok = lesson06.backward_reference
BACKWARD_WRONG = [
    (backward_variant((1, 'matmul[grid2(H, K), BLOCK2](s["H"], s["dZ2"], s["W2"])')),
     "dW2 was computed with matmul, without the transpose"),
    (backward_variant((5, 'matmul[grid2(D, H), BLOCK2](X, s["dZ1"], s["W1"])')),
     "dW1 was computed with matmul, without the transpose"),
    (backward_variant((3, 'matmul[grid2(B, H), BLOCK2](s["dZ2"], p["W2"], s["dH"])')),
     "needs W2 transposed"),
    (backward_variant((3, 'matmul_tn[grid2(B, H), BLOCK2](s["dZ2"], p["W2"], s["dH"])')),
     "transposes the first operand"),
    (backward_variant((1, 'matmul_tn[grid2(H, K), BLOCK2](s["dZ2"], s["H"], s["W2"])')),
     "operands of matmul_tn are in the wrong order"),
    (backward_variant((3, 'matmul_nt[grid2(B, H), BLOCK2](s["dZ2"], s["W2"], s["dH"])')),
     "holds the gradient dW2, not the weights"),
    (backward_variant((4, 'relu_backward[grid2(B, H), BLOCK2](s["Z1"], s["dH"], s["dZ1"])')),
     "operands of relu_backward are in the wrong order"),
    (backward_variant((5, 'matmul_tn[grid2(D, H), BLOCK2](s["H"], s["dZ1"], s["W1"])')),
     "dW1 was computed from H"),
    (backward_variant((5, 'matmul_tn[grid2(D, H), BLOCK2](X, s["dH"], s["W1"])')),
     "before ReLU's mask"),
    (backward_variant((6, 'col_sums[grid1(H), BLOCK1](s["dH"], s["b1"])')), "before ReLU's mask"),
    (backward_variant((2, 'col_sums[grid1(H), BLOCK1](s["dH"], s["b2"])')), "sums the wrong array"),
    (backward_variant((6, None)), "db1 was never written"),
    (backward_variant((2, None)), "db2 was never written"),
    (backward_variant((4, None)), "dZ1 was never written"),
    (backward_variant((1, 'matmul_tn[grid2(H, K), BLOCK2](s["H"], s["dZ2"], p["W2"])')),
     "p holds the weights, s the gradients"),
    (backward_variant((0, None), (2, [BACKWARD_LINES[2], BACKWARD_LINES[0]])), "dW2 was computed before dZ2"),
    (backward_variant((1, 'matmul_tn[grid2(K, H), BLOCK2](s["H"], s["dZ2"], s["W2"])')),
     "sized its grid with grid2(10, "),
    (backward_variant((5, 'matmul_tn[grid2(H, D), BLOCK2](X, s["dZ1"], s["W1"])')), "(rows first, then columns)"),
    (backward_variant((6, 'col_sums[grid1(B), BLOCK1](s["dZ1"], s["b1"])')), "for that array it is grid1("),
    (backward_variant((7 - 7, 'xent_backward[grid2(B, K), BLOCK2](s["P"], y, s["dZ2"])\n    s["P"][0, 0] = 0')),
     "backward changed s[\"P\"]"),
    (backward_variant(namespace=globals() | {"relu_backward": relu_bwd_no_mask}),
     "does 06-relu-backward pass its check?"),
    (backward_variant(namespace=globals() | {"relu_backward": stub3}), "finish exercise 06-relu-backward first"),
    (backward_variant(namespace=globals() | {"xent_backward": stub3}), "finish exercise 06-xent-grad first"),
    (42, "pass your function itself"),
]


@pytest.fixture(autouse=True)
def _first_try():
    """Each test starts as a fresh session: 07-hidden-syncs' feedback depends on the tries before."""
    lesson07.forget_tries()
    yield
    lesson07.forget_tries()


def check(ex_id, obj):
    """Through gv.check, as a learner's notebook calls it (not strict: a failure returns)."""
    assert ex_id in lesson06.CHECKS or ex_id in lesson07.CHECKS
    r = gv_check(ex_id, obj, strict=False)
    return r.passed, r.message


# exercise id -> (stub, [solutions], [(wrong answer, words the diagnosis must contain)])
CASES = {
    "06-relu-backward": (stub3, [relu_bwd_ok, relu_bwd_multiply], [
        (relu_bwd_no_mask, "also where Z <= 0"), (relu_bwd_mask_on_dh, "not from the incoming gradient"),
        (relu_bwd_derivative_only, "chain rule"), (relu_bwd_forward, "forward output"),
        (relu_bwd_inverted, "wrong way round"), (relu_bwd_no_stride, "grid stride"),
        (relu_bwd_shapes_swapped, "shape[0]"), (relu_bwd_in_place, "changed dH")]),
    "06-xent-grad": (stub3, [xent_ok], [
        (xent_no_mean, "MEAN over the batch"), (xent_sign, "sign is flipped"), (xent_no_onehot, "-1 at the true"),
        (xent_by_classes, "number of classes"), (xent_minus_one_everywhere, "every column"),
        (xent_extra_factor, "extra factor"), (xent_no_stride, "grid stride"), (xent_in_place, "changed probs")]),
    "06-sgd": (stub3, [sgd_ok], [
        (sgd_ascent, "uphill"), (sgd_no_lr, "learning rate is missing"), (sgd_replace, "replaces the weight"),
        (sgd_divide, "divided by the learning rate"), (sgd_scaled, "not lr * g[i] * w[i]"),
        (sgd_no_stride, "never written"), (sgd_no_guard, "grid stride"), (sgd_off_by_one, "Stop the loop at w.size"), (sgd_into_g, "went into g")]),
    "06-backward": (backward_stub, [backward_ok, backward_mask_from_h, backward_classes, backward_in_place,
                                     backward_reference_ok],
                    BACKWARD_WRONG),
}


# ---------------------------------------------------------------- 07-timing
def time_ok(fn, sync, repeats=10):
    fn()
    sync()
    t0 = time.perf_counter()
    for _ in range(repeats):
        fn()
    sync()
    return (time.perf_counter() - t0) / repeats


def time_ok_each(fn, sync, repeats=10):       # also right: sync every call, median
    fn()
    sync()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def time_stub(fn, sync, repeats=10):
    raise NotImplementedError()


def time_no_sync(fn, sync, repeats=10):
    fn()
    t0 = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - t0) / repeats


def time_no_warmup(fn, sync, repeats=10):
    sync()
    t0 = time.perf_counter()
    for _ in range(repeats):
        fn()
    sync()
    return (time.perf_counter() - t0) / repeats


def time_warmup_unsynced(fn, sync, repeats=10):
    fn()
    t0 = time.perf_counter()
    for _ in range(repeats):
        fn()
    sync()
    return (time.perf_counter() - t0) / repeats


def time_total(fn, sync, repeats=10):
    fn()
    sync()
    t0 = time.perf_counter()
    for _ in range(repeats):
        fn()
    sync()
    return time.perf_counter() - t0


def time_ms(fn, sync, repeats=10):
    return 1e3 * time_ok(fn, sync, repeats)


def time_fixed_repeats(fn, sync, repeats=10):
    return time_ok(fn, sync, 3)


def time_returns_nothing(fn, sync, repeats=10):
    time_ok(fn, sync, repeats)


# ---------------------------------------------------------------- 07-amp-step
def amp_stub(model, optimizer, scaler, x, y, dtype):
    raise NotImplementedError()


def amp_variant(autocast=True, dtype_override=None, scale=True, via_scaler=True, update=True, zero="start",
                update_first=False, ret=True):
    def step(model, optimizer, scaler, x, y, dtype):
        if zero == "start":
            optimizer.zero_grad()
        ctx = torch.autocast(device_type=x.device.type, dtype=dtype_override or dtype) if autocast \
            else contextlib.nullcontext()
        with ctx:
            loss = F.cross_entropy(model(x), y)
        (scaler.scale(loss) if scale else loss).backward()
        if zero == "late":
            optimizer.zero_grad()
        if update_first:
            scaler.update()
        if via_scaler:
            scaler.step(optimizer)
        else:
            optimizer.step()
        if update and not update_first:
            scaler.update()
        return loss.detach() if ret else None
    return step


amp_ok = amp_variant()
amp_no_autocast = amp_variant(autocast=False)
amp_fp16 = amp_variant(dtype_override=torch.float16)
amp_unscaled = amp_variant(scale=False)
amp_optimizer_step = amp_variant(via_scaler=False)
amp_no_update = amp_variant(update=False)
amp_no_zero = amp_variant(zero=None)
amp_zero_late = amp_variant(zero="late")
amp_update_first = amp_variant(update_first=True)
amp_no_return = amp_variant(ret=False)


def amp_item(model, optimizer, scaler, x, y, dtype):      # also right: returns a float
    return float(amp_ok(model, optimizer, scaler, x, y, dtype).item())


CASES.update({
    "07-timing": (time_stub, [time_ok, time_ok_each], [
        (time_no_sync, "no sync() after the last call"), (time_no_warmup, "no warm-up"),
        (time_warmup_unsynced, "still queued"), (time_total, "divide by repeats"), (time_ms, "milliseconds"),
        (time_fixed_repeats, "`repeats` times"), (time_returns_nothing, "returned None")]),
    "07-amp-step": (amp_stub, [amp_ok, amp_item], [
        (amp_no_autocast, "without autocast"), (amp_fp16, "pass dtype=dtype"), (amp_unscaled, "unscaled loss"),
        (amp_optimizer_step, "SCALED gradients"), (amp_no_update, "scaler.update() is missing"),
        (amp_no_zero, "never reset"), (amp_zero_late, "after the backward pass"),
        (amp_update_first, "before scaler.step"), (amp_no_return, "returned None")]),
    "07-hidden-syncs": (None, [{"B", "C", "F", "G", "H"}, "BCFGH", ["b", "c", "f", "g", "h"]], [
        ({"B", "C", "F", "G"}, "1 of 10 lines judged wrong (1 that waits is missing)"),
        ({"B", "C", "F", "G", "H", "E"}, "1 of 10 lines judged wrong (1 you marked does not wait)"),
        ({"B", "F", "G", "H"}, "1 of 10"), ({"B", "C", "F", "G", "H", "I"}, "1 of 10"),
        ({"C", "D", "F", "G", "H"}, "2 of 10 lines judged wrong (1 you marked does not wait and 1 that waits is"),
        ({"B", "C", "F", "G", "H", "Z"}, "no such line"), (42, "set of letters"),
        ({"A", "B", "C", "D", "E", "F", "G", "H", "I", "J"}, "5 of 10 lines")]),
})


@pytest.mark.parametrize("ex_id", CASES)
def test_stub_fails(ex_id):
    ok, msg = check(ex_id, CASES[ex_id][0])
    assert not ok and msg


@pytest.mark.parametrize("ex_id,i", [(e, i) for e, c in CASES.items() for i in range(len(c[1]))])
def test_solution_passes(ex_id, i):
    ok, msg = check(ex_id, CASES[ex_id][1][i])
    assert ok, msg


WRONG = [(ex_id, i) for ex_id, case in CASES.items() for i in range(len(case[2]))]


@pytest.mark.parametrize("ex_id,i", WRONG, ids=[f"{e}-{i}" for e, i in WRONG])
def test_wrong_answer_is_diagnosed(ex_id, i):
    wrong, words = CASES[ex_id][2][i]
    ok, msg = check(ex_id, wrong)
    assert not ok
    assert words in msg, msg


# ---------------------------------------------------------------- 07-hidden-syncs: progressive feedback
EXPLAINED = {k: why for k, (_, _, why) in lesson07.SYNC_LINES.items()}


def _explained(msg):
    return sorted(k for k, why in EXPLAINED.items() if why in msg)


@pytest.mark.parametrize("answer", [w for w, _ in CASES["07-hidden-syncs"][2] if isinstance(w, set)])
def test_hidden_syncs_first_try_gives_no_answer_away(answer):
    ok, msg = check("07-hidden-syncs", answer)
    assert not ok and _explained(msg) == [], msg
    assert not any(f"{k} (`" in msg for k in lesson07.SYNC_LINES), msg


def test_hidden_syncs_reveals_one_line_per_new_try():
    everything = set(lesson07.SYNC_LINES)                  # 5 lines wrong: A, D, E, I, J do not wait
    ok, msg = check("07-hidden-syncs", everything)
    assert not ok and msg.startswith("5 of 10 lines judged wrong (5 you marked do not wait)") and not _explained(msg)
    assert "each new try explains one more line" in msg
    ok, msg = check("07-hidden-syncs", everything)          # the same answer again: nothing new
    assert _explained(msg) == []
    ok, msg = check("07-hidden-syncs", everything - {"A"})  # a new try: one line explained
    assert _explained(msg) == ["D"] and "D (`z = torch.relu(y)`) does not wait" in msg and "3 more to find" in msg
    ok, msg = check("07-hidden-syncs", everything - {"A", "J"})
    assert _explained(msg) == ["D", "E"] and "1 more to find" in msg
    ok, msg = check("07-hidden-syncs", {"B", "C", "F", "G"})   # 1 wrong, tries enough to explain it
    assert _explained(msg) == ["H"] and "H (`if (y > 0).any(): ...`) does wait" in msg and "more to find" not in msg
    assert check("07-hidden-syncs", {"B", "C", "F", "G", "H"}) == (True, "")
    lesson07.forget_tries()                                  # a fresh session starts over
    assert _explained(check("07-hidden-syncs", {"B", "C", "F", "G"})[1]) == []


def test_the_notebooks_backward_passes_and_its_student_stub_is_not_done():
    """The solution cell of 06-backward, run in this namespace (the notebook's kernels, with a GPU's grids),
    passes; its student version (seven stubbed steps) says 'not done'. The cell's follow-up, matmul_grads
    (section 8's backward rule), writes dC @ B.T and A.T @ dC; its stub raises; the package's stand-in is right."""
    import json
    from pathlib import Path

    from gpuviz.course.student import strip_source

    def grads_right(grads):
        r = np.random.default_rng(0)
        A, B, dC = (r.standard_normal(s).astype(np.float32) for s in ((5, 3), (3, 7), (5, 7)))
        dA, dB = np.full_like(A, np.nan), np.full_like(B, np.nan)
        lesson06._diverted(grads, [])(dC, A, B, dA, dB)      # its launches run under the tracer
        return np.allclose(dA, dC @ B.T, rtol=1e-5, atol=1e-5) and np.allclose(dB, A.T @ dC, rtol=1e-5, atol=1e-5)

    nb = json.loads((Path(__file__).resolve().parents[1] / "course/solutions/06_network_from_kernels.ipynb").read_text())
    cell, = [c for c in nb["cells"] if c["metadata"].get("nbgrader", {}).get("grade_id") == "06-backward-solution"]
    source = "".join(cell["source"])
    for text, passes in ((source, True), (strip_source(source), False)):
        ns = {}
        exec(text, globals(), ns)
        ok, msg = check("06-backward", ns["backward"])
        assert ok == passes, msg
        assert passes or msg == NOT_DONE
        if passes:
            assert grads_right(ns["matmul_grads"])
        else:
            with pytest.raises(NotImplementedError):
                grads_right(ns["matmul_grads"])
    assert grads_right(lesson06.matmul_grads_reference)
    # one raise per function (backward's first step; its later steps keep only the comment), one in matmul_grads
    assert strip_source(source).count("raise NotImplementedError()") == 2
    assert "# 6. dW1" in strip_source(source)           # the skeleton's steps stay in the student version
