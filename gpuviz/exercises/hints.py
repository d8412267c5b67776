"""Progressive hints: `gv.hint("01-saxpy")` shows the next hint of an exercise, one per call.

Every exercise worth 2 points or more has 2 to 4 hints in HINTS, from general (what does each thread
own?) to specific (which comparison guards it), never the solution's code; `tests/test_hints.py`
holds every hint against the solution regions of `course/solutions/`. After the last hint, a call says
there are no more and where the idea is explained (SEE). `gv.hint(ID, n)` shows hint n again.

Hints are written against the mistakes each exercise's check diagnoses (gpuviz/exercises/lessonNN.py).
"""
from __future__ import annotations

__all__ = ["HINTS", "SEE", "hint", "reset"]

HINTS: dict[str, list[str]] = {
    # ---- 00 why GPUs
    "00-flops": [
        "How many entries does C have, and how long is the dot product behind each one?",
        "Each of the k steps of a dot product is one multiply and one add: count them as two FLOPs, not one.",
        "Multiply the three counts: outputs × steps per output × FLOPs per step. Check by hand: m = n = k = 1 "
        "is one multiply and one add.",
    ],
    "00-bytes": [
        "At the very least each matrix travels once: A and B are read, C is written. How many elements does "
        "each one have?",
        "A is m × k, B is k × n, C is m × n. C is only written, so it counts once, not twice.",
        "That sum counts elements; memory moves bytes. Multiply by the `itemsize` argument, do not assume 4.",
    ],
    "00-crossover": [
        "The GPU must win at a size AND at every larger size. From which end of the lists is that easiest "
        "to see?",
        "Walk from the largest size down. While the GPU is faster, remember that size; at the first size where "
        "it is not (GPU time >= CPU time), stop.",
        "Return an element of `sizes`, not a position in the list, and `None` when the GPU does not win at "
        "the largest size.",
    ],
    # ---- 01 threads, blocks and grids
    "01-saxpy": [
        "Which element does each thread own? Its index over the whole grid, not only its position inside "
        "its block.",
        "`cuda.grid(1)` gives that index (blockIdx.x * blockDim.x + threadIdx.x). The grid is rounded up to "
        "whole blocks, so the last threads have no element.",
        "Only threads whose index is below `out.size` may touch the arrays; each of them writes one element of "
        "`out` from `a`, `x[i]` and `y[i]`, and leaves x and y unchanged.",
    ],
    "01-grayscale": [
        "SAXPY in two dimensions: one thread per pixel. `cuda.grid(2)` returns (x, y), and x is the column, "
        "y the row.",
        "The grid is rounded up in both directions: a thread may write only when its row is below "
        "`gray.shape[0]` AND its column below `gray.shape[1]`.",
        "`rgb` is indexed [row, col, channel]: channel 0 (red) goes with WR, 1 with WG, 2 with WB. Use the "
        "float32 constants, not the literals 0.299 ..., so the sum stays float32.",
    ],
    # ---- 02 memory and transfers
    "02-copy2d": [
        "One thread per element, as in 01's grayscale kernel. The threads of a warp are consecutive in x: "
        "which index of a row-major array must x follow for them to read neighbouring addresses?",
        "In a row-major array the column is the fast index, so x must be the column: unpack `cuda.grid(2)` "
        "column first, then row.",
        "Guard both directions against `dst.shape`, and read and write the same [row, col] element "
        "(swapping them in one of the two transposes the copy).",
    ],
    "02-col-sums": [
        "One thread per column: a 1D grid, and the thread's index is the number of its column.",
        "Each thread loops over every row of its column, adding into one running sum that starts at "
        "`float32(0.0)` (a plain `0.0` is float64, and the check rejects it).",
        "At each step of that loop, neighbouring threads read neighbouring columns of the same row: coalesced. "
        "Guard the column against `a.shape[1]`, and write the sum once, after the loop.",
    ],
    # ---- 03 parallel patterns
    "03-block-sums": [
        "Start from `sum_tree`: load into shared memory, add up in a tree, one result per block. What changes "
        "is where the result goes: the block's own slot of `partial`, with no atomic.",
        "Every thread loads one element into a shared array of TPB floats, a float32 zero past the end of `x`, "
        "so that every thread takes part in the tree. Then a barrier, before anyone reads a neighbour's slot.",
        "The step halves from TPB // 2 down to 1; at each step the threads below it add the slot `step` places "
        "up into their own. A barrier after EVERY step, outside the `if`, so that every thread reaches it.",
        "After the loop only thread 0 writes: the block's slot of `partial` (indexed by the block number) "
        "gets the first element of the shared array.",
    ],
    "03-hist-atomic": [
        "One thread per element of `levels`. Which bin does element i land in?",
        "Stage 1's `+= 1` on `hist[levels[i]]` loses increments: two threads can read the same old count. "
        "The increment has to be one indivisible step.",
        "`cuda.atomic.add(array, index, value)` is that step: the array is the histogram, the index the "
        "element's level, the value 1. And guard the thread index against `levels.size`.",
    ],
    # ---- 04 matmul, naive
    "04-coalesced": [
        "Trap 1 of section 1: the threads of a warp are consecutive in x. Along which index of C and B must "
        "they step so that one warp reads neighbouring addresses?",
        "x must index the column: unpack `cuda.grid(2)` column first. The warp then reads B[k, col] for "
        "neighbouring columns, one coalesced request, while A[row, k] is the same value for all of them.",
        "Trap 2: start the sum from `float32(0.0)`, never from `0.` (float64); loop over the shared dimension, "
        "`A.shape[1]`.",
        "Guard the row against `C.shape[0]` and the column against `C.shape[1]`, and write C[row, col] once, "
        "after the loop.",
    ],
    "04-attainable": [
        "Two roofs: the compute peak, and the memory slope (intensity × bandwidth). The lower one binds.",
        "First each kernel's intensity at the size given: for the naive kernel the bytes its threads request (exercise "
        "2's count), for cuBLAS the compulsory n/6 FLOP per byte. Which side of the T4's ridge (8100 / 320) is each?",
        "Units: (FLOP/byte) × (GB/s) is already GFLOP/s, like the peak; no factor 1000, and multiply, do not divide.",
    ],
    # ---- 05 matmul, tiled
    "05-tiled": [
        "At each step t every thread copies ONE element of A's tile and ONE of B's tile into shared memory, "
        "then the block multiplies the two tiles. How many steps cover K when K is not a multiple of TILE?",
        "Round the number of tiles up (integer arithmetic). Past the edge of A or B a thread stores "
        "`float32(0.0)` into its slot instead of loading, so the padding adds nothing.",
        "Two barriers per step: after loading (the tiles are complete before anyone reads them) and after the "
        "multiply-add loop (nobody still reads them when the next step overwrites them). Every thread must "
        "reach both: never inside an `if`.",
        "Keep the running sum in one float32 variable started before the loop over tiles; only the final "
        "write of C[row, col] is guarded.",
    ],
    "05-regblock": [
        "The skeleton of each step k0: (1) every thread loads one element of the A tile and one of the B tile "
        "(zero past the edges), (2) barrier, (3) multiply-add from shared memory into your TM sums, "
        "(4) barrier. Step k0 by BK over `A.shape[1]`, so a last partial step is included.",
        "The TM sums are a `cuda.local.array(TM, float32)`; set every one to `float32(0.0)` before the k0 loop "
        "(a local array starts with garbage).",
        "The inner loop: for each k of the tile, read B's value for your column once, then add it, times A's "
        "value for each of your TM rows (ty * TM + i of the tile), into sum i.",
        "After the k0 loop, write sum i to row `row0 + ty*TM + i` of column `col0 + tx`, each write guarded "
        "against C's shape.",
    ],
    # ---- 06 a network from kernels
    "06-relu-backward": [
        "Going backward through ReLU, ask: was the unit active in the forward pass? That is a question about "
        "Z, not about dH.",
        "Where Z > 0 the incoming gradient dH passes unchanged, negative values included; elsewhere the "
        "gradient is 0.",
        "A conditional expression (`a if cond else b`) keeps it to one line; compare with `float32(0.0)` and "
        "write `float32(0.0)`, so the kernel stays float32.",
    ],
    "06-xent-grad": [
        "The gradient is the probability minus a one-hot target. In row `row`, which column gets the 1?",
        "The target is 1 where `col` equals `labels[row]` and 0 elsewhere, as float32 constants.",
        "The loss is the MEAN over the batch: divide by the number of rows, `n` (as a float32), not by the "
        "number of classes.",
    ],
    "06-sgd": [
        "Every weight gets the same update, independently of the others: a 1D grid-stride loop, as in "
        "notebook 01, section 5.",
        "The loop starts at the thread's `cuda.grid(1)`, stops at `w.size` and steps by `cuda.gridsize(1)`, so "
        "any grid covers every weight exactly once.",
        "Downhill means subtracting: the new weight is the old one minus the learning rate times the gradient, "
        "written back into `w` in place (not into `g`).",
    ],
    # ---- 07 PyTorch on a GPU
    "07-timing": [
        "Three things, in order: warm up, synchronize around the timed region, repeat and divide (the list "
        "above the exercise).",
        "Warm-up: call `fn()` once, then `sync()`, before you read the clock the first time.",
        "Time a loop of `repeats` calls, and call `sync()` after the loop, before reading the clock again: a "
        "launch returns before its work is done.",
        "Return seconds per call: the elapsed `time.perf_counter()` difference divided by `repeats`.",
    ],
    "07-amp-step": [
        "It is the usual training step (reset gradients, forward and loss, backward, optimizer step) with "
        "three changes: autocast, a scaled loss, and a step through the scaler.",
        "Only the forward pass and the loss go inside the `torch.autocast(...)` block, with x's device type "
        "and the `dtype` argument; backward and the step come after the block.",
        "Call backward on the loss as the scaler scales it, not on the loss itself; then let the scaler step "
        "the optimizer, and then update the scaler: in that order.",
        "Return the loss of this step, detached (or as a Python float), not the scaled one.",
    ],
    # ---- 08 a CNN on Fashion-MNIST
    "08-im2col": [
        "Start from the shapes: pad x, compute out_h and out_w with your `conv_out_size`, and allocate a 6-D "
        "array (N, C, k, k, out_h, out_w) to reshape at the end.",
        "For one kernel offset (i, j), the pixel under every output position is a strided slice of the padded "
        "image: rows from i in steps of `stride`, out_h of them; columns likewise from j, out_w of them.",
        "Store that slice at [:, :, i, j] of the 6-D array. Pad only the last two axes of x. Then reshape to "
        "(N, C·k·k, out_h·out_w): the (C, k, k) axes in that order match PyTorch's weights.",
    ],
    "08-train-step": [
        "The four moves of section 3: forward pass and loss, clear the old gradients, backward pass, update.",
        "`F.cross_entropy` takes the raw scores `model(x)` and the labels; no softmax before it.",
        "Clear the gradients before the backward pass (backward adds to `.grad`), step the optimizer after it, "
        "and return the loss as a Python float (`.item()`).",
    ],
    "08-extrapolate": [
        "Images per second do not transfer between networks: a ResNet-50 image costs far more arithmetic than "
        "one of this CNN's. What does transfer (roughly) is the arithmetic rate the processor reached.",
        "The measured run did images_per_s · flop_per_image FLOPs per second. How many FLOPs does the whole "
        "target run need? Count them per image, per epoch, then for all epochs.",
        "Divide the target's total FLOPs by the measured FLOP rate, and return seconds.",
    ],
    # ---- 09 a char-RNN on Shakespeare
    "09-sequences": [
        "The statement gives n, the number of whole sequences: each needs seq_len inputs and one more "
        "character for its last target.",
        "x is the first n · seq_len ids, cut into n rows of seq_len: one reshape, no loop.",
        "y is the same slice, starting one id later. Turn `ids` into a NumPy array first (`np.asarray`), so "
        "that slicing and reshape work on a list too.",
    ],
    "09-lstm-cell": [
        "With the stacked weights, x times W_ih transposed gives the input parts of all four gates at once, "
        "(B, 4H), and h times W_hh transposed their hidden parts: two products. One more idea makes it one.",
        "A sum of two products is one product of block matrices: put x and h side by side, (B, I + H), and "
        "W_ih and W_hh side by side, (4H, I + H). `torch.cat` along dim 1 builds both. Add both biases after.",
        "Split the (B, 4H) result into four (B, H) blocks along dim 1, in nn.LSTM's order: input, forget, "
        "cell (g), output. i, f and o go through a sigmoid, g through tanh.",
        "The new cell state keeps f times the old one and adds i times g; the new hidden state is o times tanh "
        "of the NEW cell state.",
    ],
    "09-temperature": [
        "Divide the logits by T (do not multiply): a temperature below 1 must sharpen the distribution.",
        "Take the softmax along the last axis (`dim=-1`), so that a batch of rows gives one distribution per row.",
        "Against overflow, subtract each row's maximum before exp (`keepdim=True`, so it broadcasts); softmax "
        "does not change. Or call `torch.softmax`, which does it for you.",
    ],
    # ---- 10 memory limits
    "10-training-memory": [
        "Count the parameters first (the cell after the statement prints them); every other part is a multiple.",
        "The gradients are the size of the parameters. SGD keeps no state, momentum one buffer the size of "
        "the parameters, Adam two.",
        "In float32 each value is 4 bytes: SGD is 2 parameter-sized tensors, momentum 3, Adam 4.",
    ],
    "10-max-batch": [
        "The fixed part takes its memory first, whatever the batch; the images share what is left. The cell "
        "above prints both parts of the estimate.",
        "16 MiB is 16 × 2**20 bytes, not 16 × 10**6.",
        "Divide what is left by the bytes per image, rounding down (`//`): a batch one image too big no longer fits.",
    ],
    # ---- 11 choosing a GPU
    "11-bound": [
        "First the matmul's arithmetic intensity as a function of n: 2n³ FLOPs over 3n² elements of itemsize bytes.",
        "Compute-bound means at or past the ridge point, peak over bandwidth (GFLOP/s over GB/s: no factor 1000). "
        "Solve intensity(n) ≥ ridge for n, or try sizes with roofline.bound.",
        "The itemsize matters: BF16 elements are 2 bytes, so the same n moves half the bytes; and the H100's roof "
        "in BF16 is its Tensor Core rate, SPECS['H100 SXM'].rate('bf16').",
    ],
    "11-roofline-time": [
        "The roofline's rate for a workload is roofline.attainable(flops / bytes, peak, bandwidth), in GFLOP/s.",
        "The time is the FLOPs over that rate: mind the 10**9 in GFLOP/s, and the answer is in milliseconds.",
        "The vector add does 1 FLOP per 12 bytes, far left of the ridge: its time is the bytes at the bandwidth. "
        "The 4096 matmul moves 3 × 4096² × 4 bytes once and is far right: its time is the FLOPs at the peak.",
    ],
    # ---- 12 beyond one GPU
    "12-average-grads": [
        "An average is a sum over the processes divided by their number. Which primitive gives the sum, and "
        "which call gives the number?",
        "Loop over `model.parameters()` and all-reduce each parameter's `.grad` tensor itself, in place: not a "
        "copy of it, and not the weights.",
        "gloo has no AVG operation: all-reduce with the default, a sum, then divide the gradient in place by "
        "the world size.",
    ],
    "12-ring-bytes": [
        "At each step of the ring a process sends one chunk: nbytes / p bytes.",
        "How many steps? p − 1 in the reduce-scatter, and p − 1 more in the all-gather.",
        "Multiply, with `/` rather than `//`. Check it: a single process sends 0 bytes, two processes send "
        "nbytes each.",
    ],
    # ---- 13 Triton
    "13-softmax": [
        "Build the block's indices from two vectors: this program's rows (from `tl.program_id(0)` and BLOCK_M) "
        "and the columns 0 ... BLOCK_N - 1, broadcast with `[:, None]` and `[None, :]`.",
        "Element (r, c) is at `in_ptr + r * in_row_stride + c` (and out has its own stride). Mask rows past "
        "n_rows and columns past n_cols, and load masked lanes as minus infinity, not 0.",
        "Subtract each row's max (`tl.max` along axis 1, then `[:, None]`), exponentiate, divide by each row's "
        "sum (`tl.sum` along axis 1), and store with the same mask.",
    ],
    "13-matmul": [
        "Program (pid_m, pid_n) owns a BLOCK_M × BLOCK_N tile of C: start a float32 accumulator of zeros of "
        "that shape.",
        "Walk along K in steps of BLOCK_K; at each step load a BLOCK_M × BLOCK_K tile of A and a "
        "BLOCK_K × BLOCK_N tile of B, masked with zeros past the edges, and add their `tl.dot`.",
        "Address every element with the strides, never with M, N or K: B may be a transposed view. Mask the "
        "store of C too (rows below M, columns below N).",
    ],
}

# where the idea behind each exercise is explained, said after its last hint
SEE: dict[str, str] = {
    "00-flops": "notebook 00, section 1 (Counting the work)",
    "00-bytes": "notebook 00, section 1 (Counting the work)",
    "00-crossover": "notebook 00, section 4 (The crossover)",
    "01-saxpy": "notebook 01, section 3 (How many blocks? The guard) and section 4 (SAXPY)",
    "01-grayscale": "notebook 01, section 7 (A 2D grid on a real image)",
    "02-copy2d": "notebook 02, section 3 (How a warp reads memory: coalescing), 'Coalescing in two dimensions'",
    "02-col-sums": "notebook 02, section 3, 'Coalescing in two dimensions'",
    "03-block-sums": "notebook 03, sections 2 (a tree in shared memory) and 3 (the missing barrier)",
    "03-hist-atomic": "notebook 03, sections 4 (the racy histogram) and 5 (atomics)",
    "04-coalesced": "notebook 04, section 1 (Trap 1 and Trap 2) and section 2 (The coalesced kernel)",
    "04-attainable": "notebook 04, section 5 (The roofline)",
    "05-tiled": "notebook 05, section 1 (Shared-memory tiles)",
    "05-regblock": "notebook 05, section 3 (Register blocking, in one dimension), with section 1 for the tiles",
    "06-relu-backward": "notebook 06, section 4 (The backward pass: your kernels)",
    "06-xent-grad": "notebook 06, section 3 (Softmax cross-entropy, without overflow) and section 4",
    "06-sgd": "notebook 01, section 5 (Grid-stride loops), and notebook 06, section 4",
    "07-timing": "notebook 07, section 2 (Asynchronous execution, and timing it correctly)",
    "07-amp-step": "notebook 07, section 5 (Faster arithmetic: TF32 and mixed precision)",
    "08-im2col": "notebook 08, section 1 (A convolution is a matrix multiply)",
    "08-train-step": "notebook 08, section 3 (One training step)",
    "08-extrapolate": "notebook 08, section 6 (CPU against GPU: one epoch), \"From this CNN to ImageNet\"",
    "09-sequences": "notebook 09, section 1 (The text)",
    "09-lstm-cell": "notebook 09, section 2 (Sequential in time, parallel in the batch)",
    "09-temperature": "notebook 09, section 5 (Sampling with a temperature); the overflow trick in notebook 06, "
                      "section 3",
    "10-training-memory": "notebook 10, section 1 (Where the memory goes)",
    "10-max-batch": "notebook 10, section 3 (Predict the out-of-memory batch, then hit it)",
    "11-bound": "notebook 04, section 5 (The roofline), and notebook 11, section 3",
    "11-roofline-time": "notebook 11, section 3 (Every GPU's roofline), and notebook 04, section 5",
    "12-average-grads": "notebook 12, sections 1 (split the batch, average the gradients) and 3",
    "12-ring-bytes": "notebook 12, section 4 (What an all-reduce costs)",
    "13-softmax": "notebook 13, section 2 (Softmax: a fused reduction along rows); masks in section 1",
    "13-matmul": "notebook 13, section 3 (The tiled matmul with tl.dot), and notebook 05, section 1",
}

_shown: dict[str, int] = {}       # exercise ID -> how many of its hints this session has shown


def hint(exercise_id: str, n: int | None = None) -> None:
    """Print the next hint of exercise `exercise_id` (hint 1 on the first call, then 2, ...); after the
    last one, say that there are no more and where the idea is explained. `n` shows hint n again."""
    if exercise_id not in HINTS:
        from gpuviz.exercises import get

        points, _ = get(exercise_id)            # an unknown ID: a KeyError that names the nearest IDs
        print(f"{exercise_id} has no hints (hints are for exercises worth 2 points or more; this one is "
              f"worth {points:g}): the text above the exercise and its check's message say what to do.")
        return
    hints = HINTS[exercise_id]
    total = len(hints)
    if n is not None:
        if not 1 <= n <= total:
            raise ValueError(f"{exercise_id} has hints 1 to {total}, not {n}")
        k = n
    else:
        k = _shown.get(exercise_id, 0) + 1
        if k > total:
            print(f"No more hints for {exercise_id}: you have seen all {total}. The idea is explained in "
                  f"{SEE[exercise_id]}. gv.hint(\"{exercise_id}\", n) shows hint n again.")
            return
        _shown[exercise_id] = k
    if n is not None:
        after = ""
    elif k < total:
        after = f"\n   Run gv.hint(\"{exercise_id}\") again for the next one."
    else:
        after = "\n   That was the last hint."
    print(f"💡 {exercise_id}, hint {k} of {total}: {hints[k - 1]}{after}")


def reset(exercise_id: str | None = None) -> None:
    """Start an exercise's hints (all of them, without an ID) from hint 1 again."""
    if exercise_id is None:
        _shown.clear()
    else:
        _shown.pop(exercise_id, None)
