#!/usr/bin/env bash
# compile_fail.sh CXX INCLUDE_DIR SOURCE EXPECTED
# Passes when SOURCE fails to compile and the diagnostics contain EXPECTED.
cxx=$1 inc=$2 src=$3 expected=$4
out=$("$cxx" -std=c++20 -fsyntax-only -I"$inc" "$src" 2>&1)
if [ $? -eq 0 ]; then
  echo "FAIL: $src compiled, but it must not"
  exit 1
fi
if ! grep -qF -- "$expected" <<<"$out"; then
  echo "FAIL: diagnostics of $src do not contain: $expected"
  echo "$out" | head -40
  exit 1
fi
echo "ok: $src fails with: $expected"
