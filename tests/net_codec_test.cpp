// The codec of message, conf_change and conf_change_v2 (codec/message.hpp, docs/net.md):
// round trips of every message type with seeded random values and edge values, the pinned
// bytes of a message, conf changes v1 and v2; then the failure half: every malformed encoding
// is refused with its own reason, and decoding allocates only what a message owns. Frames are
// in net_frame_test. Seeds come from RAFTPP_NET_SEED or std::random_device and are printed.
#include "net_codec_test_util.hpp"

using namespace net_codec_test;

// --- the codec ----------------------------------------------------------------------------

TEST_CASE("every message type round-trips with random values", "[net][codec]") {
    gen g{std::mt19937_64(test_seed(1))};
    const auto t = GENERATE(range(0, message_type_count));
    const auto type = static_cast<message_type>(t);
    CAPTURE(to_string(type));
    for (int i = 0; i < 50; ++i) {
        const message m = g.msg(type);
        check_round_trip(m);
        const bytes enc = codec::encode(m);
        CHECK(codec::encoded_size(m) == enc.size());
        // The entries are written as codec::encode(entry) writes each (message.hpp stages them).
        bytes entries;
        for (const auto& e : m.entries) append(entries, codec::encode(e));
        const std::size_t at = 59 + 8 + m.context.size() + 8;
        REQUIRE(enc.size() >= at + entries.size());
        CHECK(std::equal(entries.begin(), entries.end(),
                         enc.begin() + static_cast<std::ptrdiff_t>(at)));
    }
}

TEST_CASE("edge values round-trip", "[net][codec]") {
    check_round_trip(message{});
    message m = sample_app(3, 16);
    m.to = m.from = ~node_id{0};
    m.term = m.log_term = m.index = m.commit = m.reject_hint = max_position;
    m.reject = true;
    m.context = buffer("ctx");
    check_round_trip(m);
    // Snapshots with data, large and empty; entries around the encoder's thresholds.
    check_round_trip(sample_snap(0));
    check_round_trip(sample_snap(1 << 20));
    message big = sample_app(0, 0);
    for (std::size_t n : {0u, 1u, 127u, 128u, 129u, 4096u})
        big.entries.push_back(entry{5, 101 + big.entries.size(), entry_type::normal, payload(n)});
    check_round_trip(big);
}

TEST_CASE("conf changes round-trip, v1 and v2, with contexts", "[net][codec]") {
    using T = conf_change_type;
    for (auto type : {T::add_node, T::remove_node, T::update_node, T::add_learner_node}) {
        check_round_trip(conf_change{type, 4, {}});
        check_round_trip(conf_change{type, ~node_id{0}, buffer("context bytes")});
    }
    check_round_trip(conf_change_v2{});
    for (auto tr : {conf_change_transition::automatic, conf_change_transition::joint_implicit,
                    conf_change_transition::joint_explicit})
        check_round_trip(conf_change_v2{
            tr, {{T::add_node, 4}, {T::remove_node, 1}, {T::add_learner_node, 7}}, buffer("c")});
    check_round_trip(conf_change_v2{conf_change_transition::automatic, {}, payload(1000)});
    // The sizes docs/net.md gives: 18 + n and 18 + 9k + n.
    CHECK(codec::encode(conf_change{T::add_node, 4, buffer("ab")}).size() == 18 + 2);
    CHECK(codec::encode(conf_change_v2{conf_change_transition::automatic,
                                       {{T::add_node, 4}, {T::remove_node, 1}}, buffer("ab")})
              .size() == 18 + 2 * 9 + 2);
}

TEST_CASE("a message encodes to exactly these bytes", "[net][codec][format]") {
    // docs/net.md: a change here is a format change: bump message_version.
    message m;
    m.type = message_type::app_resp;
    m.to = 0x0102030405060708;
    m.from = 2;
    m.term = 3;
    m.log_term = 4;
    m.index = 5;
    m.commit = 6;
    m.reject = true;
    m.reject_hint = 7;
    m.context = buffer("cx");
    m.entries.push_back(entry{8, 9, entry_type::conf_change, buffer("e")});
    bytes expected;
    put8(expected, 1);  // version
    put8(expected, 4);  // app_resp
    for (std::uint64_t v : {std::uint64_t{0x0102030405060708}, std::uint64_t{2}, std::uint64_t{3},
                            std::uint64_t{4}, std::uint64_t{5}, std::uint64_t{6}})
        put64(expected, v);
    put8(expected, 1);  // reject
    put64(expected, 7);
    put64(expected, 2);
    put_text(expected, "cx");
    put64(expected, 1);  // one entry, as types.hpp encodes it
    put8(expected, 1);
    put64(expected, 8);
    put64(expected, 9);
    put8(expected, 1);
    put64(expected, 1);
    put_text(expected, "e");
    put8(expected, 0);  // no snapshot
    CHECK(codec::encode(m) == expected);
    CHECK(expected.size() == 76 + 2 + 26 + 1);
    // A snap message: has_snapshot 1, then the snapshot's own encoding.
    const message s = sample_snap(5);
    const bytes enc = codec::encode(s);
    const bytes snap = codec::encode(*s.snapshot);
    REQUIRE(enc.size() == 76 + snap.size());
    CHECK(enc[75] == std::byte{1});
    CHECK(bytes(enc.begin() + 76, enc.end()) == snap);
}

TEST_CASE("malformed message encodings are refused with a reason", "[net][codec][malformed]") {
    const message base = sample_app(1, 3);
    const bytes good = codec::encode(base);
    REQUIRE(codec::decode<message>(good));
    struct tc {
        std::string_view name;
        std::function<void(bytes&)> mutate;
    };
    const tc cases[] = {
        {"version 0", [](bytes& b) { b[0] = std::byte{0}; }},
        {"version from the future", [](bytes& b) { b[0] = std::byte{2}; }},
        {"message type past the last", [](bytes& b) { b[1] = std::byte{message_type_count}; }},
        {"message type 255", [](bytes& b) { b[1] = std::byte{255}; }},
        {"term above 2^63-1", [](bytes& b) { patch64(b, 18, max_position + 1); }},
        {"log_term above 2^63-1", [](bytes& b) { patch64(b, 26, ~std::uint64_t{0}); }},
        {"index above 2^63-1", [](bytes& b) { patch64(b, 34, max_position + 1); }},
        {"commit above 2^63-1", [](bytes& b) { patch64(b, 42, max_position + 1); }},
        {"reject not a bool", [](bytes& b) { b[50] = std::byte{2}; }},
        {"reject_hint above 2^63-1", [](bytes& b) { patch64(b, 51, max_position + 1); }},
        {"context beyond the input", [](bytes& b) { patch64(b, 59, 1u << 20); }},
        {"entry count beyond the input", [](bytes& b) { patch64(b, 67, ~std::uint64_t{0}); }},
        {"entry term above 2^63-1", [](bytes& b) { patch64(b, 76, max_position + 1); }},
        {"entry type unknown", [](bytes& b) { b[92] = std::byte{3}; }},
        {"has_snapshot not a bool", [](bytes& b) { b.back() = std::byte{2}; }},
        {"snapshot on a non-snap message", [](bytes& b) { b.back() = std::byte{1}; }},
        {"trailing byte", [](bytes& b) { b.push_back(std::byte{0}); }},
        {"snap message without snapshot", [](bytes& b) { b[1] = std::byte{7}; }},
    };
    for (const auto& c : cases) {
        CAPTURE(c.name);
        bytes b = good;
        c.mutate(b);
        CHECK(codec::decode<message>(b).error() == errc::malformed_message);
    }
    // Every truncation.
    const bytes snap = codec::encode(sample_snap(20));
    for (const bytes* enc : {&good, &snap})
        for (std::size_t n = 0; n < enc->size(); ++n) {
            CAPTURE(n);
            REQUIRE(codec::decode<message>(std::span<const std::byte>(*enc).first(n)).error() ==
                    errc::malformed_message);
        }
    // A snap message whose encoder was handed no snapshot: written faithfully, refused.
    message no_snap = base;
    no_snap.type = message_type::snap;
    CHECK(codec::decode<message>(codec::encode(no_snap)).error() == errc::malformed_message);
    message stray = base;
    stray.snapshot = sample_snap(1).snapshot;
    CHECK(codec::decode<message>(codec::encode(stray)).error() == errc::malformed_message);
}

TEST_CASE("malformed conf change encodings are refused", "[net][codec][malformed]") {
    using T = conf_change_type;
    bytes v1 = codec::encode(conf_change{T::add_node, 4, buffer("ab")});
    bytes v2 = codec::encode(
        conf_change_v2{conf_change_transition::automatic, {{T::add_node, 4}}, buffer("ab")});
    REQUIRE(codec::decode<conf_change>(v1));
    REQUIRE(codec::decode<conf_change_v2>(v2));
    auto bad1 = [&](auto mutate) {
        bytes b = v1;
        mutate(b);
        return codec::decode<conf_change>(b).error() == errc::malformed_message;
    };
    auto bad2 = [&](auto mutate) {
        bytes b = v2;
        mutate(b);
        return codec::decode<conf_change_v2>(b).error() == errc::malformed_message;
    };
    CHECK(bad1([](bytes& b) { b[0] = std::byte{2}; }));
    CHECK(bad1([](bytes& b) { b[1] = std::byte{4}; }));  // type past add_learner_node
    CHECK(bad1([](bytes& b) { patch64(b, 10, 3); }));    // context past the end
    CHECK(bad1([](bytes& b) { b.pop_back(); }));
    CHECK(bad2([](bytes& b) { b[0] = std::byte{0}; }));
    CHECK(bad2([](bytes& b) { b[1] = std::byte{3}; }));  // transition past joint_explicit
    CHECK(bad2([](bytes& b) { patch64(b, 2, ~std::uint64_t{0}); }));  // change count
    CHECK(bad2([](bytes& b) { b[10] = std::byte{4}; }));              // change type
    CHECK(bad2([](bytes& b) { b.push_back(std::byte{0}); }));
}

TEST_CASE("encoding and decoding a message allocate only for what it owns", "[net][alloc]") {
    const message m = sample_app(64, 16);
    frame_encoder enc;
    bytes out;
    out.reserve(1 << 20);
    enc.encode(m, out);
    const auto before = raftpp_bench::allocation_count();
    for (int i = 0; i < 100; ++i) {
        out.clear();
        enc.encode(m, out);
    }
    CHECK(raftpp_bench::allocation_count() - before == 0);
    // Decoding: the entries' vector and one buffer per payload, nothing per frame.
    frame_decoder dec;
    auto space = dec.prepare(out.size());
    std::memcpy(space.data(), out.data(), out.size());
    dec.commit(out.size());
    const auto before_decode = raftpp_bench::allocation_count();
    auto r = dec.next();
    const auto allocations = raftpp_bench::allocation_count() - before_decode;
    REQUIRE(r);
    REQUIRE(*r);
    CHECK(std::get<message>(**r) == m);
    CHECK(allocations == 1 + 64);
}
