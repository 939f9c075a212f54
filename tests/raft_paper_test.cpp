// The behaviours §5 of the Raft paper (https://raft.github.io/raft.pdf) asks for, one test
// each, ported from etcd-io/raft main's raft_paper_test.go. Each test builds a state the
// simple way, steps messages, and checks the outgoing messages and the resulting state.
// As in etcd main, a node's own vote and the leader's ack of its own entries count only once
// the helpers in raft_test_util.hpp have persisted them (read_messages, next_committed).
#include <catch2/catch.hpp>

#include "raft_test_util.hpp"

#include <algorithm>
#include <cstdint>
#include <set>
#include <string_view>
#include <utility>
#include <vector>

using namespace raftpp;
using namespace raftpp::test;

namespace {

message propose(node_id id, std::string_view data = {}) {
    message m = make_message(message_type::prop, id, id);
    m.entries.push_back({0, 0, entry_type::normal, buffer(data)});
    return m;
}

message hup(node_id id) { return make_message(message_type::hup, id, id); }

message append_msg(node_id from, node_id to, term_t term, term_t log_term, index_t index,
                   std::vector<entry> ents = {}, index_t commit = 0) {
    message m = make_message(message_type::app, from, to, term);
    m.log_term = log_term;
    m.index = index;
    m.entries = std::move(ents);
    m.commit = commit;
    return m;
}

void make_role(test_raft& r, role want) {
    switch (want) {
    case role::follower: r.become_follower(1, 2); break;
    case role::candidate: r.become_candidate(); break;
    case role::leader:
        r.become_candidate();
        r.become_leader();
        break;
    case role::pre_candidate: r.become_pre_candidate(); break;
    }
}

}  // namespace

// §5.1: "If one server's current term is smaller than the other's, then it updates its
// current term to the larger value. If a candidate or leader discovers that its term is out
// of date, it immediately reverts to follower state."
TEST_CASE("a message with a higher term makes any role a follower at that term", "[paper][5.1]") {
    const role start = GENERATE(role::follower, role::candidate, role::leader);
    CAPTURE(to_string(start));
    auto r = new_test_raft(1, 10, 1, new_test_storage({1, 2, 3}));
    make_role(*r, start);

    REQUIRE(r->step(append_msg(2, 1, 2, 0, 0)));

    CHECK(r->term() == 2);
    CHECK(r->role() == role::follower);
}

// §5.1: "If a server receives a request with a stale term number, it rejects the request."
// Nothing changes. Requests (appends, heartbeats, vote requests) are answered with our term
// (Figure 2: every reply carries currentTerm), so that the stale sender catches up; etcd
// answers appends only with check_quorum or pre_vote and vote requests never, which can leave
// a node whose configuration lags without anyone to tell it the term (docs/reliability.md,
// bug 3). Stale responses get no answer.
TEST_CASE("a message with a stale term is rejected with our term", "[paper][5.1]") {
    const message_type t = GENERATE(message_type::app, message_type::heartbeat, message_type::vote,
                                    message_type::app_resp, message_type::vote_resp);
    CAPTURE(to_string(t));
    auto r = new_test_raft(1, 10, 1, new_test_storage({1, 2, 3}).set_hard_state({2, none, 0}));
    REQUIRE(r->term() == 2);

    message m = make_message(t, 2, 1, 1);
    m.entries = entries_at(1, {1});
    REQUIRE(r->step(m));

    CHECK(r->term() == 2);
    CHECK(r->role() == role::follower);
    CHECK(r->lead() == none);
    CHECK(r->vote() == none);
    CHECK(r->log().last_index() == 0);
    const auto msgs = read_messages(*r);  // responses leave after persistence, as in etcd
    if (t == message_type::app_resp || t == message_type::vote_resp) {
        CHECK(msgs.empty());
    } else {
        REQUIRE(msgs.size() == 1);
        CHECK(msgs[0].to == 2);
        CHECK(msgs[0].term == 2);
        if (t == message_type::vote) {
            CHECK(msgs[0].type == message_type::vote_resp);
            CHECK(msgs[0].reject);
        } else {
            CHECK(msgs[0].type == message_type::app_resp);
        }
    }
}

// §5.2: "When servers start up, they begin as followers."
TEST_CASE("a node starts as a follower", "[paper][5.2]") {
    auto r = new_test_raft(1, 10, 1, new_test_storage({1, 2, 3}));
    CHECK(r->role() == role::follower);
    CHECK(r->term() == 0);
    CHECK(r->lead() == none);
}

// §5.2: "Leaders send periodic heartbeats (AppendEntries RPCs that carry no log entries) to
// all followers in order to maintain their authority."
TEST_CASE("the leader broadcasts a heartbeat to every follower each heartbeat interval",
          "[paper][5.2]") {
    const int hi = 1;
    auto r = new_test_raft(1, 10, hi, new_test_storage({1, 2, 3}));
    r->become_candidate();
    r->become_leader();
    for (int i = 0; i < 10; ++i) REQUIRE(r->step(propose(1)));
    (void)read_messages(*r);  // the appends; only what the tick sends matters here

    for (int i = 0; i < hi; ++i) r->tick();

    auto want = [](node_id to) {
        message m = make_message(message_type::heartbeat, 1, to, 1);
        m.commit = 0;  // never above what the follower is known to hold
        return m;
    };
    CHECK(sorted(read_messages(*r)) == std::vector<message>{want(2), want(3)});
}

// §5.2: "If a follower receives no communication over a period of time called the election
// timeout, then it ... begins an election ... increments its current term and transitions to
// candidate state. It then votes for itself and issues RequestVote RPCs in parallel to each of
// the other servers." And: a candidate that neither wins nor loses "will time out and start a
// new election by incrementing its term and initiating another round of RequestVote RPCs".
TEST_CASE("a follower or candidate that hears from no leader starts a new election",
          "[paper][5.2]") {
    const role start = GENERATE(role::follower, role::candidate);
    CAPTURE(to_string(start));
    const int et = 10;
    auto r = new_test_raft(1, et, 1, new_test_storage({1, 2, 3}));
    make_role(*r, start);

    // The randomized timeout is in [et, 2et): it fires exactly once in 2et - 1 ticks.
    for (int i = 1; i < 2 * et; ++i) r->tick();
    advance_messages_after_append(*r);

    CHECK(r->term() == 2);
    CHECK(r->role() == role::candidate);
    CHECK(r->vote() == 1);
    CHECK(r->tracker().vote(1) == true);

    auto want = [](node_id to) {
        message m = make_message(message_type::vote, 1, to, 2);
        m.index = 0;
        m.log_term = 0;
        return m;
    };
    CHECK(sorted(read_messages(*r)) == std::vector<message>{want(2), want(3)});
}

// §5.2: a candidate "(a) wins the election, (b) another server establishes itself as leader,
// or (c) a period of time goes by with no winner"; here (a), losing to a majority of
// rejections, and (c).
TEST_CASE("one round of votes wins, loses or leaves the election open", "[paper][5.2]") {
    struct tc {
        std::string_view name;
        std::size_t size;
        std::vector<std::pair<node_id, bool>> votes;
        role want;
    };
    const tc tests[] = {
        {"single node wins alone", 1, {}, role::leader},
        {"3: all grant", 3, {{2, true}, {3, true}}, role::leader},
        {"3: one grant is a majority", 3, {{2, true}}, role::leader},
        {"5: all grant", 5, {{2, true}, {3, true}, {4, true}, {5, true}}, role::leader},
        {"5: three grant", 5, {{2, true}, {3, true}, {4, true}}, role::leader},
        {"5: two grant", 5, {{2, true}, {3, true}}, role::leader},
        {"3: all reject", 3, {{2, false}, {3, false}}, role::follower},
        {"5: all reject", 5, {{2, false}, {3, false}, {4, false}, {5, false}}, role::follower},
        {"5: majority rejects", 5, {{2, true}, {3, false}, {4, false}, {5, false}},
         role::follower},
        {"3: no answer", 3, {}, role::candidate},
        {"5: one grant", 5, {{2, true}}, role::candidate},
        {"5: two rejections", 5, {{2, false}, {3, false}}, role::candidate},
        {"5: no answer", 5, {}, role::candidate},
    };
    for (const auto& tt : tests) {
        CAPTURE(tt.name);
        auto r = new_test_raft(1, 10, 1, new_test_storage(ids_by_size(tt.size)));

        REQUIRE(r->step(hup(1)));
        advance_messages_after_append(*r);  // our own vote counts once it is durable
        for (const auto& [id, granted] : tt.votes) {
            message m = make_message(message_type::vote_resp, id, 1, r->term());
            m.reject = !granted;
            REQUIRE(r->step(m));
        }

        CHECK(r->role() == tt.want);
        CHECK(r->term() == 1);
    }
}

// §5.2: "Each server will vote for at most one candidate in a given term, on a
// first-come-first-served basis."
TEST_CASE("a follower votes for at most one candidate per term, first come first served",
          "[paper][5.2]") {
    struct tc {
        node_id vote;   // already voted for, in term 1
        node_id nvote;  // the candidate asking
        bool wreject;
    };
    const tc tests[] = {
        {none, 2, false}, {none, 3, false}, {2, 2, false},
        {3, 3, false},    {2, 3, true},     {3, 2, true},
    };
    for (const auto& tt : tests) {
        CAPTURE(tt.vote, tt.nvote);
        auto r = new_test_raft(1, 10, 1,
                               new_test_storage({1, 2, 3}).set_hard_state({1, tt.vote, 0}));

        REQUIRE(r->step(make_message(message_type::vote, tt.nvote, 1, 1)));

        message want = make_message(message_type::vote_resp, 1, tt.nvote, 1);
        want.reject = tt.wreject;
        // The answer vouches for a vote that must be durable first.
        CHECK(r->messages_after_append() == std::vector<message>{want});
        CHECK(r->messages().empty());
    }
}

// §5.2: "While waiting for votes, a candidate may receive an AppendEntries RPC from another
// server claiming to be leader. If the leader's term ... is at least as large as the
// candidate's current term, then the candidate recognizes the leader as legitimate and
// returns to follower state."
TEST_CASE("a candidate that hears from a leader of its term or newer becomes a follower",
          "[paper][5.2]") {
    const term_t leader_term = GENERATE(1, 2);
    CAPTURE(leader_term);
    auto r = new_test_raft(1, 10, 1, new_test_storage({1, 2, 3}));
    REQUIRE(r->step(hup(1)));
    REQUIRE(r->role() == role::candidate);

    REQUIRE(r->step(append_msg(2, 1, leader_term, 0, 0)));

    CHECK(r->role() == role::follower);
    CHECK(r->term() == leader_term);
    CHECK(r->lead() == 2);
}

// §5.2: "Raft uses randomized election timeouts ... chosen randomly from a fixed interval".
TEST_CASE("election timeouts are drawn from [et, 2et)", "[paper][5.2]") {
    const role start = GENERATE(role::follower, role::candidate);
    const std::uint64_t seed = GENERATE(1, 0xdecafbad);
    CAPTURE(to_string(start), seed);
    const int et = 10;
    config c = test_config(1, et, 1);
    c.seed = seed;
    auto r = new_test_raft(c, new_test_storage({1, 2, 3}));

    std::set<int> timeouts;
    for (int round = 0; round < 50 * et; ++round) {
        if (start == role::follower) r->become_follower(r->term() + 1, 2);
        else r->become_candidate();
        int time = 0;
        while (read_messages(*r).empty()) {
            r->tick();
            ++time;
        }
        timeouts.insert(time);
    }

    CHECK(*timeouts.begin() == et);
    CHECK(*timeouts.rbegin() == 2 * et - 1);
    for (int d = et; d < 2 * et; ++d) {
        CAPTURE(d);
        CHECK(timeouts.count(d) == 1);
    }
}

// §5.2: randomized timeouts mean that "in most cases only a single server will time out".
TEST_CASE("randomized timeouts rarely let several nodes time out at once", "[paper][5.2]") {
    const role start = GENERATE(role::follower, role::candidate);
    const std::uint64_t seed = GENERATE(1, 0xfeedface);
    CAPTURE(to_string(start), seed);
    const int et = 10;
    const auto ids = ids_by_size(5);
    std::vector<test_raft_ptr> rs;
    for (node_id id : ids) {
        config c = test_config(id, et, 1);
        c.seed = seed * 31 + id;  // each node its own stream, as on real servers
        rs.push_back(new_test_raft(c, new_test_storage(ids)));
    }

    int conflicts = 0;
    for (int round = 0; round < 1000; ++round) {
        for (auto& r : rs) {
            if (start == role::follower) r->become_follower(r->term() + 1, none);
            else r->become_candidate();
        }
        int timeout_num = 0;
        while (timeout_num == 0) {
            for (auto& r : rs) {
                r->tick();
                if (!read_messages(*r).empty()) ++timeout_num;
            }
        }
        if (timeout_num > 1) ++conflicts;
    }

    CAPTURE(conflicts);
    CHECK(conflicts / 1000.0 <= 0.3);
}

// §5.3: "The leader appends the command to its log as a new entry, then issues AppendEntries
// RPCs in parallel to each of the other servers to replicate the entry." The RPC carries
// "the index and term of the entry in its log that immediately precedes the new entries".
TEST_CASE("the leader appends a proposal and sends it with the preceding index and term",
          "[paper][5.3]") {
    auto r = new_test_raft(1, 10, 1, new_test_storage({1, 2, 3}));
    r->become_candidate();
    r->become_leader();
    commit_noop_entry(*r);
    const index_t li = r->log().last_index();

    REQUIRE(r->step(propose(1, "some data")));

    CHECK(r->log().last_index() == li + 1);
    CHECK(r->log().committed() == li);
    const std::vector<entry> wents{{1, li + 1, entry_type::normal, buffer("some data")}};
    // The new entry waits to be written to stable storage.
    CHECK(std::vector<entry>(r->log().unstable_entries().begin(),
                             r->log().unstable_entries().end()) == wents);
    auto want = [&](node_id to) { return append_msg(1, to, 1, 1, li, wents, li); };
    CHECK(sorted(read_messages(*r)) == std::vector<message>{want(2), want(3)});
}

// §5.3: "When the entry has been safely replicated, the leader applies the entry to its state
// machine ... The leader keeps track of the highest index it knows to be committed, and it
// includes that index in future AppendEntries RPCs".
TEST_CASE("the leader commits a replicated entry and tells the followers", "[paper][5.3]") {
    auto r = new_test_raft(1, 10, 1, new_test_storage({1, 2, 3}));
    r->become_candidate();
    r->become_leader();
    commit_noop_entry(*r);
    const index_t li = r->log().last_index();
    REQUIRE(r->step(propose(1, "some data")));

    for (const auto& m : read_messages(*r)) REQUIRE(r->step(accept_and_reply(m)));

    CHECK(r->log().committed() == li + 1);
    CHECK(r->log().next_committed_entries(no_limit) ==
          std::vector<entry>{{1, li + 1, entry_type::normal, buffer("some data")}});
    const auto msgs = sorted(read_messages(*r));
    REQUIRE(msgs.size() == 2);
    for (std::size_t i = 0; i < msgs.size(); ++i) {
        CAPTURE(i);
        CHECK(msgs[i].to == i + 2);
        CHECK(msgs[i].type == message_type::app);
        CHECK(msgs[i].commit == li + 1);
    }
}

// §5.3: "A log entry is committed once the leader that created the entry has replicated it on
// a majority of the servers".
TEST_CASE("an entry is committed once a majority stores it", "[paper][5.3]") {
    struct tc {
        std::size_t size;
        std::vector<node_id> acceptors;  // followers that accept the append
        bool wack;
    };
    const tc tests[] = {
        {1, {}, true},     {3, {}, false},     {3, {2}, true},
        {3, {2, 3}, true}, {5, {}, false},     {5, {2}, false},
        {5, {2, 3}, true}, {5, {2, 3, 4}, true}, {5, {2, 3, 4, 5}, true},
    };
    for (const auto& tt : tests) {
        CAPTURE(tt.size, tt.acceptors);
        auto r = new_test_raft(1, 10, 1, new_test_storage(ids_by_size(tt.size)));
        r->become_candidate();
        r->become_leader();
        commit_noop_entry(*r);
        const index_t li = r->log().last_index();
        REQUIRE(r->step(propose(1, "some data")));
        advance_messages_after_append(*r);  // the leader's own copy is durable

        const std::vector<message> msgs = r->messages();
        for (const auto& m : msgs) {
            if (std::find(tt.acceptors.begin(), tt.acceptors.end(), m.to) != tt.acceptors.end())
                REQUIRE(r->step(accept_and_reply(m)));
        }

        CHECK((r->log().committed() > li) == tt.wack);
    }
}

// §5.3: "This also commits all preceding entries in the leader's log, including entries
// created by previous leaders", which are then applied in log order.
TEST_CASE("committing an entry commits every entry before it, earlier leaders' included",
          "[paper][5.3]") {
    const std::vector<entry> tests[] = {
        {},
        entries_at(1, {2}),
        entries_at(1, {1, 2}),
        entries_at(1, {1}),
    };
    for (const auto& tt : tests) {
        CAPTURE(tt);
        auto r = new_test_raft(
            1, 10, 1, new_test_storage({1, 2, 3}).append(tt).set_hard_state({2, none, 0}));
        r->become_candidate();  // term 3
        r->become_leader();
        REQUIRE(r->step(propose(1, "some data")));

        for (const auto& m : read_messages(*r)) REQUIRE(r->step(accept_and_reply(m)));

        const index_t li = tt.size();
        std::vector<entry> want = tt;
        want.push_back({3, li + 1, entry_type::normal, {}});
        want.push_back({3, li + 2, entry_type::normal, buffer("some data")});
        CHECK(next_committed(*r) == want);
    }
}

// §5.3: "Once a follower learns that a log entry is committed, it applies the entry to its
// local state machine (in log order)."
TEST_CASE("a follower applies the entries the leader says are committed", "[paper][5.3]") {
    struct tc {
        std::vector<entry> ents;
        index_t commit;
    };
    const tc tests[] = {
        {{{1, 1, entry_type::normal, buffer("some data")}}, 1},
        {{{1, 1, entry_type::normal, buffer("some data")},
          {1, 2, entry_type::normal, buffer("some data2")}},
         2},
        {{{1, 1, entry_type::normal, buffer("some data2")},
          {1, 2, entry_type::normal, buffer("some data")}},
         2},
        {{{1, 1, entry_type::normal, buffer("some data")},
          {1, 2, entry_type::normal, buffer("some data2")}},
         1},
    };
    for (const auto& tt : tests) {
        CAPTURE(tt.ents, tt.commit);
        auto r = new_test_raft(1, 10, 1, new_test_storage({1, 2, 3}));
        r->become_follower(1, 2);

        REQUIRE(r->step(append_msg(2, 1, 1, 0, 0, tt.ents, tt.commit)));

        CHECK(r->log().committed() == tt.commit);
        CHECK(next_committed(*r) ==
              std::vector<entry>(tt.ents.begin(), tt.ents.begin() + tt.commit));
    }
}

// §5.3: "If the follower does not find an entry in its log with the same index and term, then
// it refuses the new entries." Otherwise it accepts. A refusal carries etcd's hint: the last
// (index, term) at or below the leader's term where our logs may still agree, so the leader
// can skip a whole term of mismatches per round trip.
TEST_CASE("a follower refuses an append whose preceding entry it does not have", "[paper][5.3]") {
    const auto ents = entries_at(1, {1, 2});
    struct tc {
        std::string_view name;
        term_t log_term;
        index_t index;
        index_t windex;
        bool wreject;
        index_t wreject_hint;
        term_t wlog_term;
    };
    const tc tests[] = {
        {"matches a committed entry (the empty prefix)", 0, 0, 1, false, 0, 0},
        {"matches a committed entry", 1, 1, 1, false, 0, 0},
        {"matches an uncommitted entry", 2, 2, 2, false, 0, 0},
        {"conflicts with an existing entry", 1, 2, 2, true, 1, 1},
        {"names an entry past our log", 3, 3, 3, true, 2, 2},
    };
    for (const auto& tt : tests) {
        CAPTURE(tt.name);
        auto r = new_test_raft(
            1, 10, 1, new_test_storage({1, 2, 3}).append(ents).set_hard_state({0, none, 1}));
        r->become_follower(2, 2);

        REQUIRE(r->step(append_msg(2, 1, 2, tt.log_term, tt.index)));

        message want = make_message(message_type::app_resp, 1, 2, 2);
        want.index = tt.windex;
        if (tt.wreject) {
            want.reject = true;
            want.reject_hint = tt.wreject_hint;
            want.log_term = tt.wlog_term;
        }
        CHECK(read_messages(*r) == std::vector<message>{want});
    }
}

// §5.3: "If an existing entry conflicts with a new one (same index but different terms),
// delete the existing entry and all that follow it; append any new entries not already in
// the log." The new entries wait to be written to stable storage.
TEST_CASE("a follower drops conflicting entries and appends the new ones", "[paper][5.3]") {
    struct tc {
        index_t index;
        term_t term;
        std::vector<entry> ents;
        std::vector<entry> wents;
        std::vector<entry> wunstable;
    };
    const tc tests[] = {
        {2, 2, entries_at(3, {3}), entries_at(1, {1, 2, 3}), entries_at(3, {3})},
        {1, 1, entries_at(2, {3, 4}), entries_at(1, {1, 3, 4}), entries_at(2, {3, 4})},
        {0, 0, entries_at(1, {1}), entries_at(1, {1, 2}), {}},
        {0, 0, entries_at(1, {3}), entries_at(1, {3}), entries_at(1, {3})},
    };
    for (const auto& tt : tests) {
        CAPTURE(tt.index, tt.term, tt.ents);
        auto r = new_test_raft(1, 10, 1,
                               new_test_storage({1, 2, 3}).append(entries_at(1, {1, 2})));
        // etcd sends these at term 2; a leader's entries are never newer than its term, and
        // raftpp refuses such an append as malformed, so the leader here is at term 4.
        r->become_follower(4, 2);

        REQUIRE(r->step(append_msg(2, 1, 4, tt.term, tt.index, tt.ents)));

        CHECK(r->log().all_entries() == tt.wents);
        const auto unstable = r->log().unstable_entries();
        CHECK(std::vector<entry>(unstable.begin(), unstable.end()) == tt.wunstable);
    }
}

// §5.3, Figure 7: "the leader handles inconsistencies by forcing the followers' logs to
// duplicate its own" — whether a follower misses entries (a, b), has extra uncommitted ones
// (c, d), or both (e, f).
TEST_CASE("the leader brings each follower log of Figure 7 in line with its own",
          "[paper][5.3][figure7]") {
    // Entry 0 is the storage's dummy entry; the logs start at index 1.
    const auto ents = entries_at(0, {0, 1, 1, 1, 4, 4, 5, 5, 6, 6, 6});
    const term_t term = 8;
    struct tc {
        std::string_view name;
        std::vector<entry> follower;
    };
    const tc tests[] = {
        {"(a) missing one entry", entries_at(0, {0, 1, 1, 1, 4, 4, 5, 5, 6, 6})},
        {"(b) missing many entries", entries_at(0, {0, 1, 1, 1, 4, 4})},
        {"(c) one extra entry", entries_at(0, {0, 1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6})},
        {"(d) extra entries of a later term",
         entries_at(0, {0, 1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7})},
        {"(e) missing and extra entries", entries_at(0, {0, 1, 1, 1, 4, 4, 4, 4})},
        {"(f) many conflicting terms", entries_at(0, {0, 1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3})},
    };
    for (const auto& tt : tests) {
        CAPTURE(tt.name);
        // The leader has committed its whole log; the follower has committed nothing.
        auto lead_storage = new_test_storage({1, 2, 3}).append(ents);
        lead_storage.set_hard_state({term, none, ents.size() - 1});
        auto follower_storage = new_test_storage({1, 2, 3}).append(tt.follower);
        follower_storage.set_hard_state({term - 1, none, 0});
        auto lead = new_test_raft(1, 10, 1, std::move(lead_storage));
        auto follower = new_test_raft(2, 10, 1, std::move(follower_storage));
        // Three nodes: the follower may have the more up-to-date log and refuse its vote, so
        // the leader needs node 3's.
        network n({lead, follower, nop_stepper});
        n.send(hup(1));
        // The election happens in the term after the one loaded above.
        n.send(make_message(message_type::vote_resp, 3, 1, term + 1));
        REQUIRE(lead->role() == role::leader);

        message prop = make_message(message_type::prop, 1, 1);
        prop.entries.emplace_back();
        n.send(prop);

        CHECK(follower->log().all_entries() == lead->log().all_entries());
        CHECK(follower->log().last_index() == lead->log().last_index());
        CHECK(follower->log().committed() == lead->log().committed());
        CHECK(follower->log().applied() == lead->log().applied());
    }
}

// §5.4.1: "The RequestVote RPC includes information about the candidate's log", its last
// index and term, and goes to every other server.
TEST_CASE("a vote request carries the candidate's last log index and term", "[paper][5.4.1]") {
    struct tc {
        std::vector<entry> ents;
        term_t wterm;
    };
    const tc tests[] = {{entries_at(1, {1}), 2}, {entries_at(1, {1, 2}), 3}};
    for (const auto& tt : tests) {
        CAPTURE(tt.ents);
        auto r = new_test_raft(1, 10, 1, new_test_storage({1, 2, 3}));
        REQUIRE(r->step(append_msg(2, 1, tt.wterm - 1, 0, 0, tt.ents)));
        (void)read_messages(*r);

        for (int i = 1; i < r->cfg().election_tick * 2; ++i) r->tick();

        const auto msgs = sorted(read_messages(*r));
        REQUIRE(msgs.size() == 2);
        for (std::size_t i = 0; i < msgs.size(); ++i) {
            CAPTURE(i);
            CHECK(msgs[i].type == message_type::vote);
            CHECK(msgs[i].to == i + 2);
            CHECK(msgs[i].term == tt.wterm);
            CHECK(msgs[i].index == tt.ents.back().index);
            CHECK(msgs[i].log_term == tt.ents.back().term);
        }
    }
}

// §5.4.1: "The voter denies its vote if its own log is more up-to-date than that of the
// candidate": a later last term, or the same last term and a longer log.
TEST_CASE("a voter refuses a candidate whose log is less up to date than its own",
          "[paper][5.4.1]") {
    struct tc {
        std::string_view name;
        std::vector<entry> ents;
        term_t log_term;
        index_t index;
        bool wreject;
    };
    const tc tests[] = {
        {"same last term, same length", entries_at(1, {1}), 1, 1, false},
        {"same last term, candidate longer", entries_at(1, {1}), 1, 2, false},
        {"same last term, voter longer", entries_at(1, {1, 1}), 1, 1, true},
        {"candidate's last term higher, same length", entries_at(1, {1}), 2, 1, false},
        {"candidate's last term higher, candidate longer", entries_at(1, {1}), 2, 2, false},
        {"candidate's last term higher, voter longer", entries_at(1, {1, 1}), 2, 1, false},
        {"voter's last term higher, same length", entries_at(1, {2}), 1, 1, true},
        {"voter's last term higher, candidate longer", entries_at(1, {2}), 1, 2, true},
        {"voter's last term higher, voter longer", entries_at(1, {2, 2}), 1, 1, true},
        {"voter longer at the same term", entries_at(1, {1, 1}), 1, 1, true},
    };
    for (const auto& tt : tests) {
        CAPTURE(tt.name);
        auto r = new_test_raft(1, 10, 1, new_test_storage({1, 2}).append(tt.ents));

        message m = make_message(message_type::vote, 2, 1, 3);
        m.log_term = tt.log_term;
        m.index = tt.index;
        REQUIRE(r->step(m));

        const auto msgs = read_messages(*r);
        REQUIRE(msgs.size() == 1);
        CHECK(msgs[0].type == message_type::vote_resp);
        CHECK(msgs[0].reject == tt.wreject);
    }
}

// §5.4.2: "Raft never commits log entries from previous terms by counting replicas. Only log
// entries from the leader's current term are committed by counting replicas".
TEST_CASE("a leader commits by counting replicas only entries of its own term",
          "[paper][5.4.2]") {
    struct tc {
        index_t index;  // acked by the follower
        index_t wcommit;
    };
    const tc tests[] = {
        {1, 0},  // entries of earlier terms are not committed ...
        {2, 0},
        {3, 3},  // ... until one of the current term is
    };
    for (const auto& tt : tests) {
        CAPTURE(tt.index);
        auto r = new_test_raft(
            1, 10, 1,
            new_test_storage({1, 2}).append(entries_at(1, {1, 2})).set_hard_state({2, none, 0}));
        r->become_candidate();  // term 3
        r->become_leader();
        (void)read_messages(*r);
        REQUIRE(r->step(propose(1)));

        message ack = make_message(message_type::app_resp, 2, 1, r->term());
        ack.index = tt.index;
        REQUIRE(r->step(ack));
        advance_messages_after_append(*r);

        CHECK(r->log().committed() == tt.wcommit);
    }
}

// §5.4.2, Figure 8: why a leader must not count replicas of an entry from an earlier term.
// S1 leads term 4 and gets its term-2 entry at index 2 onto S1, S2, S3, a majority; S5 holds a
// term-3 entry at index 2. If S1 crashes before an entry of term 4 is on a majority, S5 can
// still win and overwrite index 2 everywhere, so committing it would have been wrong (d).
// Once S1's term-4 entry is on a majority, index 2 is committed and S5 can no longer win (e).
TEST_CASE("Figure 8: an entry of an earlier term is committed only by one of the current term",
          "[paper][5.4.2][figure8]") {
    auto node = [](node_id id, std::vector<entry> log) {
        config c = test_config(id, 10, 1);
        c.max_size_per_msg = 0;  // one entry per append: S1 sends index 2 before index 3
        return new_test_raft(c, new_test_storage(ids_by_size(5)).append(log).set_hard_state(
                                    {3, none, 1}));
    };
    auto s1 = node(1, entries_at(1, {1, 2}));
    auto s2 = node(2, entries_at(1, {1}));
    auto s3 = node(3, entries_at(1, {1}));
    auto s4 = node(4, entries_at(1, {1}));
    auto s5 = node(5, entries_at(1, {1, 3}));
    network n({s1, s2, s3, s4, s5});

    // S1 reaches only S2 and S3 with appends. With `hold_term4`, its entry at index 3 (term 4)
    // never arrives; the first append to each follower gets through only to be refused (they
    // lack index 2), which makes S1 probe back and send index 2 alone.
    auto s1_reaches_s2_s3 = [](bool hold_term4) {
        return [hold_term4, probed = std::set<node_id>{}](const message& m) mutable {
            if (m.from != 1 || m.type != message_type::app) return true;
            if (m.to != 2 && m.to != 3) return false;
            if (probed.insert(m.to).second || !hold_term4) return true;
            return std::none_of(m.entries.begin(), m.entries.end(),
                                [](const entry& e) { return e.index >= 3; });
        };
    };

    SECTION("(c)-(d): replicated on a majority but not committed, then overwritten") {
        n.set_msg_hook(s1_reaches_s2_s3(true));
        n.send(hup(1));
        REQUIRE(s1->role() == role::leader);
        REQUIRE(s1->term() == 4);
        REQUIRE(s1->log().last_index() == 3);
        for (auto* s : {s1.get(), s2.get(), s3.get()}) {
            CAPTURE(s->id());
            CHECK(s->log().term(2).value() == 2);
        }
        CHECK(s1->tracker().progress(2)->match == 2);
        CHECK(s1->tracker().progress(3)->match == 2);
        CHECK(s1->log().committed() == 1);  // index 2 is on a majority, but of term 2

        // S1 crashes; S5's log (last term 3) beats S2's, S3's and S4's.
        n.set_msg_hook({});
        n.isolate(1);
        n.send(hup(5));
        REQUIRE(s5->role() == role::leader);
        for (auto* s : {s2.get(), s3.get(), s4.get(), s5.get()}) {
            CAPTURE(s->id());
            CHECK(s->log().term(2).value() == 3);  // S1's entry at index 2 is gone
            CHECK(s->log().committed() >= 2);
        }
    }

    SECTION("(e): an entry of the current term on a majority commits the ones before it") {
        n.set_msg_hook(s1_reaches_s2_s3(false));
        n.send(hup(1));
        REQUIRE(s1->role() == role::leader);
        CHECK(s1->log().committed() == 3);
        for (auto* s : {s2.get(), s3.get()}) {
            CAPTURE(s->id());
            CHECK(s->log().last_index() == 3);
            CHECK(s->log().term(3).value() == 4);
        }

        n.set_msg_hook({});
        n.isolate(1);
        n.send(hup(5));
        CHECK(s5->role() != role::leader);  // S2 and S3 refuse: their logs end in term 4
        for (auto* s : {s2.get(), s3.get()}) {
            CAPTURE(s->id());
            CHECK(s->log().term(2).value() == 2);
            CHECK(s->log().committed() <= 3);
        }
    }
}
