// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78: iSCSI, ext4, etcd's WAL). No
// dependency, header-only. crc32c(b, crc32c(a)) == crc32c(a ++ b), so a record's CRC can chain
// from the previous one. On x86-64 with SSE4.2 (checked once at run time, no -msse4.2 needed)
// three interleaved crc32 instruction streams are used; elsewhere slicing-by-8 tables.
#pragma once

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <nmmintrin.h>
#define RAFTPP_CRC32C_X86 1
#else
#define RAFTPP_CRC32C_X86 0
#endif

namespace raftpp {

namespace detail {

// Polynomials use zlib's reflected representation: bit 31 holds x^0, bit 0 holds x^31.
inline constexpr std::uint32_t crc32c_poly = 0x82F63B78u;

// a * b mod P (zlib's multmodp).
constexpr std::uint32_t crc32c_multmodp(std::uint32_t a, std::uint32_t b) noexcept {
    std::uint32_t p = 0;
    for (std::uint32_t m = 1u << 31; m != 0; m >>= 1) {
        if (a & m) p ^= b;
        b = (b & 1) ? (b >> 1) ^ crc32c_poly : b >> 1;
    }
    return p;
}

// x^(8 * n) mod P: the operator that feeds n zero bytes through a raw CRC register.
constexpr std::uint32_t crc32c_x8nmodp(std::uint64_t n) noexcept {
    std::uint32_t result = 1u << 31;  // x^0
    std::uint32_t square = 1u << 23;  // x^8
    for (; n != 0; n >>= 1) {
        if (n & 1) result = crc32c_multmodp(square, result);
        square = crc32c_multmodp(square, square);
    }
    return result;
}

using crc32c_table = std::array<std::array<std::uint32_t, 256>, 8>;

// tables[k][b]: the raw CRC of byte b followed by k zero bytes (slicing-by-8).
constexpr crc32c_table make_crc32c_tables() noexcept {
    crc32c_table t{};
    for (std::uint32_t b = 0; b < 256; ++b) {
        std::uint32_t c = b;
        for (int i = 0; i < 8; ++i) c = (c & 1) ? (c >> 1) ^ crc32c_poly : c >> 1;
        t[0][b] = c;
    }
    for (std::size_t k = 1; k < 8; ++k)
        for (std::size_t b = 0; b < 256; ++b)
            t[k][b] = (t[k - 1][b] >> 8) ^ t[0][t[k - 1][b] & 0xff];
    return t;
}
inline constexpr crc32c_table crc32c_tables = make_crc32c_tables();

// The raw CRC of table-driven slicing-by-8 over [p, p + n), from register `crc`.
inline std::uint32_t crc32c_sw_raw(const unsigned char* p, std::size_t n,
                                   std::uint32_t crc) noexcept {
    const auto& t = crc32c_tables;
    for (; n != 0 && (reinterpret_cast<std::uintptr_t>(p) & 7) != 0; --n)
        crc = (crc >> 8) ^ t[0][(crc ^ *p++) & 0xff];
    for (; std::endian::native == std::endian::little && n >= 8; n -= 8, p += 8) {
        std::uint64_t w;
        std::memcpy(&w, p, 8);
        w ^= crc;  // little-endian: the first byte is the low byte
        crc = t[7][w & 0xff] ^ t[6][(w >> 8) & 0xff] ^ t[5][(w >> 16) & 0xff] ^
              t[4][(w >> 24) & 0xff] ^ t[3][(w >> 32) & 0xff] ^ t[2][(w >> 40) & 0xff] ^
              t[1][(w >> 48) & 0xff] ^ t[0][w >> 56];
    }
    for (; n != 0; --n) crc = (crc >> 8) ^ t[0][(crc ^ *p++) & 0xff];
    return crc;
}

// The table implementation, with the public semantics (see raftpp::crc32c).
inline std::uint32_t crc32c_sw(const void* data, std::size_t size, std::uint32_t crc = 0) noexcept {
    return ~crc32c_sw_raw(static_cast<const unsigned char*>(data), size, ~crc);
}

// A shift operator as four byte tables: shift(c) = raw CRC register c followed by `bytes`
// zero bytes, used to join the three interleaved streams of the hardware path.
struct crc32c_shift_table {
    std::array<std::array<std::uint32_t, 256>, 4> t{};
    constexpr explicit crc32c_shift_table(std::uint64_t bytes) noexcept {
        const std::uint32_t op = crc32c_x8nmodp(bytes);
        for (std::uint32_t k = 0; k < 4; ++k)
            for (std::uint32_t b = 0; b < 256; ++b) t[k][b] = crc32c_multmodp(op, b << (8 * k));
    }
    constexpr std::uint32_t operator()(std::uint32_t c) const noexcept {
        return t[0][c & 0xff] ^ t[1][(c >> 8) & 0xff] ^ t[2][(c >> 16) & 0xff] ^ t[3][c >> 24];
    }
};
// Stream lengths of the hardware path: three streams of `long` bytes while 3 * long remain,
// then of `short`. Long enough that the join (8 lookups) is noise, short enough for a 1 KiB
// record to use the interleaved loop.
inline constexpr std::size_t crc32c_long = 8192;
inline constexpr std::size_t crc32c_short = 256;
inline constexpr crc32c_shift_table crc32c_shift_long{crc32c_long};
inline constexpr crc32c_shift_table crc32c_shift_short{crc32c_short};

#if RAFTPP_CRC32C_X86

inline bool crc32c_hw_available() noexcept {
    static const bool available = [] {
        __builtin_cpu_init();
        return __builtin_cpu_supports("sse4.2") != 0;
    }();
    return available;
}

// Three streams of `len` bytes each at p, p + len, p + 2 * len: the crc32 instruction has a
// latency of 3 cycles and a throughput of 1, so three independent chains keep it busy.
__attribute__((target("sse4.2"))) inline std::uint64_t crc32c_hw_3way(
    const unsigned char*& p, std::uint64_t crc, std::size_t len,
    const crc32c_shift_table& shift) noexcept {
    std::uint64_t c0 = crc, c1 = 0, c2 = 0;
    const unsigned char* end = p + len;
    for (; p != end; p += 8) {
        std::uint64_t w0, w1, w2;
        std::memcpy(&w0, p, 8);
        std::memcpy(&w1, p + len, 8);
        std::memcpy(&w2, p + 2 * len, 8);
        c0 = _mm_crc32_u64(c0, w0);
        c1 = _mm_crc32_u64(c1, w1);
        c2 = _mm_crc32_u64(c2, w2);
    }
    p += 2 * len;
    // raw(c, A ++ B) = shift_|B|(raw(c, A)) ^ raw(0, B)
    c0 = shift(static_cast<std::uint32_t>(c0)) ^ c1;
    return shift(static_cast<std::uint32_t>(c0)) ^ c2;
}

// The SSE4.2 implementation, with the public semantics. Call only if crc32c_hw_available().
__attribute__((target("sse4.2"))) inline std::uint32_t crc32c_hw(const void* data,
                                                                   std::size_t size,
                                                                   std::uint32_t crc = 0) noexcept {
    auto p = static_cast<const unsigned char*>(data);
    std::uint64_t c = ~crc;
    for (; size != 0 && (reinterpret_cast<std::uintptr_t>(p) & 7) != 0; --size)
        c = _mm_crc32_u8(static_cast<std::uint32_t>(c), *p++);
    for (; size >= 3 * crc32c_long; size -= 3 * crc32c_long)
        c = crc32c_hw_3way(p, c, crc32c_long, crc32c_shift_long);
    for (; size >= 3 * crc32c_short; size -= 3 * crc32c_short)
        c = crc32c_hw_3way(p, c, crc32c_short, crc32c_shift_short);
    for (; size >= 8; size -= 8, p += 8) {
        std::uint64_t w;
        std::memcpy(&w, p, 8);
        c = _mm_crc32_u64(c, w);
    }
    for (; size != 0; --size) c = _mm_crc32_u8(static_cast<std::uint32_t>(c), *p++);
    return ~static_cast<std::uint32_t>(c);
}

#else

inline bool crc32c_hw_available() noexcept { return false; }
// No hardware path on this target: the table implementation under the same name.
inline std::uint32_t crc32c_hw(const void* data, std::size_t size, std::uint32_t crc = 0) noexcept {
    return crc32c_sw(data, size, crc);
}

#endif

}  // namespace detail

// CRC-32C of [data, data + size), continuing from `crc`, the CRC-32C of the bytes before them
// (0 for none): crc32c(b, n2, crc32c(a, n1)) == CRC-32C of a followed by b.
// crc32c("123456789", 9) == 0xE3069283.
inline std::uint32_t crc32c(const void* data, std::size_t size, std::uint32_t crc = 0) noexcept {
    return detail::crc32c_hw_available() ? detail::crc32c_hw(data, size, crc)
                                         : detail::crc32c_sw(data, size, crc);
}

inline std::uint32_t crc32c(std::span<const std::byte> data, std::uint32_t crc = 0) noexcept {
    return crc32c(data.data(), data.size(), crc);
}

}  // namespace raftpp
