#!/usr/bin/env bash
# libEMG interop tests in libEMG's own environment: libEMG pins numpy<2, so
# it cannot share sensorio's main environment. Makes a fresh venv, installs
# sensorio from this checkout plus libEMG there, and runs tests/test_libemg.py
# with SENSORIO_REQUIRE_LIBEMG=1 (a missing or broken libEMG fails, never skips).
# Called by .ci/run; runs alone too: bash .ci/libemg.sh
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${LIBEMG_VENV:-/tmp/libemg-venv}
rm -rf "$venv"
python3 -m venv "$venv"
"$venv/bin/pip" install -q --upgrade pip
# sensorio from this checkout (not editable: the main environment's install stays as it is)
"$venv/bin/pip" install -q . libemg pytest
(cd / && "$venv/bin/python" -c 'import libemg, numpy, sensorio; from importlib.metadata import version; print("libemg", version("libemg"), "numpy", numpy.__version__, "sensorio from", sensorio.__file__)')
# the venv's pytest script (not python -m): sensorio is imported from the venv, not the checkout
SENSORIO_REQUIRE_LIBEMG=1 "$venv/bin/pytest" -q -p no:cacheprovider tests/test_libemg.py
