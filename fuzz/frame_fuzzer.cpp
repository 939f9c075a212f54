// libFuzzer target: net/frame.hpp's frame_decoder (and the codec of message, conf changes and
// the handshake under it) on arbitrary byte streams.
//
// Input: one mode byte, then the stream. The mode picks how the stream is cut into reads:
// 0 whole, 1 one byte at a time, otherwise pieces of 1..(mode % 97 + 1) bytes from a small
// generator seeded with the mode. The decoder has a small max_frame (256) so messages of a few
// hundred bytes already travel as parts, and max_message 64 KiB.
// Checked: the decoder never crashes; it ends in errc::malformed_message with a reason (and
// stays failed), or yields items; every item re-encodes (with a frame_encoder of the same
// max_frame, so big ones go as parts again) into frames that decode to the same value, and a
// decoded conf change carried in an entry re-encodes the same way through the codec.
//
// Replay one input, printing what it decodes to: RAFTPP_FUZZ_TRACE=1 ./frame_fuzzer FILE
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <span>
#include <variant>
#include <vector>

#include <raftpp/codec/message.hpp>
#include <raftpp/net/frame.hpp>

namespace raftpp::fuzz {
namespace {

inline constexpr std::size_t max_frame = 256;
inline constexpr std::uint64_t max_message = std::uint64_t{1} << 16;

[[noreturn]] void fail(const char* what) {
    std::fprintf(stderr, "raftpp-fuzz: invariant violated: %s\n", what);
    std::fflush(stderr);
    std::abort();
}

bool tracing() {
    static const bool on = std::getenv("RAFTPP_FUZZ_TRACE") != nullptr;
    return on;
}

void trace(const net::frame_decoder::item& it) {
    if (!tracing()) return;
    if (const auto* h = std::get_if<net::handshake>(&it)) {
        std::fprintf(stderr, "handshake cluster %llu from %llu to %llu\n",
                     static_cast<unsigned long long>(h->cluster_id),
                     static_cast<unsigned long long>(h->from),
                     static_cast<unsigned long long>(h->to));
        return;
    }
    const auto& m = std::get<message>(it);
    std::fprintf(stderr, "message %.*s from %llu to %llu term %llu index %llu, %zu entries%s\n",
                 static_cast<int>(to_string(m.type).size()), to_string(m.type).data(),
                 static_cast<unsigned long long>(m.from), static_cast<unsigned long long>(m.to),
                 static_cast<unsigned long long>(m.term), static_cast<unsigned long long>(m.index),
                 m.entries.size(), m.snapshot ? ", snapshot" : "");
}

// Read sizes: whole, byte by byte, or pseudo-random pieces.
class pieces {
public:
    explicit pieces(std::uint8_t mode) : mode_(mode), state_(mode * 2654435761u + 1) {}
    std::size_t next(std::size_t left) {
        if (mode_ == 0) return left;
        if (mode_ == 1) return 1;
        state_ = state_ * 1103515245u + 12345u;
        return std::min<std::size_t>(left, 1 + (state_ >> 16) % (mode_ % 97 + 1));
    }

private:
    std::uint8_t mode_;
    std::uint32_t state_;
};

// Everything the decoder yields from `in`, or that it failed.
struct decoded {
    std::vector<net::frame_decoder::item> items;
    bool failed = false;
};

decoded decode_all(std::span<const std::byte> in, pieces cut) {
    decoded out;
    net::frame_decoder d(max_frame, max_message);
    std::size_t pos = 0;
    for (;;) {
        for (;;) {
            auto r = d.next();
            if (!r) {
                if (r.error() != errc::malformed_message) fail("next() failed with another error");
                if (d.reason().empty()) fail("an error without a reason");
                if (d.next().has_value()) fail("the decoder did not stay failed");
                if (tracing()) std::fprintf(stderr, "error: %s\n", d.reason().c_str());
                out.failed = true;
                return out;
            }
            if (!*r) break;
            out.items.push_back(std::move(**r));
        }
        if (pos == in.size()) break;
        const std::size_t n = cut.next(in.size() - pos);
        auto space = d.prepare(n);
        if (space.size() < n) fail("prepare() gave less than asked");
        std::memcpy(space.data(), in.data() + pos, n);
        d.commit(n);
        pos += n;
    }
    if (d.bytes_in() != in.size()) fail("bytes_in() is not what was committed");
    return out;
}

// A conf change carried in an entry (the raftpp byte format) also goes through the codec.
void check_conf_changes(const message& m) {
    for (const entry& e : m.entries) {
        if (e.type != entry_type::conf_change_v2) continue;
        auto cc = decode_conf_change_v2(e.data);
        if (!cc) continue;
        auto back = codec::decode<conf_change_v2>(codec::encode(*cc));
        if (!back || !(*back == *cc)) fail("conf_change_v2 does not round-trip through the codec");
    }
}

// The item, framed again, decodes to itself.
void check_round_trip(const net::frame_decoder::item& it) {
    std::vector<std::byte> again;
    net::frame_encoder enc(max_frame);
    if (const auto* h = std::get_if<net::handshake>(&it)) {
        enc.encode(*h, again);
    } else {
        const auto& m = std::get<message>(it);
        enc.encode(m, again);
        if (codec::encoded_size(m) != codec::encode(m).size()) fail("encoded_size is wrong");
        check_conf_changes(m);
    }
    const decoded back = decode_all(again, pieces(0));
    if (back.failed || back.items.size() != 1) fail("a decoded item does not decode again");
    if (!(back.items[0] == it)) fail("a decoded item decodes again to something else");
}

}  // namespace
}  // namespace raftpp::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace raftpp::fuzz;
    if (size == 0) return 0;
    const std::span<const std::byte> stream(reinterpret_cast<const std::byte*>(data + 1),
                                            size - 1);
    const decoded d = decode_all(stream, pieces(data[0]));
    for (const auto& it : d.items) {
        trace(it);
        check_round_trip(it);
    }
    return 0;
}
