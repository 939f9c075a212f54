// The binary codec (include/raftpp/codec/codec.hpp, docs/codec.md): round trips of every
// type, the exact bytes of an entry, reuse of one encoder and decoder across many records, a
// type plugged in from outside with a version bump, and the failure half: truncations, bad
// versions, enums, bools and positions, length fields beyond the input (refused before any
// allocation), trailing bytes, and seeded random corruption that must never crash and must
// never be accepted unless it is itself a valid encoding.
#include <catch2/catch.hpp>

#include <raftpp/codec/codec.hpp>

#include "../benchmarks/alloc_counter.hpp"

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <initializer_list>
#include <random>
#include <string>
#include <string_view>
#include <vector>

using namespace raftpp;
using bytes = std::vector<std::byte>;

// A type plugged in from outside the codec, the way the WAL adds its metadata. Version 2 added
// `flag`; version 1 records still load, with flag = false.
namespace demo {
struct record {
    node_id id = 0;
    std::uint64_t cluster_id = 0;
    buffer user;
    bool flag = false;
    friend bool operator==(const record&, const record&) = default;
};
inline constexpr std::uint8_t record_version = 2;
inline void save(codec::oarchive& ar, const record& r, unsigned) {
    codec::save_version(ar, record_version);
    codec::save_int(ar, r.id);
    codec::save_int(ar, r.cluster_id);
    codec::save_buffer(ar, r.user);
    codec::save_bool(ar, r.flag);
}
inline void load(codec::iarchive& ar, record& r, unsigned) {
    const auto version = codec::load_version(ar, record_version);
    r.id = codec::load_int<node_id>(ar);
    r.cluster_id = codec::load_int<std::uint64_t>(ar);
    codec::load_buffer(ar, r.user);
    r.flag = version >= 2 ? codec::load_bool(ar) : false;
}
}  // namespace demo
RAFTPP_CODEC_TYPE(demo::record)

namespace {

constexpr std::uint64_t max_position = (std::uint64_t{1} << 63) - 1;

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

buffer payload(std::size_t n, std::uint8_t seed = 1) {
    auto b = buffer::uninitialized(n);
    for (std::size_t i = 0; i < n; ++i) b.mutable_data()[i] = static_cast<std::byte>(seed + i * 7);
    return b;
}

conf_state joint_conf_state() {
    return conf_state{{1, 2, 3}, {4, 5}, {1, 2, 6}, {6}, true};
}

template <class T>
void check_round_trip(const T& value) {
    const bytes enc = codec::encode(value);
    auto back = codec::decode<T>(enc);
    REQUIRE(back);
    CHECK(*back == value);
    // The same through a reused encoder and decoder.
    codec::encoder e;
    codec::decoder d;
    bytes out;
    e.encode(value, out);
    CHECK(out == enc);
    T again{};
    REQUIRE(d.decode(out, again));
    CHECK(again == value);
}

// One valid encoding of each type, for the failure tests.
struct sample {
    std::string_view name;
    bytes encoding;
    result<void> (*decode)(codec::decoder&, std::span<const std::byte>);
    // Encodes the value decoded from the bytes (only called after a successful decode).
    bytes (*reencode)(codec::decoder&, std::span<const std::byte>);
};

template <class T>
sample make_sample(std::string_view name, const T& value) {
    return sample{
        name, codec::encode(value),
        [](codec::decoder& d, std::span<const std::byte> in) -> result<void> {
            T v{};
            return d.decode(in, v);
        },
        [](codec::decoder& d, std::span<const std::byte> in) {
            T v{};
            d.decode(in, v).value();
            return codec::encode(v);
        }};
}

std::vector<sample> samples() {
    snapshot snap{payload(40), snapshot_metadata{joint_conf_state(), 90, 7}};
    return {
        make_sample("entry", entry{3, 17, entry_type::conf_change_v2, buffer("payload")}),
        make_sample("entry without data", entry{1, 1, entry_type::normal, buffer()}),
        make_sample("hard_state", hard_state{5, 2, 100}),
        make_sample("conf_state", joint_conf_state()),
        make_sample("snapshot_metadata", snapshot_metadata{joint_conf_state(), 90, 7}),
        make_sample("snapshot", snap),
        make_sample("demo::record", demo::record{7, 42, buffer("user"), true}),
    };
}

}  // namespace

TEST_CASE("every codec type round-trips", "[codec]") {
    SECTION("entry") {
        for (auto type : {entry_type::normal, entry_type::conf_change, entry_type::conf_change_v2})
            check_round_trip(entry{2, 9, type, buffer("x")});
        check_round_trip(entry{});
        check_round_trip(entry{max_position, max_position, entry_type::normal, buffer()});
        // Payload sizes around the encoder's window and direct-append thresholds.
        for (std::size_t n : {1u, 15u, 16u, 100u, 101u, 102u, 103u, 127u, 128u, 129u, 255u, 256u,
                              1024u, 4096u})
            check_round_trip(entry{4, 1000 + n, entry_type::normal, payload(n)});
        check_round_trip(entry{4, 5, entry_type::normal, payload(3 << 20)});
    }
    SECTION("hard_state") {
        check_round_trip(hard_state{});
        check_round_trip(hard_state{5, 3, 77});
        check_round_trip(hard_state{max_position, ~std::uint64_t{0}, max_position});
    }
    SECTION("conf_state") {
        check_round_trip(conf_state{});
        check_round_trip(conf_state{{1}, {}, {}, {}, false});
        check_round_trip(joint_conf_state());
        std::vector<node_id> many(5000);
        for (std::size_t i = 0; i < many.size(); ++i) many[i] = i + 1;
        check_round_trip(conf_state{many, {~std::uint64_t{0}}, many, {}, true});
    }
    SECTION("snapshot_metadata and snapshot") {
        check_round_trip(snapshot_metadata{});
        check_round_trip(snapshot_metadata{joint_conf_state(), 90, 7});
        check_round_trip(snapshot{});
        check_round_trip(snapshot{buffer(), snapshot_metadata{joint_conf_state(), 1, 1}});
        check_round_trip(snapshot{payload(1 << 20), snapshot_metadata{joint_conf_state(), 90, 7}});
    }
    SECTION("a type added from outside the codec") {
        check_round_trip(demo::record{});
        check_round_trip(demo::record{7, 42, buffer("user"), true});
    }
}

TEST_CASE("an entry encodes to exactly these bytes", "[codec][format]") {
    // docs/codec.md: version u8, term u64, index u64, type u8, data size u64, data; all
    // little-endian. A change here is a format change: bump entry_version.
    const entry e{0x0102030405060708, 0x1112131415161718, entry_type::conf_change, buffer("ab")};
    bytes expected;
    put8(expected, 1);
    put64(expected, 0x0102030405060708);
    put64(expected, 0x1112131415161718);
    put8(expected, 1);
    put64(expected, 2);
    put_text(expected, "ab");
    CHECK(codec::encode(e) == expected);
    CHECK(expected.size() == 26 + 2);
}

TEST_CASE("the other layouts have the documented sizes", "[codec][format]") {
    CHECK(codec::encode(hard_state{1, 2, 3}).size() == 1 + 3 * 8);
    // version, four lists (count + ids), auto_leave
    const auto cs = codec::encode(joint_conf_state());
    CHECK(cs.size() == 1 + (8 + 3 * 8) + (8 + 2 * 8) + (8 + 3 * 8) + (8 + 1 * 8) + 1);
    CHECK(cs.back() == std::byte{1});
    const auto md = codec::encode(snapshot_metadata{joint_conf_state(), 90, 7});
    CHECK(md.size() == 1 + cs.size() + 8 + 8);
    const auto snap = codec::encode(snapshot{buffer("xyz"), {joint_conf_state(), 90, 7}});
    CHECK(snap.size() == 1 + md.size() + 8 + 3);
    // The snapshot's metadata comes before its data.
    CHECK(bytes(snap.begin() + 1, snap.begin() + 1 + static_cast<std::ptrdiff_t>(md.size())) ==
          md);
}

TEST_CASE("one encoder and one decoder serve many records and many vectors", "[codec]") {
    codec::encoder enc;
    codec::decoder dec;
    bytes log;
    std::vector<std::size_t> ends;
    std::vector<entry> entries;
    for (std::uint64_t i = 1; i <= 2000; ++i) {
        const auto seed = static_cast<std::uint8_t>(i);
        const auto type = static_cast<entry_type>(i % 3);
        entries.push_back(entry{i / 10 + 1, i, type, payload(i % 300, seed)});
        enc.encode(entries.back(), log);
        ends.push_back(log.size());
        if (i % 100 == 0) {  // another record to another vector in between
            bytes other;
            enc.encode(hard_state{i, 1, i}, other);
            REQUIRE(other.size() == 25);
        }
    }
    std::size_t begin = 0;
    entry e;
    for (std::size_t i = 0; i < entries.size(); ++i) {
        std::span<const std::byte> rec(log.data() + begin, ends[i] - begin);
        REQUIRE(dec.decode(rec, e));
        REQUIRE(e == entries[i]);
        hard_state hs;
        if (i % 100 == 0) REQUIRE(dec.decode(codec::encode(hard_state{i, 2, i}), hs));
        begin = ends[i];
    }
}

TEST_CASE("encode appends and leaves the vector exactly as long as what it wrote", "[codec]") {
    codec::encoder enc;
    for (std::size_t spare : {0u, 1u, 20u, 40u, 100u, 200u, 5000u}) {
        bytes out(3, std::byte{0xee});
        out.reserve(3 + spare);
        const entry e{1, 2, entry_type::normal, payload(30)};
        enc.encode(e, out);
        CAPTURE(spare);
        REQUIRE(out.size() == 3 + 26 + 30);
        CHECK(out[0] == std::byte{0xee});
        CHECK(bytes(out.begin() + 3, out.end()) == codec::encode(e));
    }
}

TEST_CASE("encode and decode allocate only for the bytes", "[codec][alloc]") {
    codec::encoder enc;
    codec::decoder dec;
    bytes out;
    out.reserve(1 << 20);
    const entry e{3, 4, entry_type::normal, payload(16)};
    enc.encode(e, out);
    entry back;
    REQUIRE(dec.decode(out, back));
    const auto before = raftpp_bench::allocation_count();
    for (int i = 0; i < 1000; ++i) enc.encode(e, out);
    CHECK(raftpp_bench::allocation_count() - before == 0);
    const auto one = codec::encode(e);
    const auto before_decode = raftpp_bench::allocation_count();
    for (int i = 0; i < 1000; ++i) REQUIRE(dec.decode(one, back));
    CHECK(raftpp_bench::allocation_count() - before_decode == 1000);  // the payload buffers
}

TEST_CASE("decoding works on unaligned input", "[codec]") {
    const entry e{3, 4, entry_type::normal, payload(33)};
    const auto enc = codec::encode(e);
    bytes shifted(enc.size() + 1);
    std::memcpy(shifted.data() + 1, enc.data(), enc.size());
    auto back = codec::decode<entry>(std::span<const std::byte>(shifted).subspan(1));
    REQUIRE(back);
    CHECK(*back == e);
}

TEST_CASE("a newer loader reads an older version and defaults the new field", "[codec]") {
    bytes v1;  // demo::record version 1: no flag
    put8(v1, 1);
    put64(v1, 7);
    put64(v1, 42);
    put64(v1, 2);
    put_text(v1, "hi");
    auto r = codec::decode<demo::record>(v1);
    REQUIRE(r);
    CHECK(*r == demo::record{7, 42, buffer("hi"), false});
    v1[0] = std::byte{3};  // a version from the future
    CHECK(codec::decode<demo::record>(v1).error() == errc::malformed_message);
}

TEST_CASE("every truncation of a valid encoding is malformed", "[codec][malformed]") {
    codec::decoder dec;
    for (const auto& s : samples()) {
        CAPTURE(s.name);
        REQUIRE(s.decode(dec, s.encoding));
        for (std::size_t n = 0; n < s.encoding.size(); ++n) {
            auto r = s.decode(dec, std::span<const std::byte>(s.encoding).first(n));
            if (r || r.error() != errc::malformed_message) {
                CAPTURE(n);
                FAIL("a truncated encoding was not refused as malformed");
            }
        }
    }
}

TEST_CASE("trailing bytes after the value are malformed", "[codec][malformed]") {
    codec::decoder dec;
    for (const auto& s : samples()) {
        CAPTURE(s.name);
        for (std::size_t extra : {1u, 7u, 100u}) {
            bytes b = s.encoding;
            b.resize(b.size() + extra, std::byte{0});
            CHECK(s.decode(dec, b).error() == errc::malformed_message);
        }
    }
}

TEST_CASE("an unknown format version is malformed", "[codec][malformed]") {
    codec::decoder dec;
    for (const auto& s : samples()) {
        if (s.name == "demo::record") continue;  // version 2 is its own; tested above
        CAPTURE(s.name);
        for (std::uint8_t v : {0, 2, 255}) {
            bytes b = s.encoding;
            b[0] = std::byte{v};
            CHECK(s.decode(dec, b).error() == errc::malformed_message);
        }
    }
    // Versions of nested types are checked too: the conf_state inside snapshot_metadata.
    bytes md = codec::encode(snapshot_metadata{joint_conf_state(), 90, 7});
    REQUIRE(codec::decode<snapshot_metadata>(md));
    md[1] = std::byte{2};
    CHECK(codec::decode<snapshot_metadata>(md).error() == errc::malformed_message);
}

TEST_CASE("out-of-range enums, bools and log positions are malformed", "[codec][malformed]") {
    struct field_case {
        std::string_view name;
        bytes encoding;
        std::size_t offset;
        int width;
        std::uint64_t value;
    };
    const bytes e = codec::encode(entry{3, 4, entry_type::normal, buffer("abc")});
    const bytes hs = codec::encode(hard_state{5, 2, 100});
    const bytes cs = codec::encode(joint_conf_state());
    const bytes md = codec::encode(snapshot_metadata{joint_conf_state(), 90, 7});
    const field_case cases[] = {
        {"entry type 3", e, 17, 1, 3},
        {"entry type 255", e, 17, 1, 255},
        {"entry term 2^63", e, 1, 8, std::uint64_t{1} << 63},
        {"entry index 2^63", e, 9, 8, std::uint64_t{1} << 63},
        {"entry index 2^64-1", e, 9, 8, ~std::uint64_t{0}},
        {"hard_state term 2^63", hs, 1, 8, std::uint64_t{1} << 63},
        {"hard_state commit 2^63", hs, 17, 8, std::uint64_t{1} << 63},
        {"conf_state auto_leave 2", cs, cs.size() - 1, 1, 2},
        {"conf_state auto_leave 255", cs, cs.size() - 1, 1, 255},
        {"snapshot_metadata index 2^63", md, cs.size() + 1, 8, std::uint64_t{1} << 63},
        {"snapshot_metadata term 2^63", md, cs.size() + 9, 8, std::uint64_t{1} << 63},
    };
    for (const auto& tc : cases) {
        CAPTURE(tc.name);
        bytes b = tc.encoding;
        if (tc.width == 1)
            b[tc.offset] = static_cast<std::byte>(tc.value);
        else
            patch64(b, tc.offset, tc.value);
        codec::decoder dec;
        result<void> r;
        if (tc.name.starts_with("entry")) {
            entry v;
            r = dec.decode(b, v);
        } else if (tc.name.starts_with("hard_state")) {
            hard_state v;
            r = dec.decode(b, v);
        } else if (tc.name.starts_with("conf_state")) {
            conf_state v;
            r = dec.decode(b, v);
        } else {
            snapshot_metadata v;
            r = dec.decode(b, v);
        }
        CHECK(r.error() == errc::malformed_message);
    }
    // The largest accepted values are accepted.
    bytes ok = e;
    patch64(ok, 9, max_position);
    CHECK(codec::decode<entry>(ok));
    ok[17] = std::byte{2};
    CHECK(codec::decode<entry>(ok));
}

TEST_CASE("a length field beyond the input is refused before anything is allocated",
          "[codec][malformed][alloc]") {
    codec::decoder dec;
    // entry: the data size is at offset 18.
    bytes e = codec::encode(entry{3, 4, entry_type::normal, buffer("abc")});
    // conf_state: the voters count is at offset 1.
    bytes cs = codec::encode(joint_conf_state());
    for (std::uint64_t huge : {std::uint64_t{1} << 62, ~std::uint64_t{0}, std::uint64_t{4},
                               (std::uint64_t{1} << 61) + 1 /* * 8 wraps to 8 */}) {
        CAPTURE(huge);
        patch64(e, 18, huge);
        patch64(cs, 1, huge);
        entry ev;
        conf_state cv;
        const auto before = raftpp_bench::allocated_byte_count();
        const auto re = dec.decode(e, ev);
        const auto rc = dec.decode(cs, cv);
        const auto allocated = raftpp_bench::allocated_byte_count() - before;
        CHECK(re.error() == errc::malformed_message);
        CHECK(rc.error() == errc::malformed_message);
        // The conf_state lists decoded before the bad count may allocate; never beyond the input.
        CHECK(allocated <= e.size() + cs.size());
    }
    // The same for a snapshot's data, after a valid metadata.
    bytes snap = codec::encode(snapshot{buffer("xyz"), {joint_conf_state(), 90, 7}});
    patch64(snap, snap.size() - 3 - 8, std::uint64_t{1} << 62);
    CHECK(codec::decode<snapshot>(snap).error() == errc::malformed_message);
}

TEST_CASE("random corruption never crashes and is accepted only as a valid encoding",
          "[codec][malformed]") {
    const std::uint64_t seed = std::random_device{}();
    std::printf("codec_test corruption seed %llu\n", static_cast<unsigned long long>(seed));
    CAPTURE(seed);
    std::mt19937_64 rng(seed);
    codec::decoder dec;
    const auto all = samples();
    std::size_t accepted = 0, refused = 0;
    for (int round = 0; round < 30000; ++round) {
        const auto& s = all[rng() % all.size()];
        bytes b = s.encoding;
        const int flips = 1 + static_cast<int>(rng() % 3);
        for (int i = 0; i < flips; ++i) {
            auto& byte = b[rng() % b.size()];
            byte = rng() % 2 ? byte ^ static_cast<std::byte>(1u << (rng() % 8))
                             : static_cast<std::byte>(rng());
        }
        if (rng() % 8 == 0) b.resize(rng() % (b.size() + 16));
        auto r = s.decode(dec, b);
        if (r) {
            ++accepted;
            // Every accepted input is the encoding of what it decodes to: the format has one
            // encoding per value, so anything else would mean a check is missing.
            // (A demo::record of version 1 re-encodes as version 2: the one allowed exception.)
            const bool old_version = s.name == "demo::record" && b[0] == std::byte{1};
            if (!old_version && s.reencode(dec, b) != b) {
                CAPTURE(s.name, round);
                FAIL("accepted bytes that are not the encoding of the decoded value");
            }
        } else {
            ++refused;
            REQUIRE(r.error() == errc::malformed_message);
        }
    }
    // Both halves happen: corruption in a payload is accepted, corruption in structure is not.
    CHECK(accepted > 100);
    CHECK(refused > 100);
}
