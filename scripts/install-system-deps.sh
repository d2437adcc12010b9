#!/usr/bin/env bash
# Installs the Debian packages Kiln's tests need and the machine lacks:
#   postgresql  - a real PostgreSQL server for the API tests (beside the embedded one)
#   imagemagick - `identify`, the decoder (independent of sharp) that checks outputs
#   java + maven - Temporal's Java time-skipping test server is resolved from Maven Central
#   chromium    - a real browser for the /docs page test (Playwright's own downloads are not used)
#   mate-backgrounds - real photographs for the jobs tests (and the benches)
#   python3-venv - a virtualenv for the receivers other services publish (Flask, FastAPI),
#                  which the receiver-compatibility tests run; their packages come from PyPI
#   fonts-dejavu-core - the font of text watermarks (Kiln needs it at run time too)
#   tmux        - a real terminal for the command line's progress display test
#   libheif-examples - heif-enc and heif-convert: HEIC files made, and decoded for reference,
#                  by libheif's own tools in the HEIC tests
#   libjxl-tools - cjxl and djxl: JPEG XL files made and decoded for reference in the JPEG XL tests
#   img2pdf, poppler-utils - PDFs made from images, and pages drawn for reference by pdftoppm,
#                  in the PDF tests
# Node, npm and Go are expected on the machine (Go builds the Temporal CLI; without it
# the Temporal SDK's own download is used).
set -euo pipefail

packages=()
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || packages+=(postgresql)
command -v identify >/dev/null || packages+=(imagemagick)
command -v java >/dev/null || packages+=(default-jre-headless)
command -v mvn >/dev/null || packages+=(maven)
command -v chromium >/dev/null || packages+=(chromium)
[ -d /usr/share/backgrounds/mate ] || packages+=(mate-backgrounds)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || packages+=(python3-venv)
[ -d /usr/share/fonts/truetype/dejavu ] || packages+=(fonts-dejavu-core)
command -v tmux >/dev/null || packages+=(tmux)
command -v heif-enc >/dev/null || packages+=(libheif-examples)
command -v cjxl >/dev/null || packages+=(libjxl-tools)
command -v img2pdf >/dev/null || packages+=(img2pdf)
command -v pdftoppm >/dev/null || packages+=(poppler-utils)

if [ ${#packages[@]} -eq 0 ]; then
  echo "system packages: all present"
  exit 0
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null; then sudo=(sudo); else
    echo "missing Debian packages: ${packages[*]} (run as root, or install them)" >&2
    exit 1
  fi
fi
echo "installing Debian packages: ${packages[*]}"
"${sudo[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
# Debian starts a cluster on install; the tests run their own throwaway servers instead.
if [[ " ${packages[*]} " == *" postgresql "* ]] && command -v service >/dev/null; then
  "${sudo[@]}" service postgresql stop >/dev/null 2>&1 || true
fi
