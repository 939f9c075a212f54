#!/usr/bin/env bash
# check.sh SOURCE_ROOT WORK_DIR
# Builds and runs tests/consumer/ against raftpp the two ways an application consumes it:
#   (a) subproject: subprojects/raftpp is a symlink to SOURCE_ROOT; `dependency('raftpp')`
#       finds the dependency our meson.build registers with meson.override_dependency();
#   (b) installed: `meson install --destdir`, then `dependency('raftpp')` through pkg-config
#       (PKG_CONFIG_SYSROOT_DIR maps the installed prefix into the destdir).
# Offline (no wraps are downloaded). Everything is written under WORK_DIR, wiped first.
# The compiler is $CXX when set (the meson test passes the one the build uses).
set -euo pipefail
src=$(cd "$1" && pwd)
work=$2
here=$(cd "$(dirname "$0")" && pwd)
no_extras=(-Dtests=false -Dbenchmarks=false -Dexamples=false)

# run LOG CMD...: runs CMD with its output in LOG; on failure shows the log and stops.
run() {
  local log=$1; shift
  if ! "$@" >"$log" 2>&1; then
    echo "FAIL: $*"
    tail -n 60 "$log"
    exit 1
  fi
}

# consumer_project DIR: a fresh copy of the consumer project in DIR.
consumer_project() {
  mkdir -p "$1"
  cp "$here/meson.build" "$here/main.cpp" "$here/wal_main.cpp" "$1/"
}

rm -rf "$work"
mkdir -p "$work"

echo "== (a) raftpp as a subproject"
a=$work/subproject
consumer_project "$a"
mkdir -p "$a/subprojects"
ln -s "$src" "$a/subprojects/raftpp"
# --force-fallback-for: use the subproject even if a raftpp is installed on this machine.
run "$work/a-setup.log" meson setup "$a/build" "$a" --wrap-mode=nodownload \
  --force-fallback-for=raftpp -Draftpp:tests=false -Draftpp:benchmarks=false \
  -Draftpp:examples=false
grep -q 'Dependency raftpp found: YES .*(overridden)' "$work/a-setup.log" || {
  echo "FAIL: (a) did not take raftpp from the subproject"; cat "$work/a-setup.log"; exit 1; }
run "$work/a-build.log" ninja -C "$a/build"
run "$work/a-test.log" meson test -C "$a/build" --no-rebuild --print-errorlogs
echo "ok: subproject"

echo "== (b) raftpp installed, found through pkg-config"
inst=$work/install-build
dest=$work/destdir
prefix=/opt/raftpp
run "$work/b-install-setup.log" meson setup "$inst" "$src" --prefix="$prefix" "${no_extras[@]}"
run "$work/b-install.log" meson install -C "$inst" --destdir "$dest"
pc=$(find "$dest" -name raftpp.pc -print -quit)
[ -n "$pc" ] || { echo "FAIL: meson install did not install raftpp.pc"; exit 1; }
b=$work/pkgconfig
consumer_project "$b"
# nofallback: the dependency must come from pkg-config, never from a subproject.
run "$work/b-setup.log" env PKG_CONFIG_PATH="$(dirname "$pc")" PKG_CONFIG_SYSROOT_DIR="$dest" \
  meson setup "$b/build" "$b" --wrap-mode=nofallback
grep -q 'Run-time dependency raftpp found: YES' "$work/b-setup.log" || {
  echo "FAIL: (b) did not find raftpp through pkg-config"; cat "$work/b-setup.log"; exit 1; }
run "$work/b-build.log" ninja -C "$b/build"
run "$work/b-test.log" meson test -C "$b/build" --no-rebuild --print-errorlogs
echo "ok: pkg-config"
