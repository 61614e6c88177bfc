#!/usr/bin/env bash
# Installs the Debian 12 packages jcas builds against (only those missing). Run as root.
set -euo pipefail
packages=(g++ make cmake ccache pkg-config libtorch-dev libopencv-dev libboost-program-options-dev
          libhdf5-dev libfmt-dev libgtest-dev libbenchmark-dev libopenblas0-pthread
          hdf5-tools chromium nlohmann-json3-dev libxxhash-dev libgloo-dev
          python3-torch python3-torchvision python3-h5py python3-pil)
# chromium: the report's headless-browser test; libgloo-dev: the headers of LibTorch's Gloo process
# group; python3-*: tools/python (bring your own PyTorch model) and the interoperability tests,
# which read jcas's exports back in PyTorch.
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
