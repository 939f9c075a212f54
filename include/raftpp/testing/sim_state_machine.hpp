// raftpp::testing::state_machine — the replicated state machine of the test harness, and the
// hash chain the invariant checks compare logs and state machines with.
//
// chain(h, e) folds one entry into a digest; digest(1..i) is the chain over entries 1..i. Two
// logs or state machines with the same digest at index i hold the same entries 1..i (up to a
// 64-bit hash collision), which lets the checks compare prefixes in O(1) instead of entry by
// entry. The state machine keeps the client payloads it applied, in log order; a snapshot of
// it is that list plus its applied index and digest, so a node restored from a snapshot can be
// checked against what everyone else applied.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <raftpp/buffer.hpp>
#include <raftpp/conf_change.hpp>
#include <raftpp/types.hpp>

namespace raftpp::testing {

namespace detail {

inline std::uint64_t mix64(std::uint64_t z) noexcept {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

// FNV-1a, 64 bits.
inline std::uint64_t hash_bytes(std::string_view s) noexcept {
    std::uint64_t h = 0xcbf29ce484222325ULL;
    for (char c : s) {
        h ^= static_cast<unsigned char>(c);
        h *= 0x100000001b3ULL;
    }
    return h;
}

}  // namespace detail

// One entry folded into a prefix digest: covers term, index, type and payload.
inline std::uint64_t chain(std::uint64_t prev, const entry& e) noexcept {
    std::uint64_t h = detail::mix64(e.term * 0x9e3779b97f4a7c15ULL + e.index);
    h ^= static_cast<std::uint64_t>(e.type) << 56;
    h = detail::mix64(h ^ detail::hash_bytes(e.data.view()));
    return detail::mix64(prev ^ h) + 0x632be59bd9b4e019ULL;
}

struct state_machine {
    index_t index = 0;          // last applied index
    std::uint64_t digest = 0;   // chain over the entries 1..index
    std::vector<std::string> payloads;  // data of the non-empty normal entries, in order

    void apply(const entry& e) {
        index = e.index;
        digest = chain(digest, e);
        if (e.type == entry_type::normal && !e.data.empty()) payloads.push_back(e.data.str());
    }

    // Snapshot data: index, digest, count, then each payload with its length (little endian,
    // the layout raftpp's conf change encoding uses).
    buffer encode() const {
        std::string out;
        std::size_t n = 8 * 3;
        for (const auto& p : payloads) n += 8 + p.size();
        out.reserve(n);
        auto u64 = [&](std::uint64_t v) {
            for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>(v >> (8 * i)));
        };
        u64(index);
        u64(digest);
        u64(payloads.size());
        for (const auto& p : payloads) {
            u64(p.size());
            out.append(p);
        }
        return buffer(std::string_view(out));
    }

    static std::optional<state_machine> decode(const buffer& b) {
        raftpp::detail::byte_reader r(b.bytes());
        state_machine sm;
        std::uint64_t n = 0;
        if (!r.u64(sm.index) || !r.u64(sm.digest) || !r.u64(n) || n > r.remaining() / 8)
            return std::nullopt;
        sm.payloads.reserve(static_cast<std::size_t>(n));
        for (std::uint64_t i = 0; i < n; ++i) {
            buffer p;
            if (!r.bytes(p)) return std::nullopt;
            sm.payloads.push_back(p.str());
        }
        if (!r.done()) return std::nullopt;
        return sm;
    }

    friend bool operator==(const state_machine&, const state_machine&) = default;
};

}  // namespace raftpp::testing
