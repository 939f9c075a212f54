// CRC-32C: the published check values, chaining at every split point, and the SSE4.2 path
// agreeing with the table path on many lengths and alignments.
#include <catch2/catch.hpp>

#include <raftpp/codec/crc32c.hpp>

#include <array>
#include <cstdint>
#include <cstdio>
#include <random>
#include <string_view>
#include <vector>

using raftpp::crc32c;

namespace {

std::uint32_t crc_of(std::string_view s) { return crc32c(s.data(), s.size()); }

std::vector<std::byte> random_bytes(std::mt19937_64& rng, std::size_t n) {
    std::vector<std::byte> v(n);
    for (auto& b : v) b = static_cast<std::byte>(rng());
    return v;
}

// The bitwise definition, one bit at a time: the reference both implementations must match.
std::uint32_t crc32c_bitwise(const std::byte* p, std::size_t n, std::uint32_t crc) {
    crc = ~crc;
    for (std::size_t i = 0; i < n; ++i) {
        crc ^= static_cast<std::uint8_t>(p[i]);
        for (int k = 0; k < 8; ++k) crc = (crc & 1) ? (crc >> 1) ^ 0x82F63B78u : crc >> 1;
    }
    return ~crc;
}

}  // namespace

TEST_CASE("crc32c matches the published check values", "[crc32c]") {
    CHECK(crc_of("123456789") == 0xE3069283u);
    CHECK(crc_of("") == 0u);
    CHECK(crc32c(nullptr, 0) == 0u);
    CHECK(crc32c(nullptr, 0, 0x12345678u) == 0x12345678u);

    // RFC 3720 appendix B.4.
    std::array<std::byte, 32> zeros{}, ones{}, ascending{}, descending{};
    for (std::size_t i = 0; i < 32; ++i) {
        ones[i] = std::byte{0xff};
        ascending[i] = static_cast<std::byte>(i);
        descending[i] = static_cast<std::byte>(31 - i);
    }
    CHECK(crc32c(zeros) == 0x8A9136AAu);
    CHECK(crc32c(ones) == 0x62A8AB43u);
    CHECK(crc32c(ascending) == 0x46DD794Eu);
    CHECK(crc32c(descending) == 0x113FDB5Cu);
}

TEST_CASE("both implementations match the published check values", "[crc32c]") {
    const std::string_view s = "123456789";
    CHECK(raftpp::detail::crc32c_sw(s.data(), s.size()) == 0xE3069283u);
    if (raftpp::detail::crc32c_hw_available())
        CHECK(raftpp::detail::crc32c_hw(s.data(), s.size()) == 0xE3069283u);
    else
        WARN("no SSE4.2 on this machine: only the table implementation is tested");
}

TEST_CASE("crc32c chains: crc(b, crc(a)) == crc(a ++ b) at every split point", "[crc32c]") {
    std::mt19937_64 rng(7);
    // Long enough to cross both stream lengths of the hardware path (3 * 256 and 3 * 8192).
    for (std::size_t n : {0u, 1u, 7u, 8u, 9u, 100u, 769u, 1500u}) {
        auto data = random_bytes(rng, n);
        const std::uint32_t whole = crc32c(data);
        CAPTURE(n);
        for (std::size_t split = 0; split <= n; ++split) {
            std::span<const std::byte> all(data);
            CHECK(crc32c(all.subspan(split), crc32c(all.first(split))) == whole);
        }
    }
    auto big = random_bytes(rng, 3 * 8192 * 2 + 3 * 256 + 123);
    std::span<const std::byte> all(big);
    const std::uint32_t whole = crc32c(all);
    for (std::size_t split : {1u, 4096u, 3u * 8192u, 3u * 8192u + 1, 40000u, 50000u})
        CHECK(crc32c(all.subspan(split), crc32c(all.first(split))) == whole);
    // Three-way chaining too.
    CHECK(crc32c(all.subspan(30000), crc32c(all.subspan(10, 29990), crc32c(all.first(10)))) ==
          whole);
}

TEST_CASE("the hardware and table implementations agree on every length and alignment",
          "[crc32c]") {
    if (!raftpp::detail::crc32c_hw_available()) {
        WARN("no SSE4.2 on this machine: nothing to compare");
        return;
    }
    const std::uint64_t seed = std::random_device{}();
    std::printf("crc32c_test seed %llu\n", static_cast<unsigned long long>(seed));
    std::mt19937_64 rng(seed);
    CAPTURE(seed);
    auto data = random_bytes(rng, 3 * 8192 * 3 + 4096);
    std::vector<std::size_t> lengths;
    for (std::size_t n = 0; n <= 2100; ++n) lengths.push_back(n);
    for (std::size_t n : {3u * 8192u - 1, 3u * 8192u, 3u * 8192u + 7, 2u * 3u * 8192u + 768u + 5,
                          3u * 8192u * 3u})
        lengths.push_back(n);
    for (std::size_t n : lengths) {
        for (std::size_t offset = 0; offset < 8; ++offset) {
            const std::byte* p = data.data() + offset;
            const auto init = static_cast<std::uint32_t>(rng());
            const std::uint32_t sw = raftpp::detail::crc32c_sw(p, n, init);
            const std::uint32_t hw = raftpp::detail::crc32c_hw(p, n, init);
            if (sw != hw) {
                CAPTURE(n, offset, init);
                FAIL("hardware and table CRCs differ");
            }
        }
    }
    SUCCEED();
}

TEST_CASE("the table implementation matches the bitwise definition", "[crc32c]") {
    std::mt19937_64 rng(11);
    auto data = random_bytes(rng, 600);
    for (std::size_t n = 0; n <= 520; ++n)
        for (std::size_t offset = 0; offset < 8; ++offset) {
            const auto init = static_cast<std::uint32_t>(rng());
            const std::byte* p = data.data() + offset;
            if (raftpp::detail::crc32c_sw(p, n, init) != crc32c_bitwise(p, n, init)) {
                CAPTURE(n, offset, init);
                FAIL("table CRC differs from the bitwise definition");
            }
        }
    SUCCEED();
}
