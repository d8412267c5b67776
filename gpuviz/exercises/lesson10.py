"""Exercises of notebook 10, memory limits: predict, then measure. The learner predicts the memory that
training state takes for a small model (then the notebook measures it with gv.memory.Tracker), and
the largest batch that fits in a memory budget (then the notebook finds where it runs out).

Answers are `<name>_reference`; the checks are reached through CHECKS only.
"""
from __future__ import annotations

from gpuviz.exercises.check import predicted_numbers

STATES = {"sgd": 0, "momentum": 1, "adam": 2}     # optimizer tensors the size of the parameters

# notebook 10's model, make_net(width) at width 16, the same in every mode (the notebook prints both counts;
# tests/test_exercises_10_12.py holds them equal to the model and to gv.memory.estimate)
SMALL_WIDTH = 16
SMALL_PARAMS = 77_562
# gv.memory.estimate of make_net(16) with Adam in float32: the fixed part and the bytes per 28x28 image
SMALL_FIXED_BYTES = 1_241_048
SMALL_BYTES_PER_IMAGE = 375_528
BUDGET_MIB = 16                   # the budget of the out-of-memory experiment (counted exactly, every mode)
MEMORY_RTOL = 0.01
BATCH_RTOL = 0.01


def training_memory_reference(n_params=SMALL_PARAMS, itemsize=4) -> dict:
    """Bytes of parameters + gradients + optimizer state, per optimizer."""
    return {opt: n_params * itemsize * (2 + s) for opt, s in STATES.items()}


def _memory_mistakes(n=SMALL_PARAMS):
    b = 4 * n
    return [
        ("sgd", 3 * b, "plain SGD keeps no state: it updates w -= lr * grad directly, so parameters and gradients "
                       "(2 copies of the parameters) are all. Only momentum needs a buffer."),
        ("sgd", b, "that is the parameters alone: backward stores one gradient per parameter, the same size."),
        ("momentum", 2 * b, "that is parameters and gradients only (or Adam-like state without gradients): SGD "
                            "with momentum keeps one more buffer the size of the parameters, 3 copies in all."),
        ("momentum", 4 * b, "that is Adam's count: momentum keeps one buffer, Adam two."),
        ("adam", 3 * b, "Adam keeps two tensors per parameter (exp_avg and exp_avg_sq), and the gradients come on "
                        "top of the parameters: 4 copies of the parameters."),
        ("adam", 2 * b, "the optimizer state is missing: Adam keeps two tensors the size of the parameters "
                        "(exp_avg and exp_avg_sq), on top of parameters and gradients."),
        ("adam", 5 * b, "one copy too many: parameters, gradients and Adam's two moments are 4 copies."),
        *[(opt, n * (2 + s), "that counts values, not bytes: multiply by 4 bytes per float32.")
          for opt, s in STATES.items()],
        *[(opt, 2 * n * (2 + s), "that is 2 bytes per value: the model trains in float32, 4 bytes.")
          for opt, s in STATES.items()],
        *[(opt, b * (2 + s) / 2**20, "that is in MiB: the prediction is in bytes.") for opt, s in STATES.items()],
    ]


def _check_memory(value):
    return predicted_numbers(value, training_memory_reference(), _memory_mistakes(), what="predicted_bytes",
                             unit="bytes", rtol=MEMORY_RTOL)


def max_batch_reference(budget_bytes=BUDGET_MIB * 2**20, fixed_bytes=SMALL_FIXED_BYTES,
                        bytes_per_image=SMALL_BYTES_PER_IMAGE) -> int:
    """The largest batch whose estimate, fixed + batch * per image, fits in the budget."""
    return max(0, (budget_bytes - fixed_bytes) // bytes_per_image)


def _batch_mistakes():
    budget, fixed, per = BUDGET_MIB * 2**20, SMALL_FIXED_BYTES, SMALL_BYTES_PER_IMAGE
    return [
        ("batch", budget // per, "the fixed part is missing: parameters, gradients and Adam's state take their "
                                 "memory whatever the batch, so only budget - fixed is left for the images."),
        ("batch", (budget + fixed) // per, "the fixed part is added to the budget: it takes memory, subtract it."),
        ("batch", (16e6 - fixed) // per, "16 MB is not 16 MiB: the budget is 16 * 2**20 bytes."),
        ("batch", (budget - fixed) // per + 1, "one image too many: that batch needs more than the budget. Round "
                                               "down (//)."),
        ("batch", (budget - fixed) // (per / 4), "the bytes per image are already bytes: do not divide them by "
                                                 "4 bytes per float."),
    ]


def _check_batch(value):
    want = {"batch": max_batch_reference()}
    if isinstance(value, float) and value != int(value) and abs(value - want["batch"]) < 1:     # e.g. / for //
        return False, f"predicted_batch = {value}: a batch is a whole number of images: round down with //."
    return predicted_numbers(value, want, _batch_mistakes(), what="predicted_batch", unit="images",
                             rtol=BATCH_RTOL)


CHECKS = {
    "10-training-memory": (2, _check_memory),
    "10-max-batch": (2, _check_batch),
}
