#!/usr/bin/env bash
# Install what tuban needs on Debian 12 (idempotent; run as root or with sudo available):
# GDAL (library, headers, command-line tools and Python bindings for the comparison scripts),
# SQLite headers (the GeoPackage writer), a Vulkan loader and Mesa's lavapipe software Vulkan driver (so the WGSL kernels run in tests
# without a GPU), clang for the GDAL bindings, headless Chromium with a CJK font (the county
# report is tested in a real browser), Slurm with munge (plan/run --task/merge are tested
# on a real one-node cluster, tools/slurm_test.sh), and PostgreSQL with PostGIS (the ledger's
# server backend: its tests start their own server on 127.0.0.1 and stop it).
set -euo pipefail
packages=(libgdal-dev libsqlite3-dev gdal-bin python3-gdal python3-numpy mesa-vulkan-drivers libvulkan1 clang libclang-dev pkg-config chromium fonts-wqy-zenhei slurm-wlm munge postgresql-15 postgresql-15-postgis-3)
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
command -v cargo >/dev/null || { echo "tools/setup.sh: cargo not found: install Rust (rustup) first" >&2; exit 1; }
