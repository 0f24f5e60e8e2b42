#!/usr/bin/env bash
# Installs what Qafila's build and tests need that this Debian/Ubuntu machine
# lacks: Debian packages, the UI's npm packages, and tauri-driver. Each step
# is skipped when already satisfied, so `make test` stays quick on a machine
# that has everything.
set -euo pipefail
cd "$(dirname "$0")/.."

# The desktop shell (Tauri 2 on WebKitGTK), its end-to-end driver, a virtual
# display for tests, Arabic fonts so screenshots shape Arabic correctly, and
# PostgreSQL, which the relay's storage tests start in a temp directory;
# Chromium prints card sheets to PDF, and the card tests render those PDFs
# (poppler's pdftoppm) and read their QR codes back with an independent
# reader (zbar's zbarimg). The export tests open the CSV and XLSX files with a
# spreadsheet reader that is not ours (Python's openpyxl). libfaketime runs a
# device whose clock is wrong (a phone set to 2000, or a day fast).
debian_packages=(
  build-essential pkg-config curl file
  libwebkit2gtk-4.1-dev libayatana-appindicator3-dev librsvg2-dev libxdo-dev libssl-dev
  webkit2gtk-driver xvfb xauth libgl1-mesa-dri
  fonts-noto-core
  postgresql
  chromium poppler-utils zbar-tools
  python3-openpyxl
  faketime
)

missing=()
for package in "${debian_packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$package")
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "Installing Debian packages: ${missing[*]}"
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "need root or sudo to install: ${missing[*]}" >&2; exit 1; }
    sudo="sudo"
  fi
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

for tool in cargo node npm; do
  command -v "$tool" >/dev/null || {
    echo "$tool is missing: install Rust (rustup) and Node.js 20 or newer first" >&2
    exit 1
  }
done

# npm packages, from the lock file; reinstalled only when the lock changes.
if [ ! -f ui/node_modules/.qafila-installed ] || [ ui/package-lock.json -nt ui/node_modules/.qafila-installed ]; then
  echo "Installing the UI's npm packages"
  (cd ui && npm ci --no-audit --no-fund)
  touch ui/node_modules/.qafila-installed
fi

# tauri-driver bridges WebDriver to WebKitWebDriver for the real-app test.
if ! command -v tauri-driver >/dev/null && [ ! -x "$HOME/.cargo/bin/tauri-driver" ]; then
  echo "Installing tauri-driver"
  cargo install tauri-driver --version '^2' --locked
fi
