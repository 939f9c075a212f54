// write_ahead_log under damage: torn tails come back as every whole record and nothing more,
// without an error; damage anywhere else is an error naming the file and byte offset, and
// nothing is truncated.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <raftpp/wal/wal.hpp>

#include "wal_test_util.hpp"

using namespace raftpp;
using raftpp::test::make_entries;
using raftpp::test::recording_logger;
using raftpp::test::temp_dir;
namespace fs = std::filesystem;

namespace {

const wal::metadata md{.id = 1, .cluster_id = 2, .user = {}};

struct record_pos {
    std::uint64_t offset;
    std::uint64_t end;
    wal::record_type type;
};

std::vector<std::byte> read_file(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::vector<char> raw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::vector<std::byte> out(raw.size());
    std::memcpy(out.data(), raw.data(), raw.size());
    return out;
}

void write_file(const fs::path& p, const std::vector<std::byte>& bytes) {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

// Where each record of a segment file lies.
std::vector<record_pos> records_of(const fs::path& segment) {
    const auto bytes = read_file(segment);
    wal::record_decoder dec(bytes);
    std::vector<record_pos> out;
    wal::record_view rec;
    while (dec.next(rec) == wal::read_status::ok) out.push_back({rec.offset, dec.offset(), rec.type});
    return out;
}

// Entries 1..n whose payload sizes vary, so records straddle 8-byte and sector boundaries
// in many ways; the last save holds entries only, so the file ends with entry records.
std::vector<entry> varied_entries(index_t n) {
    std::vector<entry> es;
    for (index_t i = 1; i <= n; ++i)
        es.push_back({1, i, entry_type::normal, buffer(std::string(1 + (i * 37) % 90, char('a' + i % 26)))});
    return es;
}

wal::options opts() {
    wal::options o;
    o.segment_size = 64 * 1024;
    return o;
}

// A WAL with entries 1..n, the hard state saved before the last batch.
void build(const fs::path& dir, index_t n) {
    auto w = wal::create(dir, md, opts());
    const auto es = varied_entries(n);
    REQUIRE(w.save({1, 1, 0}, std::span(es).first(n / 2), true));
    REQUIRE(w.save({1, 1, n / 2}, {}, false));
    REQUIRE(w.save({}, std::span(es).subspan(n / 2), true));
}

fs::path last_segment(const fs::path& dir) {
    auto segs = wal::list_segments(dir);
    return segs.back().path;
}

void copy_dir(const fs::path& from, const fs::path& to) {
    fs::remove_all(to);
    fs::copy(from, to, fs::copy_options::recursive);
}

}  // namespace

TEST_CASE("a tail truncated at any byte of its last three records loses only the torn one",
          "[wal][fault]") {
    temp_dir t;
    const index_t n = 30;
    build(t / "pristine", n);
    const auto recs = records_of(last_segment(t / "pristine"));
    REQUIRE(recs.size() > 3);
    const std::size_t first = recs.size() - 3;
    for (std::size_t k = first; k < recs.size(); ++k) REQUIRE(recs[k].type == wal::record_type::entry);
    const auto all = varied_entries(n);

    for (std::uint64_t cut = recs[first].offset; cut <= recs.back().end; ++cut) {
        CAPTURE(cut);
        copy_dir(t / "pristine", t / "work");
        fs::resize_file(last_segment(t / "work"), cut);
        // Entries whose records lie wholly before the cut survive.
        index_t whole = n - 3;
        for (std::size_t k = first; k < recs.size(); ++k) whole += recs[k].end <= cut;
        const bool at_boundary = cut == recs.back().end ||
                                 std::any_of(recs.begin(), recs.end(),
                                             [&](const record_pos& r) { return r.offset == cut; });
        recording_logger log;
        {
            auto w = wal::open(t / "work", {}, opts(), log);
            auto c = w.read_all();
            CHECK(c.entries == std::vector<entry>(all.begin(), all.begin() + whole));
            CHECK(c.hard_state == hard_state{1, 1, n / 2});
            CHECK(log.contains(log_level::warning, "torn tail") == !at_boundary);
            // The repaired log takes appends, and they survive the next open.
            std::vector<entry> more{{2, whole + 1, entry_type::normal, buffer("after repair")}};
            REQUIRE(w.save({2, 1, whole}, more, true));
        }
        auto w = wal::open(t / "work", {}, opts());
        auto c = w.read_all();
        REQUIRE(c.entries.size() == whole + 1);
        CHECK(c.entries.back().data == buffer("after repair"));
    }
}

TEST_CASE("a bit flipped anywhere in a middle record is an error naming file and offset",
          "[wal][fault]") {
    temp_dir t;
    build(t / "pristine", 30);
    const auto seg = last_segment(t / "pristine");
    const auto recs = records_of(seg);
    const record_pos victim = recs[recs.size() / 2];
    const auto pristine = read_file(seg);
    for (std::uint64_t at = victim.offset; at < victim.end; ++at) {
        CAPTURE(at);
        copy_dir(t / "pristine", t / "work");
        auto bytes = pristine;
        bytes[at] ^= std::byte{1} << (at % 8);
        write_file(last_segment(t / "work"), bytes);
        try {
            auto w = wal::open(t / "work", {}, opts());
            (void)w.read_all();
            FAIL("a damaged record was accepted");
        } catch (const wal::wal_error& e) {
            CHECK(e.code() == errc::corrupt_record);
            REQUIRE(e.offset().has_value());
            CHECK(*e.offset() == victim.offset);
            CHECK_THAT(e.what(), Catch::Contains(seg.filename().string()) &&
                                     Catch::Contains("offset " + std::to_string(victim.offset)));
        }
        // Nothing was truncated: the file is as the flip left it.
        CHECK(read_file(last_segment(t / "work")) == bytes);
    }
}

TEST_CASE("a bit flipped in the last record of a full write is not taken for a torn tail",
          "[wal][fault]") {
    temp_dir t;
    build(t / "w", 30);
    const auto seg = last_segment(t / "w");
    const auto recs = records_of(seg);
    auto bytes = read_file(seg);
    bytes[recs.back().end - 9] ^= std::byte{0x10};  // inside the last entry's payload
    write_file(seg, bytes);
    auto w = wal::open(t / "w", {}, opts());
    CHECK_THROWS_AS(w.read_all(), wal::wal_error);
}

TEST_CASE("a zero-filled tail ends the log; a half-zeroed last record is torn", "[wal][fault]") {
    temp_dir t;
    build(t / "pristine", 30);
    const auto recs = records_of(last_segment(t / "pristine"));
    const auto all = varied_entries(30);
    SECTION("the last record never written: zeros from its first byte") {
        copy_dir(t / "pristine", t / "work");
        auto bytes = read_file(last_segment(t / "work"));
        std::fill(bytes.begin() + static_cast<std::ptrdiff_t>(recs.back().offset), bytes.end(), std::byte{0});
        write_file(last_segment(t / "work"), bytes);
        recording_logger log;
        auto w = wal::open(t / "work", {}, opts(), log);
        CHECK(w.read_all().entries == std::vector<entry>(all.begin(), all.end() - 1));
    }
    SECTION("the sectors at the end of the last record never written") {
        copy_dir(t / "pristine", t / "work");
        {
            auto w = wal::open(t / "work", {}, opts());
            (void)w.read_all();
            std::vector<entry> big{{1, 31, entry_type::normal, buffer(std::string(3000, 'x'))}};
            REQUIRE(w.save({}, big, true));
        }
        const auto last = records_of(last_segment(t / "work")).back();
        auto bytes = read_file(last_segment(t / "work"));
        // A crash persisted the record's first sectors only (sector writes are atomic).
        const std::uint64_t from = (last.offset / 512 + 2) * 512;
        REQUIRE(from < last.end);
        std::fill(bytes.begin() + static_cast<std::ptrdiff_t>(from),
                  bytes.begin() + static_cast<std::ptrdiff_t>(last.end), std::byte{0});
        write_file(last_segment(t / "work"), bytes);
        recording_logger log;
        auto w = wal::open(t / "work", {}, opts(), log);
        CHECK(w.read_all().entries == all);
        CHECK(log.contains(log_level::warning, "torn tail"));
    }
    SECTION("zeros in the middle with records after them are damage") {
        copy_dir(t / "pristine", t / "work");
        auto bytes = read_file(last_segment(t / "work"));
        const auto& mid = recs[recs.size() / 2];
        std::fill(bytes.begin() + static_cast<std::ptrdiff_t>(mid.offset),
                  bytes.begin() + static_cast<std::ptrdiff_t>(mid.end), std::byte{0});
        write_file(last_segment(t / "work"), bytes);
        auto w = wal::open(t / "work", {}, opts());
        CHECK_THROWS_AS(w.read_all(), wal::wal_error);
    }
}

TEST_CASE("a segment missing before the one a replay starts at is no error (a release a crash "
          "half undid)", "[wal][fault]") {
    temp_dir t;
    wal::options o;
    o.segment_size = 4096;
    {
        auto w = wal::create(t / "w", md, o);
        for (index_t i = 1; i <= 1000; i += 50) REQUIRE(w.save({1, 1, 0}, make_entries(i, i + 49, 1), true));
        REQUIRE(w.save_snapshot({{}, 900, 1}));
        REQUIRE(w.segments().size() >= 5);
    }
    auto segs = wal::list_segments(t / "w");
    fs::remove(segs[1].path);  // released; segments 0 and 2 came back
    {
        auto w = wal::open(t / "w", {{}, 900, 1}, o);
        const auto c = w.read_all();
        REQUIRE_FALSE(c.entries.empty());
        CHECK(c.entries.front().index == 901);
        CHECK(c.entries.back().index == 1000);
    }
    // Replaying from the start crosses the gap: a lost segment.
    try {
        auto w = wal::open(t / "w", {}, o);
        FAIL("opened across a missing segment");
    } catch (const wal::wal_error& e) {
        CHECK(e.code() == errc::corrupt_record);
        CHECK_THAT(e.what(), Catch::Contains("missing"));
    }
}

TEST_CASE("a missing middle segment is an error; damage in an earlier segment too",
          "[wal][fault]") {
    temp_dir t;
    wal::options o;
    o.segment_size = 4096;
    {
        auto w = wal::create(t / "w", md, o);
        for (index_t i = 1; i <= 1000; i += 50) REQUIRE(w.save({1, 1, 0}, make_entries(i, i + 49, 1), true));
        REQUIRE(w.segments().size() >= 5);
    }
    copy_dir(t / "w", t / "pristine");
    auto segs = wal::list_segments(t / "w");
    SECTION("missing") {
        fs::remove(segs[2].path);
        try {
            auto w = wal::open(t / "w", {}, o);
            FAIL("opened with a segment missing");
        } catch (const wal::wal_error& e) {
            CHECK(e.code() == errc::corrupt_record);
            CHECK_THAT(e.what(), Catch::Contains("missing"));
        }
    }
    SECTION("a flipped bit at the end of an earlier segment") {
        const auto recs = records_of(segs[1].path);
        auto bytes = read_file(segs[1].path);
        bytes[recs.back().offset + 20] ^= std::byte{4};
        write_file(segs[1].path, bytes);
        auto w = wal::open(t / "w", {}, o);
        try {
            (void)w.read_all();
            FAIL("read a damaged segment");
        } catch (const wal::wal_error& e) {
            CHECK(e.path() == segs[1].path);
            CHECK(e.offset() == recs.back().offset);
        }
    }
    SECTION("an earlier segment truncated") {
        const auto recs = records_of(segs[1].path);
        fs::resize_file(segs[1].path, recs.back().offset + 10);
        auto w = wal::open(t / "w", {}, o);
        CHECK_THROWS_AS(w.read_all(), wal::wal_error);
    }
}
