// Frames on a byte stream: the header layout, handshakes and messages fed in pieces of any
// size, parts for messages over max_frame, every malformed frame refused with its reason,
// and random input that never crashes the decoder. RAFTPP_NET_SEED replays a run.
#include "net_codec_test_util.hpp"

using namespace net_codec_test;

// --- frames -------------------------------------------------------------------------------

TEST_CASE("a frame header is laid out as documented", "[net][frame][format]") {
    const handshake h{0xC1A5, 1, 2};
    const bytes f = frames_of(h);
    REQUIRE(f.size() == 16 + 25);
    CHECK(f[0] == std::byte{'R'});
    CHECK(f[1] == std::byte{'P'});
    CHECK(f[2] == std::byte{'F'});
    CHECK(f[3] == std::byte{'R'});
    CHECK(f[4] == std::byte{1});
    CHECK(f[5] == std::byte{1});  // handshake
    CHECK(f[6] == std::byte{0});
    CHECK(f[7] == std::byte{0});
    CHECK(get32(f, 8) == 25);
    CHECK(get32(f, 12) == crc32c(f.data() + 16, 25));
    bytes payload;  // version, cluster_id, from, to
    put8(payload, 1);
    put64(payload, 0xC1A5);
    put64(payload, 1);
    put64(payload, 2);
    CHECK(bytes(f.begin() + 16, f.end()) == payload);
    const bytes mf = frames_of(sample_app(1, 4));
    CHECK(mf[5] == std::byte{2});
    CHECK(bytes(mf.begin() + 16, mf.end()) == codec::encode(sample_app(1, 4)));
}

TEST_CASE("handshakes and messages come back whole from pieces of any size", "[net][frame]") {
    gen g{std::mt19937_64(test_seed(2))};
    frame_encoder enc;
    bytes stream;
    std::vector<frame_decoder::item> sent;
    sent.emplace_back(handshake{42, 1, 2});
    enc.encode(std::get<handshake>(sent.back()), stream);
    for (int i = 0; i < 200; ++i) {
        sent.emplace_back(g.any_msg());
        enc.encode(std::get<message>(sent.back()), stream);
    }
    sent.emplace_back(handshake{~std::uint64_t{0}, ~node_id{0}, 0});
    enc.encode(std::get<handshake>(sent.back()), stream);

    SECTION("one byte at a time") {
        frame_decoder d;
        auto r = feed(d, stream, [] { return std::size_t{1}; });
        REQUIRE(!r.error);
        CHECK(r.items == sent);
        CHECK(d.bytes_in() == stream.size());
        CHECK(!d.mid_frame());
    }
    SECTION("random pieces") {
        for (int round = 0; round < 20; ++round) {
            frame_decoder d;
            const std::uint64_t max_piece = 1 + g.below(round % 2 ? 64 : 70000);
            auto r = feed(d, stream,
                          [&] { return static_cast<std::size_t>(1 + g.below(max_piece)); });
            REQUIRE(!r.error);
            REQUIRE(r.items == sent);
            CHECK(d.bytes_in() == stream.size());
        }
    }
    SECTION("mid_frame tells a frame begun from a boundary") {
        frame_decoder d;
        const bytes one = frames_of(sample_app(2, 10));
        CHECK(!d.mid_frame());
        auto r = feed_all(d, std::span<const std::byte>(one).first(3));
        CHECK(r.items.empty());
        CHECK(d.mid_frame());
        r = feed_all(d, std::span<const std::byte>(one).subspan(3, 20));
        CHECK(d.mid_frame());
        r = feed_all(d, std::span<const std::byte>(one).subspan(23));
        CHECK(r.items.size() == 1);
        CHECK(!d.mid_frame());
        CHECK(d.bytes_in() == one.size());
    }
}

TEST_CASE("a message larger than max_frame travels as parts", "[net][frame]") {
    constexpr std::size_t max_frame = 4096;
    frame_encoder enc(max_frame);
    SECTION("a big snapshot") {
        message m = sample_snap(100000);
        m.context = buffer("after the parts");
        const bytes f = frames_of(m, max_frame);
        const std::size_t n = codec::encode(m).size();
        const auto frames = frame_list(f);
        REQUIRE(frames.size() == (n + max_frame - 1) / max_frame);
        CHECK(f.size() == n + frames.size() * net::frame_header_size);
        for (std::size_t i = 0; i + 1 < frames.size(); ++i) {
            CHECK(frames[i].first == frame_kind::message_part);
            CHECK(frames[i].second == max_frame);
        }
        CHECK(frames.back().first == frame_kind::message);
        CHECK(frames.back().second == n - (frames.size() - 1) * max_frame);

        gen g{std::mt19937_64(7)};
        for (std::size_t piece : {std::size_t{1}, std::size_t{100}, std::size_t{5000},
                                  std::size_t{1} << 20}) {
            CAPTURE(piece);
            frame_decoder d(max_frame);
            bool seen_mid = false;
            auto r = feed(d, f, [&] {
                seen_mid = seen_mid || d.mid_frame();
                return piece == 100 ? static_cast<std::size_t>(1 + g.below(200)) : piece;
            });
            REQUIRE(!r.error);
            REQUIRE(r.items.size() == 1);
            CHECK(std::get<message>(r.items[0]) == m);
            CHECK(!d.mid_frame());
        }
    }
    SECTION("sizes around max_frame, between other frames") {
        // An app message of one entry whose data makes the encoding exactly `size` bytes.
        auto sized = [](std::size_t size) {
            message m = sample_app(1, 0);
            m.entries[0].data = payload(size - codec::encode(m).size());
            REQUIRE(codec::encode(m).size() == size);
            return m;
        };
        bytes stream;
        std::vector<frame_decoder::item> sent;
        for (std::size_t size : {max_frame - 1, max_frame, max_frame + 1, 2 * max_frame,
                                 2 * max_frame + 1, 3 * max_frame - 1}) {
            sent.emplace_back(sized(size));
            bytes one;
            enc.encode(std::get<message>(sent.back()), one);
            CHECK(frame_list(one).size() == (size + max_frame - 1) / max_frame);
            append(stream, one);
            sent.emplace_back(handshake{size, 1, 2});
            enc.encode(std::get<handshake>(sent.back()), stream);
        }
        frame_decoder d(max_frame);
        auto r = feed(d, stream, [] { return std::size_t{777}; });
        REQUIRE(!r.error);
        CHECK(r.items == sent);
    }
    SECTION("the smallest max_frame") {
        const message m = sample_snap(300);
        const bytes f = frames_of(m, net::min_max_frame);
        frame_decoder d(net::min_max_frame);
        auto r = feed_all(d, f);
        REQUIRE(!r.error);
        REQUIRE(r.items.size() == 1);
        CHECK(std::get<message>(r.items[0]) == m);
    }
    SECTION("appending to a vector that already holds frames") {
        bytes out;
        enc.encode(handshake{1, 2, 3}, out);
        const message m = sample_snap(20000);
        enc.encode(m, out);
        frame_decoder d(max_frame);
        auto r = feed_all(d, out);
        REQUIRE(!r.error);
        REQUIRE(r.items.size() == 2);
        CHECK(std::get<message>(r.items[1]) == m);
    }
}

TEST_CASE("every malformed frame is refused with its reason", "[net][frame][malformed]") {
    const bytes hs = frames_of(handshake{1, 2, 3});
    const bytes msg = frames_of(sample_app(2, 8));
    auto with = [](bytes b, const std::function<void(bytes&)>& f) {
        f(b);
        return b;
    };
    auto fix_crc = [](bytes& b) {
        patch32(b, 12, crc32c(b.data() + 16, b.size() - 16));
    };
    check_refused(with(msg, [](bytes& b) { b[0] = std::byte{'X'}; }), "bad magic");
    check_refused(with(msg, [](bytes& b) { b[3] = std::byte{'r'}; }), "bad magic");
    check_refused(with(msg, [](bytes& b) { b[4] = std::byte{2}; }), "unknown frame version");
    check_refused(with(msg, [](bytes& b) { b[4] = std::byte{0}; }), "unknown frame version");
    check_refused(with(msg, [](bytes& b) { b[5] = std::byte{0}; }), "unknown frame kind");
    check_refused(with(msg, [](bytes& b) { b[5] = std::byte{4}; }), "unknown frame kind");
    check_refused(with(msg, [](bytes& b) { b[6] = std::byte{1}; }), "reserved bits set");
    check_refused(with(msg, [](bytes& b) { b[7] = std::byte{0x80}; }), "reserved bits set");
    check_refused(with(msg, [](bytes& b) { b[20] ^= std::byte{1}; }), "CRC mismatch");
    check_refused(with(msg, [](bytes& b) { b[13] ^= std::byte{1}; }), "CRC mismatch");
    // A payload that checks out but is not a message (or a handshake).
    check_refused(with(msg, [&](bytes& b) { b[17] = std::byte{99}; fix_crc(b); }),
                  "undecodable message: unknown message type");
    check_refused(with(msg,
                       [&](bytes& b) {
                           b.push_back(std::byte{0});
                           patch32(b, 8, get32(b, 8) + 1);
                           fix_crc(b);
                       }),
                  "undecodable message: trailing bytes");
    check_refused(with(msg,
                       [&](bytes& b) {
                           b.pop_back();
                           patch32(b, 8, get32(b, 8) - 1);
                           fix_crc(b);
                       }),
                  "undecodable message: input ends early");
    check_refused(with(hs, [&](bytes& b) { b[16] = std::byte{3}; fix_crc(b); }),
                  "undecodable handshake: unknown format version");
    check_refused(with(hs, [&](bytes& b) { b[5] = std::byte{2}; }), "undecodable message");
    check_refused(with(msg, [&](bytes& b) { b[5] = std::byte{1}; }), "undecodable handshake");
    // Lengths.
    check_refused(msg, "frame too long", net::min_max_frame);
    check_refused(msg, "message too long", net::default_max_frame, msg.size() - 17);
    const bytes parts = frames_of(sample_snap(10000), 4096);
    check_refused(parts, "message too long", 4096, 10000);
    check_refused(with(msg,
                       [](bytes& b) {
                           b[5] = std::byte{3};  // a message_part with no payload
                           b.resize(16);
                           patch32(b, 8, 0);
                           patch32(b, 12, crc32c(nullptr, 0));
                       }),
                  "empty message part");
    {
        bytes b = parts;
        b.resize(16 + 4096);  // the first part, then a handshake
        append(b, hs);
        check_refused(b, "handshake between message parts", 4096);
    }
    // The same reasons arrive when the bytes come one at a time.
    frame_decoder d;
    auto r = feed(d, with(msg, [](bytes& b) { b[6] = std::byte{1}; }),
                  [] { return std::size_t{1}; });
    CHECK(r.error == errc::malformed_message);
    CHECK(r.reason == "reserved bits set");
    CHECK(r.items.empty());
}

TEST_CASE("a huge length field is refused before anything is allocated for it",
          "[net][frame][malformed][alloc]") {
    bytes h = frames_of(sample_app(0, 0));
    h.resize(net::frame_header_size);
    patch32(h, 8, 0xFFFFFFFF);
    frame_decoder d;  // max_frame 64 MiB
    auto space = d.prepare(16);
    std::memcpy(space.data(), h.data(), 16);
    d.commit(16);
    const auto before = raftpp_bench::allocated_byte_count();
    auto r = d.next();
    CHECK(raftpp_bench::allocated_byte_count() - before == 0);
    CHECK(r.error() == errc::malformed_message);
    CHECK(d.reason() == "frame too long");

    // A valid length is waited for, and the buffer grows only with the bytes that arrive.
    constexpr std::size_t big = std::size_t{4} << 20;
    message m = sample_app(1, big - 200);
    const bytes f = frames_of(m, big);
    REQUIRE(frame_list(f).size() == 1);
    frame_decoder d2(big);
    std::size_t fed_bytes = 0;
    const auto before2 = raftpp_bench::allocated_byte_count();
    while (fed_bytes < 1 << 20) {  // the first MiB, in reads of 64 KiB
        auto s = d2.prepare();
        const std::size_t n = std::min<std::size_t>(64 * 1024, f.size() - fed_bytes);
        std::memcpy(s.data(), f.data() + fed_bytes, n);
        d2.commit(n);
        fed_bytes += n;
        auto item = d2.next();
        REQUIRE(item);
        REQUIRE(!*item);
    }
    // Geometric growth: well under two of what has arrived, not the 4 MiB announced.
    CHECK(raftpp_bench::allocated_byte_count() - before2 <= 2 * (fed_bytes + 64 * 1024));
    auto rest = feed_all(d2, std::span<const std::byte>(f).subspan(fed_bytes));
    REQUIRE(!rest.error);
    REQUIRE(rest.items.size() == 1);
    CHECK(std::get<message>(rest.items[0]) == m);
}

TEST_CASE("random bytes and mutated frames end in an error or valid items, never a crash",
          "[net][frame][malformed]") {
    const std::uint64_t seed = test_seed(3);
    CAPTURE(seed);
    gen g{std::mt19937_64(seed)};
    constexpr std::size_t max_frame = 256;
    std::size_t errors = 0, items = 0;
    auto check_items = [&](const fed& r) {
        // Whatever decodes is a valid value: it encodes and decodes back to itself.
        for (const auto& it : r.items) {
            bytes again;
            frame_encoder enc(max_frame);
            if (const auto* h = std::get_if<handshake>(&it)) enc.encode(*h, again);
            else enc.encode(std::get<message>(it), again);
            frame_decoder d(max_frame);
            auto back = feed_all(d, again);
            REQUIRE(!back.error);
            REQUIRE(back.items.size() == 1);
            REQUIRE(back.items[0] == it);
        }
        items += r.items.size();
        if (r.error) {
            REQUIRE(r.error == errc::malformed_message);
            REQUIRE(!r.reason.empty());
            ++errors;
        }
    };
    for (int round = 0; round < 1500; ++round) {
        CAPTURE(round);
        // Random bytes, sometimes behind a valid magic and version so the header checks pass.
        bytes b(g.below(600));
        for (auto& x : b) x = static_cast<std::byte>(g.rng());
        if (g.coin() && b.size() >= 8) {
            std::memcpy(b.data(), "RPFR", 4);
            b[4] = std::byte{1};
            b[5] = std::byte(1 + g.below(3));
            b[6] = b[7] = std::byte{0};
        }
        frame_decoder d1(max_frame, 4096);
        check_items(feed(d1, b, [&] { return static_cast<std::size_t>(1 + g.below(64)); }));

        // A valid stream, mutated.
        bytes s;
        frame_encoder enc(max_frame);
        const int n = 1 + static_cast<int>(g.below(4));
        for (int i = 0; i < n; ++i) {
            if (g.below(4) == 0) enc.encode(handshake{g.rng(), g.id(), g.id()}, s);
            else enc.encode(g.any_msg(), s);
        }
        const int edits = 1 + static_cast<int>(g.below(4));
        for (int i = 0; i < edits && !s.empty(); ++i) {
            auto& x = s[g.below(s.size())];
            switch (g.below(5)) {
            case 0: x ^= static_cast<std::byte>(1u << g.below(8)); break;
            case 1: x = static_cast<std::byte>(g.rng()); break;
            case 2: s.resize(g.below(s.size() + 1)); break;
            case 3:
                s.insert(s.begin() + static_cast<std::ptrdiff_t>(g.below(s.size())),
                         static_cast<std::byte>(g.rng()));
                break;
            default: {  // a header's length or crc field, recomputed or not
                const std::size_t at = g.below(s.size());
                if (at + 16 <= s.size())
                    patch32(s, at + 8 + 4 * g.below(2), static_cast<std::uint32_t>(g.rng()));
            }
            }
        }
        frame_decoder d2(max_frame, 1 << 16);
        check_items(feed(d2, s, [&] { return static_cast<std::size_t>(1 + g.below(300)); }));
    }
    CHECK(errors > 500);
    CHECK(items > 100);
}
