// Stepping messages between ready() and advance(), as etcd's node loop does while the
// application persists a Ready: rd.entries must stay intact whatever the steps do to the
// unstable log (grow it past its capacity, truncate it for a newer leader, replace it with a
// snapshot), and what is persisted and acknowledged must be exactly what each ready held.
#include <catch2/catch.hpp>

#include "raw_node_test_util.hpp"

#include <raftpp/memory_storage.hpp>
#include <raftpp/raw_node.hpp>

#include <memory>
#include <string>
#include <vector>

using namespace raftpp;
using namespace raftpp::test;

namespace {

// A follower (node 2 of {1, 2, 3}) that has settled its bootstrap.
struct follower {
    memory_storage st;
    node n{cfg_for(2), st};
    follower() {
        REQUIRE(n.bootstrap(voters({1, 2, 3})));
        settle(n);
    }
};

message append_from(node_id leader, term_t term, index_t prev, term_t prev_term,
                    std::vector<entry> ents, index_t commit = 0) {
    message m = make_message(message_type::app, leader, 2, term);
    m.index = prev;
    m.log_term = prev_term;
    m.entries = std::move(ents);
    m.commit = commit;
    return m;
}

std::vector<entry> run(term_t term, index_t from, std::size_t n, const std::string& tag) {
    std::vector<entry> out;
    for (std::size_t k = 0; k < n; ++k)
        out.push_back(ent(term, from + k, tag + std::to_string(from + k)));
    return out;
}

// A snap message from `leader` at `term` carrying a snapshot of {1, 2, 3} at (index, snap_term).
message snap_from(node_id leader, term_t term, index_t index, term_t snap_term) {
    snapshot s;
    s.metadata.index = index;
    s.metadata.term = snap_term;
    s.metadata.conf_state.voters = {1, 2, 3};
    message m = make_message(message_type::snap, leader, 2, term);
    m.snapshot = std::make_shared<const snapshot>(s);
    return m;
}

std::vector<entry> stored(const memory_storage& st, index_t lo, index_t hi) {
    auto r = st.entries(lo, hi, ~std::uint64_t{0});
    REQUIRE(r.has_value());
    return *r;
}

}  // namespace

TEST_CASE("rd.entries stays intact when a step grows the log before advance()",
          "[raw_node][ready]") {
    follower f;
    const index_t base = f.n.raft().log().last_index();  // the bootstrap conf changes
    REQUIRE(f.n.step(append_from(1, 2, base, 1, run(2, base + 1, 3, "a"))));
    auto& rd = f.n.ready();
    REQUIRE(rd.entries.size() == 3);
    const std::vector<entry> handed_out(rd.entries.begin(), rd.entries.end());
    // Far more than the unstable array holds: it must grow while rd.entries views it.
    const std::size_t more = 4 * detail::unstable::retained_capacity;
    REQUIRE(f.n.step(append_from(1, 2, base + 3, 2, run(2, base + 4, more, "b"))));
    REQUIRE(std::vector<entry>(rd.entries.begin(), rd.entries.end()) == handed_out);
    REQUIRE(f.n.persist(rd));
    f.n.advance();
    CHECK(stored(f.st, base + 1, base + 4) == handed_out);
    // The second batch comes with the next ready, and its acknowledgement after it.
    REQUIRE(f.n.has_ready());
    auto& rd2 = f.n.ready();
    REQUIRE(rd2.entries.size() == more);
    CHECK(rd2.entries.front().index == base + 4);
    REQUIRE(f.n.persist(rd2));
    f.n.advance();
    CHECK(f.st.last_index().value() == base + 3 + more);
    CHECK(f.n.raft().log().unstable_entries().empty());
}

TEST_CASE("rd.entries stays intact when a newer leader truncates them before advance()",
          "[raw_node][ready]") {
    follower f;
    const index_t base = f.n.raft().log().last_index();
    REQUIRE(f.n.step(append_from(1, 2, base, 1, run(2, base + 1, 4, "old"))));
    auto& rd = f.n.ready();
    const std::vector<entry> handed_out(rd.entries.begin(), rd.entries.end());
    REQUIRE(handed_out.size() == 4);
    // Leader 3 at term 3 replaces the last two of them.
    REQUIRE(f.n.step(append_from(3, 3, base + 2, 2, run(3, base + 3, 2, "new"))));
    REQUIRE(std::vector<entry>(rd.entries.begin(), rd.entries.end()) == handed_out);
    REQUIRE(f.n.persist(rd));
    f.n.advance();
    // The persisted tail is stale, so its acknowledgement moves nothing to stable (etcd's
    // stable_to term check): the next ready hands out the log from the first of them again,
    // with the new entries in place of the replaced ones.
    REQUIRE(f.n.has_ready());
    auto& rd2 = f.n.ready();
    REQUIRE(rd2.entries.size() == 4);
    CHECK(rd2.entries.front().index == base + 1);
    CHECK(rd2.entries[2].term == 3);
    CHECK(rd2.entries[3].term == 3);
    REQUIRE(f.n.persist(rd2));
    f.n.advance();
    const auto log = stored(f.st, base + 1, base + 5);
    REQUIRE(log.size() == 4);
    CHECK(log[0] == handed_out[0]);
    CHECK(log[1] == handed_out[1]);
    CHECK(log[2].term == 3);
    CHECK(log[3].term == 3);
    CHECK(log[3].data.view() == "new" + std::to_string(base + 4));
}

TEST_CASE("rd.entries stays intact when a snapshot replaces the log before advance()",
          "[raw_node][ready]") {
    follower f;
    const index_t base = f.n.raft().log().last_index();
    REQUIRE(f.n.step(append_from(1, 2, base, 1, run(2, base + 1, 2, "x"))));
    auto& rd = f.n.ready();
    const std::vector<entry> handed_out(rd.entries.begin(), rd.entries.end());
    REQUIRE(f.n.step(snap_from(1, 2, base + 10, 2)));
    REQUIRE(std::vector<entry>(rd.entries.begin(), rd.entries.end()) == handed_out);
    REQUIRE(f.n.persist(rd));
    f.n.advance();
    REQUIRE(f.n.has_ready());
    auto& rd2 = f.n.ready();
    CHECK(rd2.snapshot.metadata.index == base + 10);
    REQUIRE(f.n.persist(rd2));
    f.n.advance();
    CHECK(f.st.first_index().value() == base + 11);
    CHECK(f.n.raft().log().committed() == base + 10);
}

namespace {

// The steps of the ABA case: entries b+1..b+6 at term 2 handed out (or written); a newer
// leader truncates them; a snapshot at (b+4, 2) replaces the log; then b+5, b+6 (the same
// index and term as handed out) and b+7 arrive again. The acknowledgement of the first
// write must not mark the new b+5, b+6 stable: the snapshot, persisted next, wipes the
// storage's copies of them.
void truncate_restore_and_reappend(node& n, index_t b, const std::vector<entry>& a) {
    REQUIRE(n.step(append_from(3, 3, b, 1, {ent(3, b + 1, "B1"), ent(3, b + 2, "B2")})));
    REQUIRE(n.step(snap_from(1, 4, b + 4, 2)));
    REQUIRE(n.step(append_from(1, 4, b + 4, 2, {a[4], a[5], ent(4, b + 7, "C7")}, b + 7)));
}

}  // namespace

TEST_CASE("entries handed out before a snapshot replaced them are not acknowledged after it",
          "[raw_node][ready][snapshot]") {
    follower f;
    const index_t b = f.n.raft().log().last_index();
    const auto a = run(2, b + 1, 6, "A");
    REQUIRE(f.n.step(append_from(1, 2, b, 1, a)));
    auto& rd = f.n.ready();
    REQUIRE(rd.entries.size() == 6);
    truncate_restore_and_reappend(f.n, b, a);
    REQUIRE(f.n.persist(rd));
    f.n.advance();
    // The next ready holds the snapshot and everything after it.
    REQUIRE(f.n.has_ready());
    auto& rd2 = f.n.ready();
    CHECK(rd2.snapshot.metadata.index == b + 4);
    REQUIRE(rd2.entries.size() == 3);
    CHECK(rd2.entries.front().index == b + 5);
    REQUIRE(f.n.persist(rd2));
    f.n.advance();
    CHECK(stored(f.st, b + 5, b + 8) == std::vector<entry>{a[4], a[5], ent(4, b + 7, "C7")});
    CHECK(f.n.raft().log().unstable_entries().empty());
}

TEST_CASE("async: a write made before a snapshot replaced its entries acknowledges nothing",
          "[raw_node][async][snapshot]") {
    memory_storage st;
    config c = cfg_for(2);
    c.async_storage_writes = true;
    node n{c, st};
    REQUIRE(n.bootstrap(voters({1, 2, 3})));
    auto run_writes = [&] {
        while (n.has_ready()) {
            auto& rd = n.ready();
            auto w = std::move(rd.write);
            n.advance();
            if (w) {
                REQUIRE(n.persist(*w));
                n.on_write_complete(std::move(*w));
            }
        }
    };
    run_writes();
    const index_t b = n.raft().log().last_index();
    const auto a = run(2, b + 1, 6, "A");
    REQUIRE(n.step(append_from(1, 2, b, 1, a)));
    auto& rd = n.ready();
    REQUIRE(rd.write);
    auto w1 = std::move(*rd.write);
    n.advance();
    truncate_restore_and_reappend(n, b, a);
    auto& rd2 = n.ready();
    REQUIRE(rd2.write);
    auto w2 = std::move(*rd2.write);
    n.advance();
    // The second write carries the snapshot and all that follows it, b+5 and b+6 included.
    CHECK(w2.snapshot.metadata.index == b + 4);
    REQUIRE(w2.entries.size() == 3);
    CHECK(w2.entries.front().index == b + 5);
    REQUIRE(n.persist(w1));
    n.on_write_complete(std::move(w1));
    REQUIRE(n.persist(w2));
    n.on_write_complete(std::move(w2));
    run_writes();
    CHECK(stored(st, b + 5, b + 8) == std::vector<entry>{a[4], a[5], ent(4, b + 7, "C7")});
    CHECK(n.raft().log().unstable_entries().empty());
}
