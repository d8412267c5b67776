"""Exercises of notebook 10, memory limits: estimate the training memory of a model, and predict the
largest batch that fits."""
from __future__ import annotations

from gpuviz.exercises.check import FunctionExercise

SEED = 10
STATES = {"sgd": 0, "momentum": 1, "adam": 2}     # optimizer tensors the size of the parameters


def training_memory(n_params, optimizer, activation_bytes, itemsize=4):
    """Bytes of one training step: parameters + gradients + optimizer state + activations."""
    return n_params * itemsize * (2 + STATES[optimizer]) + activation_bytes


def _memory_cases(rng):
    cases = [(0, "sgd", 0), (1, "sgd", 0), (1, "adam", 0), (1000, "momentum", 0), (1000, "adam", 12345),
             (11_689_512, "adam", 3_000_000_000), (1_414_694_016, "adam", 10_500_000_000, 2),
             (25_557_032, "sgd", 2_000_000_000, 2), (7_000_000_000, "momentum", 0, 2)]
    for opt in ("sgd", "momentum", "adam", "adam", "sgd", "momentum"):
        n = int(rng.integers(10**3, 10**9))
        acts = int(rng.integers(0, 10**10))
        cases.append((n, opt, acts) if rng.random() < 0.5 else (n, opt, acts, int(rng.choice([2, 4, 8]))))
    return cases


MEMORY = FunctionExercise(
    "training_memory", training_memory, _memory_cases, seed=SEED, mistakes=[
        (lambda n, o, a, s=4: n * s * (1 + STATES[o]) + a,
         ("The gradients are missing: backward stores one gradient per parameter, the same size as the "
          "parameters.")),
        (lambda n, o, a, s=4: n * s * 2 + a,
         ("The optimizer state is missing: SGD with momentum keeps one buffer the size of the parameters, "
          "Adam two (first and second moments).")),
        (lambda n, o, a, s=4: n * s * (2 + {"sgd": 0, "momentum": 1, "adam": 1}[o]) + a,
         "Adam keeps two tensors per parameter (exp_avg and exp_avg_sq), not one."),
        (lambda n, o, a, s=4: n * s * (2 + {"sgd": 1, "momentum": 1, "adam": 2}[o]) + a,
         "Plain SGD keeps no state: it updates w -= lr * grad directly. Only momentum needs a buffer."),
        (lambda n, o, a, s=4: n * s * (2 + STATES[o]),
         "The activations are missing: add activation_bytes, what the forward pass keeps for the backward pass."),
        (lambda n, o, a, s=4: n * 4 * (2 + STATES[o]) + a,
         "That always uses 4 bytes per value: use itemsize (2 for float16/bfloat16)."),
        (lambda n, o, a, s=4: n * (2 + STATES[o]) + a,
         "That counts values, not bytes: multiply the parameter count by itemsize."),
        (lambda n, o, a, s=4: n * s * (2 + STATES[o]) + a * s,
         "activation_bytes is already in bytes: do not multiply it by itemsize."),
    ])


def max_batch(free_bytes, fixed_bytes, bytes_per_sample):
    """The largest batch whose memory, fixed_bytes + batch * bytes_per_sample, fits in free_bytes."""
    return max(0, (free_bytes - fixed_bytes) // bytes_per_sample)


def _batch_cases(rng):
    gib = 2**30
    cases = [(16 * gib, 2 * gib, 7 * 2**20), (16 * gib, 2 * gib, 2 * gib), (100, 100, 1), (100, 10, 30),
             (100, 10, 45), (100, 200, 1), (80 * gib, 0, 3 * 2**20), (24 * gib, 22 * gib, 5 * 2**20)]
    for _ in range(8):
        free = int(rng.integers(2**30, 2**37))
        fixed = int(rng.integers(0, free))
        cases.append((free, fixed, int(rng.integers(2**10, 2**28))))
    return cases


BATCH = FunctionExercise(
    "max_batch", max_batch, _batch_cases, seed=SEED + 1, mistakes=[
        (lambda f, x, s: max(0, f // s),
         ("The fixed part is missing: parameters, gradients and optimizer state take their memory whatever "
          "the batch size, so only free_bytes - fixed_bytes is left for the samples.")),
        (lambda f, x, s: (f - x) // s,
         ("When the fixed part alone does not fit, no batch fits: return 0, not a negative number "
          "(max(0, ...)).")),
        (lambda f, x, s: max(0, -(-(f - x) // s)),
         "That rounds up: a batch one sample too large runs out of memory. Round down (//)."),
        (lambda f, x, s: max(0, (f - x) / s),
         "A batch is a whole number of samples: use // (round down), not /."),
        (lambda f, x, s: max(0, round((f - x) / s)),
         "round() can round up, and a batch one sample too large runs out of memory: round down with //."),
        (lambda f, x, s: max(0, (f - x) // s + 1),
         "One too many: with // you already have the largest batch that fits."),
    ])

CHECKS = {
    "10-training-memory": (2, MEMORY),
    "10-max-batch": (2, BATCH),
}
