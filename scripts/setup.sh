#!/usr/bin/env bash
# Sets up everything agilenn-codegen needs on a Debian/Ubuntu machine, idempotently:
#   apt tools  gcc, make, gcc-arm-none-eabi, libnewlib-arm-none-eabi, qemu-system-arm, cmake, dataset-fashion-mnist
#   Python     a virtual environment in .venv with torch==2.13.0 (CPU build) installed *before* the
#              package, then the package itself (editable) with its training and test extras.
#   MicroPython 1.25's source from Debian's source package (trixie), sha256-pinned, unpacked into
#              build/micropython/ (agilenn_codegen/micropython/source.py).
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(gcc make gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm cmake dataset-fashion-mnist)
PYTHON=${PYTHON:-python3}

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
    if [[ $(id -u) -eq 0 ]]; then
        echo "setup: installing ${missing[*]} with apt-get"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
        echo "setup: installing ${missing[*]} with sudo apt-get"
        sudo DEBIAN_FRONTEND=noninteractive apt-get update -qq
        sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    else
        echo "setup: these Debian packages are missing and this user cannot install them: ${missing[*]}" >&2
        echo "setup: run as root, or ask an administrator:  sudo apt-get install ${missing[*]}" >&2
        exit 2
    fi
fi

if [[ ! -x .venv/bin/python ]]; then
    echo "setup: creating .venv"
    "$PYTHON" -m venv .venv
fi
stamp=.venv/.agilenn-setup-stamp
want=$(cat pyproject.toml constraints.txt | sha256sum | cut -d' ' -f1)
if [[ ! -f $stamp || $(cat "$stamp") != "$want" ]]; then
    echo "setup: installing Python packages into .venv (torch==2.13.0 first, CPU build)"
    .venv/bin/python -m pip install -q --upgrade pip
    .venv/bin/python -m pip install -q torch==2.13.0
    .venv/bin/python -m pip install -q -c constraints.txt -e ".[train,dev]"
    echo "$want" >"$stamp"
fi
.venv/bin/python -m agilenn_codegen.micropython.source
echo "setup: ready ($(.venv/bin/agilenn --version))"
