// memory_storage, ported from etcd raft's storage_test.go, plus the cases where raftpp returns
// an error where etcd panics (a gap on append, out-of-range indices); then its chunked log:
// allocation behaviour, and randomized runs against the plain vector design it replaced.
#include <catch2/catch.hpp>

#include <raftpp/detail/chunked_log.hpp>
#include <raftpp/memory_storage.hpp>

#include <algorithm>
#include <cstdlib>
#include <iterator>
#include <new>
#include <random>
#include <ranges>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

using raftpp::entry;
using raftpp::errc;
using raftpp::memory_storage;
using raftpp::no_limit;

// Counts heap allocations (the benchmarks' counter) so that the paths that must not
// allocate can be checked.
#include "../benchmarks/alloc_counter.hpp"

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
    CHECK((*got)[0].data.data() == s.raw_log()[2].data.data());
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

TEST_CASE("compact drops the payload of the new dummy entry and allocates nothing", "[storage]") {
    memory_storage s;
    const entry es[] = {entry{1, 1, raftpp::entry_type::normal, raftpp::buffer("a")},
                        entry{1, 2, raftpp::entry_type::conf_change, raftpp::buffer("b")},
                        entry{2, 3, raftpp::entry_type::normal, raftpp::buffer("c")}};
    REQUIRE(s.append(es));
    const auto before = raftpp_bench::allocation_count();
    const bool compacted = static_cast<bool>(s.compact(2));
    const auto allocations = raftpp_bench::allocation_count() - before;
    REQUIRE(compacted);
    CHECK(allocations == 0);
    CHECK(s.raw_entries() == std::vector<entry>{ent(2, 1), es[2]});
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

TEST_CASE("appends allocate one chunk per chunk_entries, and none once compaction keeps up",
          "[storage]") {
    constexpr std::size_t chunk = raftpp::detail::chunked_log::chunk_entries;
    memory_storage s;  // its first chunk holds the dummy entry
    raftpp::index_t next = 1;
    bool appended = true;
    // Appends one entry at a time, as a node persisting proposals one by one; the number of
    // allocations they made.
    const auto append = [&](std::size_t n) {
        const auto before = raftpp_bench::allocation_count();
        for (std::size_t k = 0; k < n; ++k, ++next) {
            const entry e[] = {ent(next, 1)};
            appended = appended && s.append(e);
        }
        return raftpp_bench::allocation_count() - before;
    };
    CHECK(append(1) <= 1);          // term 1 starts after the dummy's 0: a term run
    CHECK(append(chunk - 2) == 0);  // fills the first chunk
    // A new chunk, and maybe room for its pointer: nothing stored is copied or moved.
    CHECK(append(1) <= 2);
    CHECK(append(chunk - 1) == 0);
    // Compaction frees the first chunk and keeps it for the next one.
    REQUIRE(s.compact(next - 10));
    for (int round = 0; round < 4; ++round) {
        CHECK(append(chunk) == 0);
        const auto before = raftpp_bench::allocation_count();
        const bool compacted = static_cast<bool>(s.compact(next - 10));
        CHECK(raftpp_bench::allocation_count() == before);
        REQUIRE(compacted);
    }
    REQUIRE(appended);
    CHECK(*s.first_index() == next - 9);
    CHECK(*s.last_index() == next - 1);
    CHECK(*s.term(next - 10) == 1);
    // Without compaction: a chunk each, and the chunk pointers' geometric growth.
    const auto grown = append(32 * chunk);
    REQUIRE(appended);
    CHECK(grown >= 32);
    CHECK(grown <= 32 + 6);
    CHECK(*s.last_index() == next - 1);
}

TEST_CASE("entries_into appends without allocating when the vector has the capacity",
          "[storage]") {
    memory_storage s;
    std::vector<entry> es;
    for (raftpp::index_t i = 1; i <= 5; ++i) es.push_back(ent(i, 1));
    REQUIRE(s.append(es));
    std::vector<entry> out;
    out.reserve(5);
    out.push_back(ent(9, 9));
    auto before = raftpp_bench::allocation_count();
    const bool ok = static_cast<bool>(s.entries_into(2, 6, no_limit, out));
    auto allocations = raftpp_bench::allocation_count() - before;
    REQUIRE(ok);
    CHECK(allocations == 0);
    CHECK(out == std::vector<entry>{ent(9, 9), ent(2, 1), ent(3, 1), ent(4, 1), ent(5, 1)});
    // entries() allocates the vector it returns, once.
    before = raftpp_bench::allocation_count();
    const auto got = s.entries(1, 6, no_limit);
    allocations = raftpp_bench::allocation_count() - before;
    REQUIRE(got);
    CHECK(allocations == 1);
    CHECK(*got == es);
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

TEST_CASE("raw_log is a random-access view of the log as entries", "[storage]") {
    static_assert(std::ranges::random_access_range<memory_storage::log_view>);
    static_assert(std::ranges::sized_range<memory_storage::log_view>);
    auto s = storage_with(three);
    const auto v = s.raw_log();
    REQUIRE(v.size() == 3);
    CHECK(v.front() == ent(3, 3));
    CHECK(v.back() == ent(5, 5));
    CHECK(v[1] == ent(4, 4));
    CHECK(v == three);
    CHECK(three == v);
    CHECK(v == s.raw_log());
    CHECK_FALSE(v == std::vector<entry>{ent(3, 3), ent(4, 4)});
    CHECK_FALSE(v == std::vector<entry>{ent(3, 3), ent(4, 4), ent(5, 6)});
    CHECK(std::vector<entry>(v.begin(), v.end()) == three);
    CHECK(v.to_vector() == three);
    CHECK(std::ranges::equal(v, three));
    auto it = v.begin();
    CHECK(v.end() - it == 3);
    CHECK(it[2] == ent(5, 5));
    CHECK(*(it + 1) == ent(4, 4));
    CHECK(*--(v.end()) == ent(5, 5));
    CHECK(it < v.end());
    // An index is implied by the position: the view follows compaction.
    REQUIRE(s.compact(4));
    CHECK(s.raw_log().front() == ent(4, 4));
    CHECK(s.raw_log() == std::vector<entry>{ent(4, 4), ent(5, 5)});
}

namespace {

// Payloads of several sizes, so that max_size limits cut at different places; shared by the
// randomized runs, which check at the end that every reference the logs took was dropped.
std::vector<raftpp::buffer> make_payloads() {
    std::vector<raftpp::buffer> out;
    for (std::size_t n : {0, 1, 10, 100, 500, 3}) out.emplace_back(std::string(n, 'p'));
    return out;
}

// memory_storage as it was before its chunked log (one vector, [0] the dummy entry), reduced
// to what the randomized run compares.
struct vector_storage {
    std::vector<entry> ents{entry{}};
    raftpp::index_t snap = 0;

    raftpp::index_t offset() const { return ents.front().index; }
    raftpp::index_t last() const { return offset() + ents.size() - 1; }

    errc append(std::span<const entry> es) {
        if (es.empty()) return {};
        for (std::size_t k = 1; k < es.size(); ++k)
            if (es[k].index != es[k - 1].index + 1 || es[k].index == 0)
                return errc::invalid_argument;
        const raftpp::index_t first = offset() + 1;
        if (es.back().index < first) return {};
        if (first > es.front().index) es = es.subspan(first - es.front().index);
        const raftpp::index_t at = es.front().index - offset();
        if (at > ents.size()) return errc::index_out_of_range;
        ents.erase(ents.begin() + static_cast<std::ptrdiff_t>(at), ents.end());
        ents.insert(ents.end(), es.begin(), es.end());
        return {};
    }
    errc compact(raftpp::index_t i) {
        if (i <= offset()) return errc::compacted;
        if (i > last()) return errc::index_out_of_range;
        ents.erase(ents.begin(), ents.begin() + static_cast<std::ptrdiff_t>(i - offset()));
        ents.front().type = raftpp::entry_type::normal;
        ents.front().data = {};
        return {};
    }
    errc apply_snapshot(raftpp::index_t i, raftpp::term_t t) {
        if (snap >= i) return errc::snap_out_of_date;
        snap = i;
        ents = {entry{t, i, raftpp::entry_type::normal, {}}};
        return {};
    }
    errc create_snapshot(raftpp::index_t i, raftpp::term_t& t) {
        if (i <= snap) return errc::snap_out_of_date;
        if (i > last()) return errc::index_out_of_range;
        if (i < offset()) return errc::compacted;
        snap = i;
        t = ents[i - offset()].term;
        return {};
    }
    errc term(raftpp::index_t i, raftpp::term_t& t) const {
        if (i < offset()) return errc::compacted;
        if (i - offset() >= ents.size()) return errc::unavailable;
        t = ents[i - offset()].term;
        return {};
    }
    errc entries(raftpp::index_t lo, raftpp::index_t hi, std::uint64_t max_size,
                 std::vector<entry>& out) const {
        if (lo <= offset()) return errc::compacted;
        if (hi > last() + 1 || lo > hi) return errc::index_out_of_range;
        if (ents.size() == 1) return errc::unavailable;
        std::uint64_t size = 0;
        for (raftpp::index_t i = lo; i < hi; ++i) {
            size += raftpp::entry_size(ents[i - offset()]);
            if (size > max_size && i != lo) break;
            out.push_back(ents[i - offset()]);
        }
        return {};
    }
};

template <class R>
errc code(const R& r) {
    return r ? errc{} : static_cast<errc>(r.error().value());
}

}  // namespace

TEST_CASE("memory_storage behaves as the vector design it replaced", "[storage]") {
    const auto payloads = make_payloads();
    for (std::uint64_t seed = 1; seed <= 3; ++seed) {
        CAPTURE(seed);
        std::mt19937_64 rng(seed);
        const auto pick = [&](std::uint64_t lo, std::uint64_t hi) {  // in [lo, hi]
            return std::uniform_int_distribution<std::uint64_t>(lo, hi)(rng);
        };
        memory_storage s;
        vector_storage ref;
        for (int step = 0; step < 600; ++step) {
            CAPTURE(step);
            const std::uint64_t op = pick(0, 99);
            const raftpp::index_t off = ref.offset(), last = ref.last();
            if (op < 50) {  // append: extend, overwrite a suffix, overlap the compacted prefix
                const raftpp::index_t start =
                    std::max<raftpp::index_t>(1, pick(off - std::min<raftpp::index_t>(off, 3), last + 2));
                const std::size_t n = pick(0, 9) < 7 ? pick(1, 8) : pick(1, 3000);
                const raftpp::term_t term = pick(1, 5);
                const std::size_t next_term_at = pick(0, n);  // a leader change in the batch
                std::vector<entry> es;
                for (std::size_t k = 0; k < n; ++k)
                    es.push_back(entry{term + (k < next_term_at ? 0 : 1), start + k,
                                       static_cast<raftpp::entry_type>(k % 3),
                                       payloads[pick(0, payloads.size() - 1)]});
                if (pick(0, 29) == 0) es.back().index += 1;  // not contiguous
                CHECK(code(s.append(es)) == ref.append(es));
            } else if (op < 65) {
                const raftpp::index_t i = pick(off, last + 2) - std::min<raftpp::index_t>(off, 1);
                CHECK(code(s.compact(i)) == ref.compact(i));
            } else if (op < 68) {
                const raftpp::index_t i = pick(ref.snap, last + 3000) + 1 - pick(0, 3);
                const raftpp::term_t term = pick(1, 9);
                raftpp::snapshot snap;
                snap.metadata.index = i;
                snap.metadata.term = term;
                CHECK(code(s.apply_snapshot(snap)) == ref.apply_snapshot(i, term));
            } else if (op < 73) {
                const raftpp::index_t i = pick(off, last + 2) - std::min<raftpp::index_t>(off, 1);
                raftpp::term_t want = 0;
                const errc werr = ref.create_snapshot(i, want);
                auto got = s.create_snapshot(i, nullptr, {});
                CHECK(code(got) == werr);
                if (got && werr == errc{}) CHECK(got->metadata.term == want);
            } else if (op < 75) {
                memory_storage copy(s);
                s = std::move(copy);
            } else if (op < 77) {
                memory_storage copy;
                copy = s;
                s = copy;
            }
            // Probes after every step.
            REQUIRE(*s.first_index() == ref.offset() + 1);
            REQUIRE(*s.last_index() == ref.last());
            for (int k = 0; k < 3; ++k) {
                const raftpp::index_t i = pick(ref.offset(), ref.last() + 2) -
                                          std::min<raftpp::index_t>(ref.offset(), 1);
                raftpp::term_t want = 0;
                const errc werr = ref.term(i, want);
                const auto got = s.term(i);
                CHECK(code(got) == werr);
                if (got && werr == errc{}) CHECK(*got == want);
            }
            {
                const raftpp::index_t lo = pick(ref.offset(), ref.last() + 2);
                const raftpp::index_t hi = pick(0, 5) == 0 ? lo - 1 : pick(lo, ref.last() + 2);
                const std::uint64_t sizes[] = {0, no_limit, pick(0, 20000)};
                const std::uint64_t max_size = sizes[pick(0, 2)];
                std::vector<entry> want;
                const errc werr = ref.entries(lo, hi, max_size, want);
                auto got = s.entries(lo, hi, max_size);
                CHECK(code(got) == werr);
                if (got && werr == errc{}) CHECK(*got == want);
            }
            if (step % 16 == 0) REQUIRE(s.raw_log() == ref.ents);
        }
        REQUIRE(s.raw_entries() == ref.ents);
    }
    for (const auto& p : payloads) CHECK(p.use_count() <= 1);  // no reference was leaked
}

TEST_CASE("chunked_log across chunk boundaries", "[storage]") {
    using log4 = raftpp::detail::basic_chunked_log<2>;  // four entries per chunk
    const auto payloads = make_payloads();
    {
        std::mt19937_64 rng(7);
        const auto pick = [&](std::uint64_t lo, std::uint64_t hi) {
            return std::uniform_int_distribution<std::uint64_t>(lo, hi)(rng);
        };
        log4 log;
        std::vector<entry> model;  // what it holds, index 0 throughout
        for (int step = 0; step < 3000; ++step) {
            CAPTURE(step);
            const std::uint64_t op = pick(0, 9);
            if (op < 5) {
                const std::size_t p = pick(0, model.size());
                std::vector<entry> es(pick(0, 9));
                const raftpp::term_t terms = step % 2 == 0 ? 2 : 50;  // long runs, or short
                for (auto& e : es)
                    e = entry{pick(1, terms), 0, static_cast<raftpp::entry_type>(pick(0, 2)),
                              payloads[pick(0, payloads.size() - 1)]};
                log.assign_from(p, es);
                model.resize(p);
                model.insert(model.end(), es.begin(), es.end());
            } else if (op < 6) {
                const std::size_t n = pick(0, model.size() + 1);
                log.truncate(n);
                if (n < model.size()) model.resize(n);
            } else if (op < 8) {
                const std::size_t n = pick(0, model.size());
                log.drop_front(n);
                model.erase(model.begin(), model.begin() + static_cast<std::ptrdiff_t>(n));
            } else if (op < 9) {
                if (model.empty()) continue;
                const std::size_t p = pick(0, model.size() - 1);
                log.clear_payload(p);
                model[p].type = raftpp::entry_type::normal;
                model[p].data = {};
            } else if (pick(0, 1) == 0) {
                log4 moved(std::move(log));
                CHECK(log.size() == 0);  // a moved-from log is empty, and usable
                log = std::move(moved);
            } else {
                log = log4(log);
            }
            REQUIRE(log.size() == model.size());
            for (std::size_t p = 0; p < model.size(); ++p) REQUIRE(log.get(p, 0) == model[p]);
            // Chunks covering the entries, plus at most one spare.
            CHECK(log.chunks_held() <= (model.size() + 3) / 4 + 2);
            // One term run per maximal stretch of equal terms.
            std::size_t runs = 0;
            for (std::size_t p = 0; p < model.size(); ++p)
                if (p == 0 || model[p].term != model[p - 1].term) ++runs;
            CHECK(log.term_runs() == runs);
        }
    }
    for (const auto& p : payloads) CHECK(p.use_count() <= 1);
}
