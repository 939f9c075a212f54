// write_ahead_log: what is saved comes back on open, across overwrites, snapshots, segment
// cuts and releases; group commit; the directory lock; the errors of create and open.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <raftpp/wal/wal.hpp>

#include "wal_test_util.hpp"

using namespace raftpp;
using raftpp::test::make_entries;
using raftpp::test::make_entry;
using raftpp::test::temp_dir;
namespace fs = std::filesystem;

namespace {

const wal::metadata md{.id = 3, .cluster_id = 0xc1, .user = buffer("user bytes")};

wal::options small_segments(std::uint64_t size = 4096) {
    wal::options o;
    o.segment_size = size;
    return o;
}

wal::contents reopen(const fs::path& dir, const snapshot_metadata& at = {},
                     wal::options o = {}) {
    auto w = wal::open(dir, at, o);
    return w.read_all();
}

template <class F>
std::string error_text(F&& f, std::error_code& code) {
    try {
        f();
    } catch (const wal::wal_error& e) {
        code = e.code();
        return e.what();
    }
    return "";
}

}  // namespace

TEST_CASE("a new WAL reads back its metadata, hard state and entries", "[wal]") {
    temp_dir t;
    const auto dir = t / "wal";
    {
        auto w = wal::create(dir, md);
        REQUIRE(w.save({1, 1, 0}, make_entries(1, 5, 1), true));
        REQUIRE(w.save({1, 1, 3}, {}, false));  // a commit-only change needs no sync
        REQUIRE(w.save({2, 0, 5}, make_entries(6, 7, 2), true));
    }
    auto c = reopen(dir);
    CHECK(c.metadata == md);
    CHECK(c.hard_state == hard_state{2, 0, 5});
    auto want = make_entries(1, 5, 1);
    for (auto& e : make_entries(6, 7, 2)) want.push_back(e);
    CHECK(c.entries == want);
    REQUIRE(c.snapshots.size() == 1);  // the {0, 0} marker create() writes
    CHECK(c.snapshots[0] == snapshot_metadata{});
}

TEST_CASE("an empty WAL opens with nothing in it", "[wal]") {
    temp_dir t;
    { auto w = wal::create(t / "wal", md); }
    auto c = reopen(t / "wal");
    CHECK(c.metadata == md);
    CHECK(is_empty(c.hard_state));
    CHECK(c.entries.empty());
}

TEST_CASE("a later entry at an existing index replaces the suffix on replay", "[wal]") {
    temp_dir t;
    {
        auto w = wal::create(t / "wal", md);
        REQUIRE(w.save({1, 1, 0}, make_entries(1, 10, 1), true));
        REQUIRE(w.save({2, 2, 0}, make_entries(6, 8, 2), true));  // a new leader's suffix
    }
    auto c = reopen(t / "wal");
    auto want = make_entries(1, 5, 1);
    for (auto& e : make_entries(6, 8, 2)) want.push_back(e);
    CHECK(c.entries == want);
    CHECK(c.hard_state == hard_state{2, 2, 0});
}

TEST_CASE("opening at a snapshot returns only the entries after it", "[wal]") {
    temp_dir t;
    const snapshot_metadata snap{{{1, 2, 3}, {4}, {}, {}, false}, 5, 1};
    {
        auto w = wal::create(t / "wal", md);
        REQUIRE(w.save({1, 1, 5}, make_entries(1, 10, 1), true));
        REQUIRE(w.save_snapshot(snap));
        REQUIRE(w.save({1, 1, 12}, make_entries(11, 12, 1), true));
    }
    auto c = reopen(t / "wal", snap);
    CHECK(c.entries == make_entries(6, 12, 1));
    CHECK(c.hard_state.commit == 12);
    REQUIRE(c.snapshots.size() == 2);
    CHECK(c.snapshots[1] == snap);

    std::error_code code;
    snapshot_metadata wrong_term = snap;
    wrong_term.term = 2;
    CHECK_THAT(error_text([&] { reopen(t / "wal", wrong_term); }, code),
               Catch::Contains("has term 1, not 2"));
    CHECK(code == errc::metadata_mismatch);
    snapshot_metadata unknown = snap;
    unknown.index = 7;
    CHECK_THAT(error_text([&] { reopen(t / "wal", unknown); }, code),
               Catch::Contains("no snapshot marker for index 7"));
    CHECK(code == errc::snapshot_not_found);
}

TEST_CASE("a WAL cut into many segments reads back whole, its chain checked", "[wal]") {
    temp_dir t;
    {
        auto w = wal::create(t / "wal", md, small_segments());
        for (index_t i = 1; i <= 2000; i += 50) {
            REQUIRE(w.save({1, 1, i - 1}, make_entries(i, i + 49, 1), true));
        }
        CHECK(w.stats().segments_cut >= 10);
        CHECK(w.segments().size() == w.stats().segments_cut + 1);
        // Names sort by sequence and carry the first index written to the segment.
        for (std::size_t k = 1; k < w.segments().size(); ++k) {
            CHECK(w.segments()[k].seq == k);
            CHECK(w.segments()[k].first_index > w.segments()[k - 1].first_index);
        }
    }
    auto c = reopen(t / "wal", {}, small_segments());
    CHECK(c.entries == make_entries(1, 2000, 1));
    CHECK(c.hard_state == hard_state{1, 1, 1950});
    // Appending after a reopen continues the chain: a second reopen still checks out.
    {
        auto w = wal::open(t / "wal", {}, small_segments());
        (void)w.read_all();
        REQUIRE(w.save({2, 2, 2000}, make_entries(2001, 2100, 2), true));
    }
    c = reopen(t / "wal", {}, small_segments());
    CHECK(c.entries.size() == 2100);
    CHECK(c.entries.back() == make_entry(2100, 2, "e2100t2"));
}

TEST_CASE("release_to removes the segments a snapshot made unnecessary", "[wal]") {
    temp_dir t;
    const snapshot_metadata snap{{{1}, {}, {}, {}, false}, 1500, 1};
    std::size_t before = 0;
    {
        auto w = wal::create(t / "wal", md, small_segments());
        REQUIRE(w.save({1, 1, 0}, {}, true));  // the hard state is only in the first segment
        for (index_t i = 1; i <= 2000; i += 100)
            REQUIRE(w.save({}, make_entries(i, i + 99, 1), true));
        REQUIRE(w.save_snapshot(snap));
        before = w.segments().size();
        REQUIRE(w.release_to(snap.index));
        CHECK(w.segments().size() < before);
        CHECK(w.segments().front().first_index <= snap.index);
        CHECK(w.segments().size() > 1);
        std::size_t files = 0;
        for (auto& p : fs::directory_iterator(t / "wal")) files += p.path().extension() == ".wal";
        CHECK(files == w.segments().size());
    }
    auto c = reopen(t / "wal", snap, small_segments());
    CHECK(c.entries == make_entries(1501, 2000, 1));
    CHECK(c.hard_state == hard_state{1, 1, 0});  // carried into every segment at its cut
    CHECK(c.metadata == md);
    // The released entries are gone: the log can no longer start from the beginning.
    std::error_code code;
    CHECK_THAT(error_text([&] { reopen(t / "wal", {}, small_segments()); }, code),
               Catch::Contains("no segment holds index 0"));
    CHECK(code == errc::wal_not_found);
}

TEST_CASE("group commit: many appends share one fdatasync", "[wal]") {
    temp_dir t;
    {
        auto w = wal::create(t / "wal", md);
        const auto syncs = w.stats().syncs;
        for (index_t i = 1; i <= 100; ++i) {
            REQUIRE(w.append(make_entries(i, i, 1)));
            REQUIRE(w.append(hard_state{1, 1, i - 1}));
        }
        REQUIRE(w.sync());
        CHECK(w.stats().syncs == syncs + 1);
        CHECK(w.stats().writes >= 1);
    }
    auto c = reopen(t / "wal");
    CHECK(c.entries == make_entries(1, 100, 1));
    CHECK(c.hard_state == hard_state{1, 1, 99});
}

TEST_CASE("a second opener of a WAL is refused with the directory named", "[wal]") {
    temp_dir t;
    {
        auto w = wal::create(t / "wal", md);
        std::error_code code;
        const auto text = error_text([&] { (void)wal::open(t / "wal"); }, code);
        CHECK(code == errc::wal_locked);
        CHECK_THAT(text, Catch::Contains((t / "wal").string()));
        auto moved = std::move(w);  // the lock moves with the handle
        CHECK(error_text([&] { (void)wal::open(t / "wal"); }, code) != "");
    }
    CHECK_NOTHROW(reopen(t / "wal"));  // released with the handle
}

TEST_CASE("create refuses a directory that holds a WAL; open one that holds none", "[wal]") {
    temp_dir t;
    { auto w = wal::create(t / "wal", md); }
    std::error_code code;
    CHECK_THAT(error_text([&] { (void)wal::create(t / "wal", md); }, code),
               Catch::Contains("already exists"));
    CHECK(code == errc::wal_exists);
    CHECK(reopen(t / "wal").metadata == md);  // untouched

    fs::create_directories(t / "empty");
    CHECK(error_text([&] { (void)wal::open(t / "empty"); }, code) != "");
    CHECK(code == errc::wal_not_found);
    CHECK(error_text([&] { (void)wal::open(t / "missing"); }, code) != "");
    CHECK(code == errc::wal_not_found);
    // An empty existing directory is fine for create().
    CHECK_NOTHROW(wal::create(t / "empty", md));
    CHECK_FALSE(fs::exists(t / "empty.tmp"));
}

TEST_CASE("stray files in the WAL directory are ignored", "[wal]") {
    temp_dir t;
    {
        auto w = wal::create(t / "wal", md);
        REQUIRE(w.save({1, 1, 0}, make_entries(1, 3, 1), true));
    }
    std::ofstream(t / "wal" / "notes.txt") << "hello";
    std::ofstream(t / "wal" / "0000000000000001-0000000000000004.wal.tmp") << "half a cut";
    std::ofstream(t / "wal" / "zz.wal") << "not a segment name";
    auto c = reopen(t / "wal");
    CHECK(c.entries == make_entries(1, 3, 1));
}

TEST_CASE("writing to an opened WAL waits for read_all", "[wal]") {
    temp_dir t;
    { auto w = wal::create(t / "wal", md); }
    auto w = wal::open(t / "wal");
    CHECK(w.save({1, 1, 0}, make_entries(1, 1, 1), true).error() == errc::invalid_argument);
    (void)w.read_all();
    CHECK(w.save({1, 1, 0}, make_entries(1, 1, 1), true));
}
