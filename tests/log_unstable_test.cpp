// The unstable tail of the log: detail::unstable, ported from etcd raft 3.4
// log_unstable_test.go, plus the array reuse of stable_to that etcd leaves to the garbage
// collector; then the same tail as raft_log exposes it (stable_to, unstable snapshots, restore,
// from etcd log_test.go).
#include <catch2/catch.hpp>

#include <raftpp/detail/unstable.hpp>
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
        return s += "}";
    }
};
}  // namespace Catch

using namespace raftpp;
using detail::unstable;
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

unstable make(std::vector<entry> ents, index_t offset, std::optional<snapshot> s) {
    return unstable{.snapshot = std::move(s), .entries = std::move(ents), .offset = offset};
}

}  // namespace

TEST_CASE("unstable.maybe_first_index is known only with a pending snapshot", "[unstable]") {
    struct tc_t {
        std::string_view name;
        std::vector<entry> entries;
        index_t offset;
        std::optional<snapshot> snap;
        std::optional<index_t> want;
    };
    const tc_t tcs[] = {
        {"entries, no snapshot", {ent(5, 1)}, 5, std::nullopt, std::nullopt},
        {"empty", {}, 0, std::nullopt, std::nullopt},
        {"entries and snapshot", {ent(5, 1)}, 5, snap(4, 1), 5},
        {"snapshot only", {}, 5, snap(4, 1), 5},
    };
    for (const auto& tc : tcs) {
        CAPTURE(tc.name);
        auto u = make(tc.entries, tc.offset, tc.snap);
        CHECK(u.maybe_first_index() == tc.want);
    }
}

TEST_CASE("unstable.maybe_last_index is the last entry, else the snapshot", "[unstable]") {
    struct tc_t {
        std::string_view name;
        std::vector<entry> entries;
        index_t offset;
        std::optional<snapshot> snap;
        std::optional<index_t> want;
    };
    const tc_t tcs[] = {
        {"last in entries", {ent(5, 1)}, 5, std::nullopt, 5},
        {"last in entries, with snapshot", {ent(5, 1)}, 5, snap(4, 1), 5},
        {"last in snapshot", {}, 5, snap(4, 1), 4},
        {"empty unstable", {}, 0, std::nullopt, std::nullopt},
    };
    for (const auto& tc : tcs) {
        CAPTURE(tc.name);
        auto u = make(tc.entries, tc.offset, tc.snap);
        CHECK(u.maybe_last_index() == tc.want);
    }
}

TEST_CASE("unstable.maybe_term answers from entries or the snapshot point", "[unstable]") {
    struct tc_t {
        std::string_view name;
        std::vector<entry> entries;
        index_t offset;
        std::optional<snapshot> snap;
        index_t index;
        std::optional<term_t> want;
    };
    const tc_t tcs[] = {
        {"entry", {ent(5, 1)}, 5, std::nullopt, 5, 1},
        {"past last entry", {ent(5, 1)}, 5, std::nullopt, 6, std::nullopt},
        {"before offset", {ent(5, 1)}, 5, std::nullopt, 4, std::nullopt},
        {"entry, with snapshot", {ent(5, 1)}, 5, snap(4, 1), 5, 1},
        {"past last entry, with snapshot", {ent(5, 1)}, 5, snap(4, 1), 6, std::nullopt},
        {"snapshot point", {ent(5, 1)}, 5, snap(4, 1), 4, 1},
        {"before snapshot point", {ent(5, 1)}, 5, snap(4, 1), 3, std::nullopt},
        {"past snapshot, no entries", {}, 5, snap(4, 1), 5, std::nullopt},
        {"snapshot point, no entries", {}, 5, snap(4, 1), 4, 1},
        {"empty unstable", {}, 0, std::nullopt, 5, std::nullopt},
    };
    for (const auto& tc : tcs) {
        CAPTURE(tc.name);
        auto u = make(tc.entries, tc.offset, tc.snap);
        CHECK(u.maybe_term(tc.index) == tc.want);
    }
}

TEST_CASE("unstable.restore replaces entries and snapshot", "[unstable]") {
    auto u = make({ent(5, 1)}, 5, snap(4, 1));
    const auto s = snap(6, 2);
    u.restore(s);
    CHECK(u.offset == s.metadata.index + 1);
    CHECK(u.entries.empty());
    REQUIRE(u.snapshot.has_value());
    CHECK(*u.snapshot == s);
}

TEST_CASE("unstable.stable_to drops the persisted prefix only on a term match", "[unstable]") {
    struct tc_t {
        std::string_view name;
        std::vector<entry> entries;
        index_t offset;
        std::optional<snapshot> snap;
        index_t index;
        term_t term;
        index_t want_offset;
        std::size_t want_len;
    };
    const tc_t tcs[] = {
        {"empty", {}, 0, std::nullopt, 5, 1, 0, 0},
        {"the only entry", {ent(5, 1)}, 5, std::nullopt, 5, 1, 6, 0},
        {"the first of two", {ent(5, 1), ent(6, 1)}, 5, std::nullopt, 5, 1, 6, 1},
        {"term mismatch", {ent(6, 2)}, 6, std::nullopt, 6, 1, 6, 1},
        {"old entry", {ent(5, 1)}, 5, std::nullopt, 4, 1, 5, 1},
        {"old entry, other term", {ent(5, 1)}, 5, std::nullopt, 4, 2, 5, 1},
        {"snapshot: the only entry", {ent(5, 1)}, 5, snap(4, 1), 5, 1, 6, 0},
        {"snapshot: the first of two", {ent(5, 1), ent(6, 1)}, 5, snap(4, 1), 5, 1, 6, 1},
        {"snapshot: term mismatch", {ent(6, 2)}, 6, snap(5, 1), 6, 1, 6, 1},
        {"snapshot: stable to the snapshot point", {ent(5, 1)}, 5, snap(4, 1), 4, 1, 5, 1},
        {"snapshot: old entry", {ent(5, 2)}, 5, snap(4, 2), 4, 1, 5, 1},
    };
    for (const auto& tc : tcs) {
        CAPTURE(tc.name);
        auto u = make(tc.entries, tc.offset, tc.snap);
        u.stable_to(tc.index, tc.term);
        CHECK(u.offset == tc.want_offset);
        CHECK(u.entries.size() == tc.want_len);
    }
}

TEST_CASE("unstable.truncate_and_append appends, replaces or truncates", "[unstable]") {
    struct tc_t {
        std::string_view name;
        std::vector<entry> entries;
        index_t offset;
        std::vector<entry> to_append;
        index_t want_offset;
        std::vector<entry> want;
    };
    const tc_t tcs[] = {
        {"append to the end", {ent(5, 1)}, 5, {ent(6, 1), ent(7, 1)},
         5, {ent(5, 1), ent(6, 1), ent(7, 1)}},
        {"replace from offset", {ent(5, 1)}, 5, {ent(5, 2), ent(6, 2)},
         5, {ent(5, 2), ent(6, 2)}},
        {"replace from before offset", {ent(5, 1)}, 5, {ent(4, 2), ent(5, 2), ent(6, 2)},
         4, {ent(4, 2), ent(5, 2), ent(6, 2)}},
        {"truncate in the middle", {ent(5, 1), ent(6, 1), ent(7, 1)}, 5, {ent(6, 2)},
         5, {ent(5, 1), ent(6, 2)}},
        {"truncate the last", {ent(5, 1), ent(6, 1), ent(7, 1)}, 5, {ent(7, 2), ent(8, 2)},
         5, {ent(5, 1), ent(6, 1), ent(7, 2), ent(8, 2)}},
    };
    for (const auto& tc : tcs) {
        CAPTURE(tc.name);
        auto u = make(tc.entries, tc.offset, std::nullopt);
        u.truncate_and_append(tc.to_append);
        CHECK(u.offset == tc.want_offset);
        CHECK(u.entries == tc.want);
    }
}

TEST_CASE("unstable.stable_snap_to clears only the matching snapshot", "[unstable]") {
    auto u = make({}, 5, snap(4, 1));
    u.stable_snap_to(3);
    CHECK(u.snapshot.has_value());
    u.stable_snap_to(4);
    CHECK_FALSE(u.snapshot.has_value());
    u.stable_snap_to(4);  // nothing pending: no-op
    CHECK_FALSE(u.snapshot.has_value());
}

TEST_CASE("unstable.slice returns [lo, hi) of the entries", "[unstable]") {
    auto u = make({ent(5, 1), ent(6, 1), ent(7, 2)}, 5, std::nullopt);
    CHECK(u.slice(5, 5).empty());
    CHECK(u.slice(8, 8).empty());
    auto s = u.slice(6, 8);
    REQUIRE(s.size() == 2);
    CHECK(s[0] == ent(6, 1));
    CHECK(s[1] == ent(7, 2));
    CHECK(u.slice(5, 8).size() == 3);
}

TEST_CASE("unstable reuses its array across append/stable_to cycles", "[unstable][alloc]") {
    // The steady state of a node: append a batch, persist it, stable_to it. No allocation
    // after the first round.
    unstable u;
    u.offset = 1;
    std::vector<entry> batch(64);
    index_t next = 1;
    const entry* data = nullptr;
    for (int round = 0; round < 100; ++round) {
        for (auto& e : batch) e = ent(next++, 1);
        u.truncate_and_append(batch);
        if (round == 0) data = u.entries.data();
        CHECK(u.entries.data() == data);
        u.stable_to(next - 1, 1);
        CHECK(u.entries.empty());
        CHECK(u.offset == next);
    }
    // A partial stable_to keeps the rest at the front of the same array.
    for (auto& e : batch) e = ent(next++, 1);
    u.truncate_and_append(batch);
    u.stable_to(next - 33, 1);
    CHECK(u.entries.data() == data);
    REQUIRE(u.entries.size() == 32);
    CHECK(u.entries.front().index == u.offset);
}

TEST_CASE("unstable gives back a large array only after a run of small rounds",
          "[unstable][alloc]") {
    unstable u;
    u.offset = 1;
    index_t next = 1;
    // One round of the ready cycle: append n entries, then persist them all.
    auto round = [&](std::size_t n) {
        std::vector<entry> batch;
        for (std::size_t k = 0; k < n; ++k) batch.push_back(ent(next++, 1));
        u.truncate_and_append(batch);
        u.stable_to(next - 1, 1);
    };
    const std::size_t big = 10 * unstable::retained_capacity;
    round(big);  // a burst: a follower catching up
    const auto burst_capacity = u.entries.capacity();
    REQUIRE(burst_capacity >= big);

    SECTION("alternating big and small rounds keep the array") {
        const entry* data = u.entries.data();
        for (int k = 0; k < 4 * int(unstable::shrink_after_rounds); ++k)
            round(k % 8 == 0 ? big : 1);
        CHECK(u.entries.data() == data);
    }
    SECTION("a run of small rounds gives it back") {
        for (std::uint32_t k = 1; k < unstable::shrink_after_rounds; ++k) round(1);
        CHECK(u.entries.capacity() == burst_capacity);
        round(1);
        CHECK(u.entries.capacity() <= unstable::retained_capacity);
        CHECK(u.entries.empty());
        CHECK(u.offset == next);
    }
    SECTION("entries left after stable_to survive the shrink") {
        for (std::uint32_t k = 1; k < unstable::shrink_after_rounds; ++k) round(1);
        u.truncate_and_append(std::vector{ent(next, 1), ent(next + 1, 1)});
        u.stable_to(next, 1);
        REQUIRE(u.entries.size() == 1);
        CHECK(u.entries.capacity() <= unstable::retained_capacity);
        CHECK(u.entries.front() == ent(next + 1, 1));
        CHECK(u.offset == next + 1);
    }
    SECTION("restore gives it back at once") {
        u.restore(snap(next + 10, 2));
        CHECK(u.entries.capacity() <= unstable::retained_capacity);
    }
}

// The unstable tail as raft_log exposes it (etcd log_test.go).

TEST_CASE("unstable_entries returns the unstable tail", "[raft_log]") {
    const std::vector<entry> previous = {ent(1, 1), ent(2, 2)};
    struct tc_t {
        std::size_t stable;  // how many of previous are in storage
        std::vector<entry> want;
    };
    const tc_t tcs[] = {{2, {}}, {0, previous}};
    for (const auto& tc : tcs) {
        CAPTURE(tc.stable);
        memory_storage s;
        REQUIRE(s.append(std::span(previous).first(tc.stable)));
        log_t l(s);
        l.append(std::span(previous).subspan(tc.stable));
        auto got = l.unstable_entries();
        const std::vector<entry> copy(got.begin(), got.end());
        if (!got.empty()) l.stable_to(got.back().index, got.back().term);
        CHECK(copy == tc.want);
        CHECK(l.unstable().offset == previous.back().index + 1);
        CHECK(l.unstable_entries().empty());
    }
}

TEST_CASE("stable_to moves the unstable offset only on an exact match", "[raft_log]") {
    struct tc_t {
        std::string_view name;
        index_t index;
        term_t term;
        index_t want_unstable;
    };
    const tc_t tcs[] = {
        {"first", 1, 1, 2}, {"both", 2, 2, 3}, {"bad term", 2, 1, 1}, {"bad index", 3, 1, 1},
    };
    for (const auto& tc : tcs) {
        CAPTURE(tc.name);
        memory_storage s;
        log_t l(s);
        l.append(std::vector{ent(1, 1), ent(2, 2)});
        l.stable_to(tc.index, tc.term);
        CHECK(l.unstable().offset == tc.want_unstable);
    }
}

TEST_CASE("stable_to after a snapshot ignores the snapshot point", "[raft_log]") {
    const index_t si = 5;
    const term_t st = 2;
    struct tc_t {
        index_t index;
        term_t term;
        std::vector<entry> new_ents;
        index_t want_unstable;
    };
    const tc_t tcs[] = {
        {si + 1, st, {}, si + 1},
        {si, st, {}, si + 1},
        {si - 1, st, {}, si + 1},
        {si + 1, st + 1, {}, si + 1},
        {si, st + 1, {}, si + 1},
        {si - 1, st + 1, {}, si + 1},
        {si + 1, st, {ent(si + 1, st)}, si + 2},
        {si, st, {ent(si + 1, st)}, si + 1},
        {si - 1, st, {ent(si + 1, st)}, si + 1},
        {si + 1, st + 1, {ent(si + 1, st)}, si + 1},
        {si, st + 1, {ent(si + 1, st)}, si + 1},
        {si - 1, st + 1, {ent(si + 1, st)}, si + 1},
    };
    for (const auto& tc : tcs) {
        CAPTURE(tc.index, tc.term, tc.new_ents.size());
        memory_storage s;
        REQUIRE(s.apply_snapshot(snap(si, st)));
        log_t l(s);
        l.append(tc.new_ents);
        l.stable_to(tc.index, tc.term);
        CHECK(l.unstable().offset == tc.want_unstable);
    }
}

TEST_CASE("term with an unstable snapshot ahead of storage", "[raft_log]") {
    const index_t storage_snap = 100, unstable_snap = storage_snap + 5;
    memory_storage s;
    REQUIRE(s.apply_snapshot(snap(storage_snap, 1)));
    log_t l(s);
    l.restore(snap(unstable_snap, 1));
    CHECK(l.committed() == unstable_snap);
    CHECK(l.first_index() == unstable_snap + 1);
    CHECK(l.last_index() == unstable_snap);
    struct tc_t {
        std::string_view name;
        index_t index;
        term_t want;
        std::error_code error;
    };
    const tc_t tcs[] = {
        {"storage's snapshot point", storage_snap, 0, errc::compacted},
        {"gap after storage", storage_snap + 1, 0, errc::compacted},
        {"gap before the unstable snapshot", unstable_snap - 1, 0, errc::compacted},
        {"the unstable snapshot point", unstable_snap, 1, {}},
    };
    for (const auto& tc : tcs) {
        CAPTURE(tc.name);
        auto t = l.term(tc.index);
        CHECK(t.error() == tc.error);
        CHECK(l.zero_term_on_err_compacted(t) == tc.want);
    }
}

TEST_CASE("snapshot() prefers the pending snapshot over storage's", "[raft_log]") {
    memory_storage s;
    REQUIRE(s.apply_snapshot(snap(10, 2)));
    log_t l(s);
    auto from_storage = l.snapshot();
    REQUIRE(from_storage);
    CHECK(from_storage->metadata.index == 10);
    l.restore(snap(20, 3));
    CHECK(l.snapshot()->metadata.index == 20);
    REQUIRE(s.apply_snapshot(snap(20, 3)));
    l.stable_snap_to(20);
    CHECK_FALSE(l.unstable().snapshot.has_value());
    CHECK(l.snapshot()->metadata.index == 20);
    CHECK(l.first_index() == 21);
}

TEST_CASE("restore discards unstable entries and commits the snapshot", "[raft_log][paper][7]") {
    memory_storage s;
    log_t l(s);
    l.append(std::vector{ent(1, 1), ent(2, 1), ent(3, 1)});
    REQUIRE(l.commit_to(1));
    l.restore(snap(10, 4));
    CHECK(l.committed() == 10);
    CHECK(l.unstable_entries().empty());
    CHECK(l.first_index() == 11);
    CHECK(l.last_index() == 10);
    CHECK(l.last_term() == 4);
    CHECK(l.match_term(10, 4));
    CHECK_FALSE(l.has_next_committed_entries());  // the application restores the snapshot
    CHECK(l.append(std::vector{ent(11, 4)}) == 11);
    CHECK(l.maybe_commit(11, 4));
    CHECK(l.next_committed_entries() == std::vector{ent(11, 4)});
}
