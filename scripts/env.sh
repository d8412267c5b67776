# Shared by scripts/lab and scripts/test: a virtual environment in .venv with the course installed.
install_course() {
    local extras="$1"
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
