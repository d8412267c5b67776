# Shared by scripts/lab and scripts/test: a virtual environment in .venv with the course installed.

# numba-cuda's CUDA toolkit must not be newer than the driver, or every launch fails with
# CUDA_ERROR_UNSUPPORTED_PTX_VERSION (many GPU hosts run CUDA 12 drivers): cu12 for a driver that
# supports CUDA 12.x or older, cu13 otherwise, and where there is no driver (compile checks only).
cuda_extra() {
    python3 - <<'PY'
import ctypes
try:
    lib, v = ctypes.CDLL("libcuda.so.1"), ctypes.c_int(0)
    major = v.value // 1000 if lib.cuDriverGetVersion(ctypes.byref(v)) == 0 else 0
except OSError:
    major = 0
print("cu12" if 0 < major <= 12 else "cu13")
PY
}

# install_course "[test,lab]": the course with these extras, plus the CUDA toolkit that fits the driver
install_course() {
    local extras="${1%]},$(cuda_extra)]"
    if [ ! -x .venv/bin/python ]; then
        python3 -m venv .venv
    fi
    # shellcheck disable=SC1091
    source .venv/bin/activate
    python -m pip install -q --upgrade pip
    # torch first, pinned: an unpinned torch pulls the newest CUDA build (several GB). 2.13.0 is
    # the release the course is tested with; keep an installed torch (Colab's, a CUDA build) as it is.
    python -c "import torch" 2>/dev/null || python -m pip install -q "torch==2.13.0"
    python -m pip install -q -e ".$extras"
}
