#!/usr/bin/env bash
# Installs the Debian packages rowshard builds and tests with, asking apt only
# for the ones that are missing (so a machine that has them all is not
# touched, and no network is needed).
set -euo pipefail

packages=(
  cmake ninja-build g++ pkg-config
  libgtest-dev libgmock-dev
  libopenmpi-dev openmpi-bin
  libyaml-cpp-dev libxxhash-dev libeigen3-dev
  libboost-program-options-dev nlohmann-json3-dev
  python3-numpy clang libclang-rt-14-dev clang-format
)

missing=()
for package in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed"; then
    missing+=("$package")
  fi
done

if ((${#missing[@]} > 0)); then
  echo "installing: ${missing[*]}"
  sudo_cmd=()
  if [[ $(id -u) -ne 0 ]]; then sudo_cmd=(sudo); fi
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
