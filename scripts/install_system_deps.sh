#!/usr/bin/env bash
# Debian/Ubuntu packages for headless OpenGL rendering (vposer.render: moderngl + EGL).
#
#   libegl1          GLVND's EGL loader (libEGL.so.1)
#   libegl-mesa0     Mesa's EGL vendor library (found through /usr/share/glvnd/egl_vendor.d)
#   libgl1-mesa-dri  Mesa's drivers, including llvmpipe, the CPU rasteriser used without a GPU
#   libgl1           GLVND's libGL.so.1, through which glcontext resolves GL functions
#   chromium         headless browser for the viewer's end-to-end test (not needed at run time)
#
# Everything else (LLVM, libdrm, xcb, ...) comes in as their dependencies. On a machine with an
# NVIDIA GPU the driver's own EGL (libnvidia-egl / 10_nvidia.json) is used when installed.
# Idempotent: does nothing when the packages are present; skips (exit 0) when not root and sudo
# is unavailable, or on a system without apt-get. Set VPOSER_SKIP_APT=1 to skip explicitly.
set -euo pipefail

PACKAGES=(libegl1 libegl-mesa0 libgl1-mesa-dri libgl1)
# the browser of the viewer's end-to-end test (and of users who want a local one); skip with
# VPOSER_SKIP_BROWSER=1
if [[ "${VPOSER_SKIP_BROWSER:-0}" != "1" ]]; then
    PACKAGES+=(chromium)
fi

if [[ "${VPOSER_SKIP_APT:-0}" == "1" ]]; then
    echo "install_system_deps: VPOSER_SKIP_APT=1, skipping"
    exit 0
fi
if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
    echo "install_system_deps: not a Debian/Ubuntu system (no apt-get); install EGL + Mesa yourself: ${PACKAGES[*]}"
    exit 0
fi

missing=()
for pkg in "${PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$pkg")
    fi
done
if [[ ${#missing[@]} -eq 0 ]]; then
    echo "install_system_deps: already installed: ${PACKAGES[*]}"
    exit 0
fi

SUDO=()
if [[ "$(id -u)" != "0" ]]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        SUDO=(sudo -n)
    else
        echo "install_system_deps: not root and no password-less sudo; please run:"
        echo "  sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing[*]}"
        exit 0
    fi
fi

echo "install_system_deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
