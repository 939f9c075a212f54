// Helpers of the wire-format suites (net_codec_test, net_frame_test): seeded random values of
// every type, and feeding a frame decoder in pieces. One translation unit per program
// includes it.
#pragma once

#include <catch2/catch.hpp>

#include <raftpp/codec/message.hpp>
#include <raftpp/net/frame.hpp>

#include "../benchmarks/alloc_counter.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <vector>

using namespace raftpp;
using bytes = std::vector<std::byte>;
using net::frame_decoder;
using net::frame_encoder;
using net::frame_kind;
using net::handshake;

namespace net_codec_test {

constexpr std::uint64_t max_position = (std::uint64_t{1} << 63) - 1;

// One seed per run (printed once); each test derives its generator from it and its own salt.
std::uint64_t run_seed() {
    static const std::uint64_t seed = [] {
        std::uint64_t s = std::random_device{}();
        if (const char* env = std::getenv("RAFTPP_NET_SEED")) s = std::strtoull(env, nullptr, 0);
        std::printf("net_codec_test seed %llu (RAFTPP_NET_SEED=%llu reproduces)\n",
                    static_cast<unsigned long long>(s), static_cast<unsigned long long>(s));
        return s;
    }();
    return seed;
}
std::uint64_t test_seed(std::uint64_t salt) { return run_seed() * 0x9E3779B97F4A7C15ull + salt; }

void put8(bytes& b, std::uint8_t v) { b.push_back(std::byte{v}); }
void put64(bytes& b, std::uint64_t v) {
    for (int i = 0; i < 8; ++i) b.push_back(static_cast<std::byte>(v >> (8 * i)));
}
void put_text(bytes& b, std::string_view s) {
    for (char c : s) b.push_back(static_cast<std::byte>(c));
}
void patch64(bytes& b, std::size_t at, std::uint64_t v) {
    REQUIRE(at + 8 <= b.size());
    for (int i = 0; i < 8; ++i) b[at + i] = static_cast<std::byte>(v >> (8 * i));
}
std::uint32_t get32(const bytes& b, std::size_t at) {
    std::uint32_t v;
    std::memcpy(&v, b.data() + at, 4);
    return v;
}
void patch32(bytes& b, std::size_t at, std::uint32_t v) { std::memcpy(b.data() + at, &v, 4); }
// Appends without a range insert (GCC 12 -O3 warns falsely on those).
void append(bytes& to, std::span<const std::byte> from) {
    const std::size_t n = to.size();
    to.resize(n + from.size());
    if (!from.empty()) std::memcpy(to.data() + n, from.data(), from.size());
}

buffer payload(std::size_t n, std::uint8_t seed = 1) {
    auto b = buffer::uninitialized(n);
    for (std::size_t i = 0; i < n; ++i) b.mutable_data()[i] = static_cast<std::byte>(seed + i * 7);
    return b;
}

// --- random values ------------------------------------------------------------------------

struct gen {
    std::mt19937_64 rng;
    std::uint64_t below(std::uint64_t n) { return rng() % n; }
    bool coin() { return (rng() & 1) != 0; }
    // Terms and indexes: small, edges, or anything up to 2^63 - 1.
    std::uint64_t position() {
        switch (below(4)) {
        case 0: return below(100);
        case 1: return std::array<std::uint64_t, 4>{0, 1, max_position, max_position - 1}[below(4)];
        default: return rng() & max_position;
        }
    }
    node_id id() {
        return below(3) == 0 ? std::array<node_id, 3>{0, 1, ~node_id{0}}[below(3)] : below(8);
    }
    buffer bytes_up_to(std::size_t max) {
        auto b = buffer::uninitialized(below(max + 1));
        for (std::size_t i = 0; i < b.size(); ++i)
            b.mutable_data()[i] = static_cast<std::byte>(rng());
        return b;
    }
    std::vector<node_id> ids() {
        std::vector<node_id> v(below(5));
        for (auto& x : v) x = id();
        return v;
    }
    snapshot snap() {
        snapshot s;
        s.data = bytes_up_to(coin() ? 64 : 3000);
        s.metadata.conf_state = conf_state{ids(), ids(), ids(), ids(), coin()};
        s.metadata.index = position();
        s.metadata.term = position();
        return s;
    }
    message msg(message_type type) {
        message m;
        m.type = type;
        m.to = id();
        m.from = id();
        m.term = position();
        m.log_term = position();
        m.index = position();
        m.commit = position();
        m.reject = coin();
        m.reject_hint = position();
        if (coin()) m.context = bytes_up_to(40);
        m.entries.resize(below(3) == 0 ? 0 : below(10));
        for (auto& e : m.entries) {
            e.term = position();
            e.index = position();
            e.type = static_cast<entry_type>(below(3));
            e.data = bytes_up_to(std::array<std::size_t, 3>{16, 300, 1100}[below(3)]);
        }
        if (type == message_type::snap) m.snapshot = std::make_shared<const snapshot>(snap());
        return m;
    }
    message any_msg() { return msg(static_cast<message_type>(below(message_type_count))); }
};

template <class T>
void check_round_trip(const T& value) {
    const bytes enc = codec::encode(value);
    auto back = codec::decode<T>(enc);
    REQUIRE(back);
    CHECK(*back == value);
    CHECK(codec::encode(*back) == enc);
}

// --- feeding a decoder --------------------------------------------------------------------

struct fed {
    std::vector<frame_decoder::item> items;
    std::error_code error;
    std::string reason;
};

// Feeds `in` to d in pieces of piece() bytes, taking every item as soon as it is complete.
fed feed(frame_decoder& d, std::span<const std::byte> in,
         const std::function<std::size_t()>& piece) {
    fed out;
    std::size_t pos = 0;
    for (;;) {
        for (;;) {
            auto r = d.next();
            if (!r) {
                out.error = r.error();
                out.reason = d.reason();
                return out;
            }
            if (!*r) break;
            out.items.push_back(std::move(**r));
        }
        if (pos == in.size()) return out;
        std::size_t n = std::min(std::max<std::size_t>(piece(), 1), in.size() - pos);
        auto space = d.prepare(n);
        REQUIRE(space.size() >= n);
        std::memcpy(space.data(), in.data() + pos, n);
        d.commit(n);
        pos += n;
    }
}
fed feed_all(frame_decoder& d, std::span<const std::byte> in) {
    return feed(d, in, [] { return std::size_t{64 * 1024}; });
}

bytes frames_of(const message& m, std::size_t max_frame = net::default_max_frame) {
    bytes out;
    frame_encoder(max_frame).encode(m, out);
    return out;
}
bytes frames_of(const handshake& h) {
    bytes out;
    frame_encoder().encode(h, out);
    return out;
}

// The error a decoder reports for `in`, fed whole; the reason must contain `why`.
void check_refused(std::span<const std::byte> in, std::string_view why,
                   std::size_t max_frame = net::default_max_frame,
                   std::uint64_t max_message = std::uint64_t{4} << 30) {
    CAPTURE(why);
    frame_decoder d(max_frame, max_message);
    auto r = feed_all(d, in);
    REQUIRE(r.error == errc::malformed_message);
    CHECK(r.reason.find(why) != std::string::npos);
    INFO("reason: " << r.reason);
    // Sticky: the decoder stays failed, with the same reason.
    auto again = d.next();
    CHECK(again.error() == errc::malformed_message);
    CHECK(d.reason() == r.reason);
}

// Frame kinds and payload lengths of a well-formed frame stream.
std::vector<std::pair<frame_kind, std::uint32_t>> frame_list(const bytes& b) {
    std::vector<std::pair<frame_kind, std::uint32_t>> out;
    for (std::size_t at = 0; at < b.size();) {
        REQUIRE(b.size() - at >= net::frame_header_size);
        const std::uint32_t len = get32(b, at + 8);
        out.emplace_back(static_cast<frame_kind>(b[at + 5]), len);
        at += net::frame_header_size + len;
    }
    return out;
}

message sample_app(std::size_t n_entries, std::size_t size) {
    message m;
    m.type = message_type::app;
    m.to = 2;
    m.from = 1;
    m.term = 5;
    m.log_term = 4;
    m.index = 100;
    m.commit = 99;
    for (std::size_t i = 0; i < n_entries; ++i)
        m.entries.push_back(entry{5, 101 + i, entry_type::normal, payload(size, std::uint8_t(i))});
    return m;
}

message sample_snap(std::size_t data_size) {
    message m;
    m.type = message_type::snap;
    m.to = 3;
    m.from = 1;
    m.term = 7;
    m.snapshot = std::make_shared<const snapshot>(
        snapshot{payload(data_size, 9),
                 snapshot_metadata{{{1, 2, 3}, {4}, {}, {}, false}, 500, 6}});
    return m;
}

}  // namespace net_codec_test
