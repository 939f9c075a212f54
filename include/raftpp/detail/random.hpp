// A small seedable generator (splitmix64) for the core's randomized election timeouts.
// Each raft instance owns one, so a seed replays a whole run exactly; nothing global.
#pragma once

#include <cstdint>

namespace raftpp::detail {

class splitmix64 {
public:
    explicit splitmix64(std::uint64_t seed) noexcept : state_(seed) {}
    std::uint64_t next() noexcept {
        std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        return z ^ (z >> 31);
    }
    // Uniform in [0, n) for n > 0 (Lemire's multiply-shift; bias is negligible for tick counts).
    std::uint64_t below(std::uint64_t n) noexcept {
        __extension__ using u128 = unsigned __int128;
        return static_cast<std::uint64_t>((static_cast<u128>(next()) * n) >> 64);
    }

private:
    std::uint64_t state_;
};

}  // namespace raftpp::detail
