#!/usr/bin/env bash
# libEMG interop tests in libEMG's own environment: libEMG pins numpy<2, so
# it cannot share sensorio's main environment. Makes a fresh venv, installs
# sensorio from a copy of this checkout's tracked files plus libEMG there, and
# runs tests/test_libemg.py with SENSORIO_REQUIRE_LIBEMG=1 (a missing or
# broken libEMG fails, never skips).
#   bash .ci/libemg.sh            both steps
#   bash .ci/libemg.sh prepare    the venv only (.ci/run starts it early, in
#                                 the background: it needs only the network
#                                 and a compiler)
#   bash .ci/libemg.sh test       the tests, in a venv prepared before
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${LIBEMG_VENV:-/tmp/libemg-venv}
what=${1:-all}
case "$what" in all | prepare | test) ;; *) echo "usage: bash .ci/libemg.sh [prepare|test]" >&2; exit 2 ;; esac

if [ "$what" != test ]; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --upgrade pip
  # a copy, not the checkout itself: the main environment's editable install
  # may be building the C core in the checkout at the same time
  src=$(mktemp -d)
  git ls-files -z | tar --null -T - -cf - | tar -xf - -C "$src"
  "$venv/bin/pip" install -q "$src" libemg pytest
  rm -rf "$src"
fi
if [ "$what" != prepare ]; then
  [ -x "$venv/bin/pytest" ] || { echo "no libEMG venv at $venv: run bash .ci/libemg.sh prepare first" >&2; exit 1; }
  (cd / && "$venv/bin/python" -c 'import libemg, numpy, sensorio; from importlib.metadata import version; print("libemg", version("libemg"), "numpy", numpy.__version__, "sensorio from", sensorio.__file__)')
  # the venv's pytest script (not python -m): sensorio is imported from the venv, not the checkout
  SENSORIO_REQUIRE_LIBEMG=1 "$venv/bin/pytest" -q -p no:cacheprovider tests/test_libemg.py
fi
