#!/usr/bin/env bash
# check.sh SOURCE_ROOT WORK_DIR
# Builds and runs the consumer programs of tests/consumer/ against raftpp every way an
# application consumes it:
#   (a) meson subproject: subprojects/raftpp is a symlink to SOURCE_ROOT; dependency('raftpp')
#       finds what our meson.build registers with meson.override_dependency(). raftpp's tests,
#       benchmarks and examples must be off by default there, and a parent can turn them on.
#   (b) installed (`meson install --destdir`), meson finds raftpp through pkg-config
#       (PKG_CONFIG_SYSROOT_DIR maps the installed prefix into the destdir);
#   (c) installed, CMake find_package(raftpp CONFIG) (CMAKE_PREFIX_PATH into the destdir);
#   (d) CMake add_subdirectory() of SOURCE_ROOT (what FetchContent does);
#   (e) installed, a plain Makefile taking its flags from `pkg-config`.
# (b)-(e) compile with -std=c++23 and check that every compile line has it and that nothing
# injected a C++20 flag: raftpp states C++20 as a minimum, never as a -std flag.
# Programs: main.cpp (raftpp), wal_main.cpp (raftpp-wal / raftpp::wal), net_main.cpp
# (raftpp-net / raftpp::net; the Makefile route builds the first two).
# Offline (no wraps are downloaded). Everything is written under WORK_DIR, wiped first.
# The compiler is $CXX when set (the meson test passes the one the build uses);
# RAFTPP_CONSUMER_JOBS bounds the parallel compiles (default: the number of CPUs).
set -euo pipefail
if [ $# -ne 2 ]; then
  echo "usage: $0 SOURCE_ROOT WORK_DIR" >&2
  exit 2
fi
src=$(cd "$1" && pwd)
work=$2
here=$(cd "$(dirname "$0")" && pwd)
jobs=${RAFTPP_CONSUMER_JOBS:-$(nproc 2>/dev/null || echo 2)}
no_extras=(-Dtests=false -Dbenchmarks=false -Dexamples=false)
read -r -a cxx <<<"${CXX:-c++}"
[ ${#cxx[@]} -gt 0 ] || cxx=(c++)

for tool in meson ninja pkg-config cmake make python3; do
  command -v "$tool" >/dev/null || {
    echo "FAIL: $tool is not installed (scripts/bootstrap installs it)"; exit 1; }
done

# fail MESSAGE [LOG]: reports the failure (with the end of LOG) and stops.
fail() {
  echo "FAIL: $1"
  if [ $# -gt 1 ] && [ -f "$2" ]; then
    echo "--- last lines of $2:"
    tail -n 60 "$2"
  fi
  exit 1
}

# ok MESSAGE: reports a route that passed, with the seconds it took.
ok() {
  echo "ok: $1 ($SECONDS s)"
  SECONDS=0
}

# run LOG CMD...: runs CMD with its output in LOG; on failure shows the log and stops.
run() {
  local log=$1; shift
  if ! "$@" >"$log" 2>&1; then
    fail "$*" "$log"
  fi
}

# consumer_project DIR: a fresh copy of the consumer project in DIR.
consumer_project() {
  mkdir -p "$1"
  cp "$here/meson.build" "$here/CMakeLists.txt" "$here/Makefile" "$here/main.cpp" \
    "$here/wal_main.cpp" "$here/net_main.cpp" "$1/"
}

# target_names BUILD_DIR: the names of a meson build's targets, one a line (read it whole:
# a reader that stops early, such as grep -q, would fail the pipeline with SIGPIPE).
target_names() {
  meson introspect --targets "$1" |
    python3 -c 'import json, sys; print("\n".join(t["name"] for t in json.load(sys.stdin)))'
}

# check_std ROUTE KIND FILE: every compile of a consumer source in FILE (KIND: json, a
# compile_commands.json; log, a make log) uses -std=c++23 and none names C++20.
check_std() {
  python3 - "$@" <<'PY' || exit 1
import json, re, sys
route, kind, path = sys.argv[1:]
sources = ('main.cpp', 'wal_main.cpp', 'net_main.cpp')
if kind == 'json':
    cmds = []
    for e in json.load(open(path)):
        if e['file'].endswith(sources):
            cmds.append(e.get('command') or ' '.join(e['arguments']))
else:
    cmds = [l.strip() for l in open(path) if re.search(r'\s(\S*/)?(wal_|net_)?main\.cpp(\s|$)', l)]
if not cmds:
    print(f'FAIL: ({route}) no compile command of the consumer sources in {path}')
    sys.exit(1)
for c in cmds:
    bad = re.search(r'-std=(c|gnu)\+\+(20|2a)\b', c)
    if bad:
        print(f'FAIL: ({route}) a C++20 flag ({bad.group(0)}) was injected:\n  {c}')
        sys.exit(1)
    if not re.search(r'(^|\s)-std=(c|gnu)\+\+(23|2b)(\s|$)', c):
        print(f'FAIL: ({route}) compiled without -std=c++23:\n  {c}')
        sys.exit(1)
print(f'  {len(cmds)} compile commands with -std=c++23, none with a C++20 flag')
PY
}

# check_min_std ROUTE FILE: a consumer that sets no standard gets C++20 from raftpp's
# compile feature (cxx_std_20), as -std=c++20 or -std=gnu++20 on every consumer source.
check_min_std() {
  python3 - "$@" <<'PY' || exit 1
import json, re, sys
route, path = sys.argv[1:]
cmds = [e.get('command') or ' '.join(e['arguments']) for e in json.load(open(path))
        if e['file'].endswith(('main.cpp', 'wal_main.cpp', 'net_main.cpp'))]
if not cmds or not all(re.search(r'(^|\s)-std=(c|gnu)\+\+(20|2a)(\s|$)', c) for c in cmds):
    print(f'FAIL: ({route}) without a standard of its own, a consumer must get C++20 from '
          f'cxx_std_20:\n  ' + '\n  '.join(cmds))
    sys.exit(1)
print('  with no standard of its own, the consumer gets C++20 from cxx_std_20')
PY
}

# run_programs ROUTE DIR [MIN_CPLUSPLUS] PROGRAM...: runs each consumer program in DIR and
# checks its output: the version of the headers, the C++ level (above MIN_CPLUSPLUS when
# not empty), TLS when OpenSSL is installed.
run_programs() {
  local route=$1 dir=$2 min_cplusplus=$3; shift 3
  local p out
  for p in "$@"; do
    [ -x "$dir/$p" ] || fail "($route) $dir/$p was not built"
    if ! out=$("$dir/$p" 2>&1); then
      fail "($route) $p failed: $out"
    fi
    echo "  $p: $out"
    case $p in
      consumer)
        [[ $out == *"(raftpp $version, C++ "* ]] ||
          fail "($route) consumer was not compiled with raftpp $version's version.hpp"
        if [ -n "$min_cplusplus" ]; then
          local level=${out##*C++ }; level=${level%)}
          [ "$level" -gt "$min_cplusplus" ] ||
            fail "($route) consumer compiled as C++ $level, not above $min_cplusplus"
        fi ;;
      consumer_net)
        [[ $out == *"tls: $expect_tls"* ]] ||
          fail "($route) consumer_net: expected tls: $expect_tls (OpenSSL is $openssl_state)" ;;
    esac
  done
}

# cmake_configure LOG BUILD_DIR SOURCE_DIR ARGS...: configures a CMake build with Ninja and
# the compiler of $CXX (its first words, such as ccache, as the launcher).
cmake_configure() {
  local log=$1 build=$2 source=$3; shift 3
  local launcher=()
  if [ ${#cxx[@]} -gt 1 ]; then
    local IFS=';'
    launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER="${cxx[*]:0:${#cxx[@]}-1}")
  fi
  run "$log" env -u CXX cmake -S "$source" -B "$build" -G Ninja \
    -DCMAKE_CXX_COMPILER="${cxx[${#cxx[@]}-1]}" "${launcher[@]}" \
    -DCMAKE_EXPORT_COMPILE_COMMANDS=ON "$@"
}

version=$(meson introspect --projectinfo "$src/meson.build" |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["version"])') ||
  fail "cannot read the project version from $src/meson.build"
if pkg-config --exists openssl; then
  expect_tls=yes openssl_state=installed
else
  expect_tls=no openssl_state="not installed"
fi
echo "raftpp $version; OpenSSL $openssl_state; compiler ${cxx[*]}; $jobs jobs"

rm -rf "$work"
mkdir -p "$work"
SECONDS=0

echo "== (a) raftpp as a meson subproject"
a=$work/subproject
consumer_project "$a"
mkdir -p "$a/subprojects"
ln -s "$src" "$a/subprojects/raftpp"
# --force-fallback-for: use the subproject even if a raftpp is installed on this machine.
# No -Draftpp:tests=false etc.: a subproject's tests, benchmarks, examples are off by default.
run "$work/a-setup.log" meson setup "$a/build" "$a" --wrap-mode=nodownload \
  --force-fallback-for=raftpp
grep -q 'Dependency raftpp found: YES .*(overridden)' "$work/a-setup.log" ||
  fail "(a) did not take raftpp from the subproject" "$work/a-setup.log"
names=$(target_names "$a/build")
extras=$(grep -E -x 'catch_main|raw_node_test|header_self_containment|raftkv|quorum_bench' \
  <<<"$names" | tr '\n' ' ' || true)
[ -z "$extras" ] ||
  fail "(a) a subproject built raftpp's tests/examples/benchmarks by default: $extras"
run "$work/a-build.log" ninja -C "$a/build" -j "$jobs"
run_programs a "$a/build" "" consumer consumer_wal consumer_net
# A parent can still ask for them (configured, not built).
run "$work/a-tests-setup.log" meson setup "$a/build-tests" "$a" --wrap-mode=nodownload \
  --force-fallback-for=raftpp -Draftpp:tests=true
names=$(target_names "$a/build-tests")
grep -q -x raw_node_test <<<"$names" ||
  fail "(a) -Draftpp:tests=true did not configure raftpp's tests" "$work/a-tests-setup.log"
ok "meson subproject (tests, benchmarks, examples off by default; -Draftpp:tests=true turns tests on)"

echo "== install raftpp (meson install --destdir)"
inst=$work/install-build
dest=$work/destdir
prefix=/opt/raftpp
root=$dest$prefix
run "$work/install-setup.log" meson setup "$inst" "$src" --prefix="$prefix" "${no_extras[@]}"
run "$work/install.log" meson install -C "$inst" --destdir "$dest"
for f in share/pkgconfig/raftpp.pc share/pkgconfig/raftpp-wal.pc share/pkgconfig/raftpp-net.pc \
         share/cmake/raftpp/raftppConfig.cmake share/cmake/raftpp/raftppConfigVersion.cmake \
         include/raftpp/raw_node.hpp include/raftpp/version.hpp \
         include/raftpp/testing/simulator.hpp include/raftpp/testing/cluster.hpp; do
  [ -f "$root/$f" ] || fail "meson install did not install $prefix/$f" "$work/install.log"
done
stray=$(find "$dest" \( -name '*.pc' -o -name 'raftpp*.cmake' \) |
  grep -v -E "^$root/share/(pkgconfig|cmake/raftpp)/" | tr '\n' ' ' || true)
[ -z "$stray" ] || fail "package files outside share/pkgconfig, share/cmake/raftpp: $stray"
if grep -H -e '-std=' "$root"/share/pkgconfig/*.pc; then
  fail "a pkg-config file names a -std flag"
fi
pcenv=(env PKG_CONFIG_PATH="$root/share/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$dest")
for p in raftpp raftpp-wal raftpp-net; do
  run "$work/pc-validate.log" "${pcenv[@]}" pkg-config --validate "$p"
done
cflags=$("${pcenv[@]}" pkg-config --cflags raftpp | xargs)
[ "$cflags" = "-I$root/include" ] ||
  fail "pkg-config --cflags raftpp is '$cflags', expected -I$root/include"
net_cflags=$("${pcenv[@]}" pkg-config --cflags raftpp-net)
if [ "$expect_tls" = yes ] && [[ $net_cflags != *-DRAFTPP_HAVE_OPENSSL* ]]; then
  fail "pkg-config --cflags raftpp-net lacks -DRAFTPP_HAVE_OPENSSL: $net_cflags"
fi
ok "installed $prefix (pkg-config and CMake files under share/, no -std flag)"

echo "== (b) installed raftpp, meson through pkg-config, C++23"
b=$work/pkgconfig
consumer_project "$b"
# nofallback: the dependency must come from pkg-config, never from a subproject. meson 1.0
# has no cpp_std=c++23: the standard goes in cpp_args.
run "$work/b-setup.log" "${pcenv[@]}" meson setup "$b/build" "$b" --wrap-mode=nofallback \
  -Dcpp_std=none -Dcpp_args=-std=c++23
for p in raftpp raftpp-wal raftpp-net; do
  grep -q "Run-time dependency $p found: YES" "$work/b-setup.log" ||
    fail "(b) did not find $p through pkg-config" "$work/b-setup.log"
done
run "$work/b-build.log" ninja -C "$b/build" -j "$jobs"
check_std b json "$b/build/compile_commands.json"
run_programs b "$b/build" 202002 consumer consumer_wal consumer_net
ok "meson + pkg-config"

echo "== (c) installed raftpp, CMake find_package(raftpp CONFIG), C++23"
run "$work/c-version.log" cmake -DVERSION_FILE="$root/share/cmake/raftpp/raftppConfigVersion.cmake" \
  -P "$here/version_check.cmake"
c=$work/cmake-package
consumer_project "$c"
cmake_configure "$work/c-setup.log" "$c/build" "$c" -DRAFTPP_CONSUMER_MODE=package \
  -DCMAKE_PREFIX_PATH="$root"
grep -q -x "raftpp_DIR:PATH=$root/share/cmake/raftpp" "$c/build/CMakeCache.txt" ||
  fail "(c) raftpp was not found in $root/share/cmake/raftpp" "$c/build/CMakeCache.txt"
run "$work/c-build.log" cmake --build "$c/build" -j "$jobs"
check_std c json "$c/build/compile_commands.json"
run_programs c "$c/build" 202002 consumer consumer_wal consumer_net
# Configured only: without Boost, the core alone is still found, and its compile feature
# gives C++20 to a consumer that sets no standard.
cmake_configure "$work/c-core-setup.log" "$c/build-core" "$c" -DRAFTPP_CONSUMER_MODE=package \
  -DCMAKE_PREFIX_PATH="$root" -DCONSUMER_CXX_STANDARD= -DCONSUMER_CORE_ONLY=ON \
  -DCMAKE_DISABLE_FIND_PACKAGE_Boost=ON
grep -q 'consumer: raftpp::wal not defined' "$work/c-core-setup.log" ||
  fail "(c) raftpp::wal defined without Boost" "$work/c-core-setup.log"
check_min_std c "$c/build-core/compile_commands.json"
# ... and asking for the wal and net components then fails, naming Boost.
if env -u CXX cmake -S "$c" -B "$c/build-noboost" -G Ninja -DRAFTPP_CONSUMER_MODE=package \
    -DCMAKE_CXX_COMPILER="${cxx[${#cxx[@]}-1]}" -DCMAKE_PREFIX_PATH="$root" \
    -DCMAKE_DISABLE_FIND_PACKAGE_Boost=ON >"$work/c-noboost-setup.log" 2>&1; then
  fail "(c) COMPONENTS wal net were found without Boost" "$work/c-noboost-setup.log"
fi
grep -q 'Boost' "$work/c-noboost-setup.log" ||
  fail "(c) without Boost, find_package(raftpp COMPONENTS wal net) did not say why" \
    "$work/c-noboost-setup.log"
echo "  without Boost: raftpp::raftpp found alone; COMPONENTS wal net refused, naming Boost"
ok "CMake find_package"

echo "== (d) CMake add_subdirectory of the source tree, C++23"
d=$work/cmake-subdirectory
consumer_project "$d"
cmake_configure "$work/d-setup.log" "$d/build" "$d" -DRAFTPP_CONSUMER_MODE=subdirectory \
  -DRAFTPP_SOURCE_DIR="$src"
run "$work/d-build.log" cmake --build "$d/build" -j "$jobs"
[ -z "$(find "$d/build/raftpp" -name '*.o' -print -quit)" ] ||
  fail "(d) add_subdirectory(raftpp) compiled something of its own"
check_std d json "$d/build/compile_commands.json"
run_programs d "$d/build" 202002 consumer consumer_wal consumer_net
cmake_configure "$work/d-core-setup.log" "$d/build-core" "$d" -DRAFTPP_CONSUMER_MODE=subdirectory \
  -DRAFTPP_SOURCE_DIR="$src" -DCONSUMER_CXX_STANDARD= -DCONSUMER_CORE_ONLY=ON \
  -DCMAKE_DISABLE_FIND_PACKAGE_Boost=ON
grep -q 'consumer: raftpp::wal not defined' "$work/d-core-setup.log" ||
  fail "(d) raftpp::wal defined without Boost" "$work/d-core-setup.log"
check_min_std d "$d/build-core/compile_commands.json"
echo "  without Boost: raftpp::raftpp alone"
ok "CMake add_subdirectory"

echo "== (e) installed raftpp, a Makefile with pkg-config flags, C++23"
e=$work/makefile
consumer_project "$e"
run "$work/e-build.log" "${pcenv[@]}" make -C "$e" -j "$jobs" CXX="${cxx[*]}"
check_std e log "$work/e-build.log"
run_programs e "$e" 202002 consumer consumer_wal
ok "Makefile + pkg-config"
