#!/usr/bin/env bash
# The whole test suite from a fresh Debian 12 machine: install what is missing, build with
# -Wall -Wextra -Werror, run every test through ctest; then the same suite under
# ASan+UBSan; then the unit tests against Debian's shared libwolfssl (-DRG_WOLFSSL=system);
# then the libFuzzer drivers for RG_FUZZ_SECONDS (default 30: eight drivers, 4 min) each.
# The tailored wolfSSL (cmake/wolfssl.cmake) is built once into build-wolfssl/ and shared
# by the release, asan and fuzz trees.
# Usage: tools/test.sh [--quick]   (--quick: the plain build only)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
"$top/tools/install-deps.sh"
jobs=$(nproc)
status=0
wolfssl_cache=(-DRG_WOLFSSL_CACHE="$top/build-wolfssl")

run_suite() { # name, cmake args...
    local dir="$top/build-$1"; shift
    cmake -S "$top" -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
    cmake --build "$dir" -j "$jobs"
    (cd "$dir" && ctest --output-on-failure -j "$jobs") || status=1
}

echo "=== build: release"
run_suite release "${wolfssl_cache[@]}"
if [ "${1:-}" != "--quick" ]; then
    echo "=== build: asan+ubsan"
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        run_suite asan -DRG_SANITIZE=ON "${wolfssl_cache[@]}"
    echo "=== build: system libwolfssl (unit tests)"
    run_suite system -DRG_WOLFSSL=system -DRG_INTEGRATION=OFF
    echo "=== fuzz: ${RG_FUZZ_SECONDS:-30}s per driver"
    dir="$top/build-fuzz"
    CC=clang cmake -S "$top" -B "$dir" -DRG_FUZZ=ON -DRG_INTEGRATION=OFF "${wolfssl_cache[@]}" >/dev/null
    cmake --build "$dir" -j "$jobs"
    for f in "$dir"/test/fuzz_*; do
        [ -x "$f" ] || continue
        name=$(basename "$f")
        corpus="$top/test/fuzz/corpus/${name#fuzz_}"
        work=$(mktemp -d)
        cp -r "$corpus"/. "$work"/ 2>/dev/null || true
        # Packets are at most 4096 octets; a stream of them and a config file are longer.
        case $name in
        fuzz_framer) max_len=32768 ;;
        fuzz_config) max_len=16384 ;;
        *) max_len=4096 ;;
        esac
        if "$f" -max_total_time="${RG_FUZZ_SECONDS:-30}" -max_len="$max_len" -print_final_stats=1 \
            -artifact_prefix="$dir/$name-" "$work" >"$dir/$name.log" 2>&1; then
            echo "fuzz $name: ok ($(grep -m1 stat::number_of_executed_units "$dir/$name.log" | awk '{print $2}') runs)"
        else
            echo "fuzz $name: FAILED (see $dir/$name.log)"; tail -30 "$dir/$name.log"; status=1
        fi
        rm -rf "$work"
    done
fi
exit $status
