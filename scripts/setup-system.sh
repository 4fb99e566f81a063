#!/usr/bin/env bash
# Installs what headless WebGPU needs on a Debian machine without a GPU: Mesa's lavapipe (software
# Vulkan) new enough for Dawn, from bookworm-backports, and Chromium for the browser tests.
# Idempotent: does nothing where the packages are already present. Needs root (or sudo).
set -euo pipefail

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "setup-system: run as root or install sudo" >&2; exit 1
  fi
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "setup-system: not a Debian-like system; install Mesa >= 24 (lavapipe, vulkan loader) and Chromium yourself" >&2
  exit 0
fi

# Mesa version of the installed lavapipe driver, or empty.
mesa_version() { dpkg-query -W -f='${Version}' mesa-vulkan-drivers 2>/dev/null || true; }
have_new_mesa() {
  local v; v=$(mesa_version)
  [ -n "$v" ] && dpkg --compare-versions "$v" ge 24 && [ -f /usr/share/vulkan/icd.d/lvp_icd.json ]
}
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

need_mesa=1; need_chromium=1
have_new_mesa && have_pkg libvulkan1 && need_mesa=0
have_pkg chromium && need_chromium=0
if [ $need_mesa -eq 0 ] && [ $need_chromium -eq 0 ]; then
  echo "setup-system: Mesa $(mesa_version) (lavapipe) and Chromium already installed"
  exit 0
fi

codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
updated=0
if [ $need_mesa -eq 1 ] && [ "$codename" = "bookworm" ]; then
  if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
    echo "deb http://deb.debian.org/debian bookworm-backports main" | $SUDO tee /etc/apt/sources.list.d/bookworm-backports.list >/dev/null
  fi
fi
$SUDO apt-get update -qq; updated=1

export DEBIAN_FRONTEND=noninteractive
if [ $need_mesa -eq 1 ]; then
  if [ "$codename" = "bookworm" ]; then
    $SUDO apt-get install -y -qq -t bookworm-backports mesa-vulkan-drivers libvulkan1 >/dev/null
  else
    $SUDO apt-get install -y -qq mesa-vulkan-drivers libvulkan1 >/dev/null
  fi
  have_new_mesa || { echo "setup-system: installed Mesa $(mesa_version) is older than 24; Dawn needs a newer lavapipe" >&2; exit 1; }
fi
if [ $need_chromium -eq 1 ]; then
  [ $updated -eq 1 ] || $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq chromium >/dev/null
fi
echo "setup-system: Mesa $(mesa_version) (lavapipe) and Chromium $(dpkg-query -W -f='${Version}' chromium) installed"
