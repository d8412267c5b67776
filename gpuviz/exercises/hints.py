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
        "Each thread handles several elements. Which one comes first? Its index over the whole grid, not only "
        "its position inside its block.",
        "From there, how far is the thread's next element? As many elements as the grid has threads, so that "
        "the threads of one pass never meet those of the next: `cuda.gridsize(1)`, not the block size, not 1.",
        "A `range` with a start, a stop and a step does it; its stop, `out.size`, is also the guard. Each step "
        "writes one element of `out` from `a`, `x[i]` and `y[i]`, and leaves x and y unchanged.",
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
        "The grid is fixed and small, far fewer threads than elements. So the work has two parts: first each "
        "thread adds up its own share of x, alone, in a register; then the block adds up its threads' "
        "totals, as sum_tree does.",
        "A thread's share starts at its index over the whole grid and steps by the number of threads in the "
        "whole grid, until it is past the end of x: every element is read once, and at each step the threads "
        "of a warp read neighbours. Start the register at a float32 zero.",
        "Each thread stores its total in its slot of a shared array of TPB floats, even a thread whose share "
        "was empty (its total is 0). Then a barrier, before anyone reads a neighbour's slot.",
        "The tree is sum_tree's, barriers included. At the end only thread 0 writes, into the block's own "
        "slot of `partial`, with no atomic: a block that read nothing writes 0.",
    ],
    "03-hist-atomic": [
        "One thread per element of `levels`. Which bin does element i land in?",
        "Stage 1's `+= 1` on `hist[levels[i]]` loses increments: two threads can read the same old count. "
        "The increment has to be one indivisible step.",
        "`cuda.atomic.add(array, index, value)` is that step: the array is the histogram, the index the "
        "element's level, the value 1. And guard the thread index against `levels.size`.",
    ],
    "03-hist-private": [
        "Three phases, each finished before the next starts: clear the block's shared histogram, count the "
        "block's elements into it, add it to the global one. What separates phases that different threads "
        "work on?",
        "The shared array has BINS bins, and the block may have more threads than that (128) or fewer (16): "
        "let each thread clear the bins t, t + blockDim.x, t + 2 * blockDim.x, ... below BINS.",
        "A barrier after clearing, so no thread counts into a bin not yet zero; counting is stage 2's atomic, "
        "but on the shared array, and only threads that have an element count. A barrier after counting.",
        "The merge splits the bins among the threads the same way as the clearing. Other blocks add to the "
        "same global bins, so each addition is an atomic: at most BINS per block. Keep the guard off the "
        "barriers: every thread must reach both.",
    ],
    # ---- 04 matmul, naive
    "04-coalesced": [
        "Start from the evidence in section 1, not from the code: the tracer's report of `matmul_naive`. For each "
        "of A, B and C, how many sectors does one warp request touch, and how many would do? In the view of A, how "
        "many bytes apart are neighbouring lanes, and how many bytes is one row of A?",
        "Which index varies fastest across a warp? Its 32 lanes have consecutive x, and `cuda.grid(2)` returns x "
        "first. In a row-major array only the LAST index is contiguous: neighbouring lanes must differ in the "
        "column of B and C. In `matmul_naive`, which of row and col do neighbouring lanes get? Does that explain "
        "a sector per lane for A and C, and a single one for B?",
        "The mapping: x must be the column of C and y its row. Then the warp reads 32 neighbouring elements of a "
        "row of B (4 sectors) and one element of A that all lanes share (a broadcast), and writes 32 neighbouring "
        "elements of C. The check's grid already has its x blocks along the columns (N / 32 of them, rounded up); "
        "the guard compares the row with C.shape[0] and the column with C.shape[1].",
        "The second problem is in the PTX of section 1: `cvt.f64.f32` and `add.f64`, though A, B and C are "
        "float32. Numba types a variable by what is assigned to it: which variable's first value is a Python "
        "float, a float64? Start it from a float32 value instead, and keep every term of the sum float32.",
    ],
    "04-attainable": [
        "Two roofs: the compute peak, and the memory slope (intensity × bandwidth). The lower one binds.",
        "First each kernel's intensity at the size given: for the naive kernel the bytes its threads request (exercise "
        "2's count), for cuBLAS the compulsory n/6 FLOP per byte. Which side of the T4's ridge (8100 / 320) is each?",
        "Units: (FLOP/byte) × (GB/s) is already GFLOP/s, like the peak; no factor 1000, and multiply, do not divide.",
    ],
    # ---- 05 matmul, tiled
    "05-tiled": [
        "Step 3: A.shape[1] need not be a multiple of TILE. How many tiles cover K columns when the last one is "
        "only partly inside A? K // TILE rounds down and leaves those columns out; round up, in integers only.",
        "Round up with `(K + TILE - 1) // TILE`. In step 4 the element of A that thread (tx, ty) loads at step t "
        "is in row `row`, column `t * TILE + tx`; if that row or column is past A's shape, store "
        "`float32(0.0)` instead, and the same for B (row `t * TILE + ty`, column `col`). Zeros add nothing.",
        "Steps 5 and 7 are each one `cuda.syncthreads()`: after loading (the tiles are complete before anyone "
        "reads them) and after the multiply-add loop (nobody still reads them when the next step overwrites "
        "them). Every thread must reach both: never put them inside an `if`.",
        "Step 6 loops `kk` over the TILE positions of the tile and adds `sA[ty, kk] * sB[kk, tx]` to acc. "
        "Step 8, after the loop over t, is the only guarded step: write acc only where row and col are inside "
        "C's shape.",
    ],
    "05-regblock": [
        "Steps 2 and 3: count the tile's elements row by row, 0, 1, 2, ...: element number t of a tile with "
        "BK columns lies in row t // BK and column t % BK of the tile. The B tile's rows are BN long.",
        "The A element of step 2: tile position (t // BK, t % BK), which is A's element at row `row0 + t // BK` "
        "and column `k0 + t % BK` (the tile's corner plus the position). Store it in `sA` at the tile "
        "position if both indices are inside A's shape, and `float32(0.0)` otherwise.",
        "The B element of step 3: tile position (t // BN, t % BN), which is B's element at row `k0 + t // BN` "
        "and column `col0 + t % BN`, guarded against B's shape the same way, into `sB`.",
        "Steps 5 and 7: for each k of the tile, read `sB[k, tx]` into a variable once, then for each i < TM "
        "add `sA[ty * TM + i, k]` times it to sum i. After the k0 loop, sum i belongs to row `row0 + ty * TM + i` of "
        "column `col0 + tx`: write it where that is inside C.",
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
    "06-backward": [
        "Work down the skeleton with the table of section 2 beside you: each step is one row's formula, and "
        "each formula is one launch. Every input a step needs was computed by a step above it (or by forward, "
        "into s).",
        "Which kernel? Look where the transpose sits in the formula: on the first operand (a weight gradient, "
        "like H^T dZ2) is matmul_tn; on the second (the gradient passed back, dZ2 W2^T) is matmul_nt. Bias "
        "gradients are column sums; ReLU's step is your relu_backward, with the forward input Z1 as its mask.",
        "Argument order: the operands in the order the formula writes them, the output last. The weights come "
        "from p (p[\"W2\"]); s[\"W2\"] is where dW2 goes. The first layer's input is X, not H.",
        "Grids, as forward does: grid2 with the (rows, cols) of the array the launch writes, the shape noted "
        "in the skeleton's comment, and grid1 with the length of a bias gradient. A 2D kernel takes BLOCK2, a "
        "1D one BLOCK1.",
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
    "13-axpy": [
        "Count in elements: block b starts at element b * BLOCK. Where does program pid's first block start, "
        "and how many elements ahead is its next block, P blocks further on?",
        "P is not a constant: ask Triton for it with `tl.num_programs(0)`. A Python `for` over a `range` "
        "works inside a Triton kernel, even with bounds known only at run time.",
        "Inside the loop the body is add_kernel's, shifted to this trip's first element, and masked: the last "
        "block sticks out past n. Load x and y, store a * x + y into y, nowhere else.",
    ],
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
    "01-saxpy": "notebook 01, sections 4 (SAXPY) and 5 (Grid-stride loops)",
    "01-grayscale": "notebook 01, section 7 (A 2D grid on a real image)",
    "02-copy2d": "notebook 02, section 3 (How a warp reads memory: coalescing), 'Coalescing in two dimensions'",
    "02-col-sums": "notebook 02, section 3, 'Coalescing in two dimensions'",
    "03-block-sums": "notebook 03, sections 2 (a tree in shared memory) and 3 (the missing barrier and thread "
                     "coarsening)",
    "03-hist-atomic": "notebook 03, sections 4 (the racy histogram) and 5 (atomics)",
    "03-hist-private": "notebook 03, section 6 (private histograms in shared memory), with section 2 for barriers",
    "04-coalesced": "notebook 04, section 1 (How a warp reads memory, and the evidence: the memory "
                    "requests and the GPU code)",
    "04-attainable": "notebook 04, section 5 (The roofline)",
    "05-tiled": "notebook 05, section 1 (Shared-memory tiles)",
    "05-regblock": "notebook 05, section 3 (Register blocking, in one dimension), with section 1 for the tiles",
    "06-relu-backward": "notebook 06, section 4 (The backward pass: your kernels)",
    "06-xent-grad": "notebook 06, section 3 (Softmax cross-entropy, without overflow) and section 4",
    "06-sgd": "notebook 01, section 5 (Grid-stride loops), and notebook 06, section 4",
    "06-backward": "notebook 06, section 2 (the table of the backward pass) and section 3 (the three matmul kernels)",
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
    "13-axpy": "notebook 13, section 1 (One program per block), and notebook 01, section 5 (Grid-stride loops)",
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
