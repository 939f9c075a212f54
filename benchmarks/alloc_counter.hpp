// Counts heap allocations (and the bytes they request) in a benchmark program by replacing the
// global allocation functions.
// Include from exactly one translation unit per program (each benchmark is one TU).
// noinline: GCC 12 otherwise pairs the inlined malloc/free with new/delete and reports a
// false -Wmismatched-new-delete.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <new>

namespace raftpp_bench {
inline std::atomic<std::uint64_t> allocations{0};
// Bytes requested from operator new since start (cumulative, frees are not subtracted).
inline std::atomic<std::uint64_t> allocated_bytes{0};
inline std::uint64_t allocation_count() { return allocations.load(std::memory_order_relaxed); }
inline std::uint64_t allocated_byte_count() {
    return allocated_bytes.load(std::memory_order_relaxed);
}
}  // namespace raftpp_bench

[[gnu::noinline]] void* operator new(std::size_t n) {
    raftpp_bench::allocations.fetch_add(1, std::memory_order_relaxed);
    raftpp_bench::allocated_bytes.fetch_add(n, std::memory_order_relaxed);
    if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
    throw std::bad_alloc();
}
[[gnu::noinline]] void* operator new[](std::size_t n) { return ::operator new(n); }
[[gnu::noinline]] void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
    raftpp_bench::allocations.fetch_add(1, std::memory_order_relaxed);
    raftpp_bench::allocated_bytes.fetch_add(n, std::memory_order_relaxed);
    return std::malloc(n == 0 ? 1 : n);
}
[[gnu::noinline]] void* operator new[](std::size_t n, const std::nothrow_t& t) noexcept {
    return ::operator new(n, t);
}
[[gnu::noinline]] void operator delete(void* p) noexcept { std::free(p); }
[[gnu::noinline]] void operator delete(void* p, std::size_t) noexcept { std::free(p); }
[[gnu::noinline]] void operator delete[](void* p) noexcept { std::free(p); }
[[gnu::noinline]] void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
[[gnu::noinline]] void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
[[gnu::noinline]] void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
