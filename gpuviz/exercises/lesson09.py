"""Exercises of notebook 09, a character-level LSTM on tiny shakespeare: an LSTM cell checked against
nn.LSTMCell, cutting a text into training sequences, softmax with a temperature, and a prediction of what
limits generating text in real time (batch 1 against batch 64), made before the notebook measures it."""
from __future__ import annotations

import numpy as np

from gpuviz.exercises.check import FunctionExercise

SEED = 900


# ---------------------------------------------------------------- 09-lstm-cell

def lstm_cell_reference(x, h, c, W_ih, W_hh, b_ih, b_hh):
    """One LSTM step in PyTorch's layout: gates = [x, h] [W_ih, W_hh]ᵀ + b_ih + b_hh, one matrix product
    for all four gates of both inputs, split in the order input, forget, cell (g), output."""
    import torch

    gates = torch.cat([x, h], dim=1) @ torch.cat([W_ih, W_hh], dim=1).T + b_ih + b_hh   # ONE product
    i, f, g, o = gates.chunk(4, dim=1)
    i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
    c_new = f * c + i * g
    return o * torch.tanh(c_new), c_new


_MATMULS = {"aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm", "aten::mv", "aten::addmv", "aten::dot",
            "aten::vdot", "aten::addbmm", "aten::_addmm_activation"}


def _count_matmuls(fn, args) -> int:
    """How many matrix products (ATen mm, addmm, bmm, mv, dot, ...) one call of fn(*args) runs: `@`,
    torch.matmul, F.linear and einsum all end in one of them."""
    from torch.utils._python_dispatch import TorchDispatchMode

    class _Count(TorchDispatchMode):
        n = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            if func._schema.name in _MATMULS:
                self.n += 1
            return func(*args, **(kwargs or {}))

    counter = _Count()
    with counter:
        fn(*args)
    return counter.n


def _cell_variant(order="ifgo", g_act="tanh", h_tanh=True, hidden_bias=True):
    import torch

    def cell(x, h, c, W_ih, W_hh, b_ih, b_hh):
        gates = x @ W_ih.T + b_ih + h @ W_hh.T + (b_hh if hidden_bias else 0)
        parts = dict(zip(order, gates.chunk(4, dim=1)))
        i, f, g, o = (torch.sigmoid(parts["i"]), torch.sigmoid(parts["f"]),
                      torch.tanh(parts["g"]) if g_act == "tanh" else torch.sigmoid(parts["g"]), torch.sigmoid(parts["o"]))
        c_new = f * c + i * g
        return (o * torch.tanh(c_new) if h_tanh else o * c_new), c_new

    return cell


CELL_MISTAKES = [
    (dict(order="ifog"), "The gates are split in the wrong order: PyTorch stacks them as input, forget, cell (g), "
                         "output: `i, f, g, o = gates.chunk(4, dim=1)`."),
    (dict(order="figo"), "The input and forget gates are mixed up (in the split, or in the update): PyTorch stacks "
                         "the gates as input, forget, cell (g), output, and c_new = f * c + i * g."),
    (dict(g_act="sigmoid"), "The candidate g goes through tanh, not sigmoid: it is a value in (-1, 1) to write "
                            "into the cell, not a gate."),
    (dict(h_tanh=False), "h_new = o * tanh(c_new): the cell state passes through tanh before the output gate."),
    (dict(hidden_bias=False), "b_hh is missing: PyTorch's LSTM has two biases, b_ih and b_hh, and adds both."),
]


def _cell_cases():
    import torch

    g = torch.Generator().manual_seed(SEED)
    cases = []
    for b, n_in, n_h in ((1, 1, 1), (3, 5, 4), (2, 7, 6), (4, 3, 8)):
        cell = torch.nn.LSTMCell(n_in, n_h)
        with torch.no_grad():
            for p in cell.parameters():
                p.copy_(torch.randn(p.shape, generator=g))
        x, h, c = (torch.randn(b, n, generator=g) for n in (n_in, n_h, n_h))
        cases.append((cell, x, h, c))
    return cases


def _lstm_cell(fn):
    import torch

    if not callable(fn):
        return False, f"expected the function lstm_cell, got {type(fn).__name__}."
    cases = _cell_cases()
    for cell, x, h, c in cases:
        args = (x, h, c, cell.weight_ih.detach(), cell.weight_hh.detach(), cell.bias_ih.detach(), cell.bias_hh.detach())
        with torch.no_grad():
            want_h, want_c = cell(x, (h, c))
            got = fn(*args)
        if not (isinstance(got, tuple) and len(got) == 2):
            return False, f"lstm_cell must return a pair (h_new, c_new), got {type(got).__name__}."
        got_h, got_c = got
        shape = tuple(want_h.shape)
        if tuple(got_h.shape) != shape or tuple(got_c.shape) != shape:
            return False, (f"for a batch of {x.shape[0]}, input size {x.shape[1]} and hidden size {h.shape[1]}, "
                           f"h_new and c_new must have shape {shape}; got {tuple(got_h.shape)} and "
                           f"{tuple(got_c.shape)}.")
        ok_h = torch.allclose(got_h, want_h, rtol=1e-4, atol=1e-5)
        ok_c = torch.allclose(got_c, want_c, rtol=1e-4, atol=1e-5)
        if ok_h and ok_c:
            continue
        for kw, why in CELL_MISTAKES:
            wh, wc = _cell_variant(**kw)(*args)
            if torch.allclose(got_h, wh, rtol=1e-4, atol=1e-5) and torch.allclose(got_c, wc, rtol=1e-4, atol=1e-5):
                return False, why
        which = "h_new and c_new" if not (ok_h or ok_c) else ("h_new" if not ok_h else "c_new")
        err = max(float((got_h - want_h).abs().max()), float((got_c - want_c).abs().max()))
        return False, (f"{which} differ from nn.LSTMCell's (batch {x.shape[0]}, input {x.shape[1]}, hidden "
                       f"{h.shape[1]}; largest difference {err:.3g}).")
    cell, x, h, c = cases[-1]
    with torch.no_grad():
        n = _count_matmuls(fn, (x, h, c, cell.weight_ih.detach(), cell.weight_hh.detach(), cell.bias_ih.detach(),
                                cell.bias_hh.detach()))
    if n == 2:
        return False, ("the values match nn.LSTMCell, with two matrix products per step (x by W_ih, h by W_hh). "
                       "The exercise asks for one: concatenate x and h along the features, (B, I + H), and the "
                       "weights to match, (4H, I + H), then multiply once.")
    if n > 2:
        return False, (f"the values match nn.LSTMCell, with {n} matrix products per step: one per gate or per weight "
                       "block. Use the stacked weights as PyTorch stores them (all four gates in one 4H-row matrix), "
                       "and x and h side by side, for a single product.")
    if n == 0:
        return False, ("the values match nn.LSTMCell, but no matrix product ran (an elementwise multiply and a sum, "
                       "or nn.LSTMCell itself?): compute the gates with one matrix product, `@`.")
    return True, f"{len(cases)} cells match nn.LSTMCell, one matrix product per step"


# ---------------------------------------------------------------- 09-sequences

def make_sequences_reference(ids, seq_len):
    """Cut a 1-D array of token ids into non-overlapping inputs x (n, seq_len) and targets y, the next
    token at each position: x[i] = ids[i*T : i*T+T], y[i] = ids[i*T+1 : i*T+T+1], n = (len-1) // T."""
    ids = np.asarray(ids)
    n = (len(ids) - 1) // seq_len
    x = ids[:n * seq_len].reshape(n, seq_len)
    y = ids[1:n * seq_len + 1].reshape(n, seq_len)
    return x, y


def _seq_cases(rng):
    cases = [(np.arange(10), 3), (np.arange(9), 3), (np.arange(7), 6), (np.arange(2), 1), (np.arange(12), 4)]
    for _ in range(5):
        n = int(rng.integers(20, 300))
        cases.append((rng.integers(0, 65, n), int(rng.integers(2, 20))))
    return cases


def _chunks_of_t_plus_1(ids, seq_len):
    ids = np.asarray(ids)
    n = len(ids) // (seq_len + 1)
    blocks = ids[:n * (seq_len + 1)].reshape(n, seq_len + 1)
    return blocks[:, :-1], blocks[:, 1:]


def _sliding(ids, seq_len):
    ids = np.asarray(ids)
    n = len(ids) - seq_len
    x = np.stack([ids[i:i + seq_len] for i in range(n)]) if n > 0 else np.zeros((0, seq_len), ids.dtype)
    y = np.stack([ids[i + 1:i + seq_len + 1] for i in range(n)]) if n > 0 else np.zeros((0, seq_len), ids.dtype)
    return x, y


_SEQUENCES = FunctionExercise(
    "make_sequences", make_sequences_reference, _seq_cases, seed=SEED + 1, mistakes=[
        (lambda ids, t: (make_sequences_reference(ids, t)[0], make_sequences_reference(ids, t)[0]),
         "y equals x: the target at each position is the *next* character, ids shifted by one."),
        (lambda ids, t: (make_sequences_reference(ids, t)[1], make_sequences_reference(ids, t)[0]),
         "x and y are swapped: x is the input (ids[i*T : i*T+T]), y the next characters."),
        (lambda ids, t: tuple(a.T for a in make_sequences_reference(ids, t)),
         "The result is transposed: return shape (number of sequences, seq_len), one sequence per row."),
        (_chunks_of_t_plus_1,
         "That cuts chunks of T+1 characters, so one character per chunk is never a target. Let consecutive "
         "sequences follow each other directly: x[i] starts at i*T, and n = (len(ids) - 1) // T."),
        (_sliding,
         "That takes every window (stride 1), so sequences overlap and each character is trained on T times "
         "per epoch. Cut non-overlapping sequences: x[i] starts at i*T."),
    ])


# ---------------------------------------------------------------- 09-temperature

def softmax_temperature_reference(logits, temperature):
    import torch

    return torch.softmax(logits / temperature, dim=-1)


def _temp_cases():
    import torch

    g = torch.Generator().manual_seed(SEED + 2)
    cases = [(torch.tensor([0.0, 0.0]), 1.0), (torch.tensor([1.0, 2.0, 3.0]), 1.0),
             (torch.tensor([1.0, 2.0, 3.0]), 0.5), (torch.tensor([1.0, 2.0, 3.0]), 2.0),
             (torch.tensor([1000.0, 999.0, 990.0]), 0.8), (torch.tensor([-1000.0, -1001.0]), 1.0)]
    cases += [(torch.randn(65, generator=g) * 3, t) for t in (0.3, 0.7, 1.5)]
    cases.append((torch.randn(4, 65, generator=g) * 3, 0.6))          # a batch: one distribution per row
    return cases


TEMP_MISTAKES = [
    (lambda z, t: _torch_softmax(z * t), "The logits are multiplied by the temperature; divide them: "
                                         "softmax(logits / T). A low temperature must sharpen the distribution."),
    (lambda z, t: _torch_softmax(z), "The temperature is ignored: divide the logits by it before the softmax."),
    (lambda z, t: _torch_exp(z / t), "The probabilities do not sum to 1: divide by the sum (softmax, not just exp)."),
    (lambda z, t: _torch_softmax(z / t, dim=0), "The softmax runs over the wrong axis: over the last one "
                                                "(dim=-1), one distribution per row of a batch."),
]


def _torch_softmax(x, dim=-1):
    import torch

    return torch.softmax(x, dim=dim)


def _torch_exp(x):
    import torch

    return torch.exp(x)


def _temperature(fn):
    import torch

    if not callable(fn):
        return False, f"expected the function softmax_temperature, got {type(fn).__name__}."
    cases = _temp_cases()
    for logits, t in cases:
        want = softmax_temperature_reference(logits, t)
        got = fn(logits.clone(), t)
        if not isinstance(got, torch.Tensor):
            got = torch.as_tensor(np.asarray(got), dtype=want.dtype)
        shown = f"softmax_temperature({_short(logits)}, {t})"
        if got.shape != want.shape:
            return False, f"{shown} has shape {tuple(got.shape)}, expected {tuple(want.shape)}."
        if torch.allclose(got.to(want.dtype), want, rtol=1e-4, atol=1e-6):
            continue
        if torch.isnan(got).any() or torch.isinf(got).any():
            return False, (f"{shown} gives nan or inf: exp(1000) overflows. Subtract the largest logit before "
                           "exp (softmax does not change), or use torch.softmax.")
        for wrong, why in TEMP_MISTAKES:
            w = wrong(logits, t)
            if w.shape == got.shape and torch.allclose(got.to(w.dtype), w, rtol=1e-4, atol=1e-6, equal_nan=True):
                return False, why
        return False, f"{shown} returned {_short(got)}, expected {_short(want)}."
    return True, f"{len(cases)} cases"


def _short(t) -> str:
    return np.array2string(np.asarray(t, dtype=np.float64), precision=4, threshold=6, edgeitems=2)


# ---------------------------------------------------------------- 09-realtime

# question -> (right answer, {wrong answer: why}); the answers are asked before section 7 measures them
REALTIME = {
    1: ("b", {"a": "At batch 1 each step is a matrix-vector product, about 2 FLOPs per 4-byte weight read: far "
                   "below any GPU's ridge point, so its arithmetic takes a tiny share of the time.",
              "c": "The weights stay on the GPU between steps: only one character id goes in, and one row of "
                   "scores comes out.",
              "d": "The softmax over 65 characters is a few hundred FLOPs, tiny next to the LSTM's products."}),
    2: ("c", {"a": "That would hold if the GPU were busy at batch 1. A 1-row matrix product leaves almost all of "
                   "its lanes idle; 64 rows fill more of them in about the same time.",
              "b": "The GPU reads the same weights and launches the same kernels for 1 row or for 64; only the "
                   "arithmetic grows, and at this size it is not what the time is spent on.",
              "d": "More rows never make a step faster; the question is how much slower."}),
    3: (False, {True: "Throughput and latency are different questions: a GPU can finish 64 characters per step "
                      "much sooner per character and still take longer than a CPU for the single next one."}),
}
_KINDS = {1: "a letter", 2: "a letter", 3: "True or False"}


def _realtime(answers):
    if not isinstance(answers, dict):
        return False, f"`answers` should be a dict {{1: ..., 2: ..., 3: ...}}, got {type(answers).__name__}."
    if set(answers) != set(REALTIME):
        return False, f"`answers` should have the keys {sorted(REALTIME)}, got {sorted(answers, key=str)}."
    if all(v is None for v in answers.values()):
        return False, "not done yet: replace each None in `answers` with your prediction, then run this cell again."
    wrong = []
    for q, (right, whys) in REALTIME.items():
        v = answers[q]
        v = v.strip().lower() if isinstance(v, str) else v
        if v is None:
            wrong.append(f"question {q}: still None ({_KINDS[q]})")
        elif q == 3 and not isinstance(v, (bool, np.bool_)):
            wrong.append(f"question {q}: answer True or False, not {v!r}")
        elif q != 3 and v not in ("a", "b", "c", "d"):
            wrong.append(f"question {q}: answer one of the letters 'a' to 'd', not {v!r}")
        elif v != right:
            wrong.append(f"question {q}: {whys.get(bool(v) if q == 3 else v, 'not this one.')}")
    if wrong:
        return False, "; ".join(wrong)
    return True, "3 predictions right: section 7 measures them"


CHECKS = {
    "09-lstm-cell": (3, _lstm_cell),
    "09-sequences": (2, _SEQUENCES),
    "09-temperature": (2, _temperature),
    "09-realtime": (1, _realtime),
}
