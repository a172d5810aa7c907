#!/usr/bin/env bash
# Makes a fresh machine ready to run Baton's Python code: installs uv when it is missing,
# then creates .venv exactly from uv.lock with the machine's own Python 3.11 — the client
# library, every extra (`all`: the services, the `baton` command, the local stack) and the
# dev tools — compiled to bytecode once. Where PYTHONDONTWRITEBYTECODE is set (many CI images set it) nothing is ever
# cached otherwise, and every process — each service start, each CLI call — compiles all it
# imports again: ~1.2 s of CPU more per service start.
set -euo pipefail
cd "$(dirname "$0")/.."

UV_VERSION=0.13.8
export PATH="$HOME/.local/bin:$PATH"
if ! command -v uv >/dev/null 2>&1; then
  if ! python3 -m pip --version >/dev/null 2>&1; then
    echo "bootstrap: python3 has no pip; install it (e.g. apt-get install python3-pip)" >&2
    exit 1
  fi
  echo "bootstrap: installing uv ${UV_VERSION} with pip --user" >&2
  export PIP_ROOT_USER_ACTION=ignore PIP_DISABLE_PIP_VERSION_CHECK=1
  # Debian marks its Python externally managed (PEP 668); a --user install is still safe.
  python3 -m pip install --user --quiet "uv==${UV_VERSION}" 2>/dev/null \
    || python3 -m pip install --user --quiet --break-system-packages "uv==${UV_VERSION}"
fi
export UV_PYTHON_DOWNLOADS=never
uv sync --frozen --extra all --compile-bytecode
# The project's own modules (an editable install, so not compiled by uv).
.venv/bin/python -m compileall -q -j 0 shared services >/dev/null
