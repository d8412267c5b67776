"""The questionnaire at the end of every notebook: 3 to 6 conceptual questions, fastbook style, each with an
exact answer that a check can verify (a number, a letter among labelled options, or True/False).

`QUIZZES["NN-quiz"]` holds a lesson's questions; the notebook shows them with `markdown(ID)` (a `## Questionnaire`
cell) and the learner answers in a code cell that starts from `template(ID)`:

    answers = {1: 1024, 2: "b", 3: False}
    gv.check("01-quiz", answers)

A failed check names the questions that are not right yet and the section of the notebook to reread, never the
right answer. Numbers are compared with a tolerance where the question asks for a rounded value.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

POINTS = 1        # per questionnaire: a conceptual check, worth one exercise of the simplest kind
NOT_ANSWERED = (None, Ellipsis)


@dataclass(frozen=True)
class Question:
    text: str                               # markdown, without the number
    answer: object                          # a number, a bool, or a letter of `options`
    section: str                            # the notebook's heading that explains it (without the #s)
    options: tuple[tuple[str, str], ...] = ()   # (letter, text) for a choice
    rtol: float = 0.0                       # numbers: relative tolerance (0: exact, up to float rounding)

    @property
    def kind(self) -> str:
        if isinstance(self.answer, bool):
            return "bool"
        return "choice" if self.options else "number"

    @property
    def wants(self) -> str:
        return {"bool": "True or False",
                "choice": "one of the letters " + ", ".join(f'"{k}"' for k, _ in self.options),
                "number": "a number"}[self.kind]


def _choice(text, answer, section, *options):
    return Question(text, answer, section, tuple(zip("abcdef", options)))


# ---------------------------------------------------------------- the questions, notebook by notebook

_N01, _B01 = 1000, 192
_N13, _BLOCK13 = 1000, 256

QUIZZES: dict[str, list[Question]] = {
    "00-quiz": [
        Question("The arithmetic intensity of an $n \\times n$ float32 matrix multiply is $n/6$ FLOP per byte. "
                 "What is it, in FLOP per byte, for $n = 3072$?", 3072 / 6, "1. Counting the work"),
        _choice("Without a synchronization, a stopwatch around `torch.matmul` on GPU tensors measures:",
                "b", "3. The GPU, measured (or recorded)",
                "the multiply", "only the time to queue the work for the GPU",
                "the multiply plus the copies", "nothing: it raises an error"),
        _choice("The copies to and from the GPU cost $O(n^2)$, the multiply $O(n^3)$. As $n$ grows, the copies' "
                "share of the GPU's total time:", "b", "Where the time goes on the GPU",
                "grows", "shrinks", "stays the same"),
        _choice("Why are the GPU's time curves flat at small sizes?", "c", "Time and rate against size",
                "the GPU's memory is full", "the CPU is faster there",
                "a fixed cost per operation (launch and synchronization) outweighs the work",
                "Tensor Cores switch off for small matrices"),
        Question("True or False: a GPU that is faster than the CPU at one size is faster at every larger size too.",
                 False, "4. The crossover"),
    ],
    "01-quiz": [
        Question("How many threads does the launch `kernel[4, 256](...)` run?", 4 * 256,
                 "2. The same kernel with `@cuda.jit`"),
        Question(f"A kernel with a guard covers $n = {_N01}$ elements with {_B01} threads per block and the fewest "
                 "blocks that cover $n$. How many of its threads do nothing?",
                 -(-_N01 // _B01) * _B01 - _N01, "3. How many blocks? The guard"),
        Question("`saxpy_stride[2, 64]` runs a grid-stride loop over $n = 1000$ elements. How many elements does "
                 "the thread with global index 120 handle?", len(range(120, 1000, 2 * 64)), "5. Grid-stride loops"),
        Question("True or False: a GPU runs block 0 before block 1, so a kernel may rely on that order.", False,
                 "1. A kernel is a function of (block, thread)"),
        _choice("With `col, row = cuda.grid(2)` on a row-major image, the threads of a warp (consecutive "
                "`threadIdx.x`) handle:", "a", "7. A 2D grid on a real image",
                "neighbouring pixels of one row", "neighbouring pixels of one column",
                "the same pixel of different images", "pixels spread at random"),
        Question("What is the largest number of threads per block that a GPU accepts?", 1024,
                 "3. How many blocks? The guard"),
    ],
    "02-quiz": [
        Question("A loop launches a kernel 5 times with two NumPy arrays (`x` and `out`) as arguments. How many "
                 "host-device copies does Numba make in all?", 5 * 2 * 2, "Hidden copies"),
        Question("The 32 lanes of a warp read float32 elements 4 apart (lane $i$ reads element $4i$, aligned). How "
                 "many 32-byte sectors does the request touch?", 32 * 4 * 4 // 32,
                 "3. How a warp reads memory: coalescing"),
        Question("The 32 lanes of a warp read 32 neighbouring **float64** elements (aligned). How many 32-byte "
                 "sectors does the request touch?", 32 * 8 // 32, "3. How a warp reads memory: coalescing"),
        _choice("Which copy usually moves the most bytes per second?", "c", "2. Transfer bandwidth",
                "host to device from pageable memory", "host to device from pinned memory",
                "device to device, inside the GPU's memory", "they are all limited by PCIe alike"),
        Question("A kernel does 0.5 FLOP per byte. On a T4 (8,100 GFLOP/s, 320 GB/s), at most how many GFLOP/s "
                 "can it reach?", min(8100, 0.5 * 320), "4. Arithmetic intensity"),
    ],
    "03-quiz": [
        _choice("Many threads run `out[0] += x[i]` at once. What goes wrong?", "a",
                "1. Reduction, stage 1: one atomic per element",
                "a data race: some additions are lost", "an out-of-bounds access", "a shared-memory bank conflict",
                "nothing, the GPU serializes it"),
        Question("With `TPB = 128`, how many `cuda.syncthreads()` barriers does each thread of `sum_tree` pass?",
                 1 + int(math.log2(128)), "2. Reduction, stage 2: a tree in shared memory"),
        Question("True or False: the tree reduction without the barrier in its loop gave the right sum on your GPU "
                 "in a test, so it is correct.", False, "3. Reduction, stage 3: the missing barrier"),
        Question("A privatized histogram of 32 bins runs with 256 threads per block over $2^{20}$ elements, one "
                 "per thread. How many **global** atomic additions does it make in all?", 2**20 // 256 * 32,
                 "6. Histogram, stage 3: private histograms in shared memory"),
        Question("A sum of $n = 1{,}000{,}000$ elements, one per thread, adds each warp's total with one atomic "
                 "after the warp shuffles. How many atomics in all?", -(-1_000_000 // 32), "7. Warp shuffles"),
    ],
    "04-quiz": [
        Question("In the coalesced kernel, the 32 lanes of a warp read `A[row, k]` with the same `row` and `k`. "
                 "How many 32-byte sectors does that request touch?", 1, "How a warp reads memory"),
        _choice("`acc = 0.` then `acc += A[row, k] * B[k, col]` with float32 arrays. In which precision does the "
                "sum run on the GPU?", "b", "The evidence, part 2: the GPU code", "float32", "float64", "float16", "int32"),
        Question("A GPU has a peak of 20,000 GFLOP/s and 1,000 GB/s of bandwidth. What is the roofline's bound, "
                 "in GFLOP/s, for a kernel at 0.25 FLOP per byte?", min(20_000, 0.25 * 1000), "5. The roofline"),
        Question("True or False: a matrix multiply at its compulsory intensity for $n = 4096$ (about 683 FLOP per "
                 "byte) is memory-bound on a T4 (8,100 GFLOP/s, 320 GB/s).", 4096 / 6 < 8100 / 320,
                 "3. Counting FLOPs and bytes"),
        _choice("On which GPUs does the float64 trap cost the most time?", "b", "The evidence, part 2: the GPU code",
                "V100, A100 and H100", "T4, L4, A10 and GeForce cards", "every GPU alike",
                "none: GPUs compute float64 as fast as float32"),
    ],
    "05-quiz": [
        Question("With `TILE = 16`, by what factor does the tiled kernel cut the loads from global memory, "
                 "compared with the coalesced naive kernel?", 16, "1. Shared-memory tiles"),
        Question("How many `cuda.syncthreads()` does the tiled kernel need per step along $k$?", 2,
                 "1. Shared-memory tiles"),
        Question("True or False: in the tiled kernel, threads past the edge of $C$ may `return` at once.", False,
                 "1. Shared-memory tiles"),
        Question("A shared array padded to `(32, 33)` float32: lane $i$ of a warp reads `s[i, 5]`. How many passes "
                 "does the request take?", math.gcd(33, 32), "2. Shared-memory bank conflicts"),
        Question("In 2D register blocking with 8 x 8 outputs per thread, how many shared-memory loads does a "
                 "thread make per multiply-add?", (8 + 8) / (8 * 8), "4. Register blocking in two dimensions"),
        _choice("Which format keeps float32's exponent range but only 7 bits of mantissa?", "b", "6. Tensor Cores",
                "FP16", "BF16", "TF32", "FP64"),
    ],
    "06-quiz": [
        _choice("For $Z_1 = X W_1 + b_1$, which product gives $\\partial W_1$?", "a",
                "2. A network is matrix work", "$X^\\top \\partial Z_1$", "$\\partial Z_1 X^\\top$",
                "$\\partial Z_1 W_1^\\top$", "$X\\, \\partial Z_1$"),
        _choice("For $Z_2 = H W_2 + b_2$, which product gives $\\partial H$?", "c", "2. A network is matrix work",
                "$H^\\top \\partial Z_2$", "$W_2 \\partial Z_2$", "$\\partial Z_2 W_2^\\top$",
                "$\\partial Z_2^\\top H$"),
        Question("The stable softmax of the logits `[1000, 1001, 1002]` subtracts the row's maximum first. What is "
                 "the largest number it then passes to `exp`?", 0, "Softmax cross-entropy, without overflow"),
        Question("A batch of $B = 4$ rows; one row has probabilities $P = (0.1, 0.7, 0.2)$ and true class 1. What "
                 "is $\\partial Z_2$ at that row's class 1?", (0.7 - 1) / 4, "4. The backward pass: your kernels",
                 rtol=1e-6),
        Question("True or False: to train the network, the backward pass must also compute $\\partial X$, the "
                 "gradient of the input images.", False, "2. A network is matrix work"),
    ],
    "07-quiz": [
        Question("A correct timing of GPU work synchronizes how many times around the timed loop (after the "
                 "warm-up)?", 2, "2. Asynchronous execution, and timing it correctly"),
        Question("True or False: `xb.to(\"cuda\", non_blocking=True)` from an ordinary (pageable, not pinned) "
                 "tensor is queued like a kernel, and the CPU runs on at once.", False,
                 "3. Feeding the GPU: pinned memory and `non_blocking`"),
        _choice("What does a `GradScaler` do to protect float16 gradients?", "a",
                "5. Faster arithmetic: TF32 and mixed precision",
                "multiplies the loss by a large factor before `backward()`", "stores the gradients in float64",
                "rounds the weights to float16", "skips every other optimizer step"),
        Question("True or False: training in bfloat16 needs a `GradScaler` too.", False,
                 "5. Faster arithmetic: TF32 and mixed precision"),
        _choice("A 256 MiB GPU tensor is deleted with `del`, and `torch.cuda.empty_cache()` is not called. "
                "`torch.cuda.memory_reserved()`:", "b", "7. GPU memory: allocated and reserved",
                "drops by 256 MiB", "stays the same", "grows by 256 MiB", "drops to zero"),
    ],
    "08-quiz": [
        Question("A 5 x 5 convolution with stride 2 and no padding runs over a 28-pixel row. How many output "
                 "positions does it have?", (28 - 5) // 2 + 1, "1. A convolution is a matrix multiply"),
        Question("The im2col matrix of a 3 x 3 convolution over 16 input channels: how many rows does it have?",
                 16 * 3 * 3, "1. A convolution is a matrix multiply"),
        Question("How many FLOPs per image does a convolution with 32 filters of 16 x 3 x 3 do over 14 x 14 "
                 "output positions?", 2 * 32 * 16 * 3 * 3 * 14 * 14, "1. A convolution is a matrix multiply"),
        _choice("Which part of training memory grows with the batch size?", "d",
                "7. Batch size: throughput and memory", "parameters", "gradients", "optimizer state",
                "activations"),
        _choice("Why does the fast training loop keep the losses on the GPU until the end of the epoch?", "a",
                "4. Training fast", "`.item()` every step would make the CPU wait for the GPU each time",
                "the CPU cannot hold float32 values", "the losses are needed for the backward pass",
                "to save GPU memory"),
        _choice("`channels_last` stores an image batch as:", "b", "8. Mixed precision and `channels_last`",
                "(N, C, H, W)", "(N, H, W, C)", "(C, N, H, W)", "(H, W, N, C)"),
    ],
    "09-quiz": [
        _choice("Which part of an LSTM layer can be computed for all time steps at once?", "a",
                "2. Sequential in time, parallel in the batch", "the input projection $x_t W_{ih}^\\top + b_{ih}$",
                "the recurrent part $h_{t-1} W_{hh}^\\top$", "the cell state $c_t$", "none of them"),
        Question("`make_sequences` cuts 1001 character ids into sequences of 100. How many sequences does it make?",
                 (1001 - 1) // 100, "1. The text"),
        Question("A model that guesses uniformly among 65 characters: what is its loss in nats per character "
                 "(two decimals)?", math.log(65), "4. Training the language model", rtol=2e-3),
        Question("What is the perplexity of a model with a loss of 1.5 nats per character (two decimals)?",
                 math.exp(1.5), "4. Training the language model", rtol=2e-3),
        Question("True or False: sampling at temperature 0.5 gives more varied text than at 1.5.", False,
                 "5. Sampling with a temperature"),
    ],
    "10-quiz": [
        Question("Training in float32 with Adam: how many bytes per parameter do the parameters, gradients and "
                 "optimizer state take together?", 4 * (1 + 1 + 2), "1. Where the memory goes"),
        _choice("Gradient accumulation over $k$ micro-batches divides which part of the memory by about $k$?", "c",
                "4. Remedies, measured", "parameters", "optimizer state", "activations", "gradients"),
        _choice("What does activation checkpointing cost?", "a", "4. Remedies, measured",
                "about one extra forward pass of time", "twice the parameter memory",
                "a different result", "nothing at all"),
        _choice("The fixed part (parameters, gradients, optimizer state) alone does not fit on the GPU. What helps?",
                "c", "Summary", "a smaller batch", "gradient accumulation",
                "sharding the model over several GPUs", "calling `torch.cuda.empty_cache()`"),
        Question("True or False: after `torch.cuda.OutOfMemoryError`, the tensors of the failed step are freed as "
                 "soon as the error is raised.", False, "3. Predict the out-of-memory batch, then hit it"),
    ],
    "11-quiz": [
        _choice("A datasheet prints a Tensor Core rate \"with sparsity\". The dense rate, which ordinary training "
                "gets, is:", "a", "1. The spec table", "half of it", "the same", "twice it", "a quarter of it"),
        Question("What is the ridge point, in FLOP per byte, of a GPU with 100 TFLOP/s and 2 TB/s?",
                 100e12 / 2e12, "3. Every GPU's roofline, and where the workloads fall"),
        Question("The roofline's lower bound on the time, in seconds, of a step of $10^{12}$ FLOPs moving "
                 "$10^{10}$ bytes on that GPU (100 TFLOP/s, 2 TB/s)?", max(1e12 / 100e12, 1e10 / 2e12),
                 "3. Every GPU's roofline, and where the workloads fall", rtol=1e-6),
        Question("True or False: a 7-billion-parameter model trains with Adam in mixed precision (16 bytes per "
                 "parameter) on one 80 GB GPU, activations aside.", 7e9 * 16 <= 80e9, "4. Which GPU for this job?"),
        _choice("Tensor Cores raise the peak rate but not the bandwidth. More workloads therefore become:", "a",
                "3. Every GPU's roofline, and where the workloads fall", "memory-bound", "compute-bound",
                "neither: the bound does not change"),
    ],
    "12-quiz": [
        Question("A ring all-reduce of a 100 MB gradient over 4 processes: how many MB does each process send?",
                 2 * (4 - 1) / 4 * 100, "4. What an all-reduce costs", rtol=1e-6),
        Question("One process takes 100 ms per step; 4 processes with DDP, each at the same batch, take 125 ms per "
                 "step. What is the scaling efficiency (a fraction, not a percentage)?", 100 / 125,
                 "5. Scaling efficiency against the batch size", rtol=1e-6),
        Question("How many weights must processes send each other after each DDP step to keep their model copies "
                 "identical?", 0, "1. The idea: split the batch, average the gradients"),
        _choice("As the batch per process grows, DDP's scaling efficiency:", "a",
                "5. Scaling efficiency against the batch size", "rises", "falls", "stays the same"),
        Question("True or False: DDP lets you train a model whose training state does not fit on one GPU.", False,
                 "6. DDP, FSDP or a cluster?"),
    ],
    "13-quiz": [
        Question(f"A Triton kernel with `BLOCK = {_BLOCK13}` runs on the grid `(triton.cdiv({_N13}, BLOCK),)`. How "
                 "many lanes of the last program does the mask switch off?",
                 -(-_N13 // _BLOCK13) * _BLOCK13 - _N13, "1. One program per block"),
        _choice("The softmax kernel loads its masked lanes as:", "b", "2. Softmax: a fused reduction along rows",
                "0", "`-inf`", "1", "`nan`"),
        Question("A program computes a 64 x 64 tile of $C$ with `tl.dot` on float16 tiles. What is its arithmetic "
                 "intensity, in FLOP per byte, caches ignored?", 64 * 64 / (64 + 64),
                 "3. The tiled matmul with `tl.dot`"),
        Question("How many threads run one program launched with `num_warps=4`?", 4 * 32,
                 "3. The tiled matmul with `tl.dot`"),
        Question("True or False: accumulating a float16 `tl.dot` in a float16 accumulator is as accurate as in "
                 "float32.", False, "3. The tiled matmul with `tl.dot`"),
        _choice("With Triton 3.9, what does `tl.dot` compile to on a T4 (sm_75)?", "c",
                "What the compiler makes of it, for GPUs that are not here",
                "`mma` Tensor Core instructions", "`wgmma` instructions", "ordinary `fma.f32` multiply-adds"),
    ],
}


# ---------------------------------------------------------------- what the notebook shows

def markdown(exercise_id: str) -> str:
    """The `## Questionnaire` cell of a notebook: every question, numbered, with the kind of answer it wants."""
    qs = QUIZZES[exercise_id]
    lines = ["## Questionnaire", "",
             f"{len(qs)} questions on this notebook, to check that its main points stuck. Answer in the cell below, "
             "one entry per question: a number where a number is asked (`1024`, `0.25`), a letter for a choice "
             "(`\"b\"`), `True` or `False` for a statement. The check tells you which answers are not right yet "
             "and which section to reread, not the answers themselves.", ""]
    for i, q in enumerate(qs, 1):
        tag = {"bool": "True or False", "choice": "a letter", "number": "a number"}[q.kind]
        text = q.text.removeprefix("True or False: ")
        text = text[:1].upper() + text[1:]
        lines.append(f"{i}. {text} *({tag})*")
        lines += [f"   - ({k}) {v}" for k, v in q.options]
    return "\n".join(lines)


def template(exercise_id: str) -> str:
    """The answer cell's given part: one `None` per question, with the kind of answer it wants."""
    qs = QUIZZES[exercise_id]
    rows = [f"    {i}: None,{' ' * (3 - len(str(i)))}# {q.wants}" for i, q in enumerate(qs, 1)]
    return "answers = {\n" + "\n".join(rows) + "\n}"


def solution(exercise_id: str) -> str:
    """The answer cell's solution line."""
    return "answers = {" + ", ".join(f"{i}: {_literal(q.answer, q.rtol)}" for i, q in enumerate(QUIZZES[exercise_id], 1)) + "}"


def _literal(v, rtol: float = 0.0) -> str:
    """The answer as a learner types it: an integer where it is one, two decimals where the question asks so."""
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    if isinstance(v, float) and rtol >= 1e-3:
        v = round(v, 2)
    if isinstance(v, float):
        v = float(f"{v:.10g}")                 # (0.7 - 1) / 4 is written -0.075
    return f'"{v}"' if isinstance(v, str) else repr(v)


# ---------------------------------------------------------------- the check

def _is_number(v) -> bool:
    return (type(v) in (int, float) or isinstance(v, (np.integer, np.floating)) and type(v).__module__ == "numpy") \
        and not isinstance(v, (bool, np.bool_))


def _right(q: Question, v) -> bool | None:
    """True or False for an answer of the right kind, None for one of the wrong kind."""
    if q.kind == "bool":
        return (bool(v) is q.answer) if type(v) in (bool, np.bool_) else None
    if q.kind == "choice":
        if type(v) is not str:
            return None
        letter = v.strip().strip("()").strip().lower()
        return (letter == q.answer) if letter in dict(q.options) else None
    if not _is_number(v) or not math.isfinite(float(v)):
        return None
    want = float(q.answer)
    return math.isclose(float(v), want, rel_tol=max(q.rtol, 1e-9), abs_tol=1e-12)


def _numbers(ks: list[int]) -> str:
    ks = [str(k) for k in ks]
    return ks[0] if len(ks) == 1 else ", ".join(ks[:-1]) + " and " + ks[-1]


def _keys(answers: dict) -> dict | str:
    """{question number: answer}, accepting 1 or "1" as a key; or what is wrong with the keys."""
    out = {}
    for k, v in answers.items():
        if type(k) is int or isinstance(k, np.integer):
            out[int(k)] = v
        elif type(k) is str and k.strip().isdigit():
            out[int(k.strip())] = v
        else:
            return f"the keys of `answers` are the question numbers (1, 2, ...), got {k!r}."
    return out


def questionnaire(exercise_id: str):
    qs = QUIZZES[exercise_id]

    def check(answers):
        if not isinstance(answers, dict):
            return False, (f"`answers` should be a dict of {len(qs)} answers, {{1: ..., 2: ...}}, "
                           f"got {type(answers).__name__}.")
        got = _keys(answers)
        if isinstance(got, str):
            return False, got
        extra = sorted(set(got) - set(range(1, len(qs) + 1)))
        if extra:
            return False, f"there is no question {_numbers(extra)}: the questions are 1 to {len(qs)}."
        missing = [i for i in range(1, len(qs) + 1) if any(got.get(i) is x for x in NOT_ANSWERED)]
        if len(missing) == len(qs):
            return False, ("not done yet: replace each `None` in `answers` with your answer, then run this cell "
                           "and the check again.")
        if missing:
            return False, (f"question{'s' if len(missing) > 1 else ''} {_numbers(missing)} "
                           f"{'are' if len(missing) > 1 else 'is'} not answered yet (still None).")
        verdicts = {i: _right(q, got[i]) for i, q in enumerate(qs, 1)}
        badly = [i for i, ok in verdicts.items() if ok is None]
        if badly:
            return False, " ".join(f"Question {i} wants {qs[i - 1].wants}, got {type(got[i]).__name__} "
                                   f"{_shown(got[i])}." for i in badly)
        wrong = [i for i, ok in verdicts.items() if not ok]
        if not wrong:
            return True, f"{len(qs)} questions"
        where = "; ".join(f"question {i}: reread '{qs[i - 1].section}'" for i in wrong)
        return False, (f"{len(wrong)} of {len(qs)} answers are not right yet ({where}). Change "
                       f"{'them' if len(wrong) > 1 else 'it'} and check again.")

    check.__name__ = check.__qualname__ = f"questionnaire_{exercise_id.replace('-', '_')}"
    return check


def _shown(v) -> str:
    text = repr(v)
    return text if len(text) <= 30 else text[:27] + "..."


CHECKS = {ex_id: (POINTS, questionnaire(ex_id)) for ex_id in QUIZZES}
