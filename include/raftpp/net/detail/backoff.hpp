// Capped exponential backoff with jitter for redialling a peer. The n-th delay after a failure
// is min(max, min * 2^n), shortened by up to `jitter` of itself at random, so peers that lost
// each other at the same moment do not redial in lockstep. The generator is seeded, so a
// seed replays the same delays; nothing here does I/O.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>

#include <raftpp/detail/random.hpp>

namespace raftpp::net::detail {

class backoff {
public:
    using duration = std::chrono::milliseconds;

    // min <= max, both > 0; jitter in [0, 1] (0: exact doubling).
    backoff(duration min, duration max, double jitter, std::uint64_t seed) noexcept
        : min_(std::max(min, duration{1})), max_(std::max(max, min_)),
          jitter_(std::clamp(jitter, 0.0, 1.0)), rng_(seed) {}

    // The delay before the next attempt; each call doubles the base up to max.
    duration next() noexcept {
        duration base = max_;
        // min * 2^attempts without overflow: stop doubling once max is reached.
        if (attempts_ < 40) base = std::min(max_, min_ * (std::int64_t{1} << attempts_));
        ++attempts_;
        // u in [0, 1): shorten the base by up to jitter * base.
        const double u = static_cast<double>(rng_.next() >> 11) * 0x1.0p-53;
        const double cut = static_cast<double>(base.count()) * jitter_ * u;
        return std::max(duration{1}, base - duration{static_cast<duration::rep>(cut)});
    }

    // After a success: the next failure starts again from min.
    void reset() noexcept { attempts_ = 0; }
    unsigned attempts() const noexcept { return attempts_; }

private:
    duration min_;
    duration max_;
    double jitter_;
    raftpp::detail::splitmix64 rng_;
    unsigned attempts_ = 0;  // delays handed out since the last reset()
};

}  // namespace raftpp::net::detail
