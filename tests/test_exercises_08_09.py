"""Exercises of notebooks 08-09: the stub fails (as "not done yet"), the solution passes, and every known
wrong answer, written the way a learner would write it, is rejected with the right diagnosis."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from gpuviz.exercises import lesson08, lesson09
from gpuviz.exercises.check import NOT_DONE
from gpuviz.exercises.check import check as gv_check


def stub(*args):
    raise NotImplementedError()


# ---------------- 08-im2col (learners' versions: loops over output positions)
def im2col_loops(x, k, stride=1, padding=0, order="ckk", transpose=False, use_pad=True, use_stride=True):
    n, c, h, w = x.shape
    p = padding if use_pad else 0
    s = stride if use_stride else 1
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    oh, ow = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
    out = np.zeros((n, c * k * k, oh * ow), x.dtype)
    for r in range(oh):
        for q in range(ow):
            patch = xp[:, :, r * s:r * s + k, q * s:q * s + k]          # (n, c, k, k)
            if order == "kkc":
                patch = patch.transpose(0, 2, 3, 1)
            elif order == "ckk_t":
                patch = patch.transpose(0, 1, 3, 2)
            out[:, :, r * ow + q] = patch.reshape(n, -1)
    return out.transpose(0, 2, 1) if transpose else out


def im2col_ok(x, k, stride=1, padding=0):
    return im2col_loops(x, k, stride, padding)


def im2col_kkc(x, k, stride=1, padding=0):
    return im2col_loops(x, k, stride, padding, order="kkc")


def im2col_patch_t(x, k, stride=1, padding=0):
    return im2col_loops(x, k, stride, padding, order="ckk_t")


def im2col_rows(x, k, stride=1, padding=0):
    return im2col_loops(x, k, stride, padding, transpose=True)


def im2col_no_pad(x, k, stride=1, padding=0):
    return im2col_loops(x, k, stride, padding, use_pad=False)


def im2col_no_stride(x, k, stride=1, padding=0):
    return im2col_loops(x, k, stride, padding, use_stride=False)


def im2col_unfold(x, k, stride=1, padding=0):          # the library call is a right answer too
    return F.unfold(torch.from_numpy(x), k, stride=stride, padding=padding).numpy()


# ---------------- 08-out-size
def size_ok(n, k, stride=1, padding=0):
    return (n + 2 * padding - k) // stride + 1


def size_no_plus_one(n, k, stride=1, padding=0):
    return (n + 2 * padding - k) // stride


def size_true_div(n, k, stride=1, padding=0):
    return (n + 2 * padding - k) / stride + 1


def size_ceil(n, k, stride=1, padding=0):
    import math
    return math.ceil((n + 2 * padding - k) / stride) + 1


def size_pad_once(n, k, stride=1, padding=0):
    return (n + padding - k) // stride + 1


def size_no_pad(n, k, stride=1, padding=0):
    return (n - k) // stride + 1


def size_no_stride(n, k, stride=1, padding=0):
    return n + 2 * padding - k + 1


def size_no_kernel(n, k, stride=1, padding=0):
    return (n + 2 * padding) // stride


# ---------------- 08-train-step
def step_ok(model, x, y, optimizer):
    optimizer.zero_grad()
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    optimizer.step()
    return loss.item()


def step_set_to_none_false(model, x, y, optimizer):
    optimizer.zero_grad(set_to_none=False)
    out = model(x)
    loss = F.cross_entropy(out, y)
    loss.backward()
    optimizer.step()
    return float(loss.detach())


def step_no_zero_grad(model, x, y, optimizer):
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    optimizer.step()
    return loss.item()


def step_no_step(model, x, y, optimizer):
    optimizer.zero_grad()
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    return loss.item()


def step_zero_before_step(model, x, y, optimizer):
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    optimizer.zero_grad()
    optimizer.step()
    return loss.item()


def step_double_softmax(model, x, y, optimizer):
    optimizer.zero_grad()
    loss = F.cross_entropy(F.softmax(model(x), dim=1), y)
    loss.backward()
    optimizer.step()
    return loss.item()


def step_nll(model, x, y, optimizer):
    optimizer.zero_grad()
    loss = F.nll_loss(model(x), y)
    loss.backward()
    optimizer.step()
    return loss.item()


def step_sum(model, x, y, optimizer):
    optimizer.zero_grad()
    loss = F.cross_entropy(model(x), y, reduction="sum")
    loss.backward()
    optimizer.step()
    return loss.item()


def step_returns_tensor(model, x, y, optimizer):
    optimizer.zero_grad()
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    optimizer.step()
    return loss


def step_loss_after(model, x, y, optimizer):
    optimizer.zero_grad()
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    optimizer.step()
    with torch.no_grad():
        return F.cross_entropy(model(x), y).item()


# ---------------- 09-lstm-cell (learners' versions: four weight slices)
def cell_generic(x, h, c, W_ih, W_hh, b_ih, b_hh, order="ifgo", g_fn=torch.tanh, out_tanh=True, b2=True,
                 swap=False):
    H = h.shape[1]
    pre = x @ W_ih.T + b_ih + h @ W_hh.T + (b_hh if b2 else 0)
    gate = {name: pre[:, j * H:(j + 1) * H] for j, name in enumerate(order)}
    i, f, o = torch.sigmoid(gate["i"]), torch.sigmoid(gate["f"]), torch.sigmoid(gate["o"])
    g = g_fn(gate["g"])
    c_new = i * c + f * g if swap else f * c + i * g
    h_new = o * torch.tanh(c_new) if out_tanh else o * c_new
    return h_new, c_new


def cell_ok(x, h, c, W_ih, W_hh, b_ih, b_hh):
    xh, W = torch.cat([x, h], dim=1), torch.cat([W_ih, W_hh], dim=1)      # (B, I+H), (4H, I+H)
    i, f, g, o = (xh @ W.T + b_ih + b_hh).chunk(4, dim=1)
    c_new = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c_new), c_new


def cell_linear(x, h, c, W_ih, W_hh, b_ih, b_hh):                          # F.linear: one addmm
    pre = F.linear(torch.cat([x, h], 1), torch.cat([W_ih, W_hh], 1), b_ih + b_hh)
    H = h.shape[1]
    i, f, g, o = (pre[:, k * H:(k + 1) * H] for k in range(4))
    c_new = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c_new), c_new


def cell_two_matmuls(x, h, c, W_ih, W_hh, b_ih, b_hh):                    # the equations transcribed
    return cell_generic(x, h, c, W_ih, W_hh, b_ih, b_hh)


def cell_per_gate(x, h, c, W_ih, W_hh, b_ih, b_hh):                       # eight products, one per block
    H = h.shape[1]
    pre = [x @ W_ih[k * H:(k + 1) * H].T + h @ W_hh[k * H:(k + 1) * H].T for k in range(4)]
    i, f, g, o = (p + b_ih[k * H:(k + 1) * H] + b_hh[k * H:(k + 1) * H] for k, p in enumerate(pre))
    c_new = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c_new), c_new


def cell_library(x, h, c, W_ih, W_hh, b_ih, b_hh):                        # nn.LSTMCell's own function
    hc = torch._VF.lstm_cell(x, (h, c), W_ih, W_hh, b_ih, b_hh)
    return hc[0], hc[1]


def cell_ifog(x, h, c, W_ih, W_hh, b_ih, b_hh):
    return cell_generic(x, h, c, W_ih, W_hh, b_ih, b_hh, order="ifog")


def cell_figo(x, h, c, W_ih, W_hh, b_ih, b_hh):
    return cell_generic(x, h, c, W_ih, W_hh, b_ih, b_hh, order="figo")


def cell_sigmoid_g(x, h, c, W_ih, W_hh, b_ih, b_hh):
    return cell_generic(x, h, c, W_ih, W_hh, b_ih, b_hh, g_fn=torch.sigmoid)


def cell_no_tanh(x, h, c, W_ih, W_hh, b_ih, b_hh):
    return cell_generic(x, h, c, W_ih, W_hh, b_ih, b_hh, out_tanh=False)


def cell_one_bias(x, h, c, W_ih, W_hh, b_ih, b_hh):
    return cell_generic(x, h, c, W_ih, W_hh, b_ih, b_hh, b2=False)


def cell_swapped(x, h, c, W_ih, W_hh, b_ih, b_hh):
    return cell_generic(x, h, c, W_ih, W_hh, b_ih, b_hh, swap=True)


def cell_untransposed(x, h, c, W_ih, W_hh, b_ih, b_hh):
    pre = (torch.cat([W_ih, W_hh], 1) @ torch.cat([x, h], 1).T).T + b_ih + b_hh     # a correct alternative
    i, f, g, o = pre.chunk(4, 1)
    c_new = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c_new), c_new


def cell_only_h(x, h, c, W_ih, W_hh, b_ih, b_hh):
    return cell_ok(x, h, c, W_ih, W_hh, b_ih, b_hh)[0]


def cell_no_hidden(x, h, c, W_ih, W_hh, b_ih, b_hh):
    pre = x @ W_ih.T + b_ih + b_hh
    i, f, g, o = pre.chunk(4, 1)
    c_new = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c_new), c_new


# ---------------- 09-sequences
def seq_ok(ids, seq_len):
    ids = np.asarray(ids)
    n = (len(ids) - 1) // seq_len
    xs = [ids[i * seq_len:(i + 1) * seq_len] for i in range(n)]
    ys = [ids[i * seq_len + 1:(i + 1) * seq_len + 1] for i in range(n)]
    return np.array(xs).reshape(n, seq_len), np.array(ys).reshape(n, seq_len)


def seq_no_shift(ids, seq_len):
    x, _ = seq_ok(ids, seq_len)
    return x, x.copy()


def seq_swapped(ids, seq_len):
    x, y = seq_ok(ids, seq_len)
    return y, x


def seq_transposed(ids, seq_len):
    x, y = seq_ok(ids, seq_len)
    return x.T, y.T


def seq_chunks(ids, seq_len):
    ids = np.asarray(ids)
    n = len(ids) // (seq_len + 1)
    chunks = ids[:n * (seq_len + 1)].reshape(n, seq_len + 1)
    return chunks[:, :-1], chunks[:, 1:]


def seq_sliding(ids, seq_len):
    ids = np.asarray(ids)
    x = np.array([ids[i:i + seq_len] for i in range(len(ids) - seq_len)])
    y = np.array([ids[i + 1:i + 1 + seq_len] for i in range(len(ids) - seq_len)])
    return x, y


def seq_too_many(ids, seq_len):
    ids = np.asarray(ids)
    n = len(ids) // seq_len                          # the last target runs past the end
    return ids[:n * seq_len].reshape(n, seq_len), ids[1:n * seq_len + 1].reshape(n, seq_len)


# ---------------- 09-temperature
def temp_ok(logits, temperature):
    z = logits / temperature
    z = z - z.max(dim=-1, keepdim=True).values
    e = torch.exp(z)
    return e / e.sum(dim=-1, keepdim=True)


def temp_power(logits, temperature):                 # p ** (1/T), renormalized: the same distribution
    p = torch.softmax(logits, dim=-1) ** (1 / temperature)
    return p / p.sum(dim=-1, keepdim=True)


def temp_times(logits, temperature):
    return torch.softmax(logits * temperature, dim=-1)


def temp_ignored(logits, temperature):
    return torch.softmax(logits, dim=-1)


def temp_exp_only(logits, temperature):
    return torch.exp(logits / temperature)


def temp_overflow(logits, temperature):
    e = torch.exp(logits / temperature)
    return e / e.sum(dim=-1, keepdim=True)


def temp_dim0(logits, temperature):
    return torch.softmax(logits / temperature, dim=0)


def temp_numpy(logits, temperature):                  # NumPy output: accepted
    z = np.asarray(logits, dtype=np.float64) / temperature
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


# ---------------- 08-extrapolate (learners' versions)
def extra_ok(images_per_s, flop_per_image, target_flop_per_image, images_per_epoch, epochs):
    rate = images_per_s * flop_per_image                    # FLOP/s reached by the measured run
    return epochs * images_per_epoch * target_flop_per_image / rate


def extra_steps(images_per_s, flop_per_image, target_flop_per_image, images_per_epoch, epochs):
    target_images_per_s = images_per_s * flop_per_image / target_flop_per_image
    return epochs * (images_per_epoch / target_images_per_s)


def extra_no_flops(images_per_s, flop_per_image, target_flop_per_image, images_per_epoch, epochs):
    return epochs * images_per_epoch / images_per_s


def extra_ratio_inverted(images_per_s, flop_per_image, target_flop_per_image, images_per_epoch, epochs):
    return epochs * images_per_epoch / images_per_s * flop_per_image / target_flop_per_image


def extra_one_epoch(images_per_s, flop_per_image, target_flop_per_image, images_per_epoch, epochs):
    return images_per_epoch * target_flop_per_image / (images_per_s * flop_per_image)


def extra_no_images(images_per_s, flop_per_image, target_flop_per_image, images_per_epoch, epochs):
    return epochs * target_flop_per_image / (images_per_s * flop_per_image)


def extra_hours(images_per_s, flop_per_image, target_flop_per_image, images_per_epoch, epochs):
    return extra_ok(images_per_s, flop_per_image, target_flop_per_image, images_per_epoch, epochs) / 3600


def extra_days(images_per_s, flop_per_image, target_flop_per_image, images_per_epoch, epochs):
    return extra_ok(images_per_s, flop_per_image, target_flop_per_image, images_per_epoch, epochs) / 86400


def extra_no_own_flops(images_per_s, flop_per_image, target_flop_per_image, images_per_epoch, epochs):
    return epochs * images_per_epoch * target_flop_per_image / images_per_s


def extra_rounded(images_per_s, flop_per_image, target_flop_per_image, images_per_epoch, epochs):
    return round(extra_ok(images_per_s, flop_per_image, target_flop_per_image, images_per_epoch, epochs) / 3600) * 3600


# exercise id -> (solutions, [(wrong answer, words the diagnosis must contain)])
CASES = {
    "08-im2col": ([im2col_ok, im2col_unfold, lesson08.im2col_reference], [
        (im2col_kkc, "(channel, kernel row, kernel column)"), (im2col_patch_t, "kernel transposed"),
        (im2col_rows, "transposed: return shape (N, C·k·k, L)"), (im2col_no_pad, "padding is ignored"),
        (im2col_no_stride, "stride is ignored")]),
    "08-out-size": ([size_ok], [
        (size_no_plus_one, "add 1"), (size_true_div, "floor (//)"), (size_ceil, "rounds up"),
        (size_pad_once, "both sides"), (size_no_pad, "padding is ignored"), (size_no_stride, "stride is ignored"),
        (size_no_kernel, "kernel size is missing")]),
    "08-train-step": ([step_ok, step_set_to_none_false, lesson08.train_step_reference], [
        (step_no_zero_grad, "zero_grad() before"), (step_no_step, "call optimizer.step()"),
        (step_zero_before_step, "between loss.backward() and optimizer.step()"),
        (step_double_softmax, "softmax twice"), (step_nll, "log-probabilities"), (step_sum, "summed"),
        (step_returns_tensor, "loss.item()"), (step_loss_after, "computed before the update")]),
    "08-extrapolate": ([extra_ok, extra_steps, lesson08.extrapolate_seconds_reference], [
        (extra_no_flops, "The FLOPs are missing"), (extra_ratio_inverted, "upside down"),
        (extra_one_epoch, "epochs are missing"), (extra_no_images, "images per epoch are missing"),
        (extra_hours, "in hours"), (extra_days, "in days"), (extra_no_own_flops, "flop_per_image is missing"),
        (extra_rounded, "expected")]),
    "09-lstm-cell": ([cell_ok, cell_linear, cell_untransposed, lesson09.lstm_cell_reference], [
        (cell_two_matmuls, "two matrix products per step"), (cell_per_gate, "8 matrix products"),
        (cell_library, "two matrix products per step"),
        (cell_ifog, "input, forget, cell (g), output"), (cell_figo, "input and forget gates are mixed up"),
        (cell_sigmoid_g, "not sigmoid"), (cell_no_tanh, "passes through tanh"), (cell_one_bias, "b_hh is missing"),
        (cell_swapped, "c_new = f * c + i * g"), (cell_only_h, "pair (h_new, c_new)"),
        (cell_no_hidden, "differ from nn.LSTMCell")]),
    "09-sequences": ([seq_ok, lesson09.make_sequences_reference], [
        (seq_no_shift, "shifted by one"), (seq_swapped, "swapped"), (seq_transposed, "transposed"),
        (seq_chunks, "chunks of T+1"), (seq_sliding, "overlap"), (seq_too_many, "your code raised ValueError")]),
    "09-temperature": ([temp_ok, temp_power, temp_numpy, lesson09.softmax_temperature_reference], [
        (temp_times, "multiplied by the temperature"), (temp_ignored, "temperature is ignored"),
        (temp_exp_only, "sum to 1"), (temp_overflow, "overflows"), (temp_dim0, "wrong axis")]),
}

CHECKS = {**lesson08.CHECKS, **lesson09.CHECKS}


def run(ex_id, obj):
    return CHECKS[ex_id][1](obj)


# value checks (answers, not functions): exercise id -> (the template, the right answers, [(wrong, words)])
REALTIME_TEMPLATE = {1: None, 2: None, 3: None}
VALUE_CASES = {
    "09-realtime": (REALTIME_TEMPLATE, [{1: "b", 2: "c", 3: False}, {1: " B", 2: "c", 3: False}], [
        ({1: "a", 2: "c", 3: False}, "ridge point"),                 # the GPU's peak FLOP rate bounds it
        ({1: "c", 2: "c", 3: False}, "weights stay on the GPU"),
        ({1: "d", 2: "c", 3: False}, "softmax over 65 characters"),
        ({1: "b", 2: "a", 3: False}, "lanes idle"),                   # 64 times the rows, 64 times the time
        ({1: "b", 2: "b", 3: False}, "same weights"),
        ({1: "b", 2: "d", 3: False}, "never make a step faster"),
        ({1: "b", 2: "c", 3: True}, "Throughput and latency are different"),
        ({1: "b", 2: "c", 3: "False"}, "True or False"),              # a string, not a bool
        ({1: "b", 2: "c", 3: 0}, "True or False"),
        ({1: "e", 2: "c", 3: False}, "letters 'a' to 'd'"),
        ({1: "b", 2: None, 3: False}, "question 2: still None"),
        ({1: "b", 2: "c"}, "keys [1, 2, 3]"),
        (["b", "c", False], "should be a dict"),
    ]),
}


def test_every_exercise_has_a_bank():
    assert set(CASES) | set(VALUE_CASES) == set(CHECKS)


@pytest.mark.parametrize("ex_id", VALUE_CASES)
def test_value_check_template_stub_right_and_wrong(ex_id):
    template, rights, bank = VALUE_CASES[ex_id]
    r = gv_check(ex_id, template, strict=False)
    assert not r.passed and "not done yet" in r.message and r.points == 0
    r = gv_check(ex_id, stub, strict=False)                 # a function is not an answer
    assert not r.passed and r.points == 0
    for right in rights:
        r = gv_check(ex_id, right, strict=True)
        assert r.passed and r.points == CHECKS[ex_id][0]
    for wrong, words in bank:
        r = gv_check(ex_id, wrong, strict=False)
        assert not r.passed and r.points == 0, wrong
        assert words in r.message, (wrong, r.message)
    # every right answer of a wrong question is never revealed: the letter asked is not named in the message
    r = gv_check(ex_id, {1: "a", 2: "a", 3: False}, strict=False)
    assert "question 1" in r.message and "question 2" in r.message and "'b'" not in r.message


@pytest.mark.parametrize("ex_id", CASES)
def test_stub_is_not_done(ex_id):
    result = gv_check(ex_id, stub, strict=False)
    assert not result.passed and result.message == NOT_DONE and result.points == 0


SOLVED = [(e, f) for e, (sols, _) in CASES.items() for f in sols]


@pytest.mark.parametrize("ex_id,fn", SOLVED, ids=[f"{e}-{f.__name__}" for e, f in SOLVED])
def test_solution_passes(ex_id, fn):
    ok, msg = run(ex_id, fn)
    assert ok, msg
    result = gv_check(ex_id, fn, strict=True)
    assert result.passed and result.points == CHECKS[ex_id][0]


WRONG = [(e, w, words) for e, (_, bank) in CASES.items() for w, words in bank]


@pytest.mark.parametrize("ex_id,wrong,words", WRONG, ids=[f"{e}-{w.__name__}" for e, w, _ in WRONG])
def test_wrong_answer_is_diagnosed(ex_id, wrong, words):
    result = gv_check(ex_id, wrong, strict=False)
    assert not result.passed and result.points == 0
    assert words in result.message, result.message


@pytest.mark.parametrize("ex_id", CASES)
def test_not_a_function(ex_id):
    ok, msg = run(ex_id, 42)
    assert not ok and "expected the function" in msg


def test_references_agree_with_torch():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 7, 6)).astype(np.float32)
    for k, s, p in ((3, 1, 1), (2, 2, 0), (3, 2, 1)):
        want = F.unfold(torch.from_numpy(x), k, stride=s, padding=p).numpy()
        np.testing.assert_array_equal(lesson08.im2col_reference(x, k, s, p), want)
        assert lesson08.conv_out_size_reference(7, k, s, p) * lesson08.conv_out_size_reference(6, k, s, p) == want.shape[-1]
    logits = torch.randn(3, 10)
    torch.testing.assert_close(lesson09.softmax_temperature_reference(logits, 1.0), torch.softmax(logits, -1))
