#!/usr/bin/env bash
# The project's two commands (see README.md). Needs only Python 3.11 on PATH.
#
#   ./dev.sh book   build the rendered book into _build/html
#   ./dev.sh test   run the whole test suite (unit tests, notebook pairing,
#                   every chapter executed in quick mode, book built with -W)
#
# Both create a virtual environment in .venv (or $KELLYNOTES_VENV) on first use
# and install the package with its book and test extras, pinned by constraints.txt.
set -euo pipefail
cd "$(dirname "$0")"

VENV="${KELLYNOTES_VENV:-.venv}"
PYTHON="${PYTHON:-python3.11}"

ensure_env() {
    if ! command -v "$PYTHON" >/dev/null 2>&1; then
        echo "dev.sh: $PYTHON not found; install Python 3.11 or set PYTHON=/path/to/python3.11" >&2
        exit 1
    fi
    if [ ! -x "$VENV/bin/python" ]; then
        echo "== creating virtual environment in $VENV"
        "$PYTHON" -m venv "$VENV"
    fi
    # Reinstall only when the dependency declarations change.
    local stamp="$VENV/.kellynotes-install"
    local want
    want=$(cat pyproject.toml constraints.txt | sha256sum | cut -d' ' -f1)
    if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
        echo "== installing kellynotes[book,test] into $VENV"
        "$VENV/bin/python" -m pip install -q --upgrade pip
        "$VENV/bin/python" -m pip install -q -c constraints.txt -e ".[book,test]"
        echo "$want" > "$stamp"
    fi
}

package_hash() {
    # The execution cache keys on cell source only; key it on the package too.
    find kellynotes -name '*.py' -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1
}

build_book() {
    # usage: build_book OUTPUT_DIR  (the book lands in OUTPUT_DIR/_build/html)
    local out="$1"
    local stamp="$out/_build/.kellynotes-package-hash"
    local want
    want=$(package_hash)
    if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
        echo "== kellynotes changed since the last build: clearing the execution cache"
        rm -rf "$out/_build/.jupyter_cache" "$out/_build/jupyter_execute" "$out/_build/.doctrees"
    fi
    # Execute the chapters the cache lacks, two at a time (one kernel keeps ~1.4 of 2 cores
    # busy), into the cache the build reads; the build then only renders.
    "$VENV/bin/python" -m kellynotes.booktools execute --cache "$out/_build/.jupyter_cache" \
        --jobs "${KELLYNOTES_BUILD_JOBS:-2}"
    "$VENV/bin/jupyter-book" build . --path-output "$out" -W -n --keep-going
    mkdir -p "$out/_build"
    echo "$want" > "$stamp"
}

case "${1:-}" in
    book)
        ensure_env
        # The rendered book is never built in quick mode.
        unset KELLYNOTES_QUICK
        build_book .
        echo "== book built: $(pwd)/_build/html/index.html"
        ;;
    test)
        ensure_env
        shift
        # Two workers, one test file at a time each (module fixtures run once): measured 39 min
        # serially, 22 min so on 2 cores. KELLYNOTES_TEST_WORKERS=0 runs the suite in this process.
        exec "$VENV/bin/python" -m pytest -n "${KELLYNOTES_TEST_WORKERS:-2}" --dist loadfile --no-loadscope-reorder "$@"
        ;;
    *)
        echo "usage: ./dev.sh book | ./dev.sh test [pytest args]" >&2
        exit 2
        ;;
esac
