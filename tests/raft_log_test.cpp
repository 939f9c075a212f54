// raft_log<memory_storage>, ported from etcd raft 3.4 log_test.go (TestFindConflictByTerm from
// etcd raft 3.5+); the unstable-tail tests are in log_unstable_test.cpp. Where etcd panics and
// raftpp returns an error, the error is checked; where raftpp asserts too, a forked child
// checks that it aborts with the expected message.
#include <catch2/catch.hpp>

#include "core_instances.hpp"

#include "abort_test_util.hpp"

#include <raftpp/memory_storage.hpp>
#include <raftpp/raft_log.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

// Readable failure output for entries.
namespace Catch {
template <>
struct StringMaker<raftpp::entry> {
    static std::string convert(const raftpp::entry& e) {
        std::string s = "{i";
        s += std::to_string(e.index);
        s += " t";
        s += std::to_string(e.term);
        if (!e.data.empty()) {
            s += ' ';
            s += e.data.view();
        }
        return s += "}";
    }
};
}  // namespace Catch

using namespace raftpp;
using log_t = raft_log<memory_storage>;

namespace {

entry ent(index_t index, term_t term) {
    entry e;
    e.index = index;
    e.term = term;
    return e;
}

snapshot snap(index_t index, term_t term) {
    snapshot s;
    s.metadata.index = index;
    s.metadata.term = term;
    return s;
}

// Entries from..from+terms.size()-1 with the given terms.
std::vector<entry> ents_from(index_t from, std::vector<term_t> terms) {
    std::vector<entry> out;
    for (term_t t : terms) out.push_back(ent(from++, t));
    return out;
}

using raftpp::test::abort_message;

}  // namespace

TEST_CASE("find_conflict returns the first new or conflicting index", "[raft_log][paper][5.3]") {
    const std::vector<entry> previous = {ent(1, 1), ent(2, 2), ent(3, 3)};
    struct tc_t {
        std::string_view name;
        std::vector<entry> ents;
        index_t want;
    };
    const tc_t tcs[] = {
        {"no entries", {}, 0},
        {"all present", {ent(1, 1), ent(2, 2), ent(3, 3)}, 0},
        {"suffix present", {ent(2, 2), ent(3, 3)}, 0},
        {"last present", {ent(3, 3)}, 0},
        {"new after all", {ent(1, 1), ent(2, 2), ent(3, 3), ent(4, 4), ent(5, 4)}, 4},
        {"new after suffix", {ent(2, 2), ent(3, 3), ent(4, 4), ent(5, 4)}, 4},
        {"new after last", {ent(3, 3), ent(4, 4), ent(5, 4)}, 4},
        {"only new", {ent(4, 4), ent(5, 4)}, 4},
        {"conflict at 1", {ent(1, 4), ent(2, 4)}, 1},
        {"conflict at 2", {ent(2, 1), ent(3, 4), ent(4, 4)}, 2},
        {"conflict at 3", {ent(3, 1), ent(4, 2), ent(5, 4), ent(6, 4)}, 3},
    };
    for (const auto& tc : tcs) {
        CAPTURE(tc.name);
        memory_storage s;
        log_t l(s);
        l.append(previous);
        CHECK(l.find_conflict(tc.ents) == tc.want);
    }
}

TEST_CASE("find_conflict_by_term finds the last index with a term <= the given one",
          "[raft_log][paper][5.3]") {
    struct tc_t {
        std::string_view name;
        std::vector<entry> ents;  // ents[0] is the snapshot point
        index_t index;
        term_t term;
        index_t want;
    };
    const auto fresh = ents_from(0, {0, 2, 2, 5, 5, 5});
    const auto compacted = ents_from(10, {3, 3, 3, 4, 4, 4});
    const tc_t tcs[] = {
        {"past the log", fresh, 100, 2, 100},
        {"newer term", fresh, 5, 6, 5},
        {"same term", fresh, 5, 5, 5},
        {"skips term 5", fresh, 5, 4, 2},
        {"skips to term 2", fresh, 5, 2, 2},
        {"nothing <= term 1", fresh, 5, 1, 0},
        {"first entry matches", fresh, 1, 2, 1},
        {"first entry too new", fresh, 1, 1, 0},
        {"index 0", fresh, 0, 0, 0},
        {"compacted: past the log", compacted, 30, 3, 30},
        {"compacted: newer term", compacted, 14, 9, 14},
        {"compacted: same term", compacted, 14, 4, 14},
        {"compacted: skips term 4", compacted, 14, 3, 12},
        {"compacted: down to the compacted part", compacted, 14, 2, 9},
        {"compacted: first entry", compacted, 11, 5, 11},
        {"compacted: snapshot point, newer", compacted, 10, 5, 10},
        {"compacted: snapshot point, same", compacted, 10, 3, 10},
        {"compacted: below the snapshot point", compacted, 10, 2, 9},
        {"compacted: compacted index", compacted, 9, 2, 9},
        {"compacted: far below", compacted, 4, 2, 4},
        {"compacted: index 0", compacted, 0, 0, 0},
    };
    for (const auto& tc : tcs) {
        CAPTURE(tc.name);
        memory_storage s;
        if (tc.ents[0].index != 0)
            REQUIRE(s.apply_snapshot(snap(tc.ents[0].index, tc.ents[0].term)));
        log_t l(s);
        l.append(std::span(tc.ents).subspan(1));
        const auto [index, term] = l.find_conflict_by_term(tc.index, tc.term);
        CHECK(index == tc.want);
        CHECK(term == l.zero_term_on_err_compacted(l.term(index)));
    }
}

TEST_CASE("is_up_to_date compares last term, then last index", "[raft_log][paper][5.4.1]") {
    memory_storage s;
    log_t l(s);
    l.append(std::vector{ent(1, 1), ent(2, 2), ent(3, 3)});
    const index_t last = l.last_index();
    struct tc_t {
        std::string_view name;
        index_t last_index;
        term_t term;
        bool want;
    };
    const tc_t tcs[] = {
        {"greater term, shorter", last - 1, 4, true},
        {"greater term, same length", last, 4, true},
        {"greater term, longer", last + 1, 4, true},
        {"smaller term, shorter", last - 1, 2, false},
        {"smaller term, same length", last, 2, false},
        {"smaller term, longer", last + 1, 2, false},
        {"equal term, shorter", last - 1, 3, false},
        {"equal term, same length", last, 3, true},
        {"equal term, longer", last + 1, 3, true},
    };
    for (const auto& tc : tcs) {
        CAPTURE(tc.name);
        CHECK(l.is_up_to_date(tc.last_index, tc.term) == tc.want);
    }
}

TEST_CASE("append truncates conflicting entries and moves the unstable offset", "[raft_log]") {
    const std::vector<entry> previous = {ent(1, 1), ent(2, 2)};
    struct tc_t {
        std::string_view name;
        std::vector<entry> ents;
        index_t want_index;
        std::vector<entry> want_ents;
        index_t want_unstable;
    };
    const tc_t tcs[] = {
        {"nothing", {}, 2, {ent(1, 1), ent(2, 2)}, 3},
        {"after the end", {ent(3, 2)}, 3, {ent(1, 1), ent(2, 2), ent(3, 2)}, 3},
        {"conflicts with index 1", {ent(1, 2)}, 1, {ent(1, 2)}, 1},
        {"conflicts with index 2", {ent(2, 3), ent(3, 3)}, 3, {ent(1, 1), ent(2, 3), ent(3, 3)}, 2},
    };
    for (const auto& tc : tcs) {
        CAPTURE(tc.name);
        memory_storage s;
        REQUIRE(s.append(previous));
        log_t l(s);
        CHECK(l.append(tc.ents) == tc.want_index);
        auto got = l.entries(1, no_limit);
        REQUIRE(got);
        CHECK(*got == tc.want_ents);
        CHECK(l.unstable().offset == tc.want_unstable);
    }
}

TEST_CASE("append below the commit index asserts", "[raft_log][assert]") {
    memory_storage s;
    log_t l(s);
    l.append(std::vector{ent(1, 1), ent(2, 1), ent(3, 1)});
    REQUIRE(l.commit_to(2));
    auto msg = abort_message([&] { l.append(std::vector{ent(2, 2)}); });
    REQUIRE(msg);
    CHECK_THAT(*msg, Catch::Contains("after(1) is out of range [committed(2)]"));
    CHECK_FALSE(abort_message([&] { l.append(std::vector{ent(3, 2)}); }));
}

// Raft §5.3 receiver rules: if (index, log_term) matches, delete conflicting entries and
// everything after them, append what is new, and commit up to min(committed, last new index).
TEST_CASE("maybe_append appends after a matching entry", "[raft_log][paper][5.3]") {
    const std::vector<entry> previous = {ent(1, 1), ent(2, 2), ent(3, 3)};
    const index_t li = 3;    // last index
    const term_t lt = 3;     // last term
    const index_t commit = 1;
    struct tc_t {
        std::string_view name;
        term_t log_term;
        index_t index;
        index_t committed;
        std::vector<entry> ents;
        std::optional<index_t> want_last;
        index_t want_commit;
    };
    const tc_t tcs[] = {
        {"term differs", lt - 1, li, li, {ent(li + 1, 4)}, std::nullopt, commit},
        {"index past the log", lt, li + 1, li, {ent(li + 2, 4)}, std::nullopt, commit},
        {"last entry, nothing new", lt, li, li, {}, li, li},
        {"commit capped at last new", lt, li, li + 1, {}, li, li},
        {"commit from the message", lt, li, li - 1, {}, li, li - 1},
        {"commit never decreases", lt, li, 0, {}, li, commit},
        {"index 0, commit never decreases", 0, 0, li, {}, 0, commit},
        {"one new", lt, li, li, {ent(li + 1, 4)}, li + 1, li},
        {"one new, commit it", lt, li, li + 1, {ent(li + 1, 4)}, li + 1, li + 1},
        {"one new, commit capped", lt, li, li + 2, {ent(li + 1, 4)}, li + 1, li + 1},
        {"two new", lt, li, li + 2, {ent(li + 1, 4), ent(li + 2, 4)}, li + 2, li + 2},
        {"middle: replaces the last", lt - 1, li - 1, li, {ent(li, 4)}, li, li},
        {"middle: replaces 2, drops 3", lt - 2, li - 2, li, {ent(li - 1, 4)}, li - 1, li - 1},
        {"middle: replaces two", lt - 2, li - 2, li, {ent(li - 1, 4), ent(li, 4)}, li, li},
    };
    for (const auto& tc : tcs) {
        CAPTURE(tc.name);
        memory_storage s;
        log_t l(s);
        l.append(previous);
        REQUIRE(l.commit_to(commit));
        CHECK(l.maybe_append(tc.index, tc.log_term, tc.committed, tc.ents) == tc.want_last);
        CHECK(l.committed() == tc.want_commit);
        if (tc.want_last && !tc.ents.empty()) {
            auto got = l.slice(l.last_index() - tc.ents.size() + 1, l.last_index() + 1, no_limit);
            REQUIRE(got);
            CHECK(*got == tc.ents);
        }
    }
}

TEST_CASE("maybe_append asserts on a conflict with a committed entry", "[raft_log][assert]") {
    memory_storage s;
    log_t l(s);
    l.append(std::vector{ent(1, 1), ent(2, 2), ent(3, 3)});
    REQUIRE(l.commit_to(1));
    auto msg = abort_message([&] { (void)l.maybe_append(0, 0, 3, std::vector{ent(1, 4)}); });
    REQUIRE(msg);
    CHECK_THAT(*msg, Catch::Contains("entry 1 conflict with committed entry [committed(1)]"));
}

TEST_CASE("the log keeps working after storage is compacted", "[raft_log]") {
    // 750 entries in storage, 250 unstable; term i at index i.
    const index_t last = 1000, unstable_from = 750;
    memory_storage s;
    for (index_t i = 1; i <= unstable_from; ++i) REQUIRE(s.append(std::vector{ent(i, i)}));
    log_t l(s);
    for (index_t i = unstable_from; i < last; ++i) l.append(std::vector{ent(i + 1, i + 1)});
    REQUIRE(l.maybe_commit(last, last));
    REQUIRE(l.applied_to(l.committed()));

    const index_t offset = 500;
    REQUIRE(s.compact(offset));
    CHECK(l.last_index() == last);
    for (index_t j = offset; j <= l.last_index(); ++j) {
        auto t = l.term(j);
        REQUIRE(t);
        CHECK(*t == j);
        CHECK(l.match_term(j, j));
    }
    auto unstable = l.unstable_entries();
    REQUIRE(unstable.size() == 250);
    CHECK(unstable[0].index == 751);

    const index_t prev = l.last_index();
    l.append(std::vector{ent(prev + 1, prev + 1)});
    CHECK(l.last_index() == prev + 1);
    auto ents = l.entries(l.last_index(), no_limit);
    REQUIRE(ents);
    CHECK(ents->size() == 1);
}

TEST_CASE("has_next_committed_entries and next_committed_entries start after the snapshot",
          "[raft_log]") {
    const std::vector<entry> ents = {ent(4, 1), ent(5, 1), ent(6, 1)};
    struct tc_t {
        index_t applied;
        bool has_next;
        std::vector<entry> want;
    };
    const tc_t tcs[] = {
        {0, true, {ent(4, 1), ent(5, 1)}},
        {3, true, {ent(4, 1), ent(5, 1)}},
        {4, true, {ent(5, 1)}},
        {5, false, {}},
    };
    for (const auto& tc : tcs) {
        CAPTURE(tc.applied);
        memory_storage s;
        REQUIRE(s.apply_snapshot(snap(3, 1)));
        log_t l(s);
        l.append(ents);
        REQUIRE(l.maybe_commit(5, 1));
        REQUIRE(l.applied_to(tc.applied));
        CHECK(l.has_next_committed_entries() == tc.has_next);
        CHECK(l.next_committed_entries() == tc.want);
    }
}

TEST_CASE("next_committed_entries is size limited but returns at least one entry",
          "[raft_log]") {
    // Entries 1..3 stable, 4..6 unstable, each entry_size() == 16 + 4 bytes.
    std::vector<entry> ents;
    for (index_t i = 1; i <= 6; ++i)
        ents.push_back(entry{1, i, entry_type::normal, buffer("data")});
    const std::uint64_t sz = entry_size(ents[0]);
    struct tc_t {
        std::string_view name;
        std::optional<std::uint64_t> max_size;  // nullopt: the log's max_next_entries_size
        index_t want_last;
    };
    const tc_t tcs[] = {
        {"default limit of the log: two entries", std::nullopt, 2},
        {"no limit", no_limit, 5},
        {"zero: still one entry", 0, 1},
        {"less than one entry", sz - 1, 1},
        {"exactly three", 3 * sz, 3},
        {"across storage and unstable", 4 * sz, 4},
        {"just under five", 5 * sz - 1, 4},
    };
    for (const auto& tc : tcs) {
        CAPTURE(tc.name);
        memory_storage s;
        REQUIRE(s.append(std::span(ents).first(3)));
        log_t l(s, 2 * sz + 1);
        CHECK(l.max_next_entries_size() == 2 * sz + 1);
        l.append(std::span(ents).subspan(3));
        REQUIRE(l.commit_to(5));
        auto got =
            tc.max_size ? l.next_committed_entries(*tc.max_size) : l.next_committed_entries();
        REQUIRE_FALSE(got.empty());
        CHECK(got.front().index == 1);
        CHECK(got.back().index == tc.want_last);
        CHECK(got == std::vector<entry>(ents.begin(), ents.begin() + std::ptrdiff_t(tc.want_last)));
    }
}

TEST_CASE("commit_to never decreases and rejects an index past the log", "[raft_log]") {
    struct tc_t {
        std::string_view name;
        index_t commit;
        index_t want;
        bool ok;
    };
    const tc_t tcs[] = {
        {"advances", 3, 3, true},
        {"never decreases", 1, 2, true},
        {"past last index", 4, 2, false},
    };
    for (const auto& tc : tcs) {
        CAPTURE(tc.name);
        memory_storage s;
        log_t l(s);
        l.append(std::vector{ent(1, 1), ent(2, 2), ent(3, 3)});
        REQUIRE(l.commit_to(2));
        auto r = l.commit_to(tc.commit);
        CHECK(r.has_value() == tc.ok);
        if (!tc.ok) CHECK(r.error() == errc::index_out_of_range);
        CHECK(l.committed() == tc.want);
    }
}

TEST_CASE("applied_to stays within [applied, committed]", "[raft_log]") {
    memory_storage s;
    log_t l(s);
    l.append(std::vector{ent(1, 1), ent(2, 1), ent(3, 1)});
    REQUIRE(l.commit_to(2));
    CHECK(l.applied_to(0));  // no-op
    CHECK(l.applied() == 0);
    CHECK(l.applied_to(3).error() == errc::index_out_of_range);
    CHECK(l.applied_to(2));
    CHECK(l.applied() == 2);
    CHECK(l.applied_to(1).error() == errc::index_out_of_range);
    CHECK(l.applied() == 2);
}

TEST_CASE("maybe_commit commits only entries of the given term", "[raft_log][paper][5.4.2]") {
    memory_storage s;
    log_t l(s);
    l.append(std::vector{ent(1, 1), ent(2, 1), ent(3, 2)});
    CHECK_FALSE(l.maybe_commit(2, 2));  // an old-term entry is not committed by counting
    CHECK(l.committed() == 0);
    CHECK(l.maybe_commit(3, 2));
    CHECK(l.committed() == 3);
    CHECK_FALSE(l.maybe_commit(3, 2));  // no progress
    CHECK_FALSE(l.maybe_commit(2, 1));  // never backwards
}

TEST_CASE("all_entries reflects storage compaction", "[raft_log]") {
    struct tc_t {
        std::string_view name;
        index_t last_index;
        std::vector<index_t> compact;
        std::vector<int> want_left;  // -1: compact() fails
    };
    const tc_t tcs[] = {
        {"past the last index", 1000, {1001}, {-1}},
        {"successive", 1000, {300, 500, 800, 900}, {700, 500, 200, 100}},
        {"below the last compaction", 1000, {300, 299}, {700, -1}},
    };
    for (const auto& tc : tcs) {
        CAPTURE(tc.name);
        memory_storage s;
        for (index_t i = 1; i <= tc.last_index; ++i) REQUIRE(s.append(std::vector{ent(i, 0)}));
        log_t l(s);
        REQUIRE(l.maybe_commit(tc.last_index, 0));
        REQUIRE(l.applied_to(l.committed()));
        for (std::size_t j = 0; j < tc.compact.size(); ++j) {
            CAPTURE(j);
            auto r = s.compact(tc.compact[j]);
            CHECK(r.has_value() == (tc.want_left[j] >= 0));
            if (r) CHECK(l.all_entries().size() == std::size_t(tc.want_left[j]));
        }
    }
}

TEST_CASE("a log built on a snapshot starts after it", "[raft_log]") {
    const index_t index = 1000;
    const term_t term = 1000;
    memory_storage s;
    REQUIRE(s.apply_snapshot(snap(index, term)));
    log_t l(s);
    CHECK(l.all_entries().empty());
    CHECK(l.first_index() == index + 1);
    CHECK(l.committed() == index);
    CHECK(l.applied() == index);
    CHECK(l.unstable().offset == index + 1);
    auto t = l.term(index);
    REQUIRE(t);
    CHECK(*t == term);
    CHECK(l.last_term() == term);
}

TEST_CASE("slice bounds: compacted below first_index, out of range past the log",
          "[raft_log]") {
    const index_t offset = 100, num = 100;
    memory_storage s;
    REQUIRE(s.apply_snapshot(snap(offset, 1)));
    log_t l(s);
    for (index_t i = 1; i <= num; ++i) l.append(std::vector{ent(i + offset, 1)});
    const index_t first = offset + 1;
    struct tc_t {
        std::string_view name;
        index_t lo, hi;
        std::error_code want;
    };
    const tc_t tcs[] = {
        {"two below first", first - 2, first + 1, errc::compacted},
        {"the snapshot point", first - 1, first + 1, errc::compacted},
        {"empty at first", first, first, {}},
        {"empty in the middle", first + num / 2, first + num / 2, {}},
        {"empty at last", first + num - 1, first + num - 1, {}},
        {"empty after last", first + num, first + num, {}},
        {"one past the end", first + num, first + num + 1, errc::index_out_of_range},
        {"empty two past last", first + num + 1, first + num + 1, errc::index_out_of_range},
        {"lo > hi", first + 2, first + 1, errc::index_out_of_range},
        {"lo > hi below first", first - 1, first - 2, errc::index_out_of_range},
    };
    for (const auto& tc : tcs) {
        CAPTURE(tc.name);
        auto r = l.slice(tc.lo, tc.hi, no_limit);
        CHECK(r.error() == tc.want);
        if (r) CHECK(r->empty());
    }
}

TEST_CASE("term is known from the snapshot point to the last index", "[raft_log]") {
    const index_t offset = 100, num = 100;
    memory_storage s;
    REQUIRE(s.apply_snapshot(snap(offset, 1)));
    log_t l(s);
    for (index_t i = 1; i < num; ++i) l.append(std::vector{ent(offset + i, i)});
    struct tc_t {
        std::string_view name;
        index_t index;
        term_t want;
        std::error_code error;
    };
    const tc_t tcs[] = {
        {"before the snapshot point", offset - 1, 0, errc::compacted},
        {"the snapshot point", offset, 1, {}},
        {"middle", offset + num / 2, num / 2, {}},
        {"last", offset + num - 1, num - 1, {}},
        {"past the last", offset + num, 0, {}},
    };
    for (const auto& tc : tcs) {
        CAPTURE(tc.name);
        auto t = l.term(tc.index);
        CHECK(t.error() == tc.error);
        CHECK(l.zero_term_on_err_compacted(t) == tc.want);
    }
}

TEST_CASE("slice combines storage and unstable entries within a size limit", "[raft_log]") {
    const index_t offset = 100, num = 100, last = offset + num, half = offset + num / 2;
    const std::uint64_t sz = entry_size(ent(half, half));
    memory_storage s;
    REQUIRE(s.apply_snapshot(snap(offset, 0)));
    for (index_t i = 1; i < num / 2; ++i)
        REQUIRE(s.append(std::vector{ent(offset + i, offset + i)}));
    log_t l(s);
    for (index_t i = num / 2; i < num; ++i) l.append(std::vector{ent(offset + i, offset + i)});
    REQUIRE(l.unstable().offset == half);
    // ents(lo, hi): the expected entries [lo, hi).
    auto ents = [](index_t lo, index_t hi) {
        std::vector<entry> v;
        for (index_t i = lo; i < hi; ++i) v.push_back(ent(i, i));
        return v;
    };
    struct tc_t {
        std::string_view name;
        index_t from, to;
        std::uint64_t limit;
        std::vector<entry> want;
        std::error_code error;
    };
    const tc_t tcs[] = {
        {"below the snapshot point", offset - 1, offset + 1, no_limit, {}, errc::compacted},
        {"the snapshot point", offset, offset + 1, no_limit, {}, errc::compacted},
        {"across the boundary", half - 1, half + 1, no_limit, ents(half - 1, half + 1), {}},
        {"unstable only", half, half + 1, no_limit, ents(half, half + 1), {}},
        {"the last entry", last - 1, last, no_limit, ents(last - 1, last), {}},
        {"past the end", last, last + 1, no_limit, {}, errc::index_out_of_range},
        {"limit 0: one entry", half - 1, half + 1, 0, ents(half - 1, half), {}},
        {"limit below two", half - 1, half + 1, sz + 1, ents(half - 1, half), {}},
        {"limit below two, storage only", half - 2, half + 1, sz + 1, ents(half - 2, half - 1), {}},
        {"limit two across", half - 1, half + 1, 2 * sz, ents(half - 1, half + 1), {}},
        {"limit three across", half - 1, half + 2, 3 * sz, ents(half - 1, half + 2), {}},
        {"limit one, unstable", half, half + 2, sz, ents(half, half + 1), {}},
        {"limit two, unstable", half, half + 2, 2 * sz, ents(half, half + 2), {}},
        {"limit stops in unstable part", half - 2, last, 3 * sz, ents(half - 2, half + 1), {}},
        {"limit 0 in unstable part", half + 3, last, 0, ents(half + 3, half + 4), {}},
    };
    for (const auto& tc : tcs) {
        CAPTURE(tc.name);
        auto got = l.slice(tc.from, tc.to, tc.limit);
        CHECK(got.error() == tc.error);
        if (got) CHECK(*got == tc.want);
    }
}

TEST_CASE("slice returns one oversized entry rather than none", "[raft_log]") {
    memory_storage s;
    REQUIRE(s.append(std::vector{entry{1, 1, entry_type::normal, buffer(std::string(1000, 'x'))}}));
    log_t l(s);
    l.append(std::vector{entry{1, 2, entry_type::normal, buffer(std::string(1000, 'y'))}});
    auto a = l.slice(1, 3, 10);
    REQUIRE(a);
    REQUIRE(a->size() == 1);
    CHECK(a->front().index == 1);
    auto b = l.slice(2, 3, 10);
    REQUIRE(b);
    REQUIRE(b->size() == 1);
    CHECK(b->front().data.size() == 1000);
}

TEST_CASE("entries past the last index is empty, not an error", "[raft_log]") {
    memory_storage s;
    log_t l(s);
    l.append(std::vector{ent(1, 1), ent(2, 1)});
    auto e = l.entries(3, no_limit);
    REQUIRE(e);
    CHECK(e->empty());
    CHECK(l.entries(0, no_limit).error() == errc::compacted);
    CHECK(l.entries(2, no_limit)->size() == 1);
}

// A storage with only the storage_reader members, so raft_log takes its generic path rather
// than memory_storage's entries_into().
struct reader_only_storage {
    const memory_storage* s;
    result<initial_state_t> initial_state() const { return s->initial_state(); }
    result<std::vector<entry>> entries(index_t lo, index_t hi, std::uint64_t max) const {
        return s->entries(lo, hi, max);
    }
    result<term_t> term(index_t i) const { return s->term(i); }
    result<index_t> first_index() const { return s->first_index(); }
    result<index_t> last_index() const { return s->last_index(); }
    result<raftpp::snapshot> snapshot() const { return s->snapshot(); }
};

TEST_CASE("slice_into appends to out, or leaves it alone on error", "[raft_log]") {
    memory_storage s;
    REQUIRE(s.apply_snapshot(snap(2, 1)));
    REQUIRE(s.append(std::vector{ent(3, 1), ent(4, 1), ent(5, 2)}));
    reader_only_storage plain{&s};
    log_t fast(s);
    raft_log<reader_only_storage> generic(plain);
    fast.append(std::vector{ent(6, 2), ent(7, 3)});
    generic.append(std::vector{ent(6, 2), ent(7, 3)});
    const std::uint64_t sz = entry_size(ent(1, 1));
    const std::uint64_t limits[] = {0, sz, 2 * sz, 3 * sz + 1, no_limit};
    for (index_t lo = 3; lo <= 8; ++lo)
        for (index_t hi = lo; hi <= 8; ++hi)
            for (auto limit : limits) {
                CAPTURE(lo, hi, limit);
                std::vector<entry> a{ent(99, 9)}, b{ent(99, 9)};
                CHECK_FALSE(fast.slice_into(lo, hi, limit, a));
                CHECK_FALSE(generic.slice_into(lo, hi, limit, b));
                CHECK(a == b);
                REQUIRE(a.size() >= 1 + (hi > lo ? 1 : 0));
                CHECK(a.front() == ent(99, 9));  // appended after what was there
                CHECK(*fast.slice(lo, hi, limit) ==
                      std::vector<entry>(a.begin() + 1, a.end()));
            }
    std::vector<entry> out{ent(99, 9)};
    CHECK(fast.slice_into(2, 4, no_limit, out) == errc::compacted);
    CHECK(generic.slice_into(4, 9, no_limit, out) == errc::index_out_of_range);
    CHECK(out == std::vector{ent(99, 9)});
    CHECK_FALSE(fast.entries_into(8, no_limit, out));  // past the end: nothing appended
    CHECK(out.size() == 1);
}

TEST_CASE("term() of an unstable entry the storage compacted past is errc::compacted",
          "[raft_log][term]") {
    // Between a persist and advance() the entries are both unstable and stored, and the
    // application may compact what it applied: below first_index() - 1 no term is known,
    // wherever a copy still lies.
    memory_storage s;
    log_t log(s);
    std::vector<entry> ents;
    for (index_t i = 1; i <= 5; ++i) ents.push_back(ent(i, 1));
    log.append(ents);
    REQUIRE(s.append(ents));
    REQUIRE(log.commit_to(5));
    REQUIRE(s.compact(4));
    CHECK(log.term(2).error() == errc::compacted);
    CHECK(log.term(3).error() == errc::compacted);
    CHECK(log.term(4).value() == 1);  // the storage's dummy entry
    CHECK(log.term(5).value() == 1);
}
