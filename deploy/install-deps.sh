#!/usr/bin/env bash
# Installs the Debian/Ubuntu system packages geohazard needs, only when something is missing.
# Idempotent: a second run does nothing but check.
set -euo pipefail

packages=(
  postgresql postgresql-contrib        # the store (plain PostgreSQL path; TimescaleDB is used when present)
  mosquitto mosquitto-clients          # the MQTT broker the tests and production deployments use
  pkg-config build-essential           # -sys crates
  libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-tools  # camera capture (jpegenc, videotestsrc)
  util-linux                           # runuser: the private PostgreSQL cluster never runs as root
  chromium chromium-driver chromium-l10n fonts-noto-cjk  # the console's browser tests: headless Chromium over WebDriver, its own controls in Chinese, Chinese glyphs
  poppler-utils                        # pdftotext: the reports test reads the printed PDF's text
  nodejs                               # the console's type check (tsc) and unit tests (node --test)
  janus iproute2 procps                # consultation audio/video (video-room plugin); the media tests' network namespaces (ip, tc for a weak link, sysctl for forwarding)
  libxml2-utils                        # xmllint: the regional warnings' CAP 1.2 output checked against the OASIS schema
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

# Debian ships npm apart from nodejs; other builds of nodejs (NodeSource) bring their own.
command -v npm >/dev/null 2>&1 || missing+=(npm)

if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  sudo_cmd=()
  [ "$(id -u)" -ne 0 ] && sudo_cmd=(sudo)
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "cargo is not installed: install the Rust toolchain (rustup or Debian's cargo) first" >&2
  exit 1
fi
