// memory_storage, ported from etcd raft's storage_test.go, plus the cases where raftpp returns
// an error where etcd panics (a gap on append, out-of-range indices).
#include <catch2/catch.hpp>

#include <raftpp/memory_storage.hpp>

#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

using raftpp::entry;
using raftpp::errc;
using raftpp::memory_storage;
using raftpp::no_limit;

namespace {

entry ent(raftpp::index_t index, raftpp::term_t term) { return entry{term, index, {}, {}}; }

// etcd's tests build MemoryStorage{ents: {3/3, 4/4, 5/5}} directly; we reach the same log
// through the public API: a snapshot at 3/3 makes the dummy entry, then append the rest.
memory_storage storage_with(const std::vector<entry>& ents) {
    memory_storage s;
    raftpp::snapshot snap;
    snap.metadata.index = ents.front().index;
    snap.metadata.term = ents.front().term;
    REQUIRE(s.apply_snapshot(snap));
    REQUIRE(s.append(std::span(ents).subspan(1)));
    REQUIRE(s.raw_entries() == ents);
    return s;
}

const std::vector<entry> three = {ent(3, 3), ent(4, 4), ent(5, 5)};

}  // namespace

TEST_CASE("memory_storage models the storage concepts", "[storage]") {
    static_assert(raftpp::storage_reader<memory_storage>);
    static_assert(raftpp::storage_writer<memory_storage>);
    static_assert(raftpp::storage<memory_storage>);
    static_assert(raftpp::check_storage_reader<memory_storage>());
    static_assert(raftpp::check_storage_writer<memory_storage>());
    SUCCEED();
}

TEST_CASE("a new memory_storage holds only the dummy entry", "[storage]") {
    memory_storage s;
    REQUIRE(s.raw_entries() == std::vector<entry>{ent(0, 0)});
    CHECK(*s.first_index() == 1);
    CHECK(*s.last_index() == 0);
    CHECK(*s.term(0) == 0);
    CHECK(s.term(1).error() == errc::unavailable);
    // Nothing beyond the dummy entry: even [1, 1) is unavailable, as in etcd.
    CHECK(s.entries(1, 1, no_limit).error() == errc::unavailable);
    CHECK(s.entries(0, 1, no_limit).error() == errc::compacted);
    CHECK(raftpp::is_empty(*s.snapshot()));
    auto st = s.initial_state();
    REQUIRE(st);
    CHECK(raftpp::is_empty(st->hard_state));
    CHECK(st->conf_state == raftpp::conf_state{});
}

TEST_CASE("memory_storage term", "[storage]") {
    struct {
        std::string_view name;
        raftpp::index_t i;
        errc werr;  // errc{} for success
        raftpp::term_t wterm;
    } const tests[] = {
        {"before the dummy entry is compacted", 2, errc::compacted, 0},
        {"the dummy entry keeps its term", 3, {}, 3},
        {"middle", 4, {}, 4},
        {"last", 5, {}, 5},
        {"past the last entry", 6, errc::unavailable, 0},
    };
    for (const auto& tc : tests) {
        CAPTURE(tc.name);
        auto s = storage_with(three);
        auto t = s.term(tc.i);
        if (tc.werr == errc{}) {
            REQUIRE(t);
            CHECK(*t == tc.wterm);
        } else {
            CHECK(t.error() == tc.werr);
        }
    }
}

TEST_CASE("memory_storage entries", "[storage]") {
    const std::vector<entry> ents = {ent(3, 3), ent(4, 4), ent(5, 5), ent(6, 6)};
    const auto sz = [&](std::size_t k) { return raftpp::entry_size(ents[k]); };
    struct {
        std::string_view name;
        raftpp::index_t lo, hi;
        std::uint64_t max_size;
        errc werr;
        std::vector<entry> wentries;
    } const tests[] = {
        {"lo before the dummy entry", 2, 6, no_limit, errc::compacted, {}},
        {"lo at the dummy entry", 3, 4, no_limit, errc::compacted, {}},
        {"one", 4, 5, no_limit, {}, {ent(4, 4)}},
        {"two", 4, 6, no_limit, {}, {ent(4, 4), ent(5, 5)}},
        {"all", 4, 7, no_limit, {}, {ent(4, 4), ent(5, 5), ent(6, 6)}},
        {"max_size 0 still returns the first entry", 4, 7, 0, {}, {ent(4, 4)}},
        {"limit to exactly two", 4, 7, sz(1) + sz(2), {}, {ent(4, 4), ent(5, 5)}},
        {"limit to two and a half", 4, 7, sz(1) + sz(2) + sz(3) / 2, {}, {ent(4, 4), ent(5, 5)}},
        {"one byte short of three", 4, 7, sz(1) + sz(2) + sz(3) - 1, {}, {ent(4, 4), ent(5, 5)}},
        {"limit to exactly three", 4, 7, sz(1) + sz(2) + sz(3), {},
         {ent(4, 4), ent(5, 5), ent(6, 6)}},
        {"empty range", 5, 5, no_limit, {}, {}},
        // etcd panics on these two.
        {"hi past last_index + 1", 4, 8, no_limit, errc::index_out_of_range, {}},
        {"lo > hi", 6, 5, no_limit, errc::index_out_of_range, {}},
    };
    for (const auto& tc : tests) {
        CAPTURE(tc.name);
        auto s = storage_with(ents);
        auto got = s.entries(tc.lo, tc.hi, tc.max_size);
        if (tc.werr == errc{}) {
            REQUIRE(got);
            CHECK(*got == tc.wentries);
        } else {
            CHECK(got.error() == tc.werr);
        }
    }
}

TEST_CASE("memory_storage entries limits by payload size", "[storage]") {
    memory_storage s;
    std::vector<entry> es;
    for (raftpp::index_t i = 1; i <= 4; ++i)
        es.push_back(entry{1, i, {}, raftpp::buffer(std::string(100, 'x'))});
    REQUIRE(s.append(es));
    const std::uint64_t one = raftpp::entry_size(es[0]);
    REQUIRE(one == 116);
    CHECK(s.entries(1, 5, 2 * one)->size() == 2);
    CHECK(s.entries(1, 5, 2 * one + 115)->size() == 2);
    CHECK(s.entries(1, 5, 3 * one)->size() == 3);
    CHECK(s.entries(1, 5, 1)->size() == 1);
    // Returned entries share the payload with the log rather than copying it.
    auto got = s.entries(2, 3, no_limit);
    REQUIRE(got);
    CHECK((*got)[0].data.data() == s.raw_entries()[2].data.data());
}

TEST_CASE("memory_storage last_index", "[storage]") {
    auto s = storage_with(three);
    CHECK(*s.last_index() == 5);
    const entry next[] = {ent(6, 5)};
    REQUIRE(s.append(next));
    CHECK(*s.last_index() == 6);
}

TEST_CASE("memory_storage first_index", "[storage]") {
    auto s = storage_with(three);
    CHECK(*s.first_index() == 4);
    REQUIRE(s.compact(4));
    CHECK(*s.first_index() == 5);
}

TEST_CASE("memory_storage compact", "[storage]") {
    struct {
        std::string_view name;
        raftpp::index_t i;
        errc werr;
        raftpp::index_t windex;
        raftpp::term_t wterm;
        std::size_t wlen;
    } const tests[] = {
        {"before the dummy entry", 2, errc::compacted, 3, 3, 3},
        {"at the dummy entry", 3, errc::compacted, 3, 3, 3},
        {"middle", 4, {}, 4, 4, 2},
        {"last", 5, {}, 5, 5, 1},
        // etcd panics here.
        {"past the last entry", 6, errc::index_out_of_range, 3, 3, 3},
    };
    for (const auto& tc : tests) {
        CAPTURE(tc.name);
        auto s = storage_with(three);
        auto r = s.compact(tc.i);
        if (tc.werr == errc{}) CHECK(r);
        else CHECK(r.error() == tc.werr);
        const auto& raw = s.raw_entries();
        REQUIRE(raw.size() == tc.wlen);
        CHECK(raw[0].index == tc.windex);
        CHECK(raw[0].term == tc.wterm);
        CHECK(*s.first_index() == tc.windex + 1);
        CHECK(*s.last_index() == 5);
    }
}

TEST_CASE("compact drops the payload of the new dummy entry and keeps capacity", "[storage]") {
    memory_storage s;
    const entry es[] = {entry{1, 1, raftpp::entry_type::normal, raftpp::buffer("a")},
                        entry{1, 2, raftpp::entry_type::conf_change, raftpp::buffer("b")},
                        entry{2, 3, raftpp::entry_type::normal, raftpp::buffer("c")}};
    REQUIRE(s.append(es));
    const auto cap = s.raw_entries().capacity();
    REQUIRE(s.compact(2));
    CHECK(s.raw_entries() == std::vector<entry>{ent(2, 1), es[2]});
    CHECK(s.raw_entries().capacity() == cap);
    CHECK(es[1].data.use_count() == 1);  // the log no longer holds the compacted payload
    CHECK(*s.term(2) == 1);
    CHECK(s.term(1).error() == errc::compacted);
}

TEST_CASE("memory_storage create_snapshot", "[storage]") {
    const raftpp::conf_state cs{{1, 2, 3}, {}, {}, {}, false};
    const raftpp::buffer data("data");
    const auto snap = [&](raftpp::index_t i, raftpp::term_t t) {
        return raftpp::snapshot{data, raftpp::snapshot_metadata{cs, i, t}};
    };
    struct {
        std::string_view name;
        raftpp::index_t i;
        errc werr;
        raftpp::snapshot wsnap;
    } const tests[] = {
        {"middle", 4, {}, snap(4, 4)},
        {"last", 5, {}, snap(5, 5)},
        // storage_with() puts a snapshot at 3; etcd's fixture has none, so its 3 would succeed.
        {"at the current snapshot", 3, errc::snap_out_of_date, {}},
        {"past the last entry", 6, errc::index_out_of_range, {}},  // etcd panics
    };
    for (const auto& tc : tests) {
        CAPTURE(tc.name);
        auto s = storage_with(three);
        auto got = s.create_snapshot(tc.i, &cs, data);
        if (tc.werr == errc{}) {
            REQUIRE(got);
            CHECK(*got == tc.wsnap);
            CHECK(*s.snapshot() == tc.wsnap);
            CHECK(s.initial_state()->conf_state == cs);
            CHECK(s.raw_entries() == three);  // a snapshot does not compact by itself
        } else {
            CHECK(got.error() == tc.werr);
            CHECK(s.snapshot()->metadata.index == 3);
        }
    }
}

TEST_CASE("create_snapshot keeps the conf_state when given none", "[storage]") {
    auto s = storage_with(three);
    const raftpp::conf_state cs{{1, 2}, {3}, {}, {}, false};
    REQUIRE(s.create_snapshot(4, &cs, raftpp::buffer("a")));
    auto got = s.create_snapshot(5, nullptr, raftpp::buffer("b"));
    REQUIRE(got);
    CHECK(got->metadata.conf_state == cs);
    CHECK(got->metadata.index == 5);
    CHECK(got->data.view() == "b");
}

TEST_CASE("create_snapshot of an index compacted past the snapshot is an error", "[storage]") {
    memory_storage s;
    const entry es[] = {ent(1, 1), ent(2, 1), ent(3, 2)};
    REQUIRE(s.append(es));
    REQUIRE(s.compact(2));  // snapshot index is still 0
    CHECK(s.create_snapshot(1, nullptr, {}).error() == errc::compacted);
    auto at_dummy = s.create_snapshot(2, nullptr, {});  // the dummy keeps index 2's term
    REQUIRE(at_dummy);
    CHECK(at_dummy->metadata.term == 1);
}

TEST_CASE("memory_storage append", "[storage]") {
    struct {
        std::string_view name;
        std::vector<entry> entries;
        errc werr;
        std::vector<entry> wentries;
    } const tests[] = {
        {"all compacted", {ent(1, 1), ent(2, 2)}, {}, {ent(3, 3), ent(4, 4), ent(5, 5)}},
        {"same entries", {ent(3, 3), ent(4, 4), ent(5, 5)}, {}, {ent(3, 3), ent(4, 4), ent(5, 5)}},
        {"conflicting suffix is replaced",
         {ent(3, 3), ent(4, 6), ent(5, 6)},
         {},
         {ent(3, 3), ent(4, 6), ent(5, 6)}},
        {"overlap and extend",
         {ent(3, 3), ent(4, 4), ent(5, 5), ent(6, 5)},
         {},
         {ent(3, 3), ent(4, 4), ent(5, 5), ent(6, 5)}},
        {"truncate incoming entries, truncate the existing entries and append",
         {ent(2, 3), ent(3, 3), ent(4, 5)},
         {},
         {ent(3, 3), ent(4, 5)}},
        {"truncate the existing entries and append", {ent(4, 5)}, {}, {ent(3, 3), ent(4, 5)}},
        {"direct append", {ent(6, 5)}, {}, {ent(3, 3), ent(4, 4), ent(5, 5), ent(6, 5)}},
        {"empty", {}, {}, {ent(3, 3), ent(4, 4), ent(5, 5)}},
        // etcd panics: "missing log entry".
        {"gap after the last entry", {ent(7, 5)}, errc::index_out_of_range,
         {ent(3, 3), ent(4, 4), ent(5, 5)}},
        // etcd stores these silently and breaks its position invariant.
        {"not contiguous", {ent(6, 5), ent(8, 5)}, errc::invalid_argument,
         {ent(3, 3), ent(4, 4), ent(5, 5)}},
        {"index wraps around", {ent(~raftpp::index_t{0}, 5), ent(0, 5)}, errc::invalid_argument,
         {ent(3, 3), ent(4, 4), ent(5, 5)}},
    };
    for (const auto& tc : tests) {
        CAPTURE(tc.name);
        auto s = storage_with(three);
        auto r = s.append(tc.entries);
        if (tc.werr == errc{}) CHECK(r);
        else CHECK(r.error() == tc.werr);
        CHECK(s.raw_entries() == tc.wentries);
    }
}

TEST_CASE("append that would leave a gap fails and changes nothing", "[storage]") {
    memory_storage s;
    const entry first[] = {ent(1, 1), ent(2, 1)};
    REQUIRE(s.append(first));
    const entry gap[] = {ent(4, 2), ent(5, 2)};
    auto r = s.append(gap);
    REQUIRE_FALSE(r);
    CHECK(r.error() == errc::index_out_of_range);
    CHECK(r.error().category() == raftpp::error_category());
    CHECK(*s.last_index() == 2);
    CHECK(s.term(4).error() == errc::unavailable);
    // Filling the hole first makes the same append succeed.
    const entry fill[] = {ent(3, 2)};
    REQUIRE(s.append(fill));
    REQUIRE(s.append(gap));
    CHECK(*s.last_index() == 5);
    CHECK(*s.term(5) == 2);
}

TEST_CASE("append does not reallocate when capacity suffices", "[storage]") {
    memory_storage s;
    std::vector<entry> batch;
    for (raftpp::index_t i = 1; i <= 8; ++i) batch.push_back(ent(i, 1));
    REQUIRE(s.append(batch));
    REQUIRE(s.compact(8));
    const auto* storage_before = s.raw_entries().data();
    // Compaction freed room at the front; re-appending up to the old size reuses the array.
    for (raftpp::index_t i = 9; i <= 15; ++i) {
        const entry e[] = {ent(i, 1)};
        REQUIRE(s.append(e));
    }
    CHECK(s.raw_entries().data() == storage_before);
    CHECK(*s.first_index() == 9);
    CHECK(*s.last_index() == 15);
}

TEST_CASE("memory_storage apply_snapshot", "[storage]") {
    const raftpp::conf_state cs{{1, 2, 3}, {}, {}, {}, false};
    const raftpp::buffer data("data");
    memory_storage s;

    const raftpp::snapshot newer{data, {cs, 4, 4}};
    REQUIRE(s.apply_snapshot(newer));
    CHECK(*s.snapshot() == newer);
    CHECK(s.raw_entries() == std::vector<entry>{ent(4, 4)});
    CHECK(*s.first_index() == 5);
    CHECK(*s.last_index() == 4);
    CHECK(*s.term(4) == 4);
    CHECK(s.initial_state()->conf_state == cs);

    const raftpp::snapshot older{data, {cs, 3, 3}};
    CHECK(s.apply_snapshot(older).error() == errc::snap_out_of_date);
    CHECK(s.apply_snapshot(newer).error() == errc::snap_out_of_date);  // same index
    CHECK(*s.snapshot() == newer);
}

TEST_CASE("apply_snapshot replaces the whole log", "[storage]") {
    auto s = storage_with(three);
    const raftpp::snapshot snap{raftpp::buffer("x"), {{}, 10, 7}};
    REQUIRE(s.apply_snapshot(snap));
    CHECK(s.raw_entries() == std::vector<entry>{ent(10, 7)});
    CHECK(s.term(5).error() == errc::compacted);
    const entry next[] = {ent(11, 7)};
    REQUIRE(s.append(next));
    CHECK(*s.last_index() == 11);
}

TEST_CASE("memory_storage keeps the hard state for initial_state", "[storage]") {
    memory_storage s;
    const raftpp::hard_state hs{5, 2, 3};
    REQUIRE(s.set_hard_state(hs));
    CHECK(s.hard_state() == hs);
    auto st = s.initial_state();
    REQUIRE(st);
    CHECK(st->hard_state == hs);
}
