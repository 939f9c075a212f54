// PreVote (Raft thesis §9.6), ported from etcd-io/raft main's raft_test.go: a partitioned
// node neither disrupts a stable leader nor, with CheckQuorum too, leaves a cluster without
// one. Where etcd flips preVote on a running node we restart it from its storage with the new
// config (what a rolling upgrade does), or turn the feature on from the start when that
// changes nothing the test checks. CheckQuorum on its own is in check_quorum_test.cpp.
#include <catch2/catch.hpp>

#include "election_test_util.hpp"

#include <cstdint>
#include <optional>
#include <set>
#include <string_view>
#include <utility>
#include <vector>

using namespace raftpp;
using namespace raftpp::test;
using namespace raftpp::test::election;
using enum raftpp::role;  // leader, follower, ... read like etcd's StateLeader, StateFollower

// ---------------------------------------------------------------------------------------------
// PreVote
// ---------------------------------------------------------------------------------------------

// etcd's TestLeaderElectionPreVote: a failed pre-election leaves the node a pre-candidate at its
// old term; rejections from longer logs carry the voters' term.
TEST_CASE("pre-vote elections: a quorum of grants elects, silence and rejections do not",
          "[prevote]") {
    const std::uint64_t seed = 7;
    CAPTURE(seed);
    const features pv{.pre_vote = true};
    // etcd's entsWithConfig: a node whose log holds entries of these terms, at the last term.
    auto with_log = [&](node_id id, std::initializer_list<term_t> terms) {
        auto s = new_test_storage({});
        s.append(entries_at(1, terms));
        s.set_hard_state({*(terms.end() - 1), none, 0});
        return new_test_raft(make_config(id, pv, seed, 5), std::move(s));
    };
    auto n2 = with_log(2, {1}), n3 = with_log(3, {1}), n4 = with_log(4, {1, 1});
    struct tc {
        std::string_view name;
        std::vector<network::peer_arg> peers;
        role want;
        term_t term;
    };
    const tc tests[] = {
        {"3 of 3 answer", {nullptr, nullptr, nullptr}, leader, 1},
        {"2 of 3 answer", {nullptr, nullptr, nop_stepper}, leader, 1},
        {"1 of 3 answers", {nullptr, nop_stepper, nop_stepper}, pre_candidate, 0},
        {"2 of 4 answer", {nullptr, nop_stepper, nop_stepper, nullptr}, pre_candidate, 0},
        {"3 of 5 answer", {nullptr, nop_stepper, nop_stepper, nullptr, nullptr}, leader, 1},
        {"3 of 5 have longer logs at term 1", {nullptr, n2, n3, n4, nullptr}, follower, 1},
    };
    for (const auto& tt : tests) {
        CAPTURE(tt.name);
        network nt = make_network(tt.peers, with(pv, seed));
        nt.send(hup(1));
        CHECK(nt.peer(1).role() == tt.want);
        CHECK(nt.peer(1).term() == tt.term);
    }
}

// etcd's TestPreVoteFromAnyState.
TEST_CASE("a pre-vote for a later term is granted from any role and changes nothing",
          "[prevote]") {
    const role start = GENERATE(follower, pre_candidate, candidate, leader);
    const std::uint64_t seed = 11;
    CAPTURE(to_string(start), seed);
    auto r = new_test_raft(make_config(1, {}, seed),
                           new_test_storage({1, 2, 3}).set_hard_state({1, none, 0}));
    switch (start) {
    case follower: r->become_follower(r->term(), 3); break;
    case pre_candidate: r->become_pre_candidate(); break;
    case candidate: r->become_candidate(); break;
    case leader:
        r->become_candidate();
        r->become_leader();
        break;
    }
    const term_t term = r->term();

    message m = make_message(message_type::pre_vote, 2, 1, term + 1);
    m.log_term = term + 1;
    m.index = 42;
    REQUIRE(r->step(m));

    const auto msgs = read_messages(*r);
    REQUIRE(msgs.size() == 1);
    CHECK(msgs[0].type == message_type::pre_vote_resp);
    CHECK_FALSE(msgs[0].reject);
    CHECK(msgs[0].term == term + 1);  // the term the pre-candidate will campaign at
    CHECK(r->role() == start);
    CHECK(r->term() == term);
    CHECK((r->vote() == none || r->vote() == 1));
}

// etcd's TestRecvMsgPreVote: the receiver's log holds terms [2, 2]; the request comes at the
// receiver's own term, so only log up-to-dateness (Raft §5.4.1) and the vote cast count.
TEST_CASE("a pre-vote at our term is granted by log up-to-dateness and the vote cast",
          "[prevote]") {
    struct tc { role state; index_t index; term_t log_term; node_id vote_for; bool reject; };
    const tc tests[] = {
        {follower, 0, 0, none, true},  {follower, 0, 1, none, true},  {follower, 0, 2, none, true},
        {follower, 0, 3, none, false}, {follower, 1, 0, none, true},  {follower, 1, 1, none, true},
        {follower, 1, 2, none, true},  {follower, 1, 3, none, false}, {follower, 2, 0, none, true},
        {follower, 2, 1, none, true},  {follower, 2, 2, none, false}, {follower, 2, 3, none, false},
        {follower, 3, 0, none, true},  {follower, 3, 1, none, true},  {follower, 3, 2, none, false},
        {follower, 3, 3, none, false}, {follower, 3, 2, 2, false},    {follower, 3, 2, 1, true},
        {leader, 3, 3, 1, true},       {candidate, 3, 3, 1, true},
        {pre_candidate, 3, 3, 1, true},
    };
    const std::uint64_t seed = 13;
    CAPTURE(seed);
    for (std::size_t i = 0; i < std::size(tests); ++i) {
        const tc& tt = tests[i];
        CAPTURE(i, to_string(tt.state), tt.index, tt.log_term, tt.vote_for);
        const term_t term = std::max<term_t>(2, tt.log_term);
        const bool campaigned = tt.state == candidate || tt.state == leader;
        auto s = new_test_storage({1});
        s.append(entries_at(1, {2, 2}));
        // A candidate or leader voted for itself when it reached `term`.
        s.set_hard_state(campaigned ? hard_state{term - 1, none, 0}
                                    : hard_state{term, tt.vote_for, 0});
        auto r = new_test_raft(make_config(1, {}, seed), std::move(s));
        if (tt.state == pre_candidate) r->become_pre_candidate();
        if (campaigned) r->become_candidate();
        if (tt.state == leader) r->become_leader();
        REQUIRE(r->term() == term);

        message m = make_message(message_type::pre_vote, 2, 1, term);
        m.index = tt.index;
        m.log_term = tt.log_term;
        REQUIRE(r->step(m));

        const auto msgs = read_messages(*r);
        REQUIRE(msgs.size() == 1);
        CHECK(msgs[0].type == message_type::pre_vote_resp);
        CHECK(msgs[0].reject == tt.reject);
    }
}

// etcd's TestPreVoteWithSplitVote.
TEST_CASE("after a split vote, the next pre-vote round elects a leader", "[prevote]") {
    const std::uint64_t seed = 17;
    CAPTURE(seed);
    trio c({.pre_vote = true}, seed, 1);
    c.nt.send(hup(1));

    // The leader goes down; both followers time out at once and each votes for itself.
    c.nt.isolate(1);
    c.nt.send(std::vector<message>{hup(2), hup(3)});
    CHECK(c.roles() == roles{leader, candidate, candidate});
    CHECK(c.terms() == terms{2, 3, 3});

    // Node 2 times out first: a candidate grants a pre-vote for a later term.
    c.nt.send(hup(2));
    CHECK(c.roles() == roles{leader, leader, follower});  // node 1 is cut off
    CHECK(c.terms() == terms{2, 4, 4});
}

// etcd's TestPreVoteWithCheckQuorum (etcd#8334) and the test of etcd#9586 (raft-rs#84): a node
// that starts a pre-election forgets its leader, so it is out of its lease and can grant the
// other follower's pre-vote; otherwise, with the leader gone, nobody could ever be elected.
TEST_CASE("with pre_vote and check_quorum the followers of a lost leader elect a new one",
          "[prevote][check_quorum]") {
    const std::uint64_t seed = 19;
    CAPTURE(seed);
    trio c({.check_quorum = true, .pre_vote = true}, seed, 1);
    c.nt.send(hup(1));
    c.nt.isolate(1);
    REQUIRE(c.roles() == roles{leader, follower, follower});

    SECTION("etcd TestPreVoteWithCheckQuorum") {
        c.nt.send(hup(3));  // node 2 still has a lease for node 1: it ignores node 3
        CHECK(c.n3->role() == pre_candidate);
        CHECK(c.n3->lead() == none);
        c.nt.send(hup(2));
        CHECK(c.n2->role() == leader);
        CHECK(c.n3->role() == follower);
    }
    SECTION("etcd#9586 TestPreVoteWithLeaderNetworkPartition") {
        c.nt.send(hup(2));
        CHECK(c.n2->role() == pre_candidate);
        c.nt.send(hup(3));
        CHECK(c.n3->role() == leader);
        CHECK(c.n2->role() == follower);
    }
}

// etcd's TestNodeWithSmallerTermCanCompleteElection (etcd#8243): a lagging node learns the
// cluster's term from the rejection of its pre-vote, so it can then grant the other's.
TEST_CASE("a node with a smaller term rejoining as the leader fails can complete an election",
          "[prevote]") {
    const std::uint64_t seed = 23;
    CAPTURE(seed);
    trio c({.pre_vote = true}, seed, 1);
    c.nt.cut(1, 3);
    c.nt.cut(2, 3);
    c.nt.send(hup(1));
    c.nt.send(hup(3));
    CHECK(c.roles() == roles{leader, follower, pre_candidate});
    c.nt.send(hup(2));
    CHECK(c.roles() == roles{follower, leader, pre_candidate});
    CHECK(c.terms() == terms{3, 3, 1});

    // Bring node 3 back and, at the same moment, lose the leader.
    c.nt.recover();
    c.nt.cut(2, 1);
    c.nt.cut(2, 3);
    c.nt.send(hup(3));
    CHECK(c.n3->term() == 3);  // from node 1's rejection
    c.nt.send(hup(1));
    CHECK((c.n1->role() == leader || c.n3->role() == leader));
}

// The same shape with check_quorum on and driven by ticks alone: node 2 took over by a leader
// transfer (a plain campaign cannot beat node 1's lease) while node 3 was partitioned; node 2
// crashes as node 3 comes back. Leases expire, terms converge, and node 1 is elected.
TEST_CASE("pre_vote with check_quorum: a lagging node rejoining as the leader crashes leaves "
          "the cluster able to elect",
          "[prevote][check_quorum]") {
    const std::uint64_t seed = GENERATE(1, 2, 3, 4, 5);
    CAPTURE(seed);
    trio c({.check_quorum = true, .pre_vote = true}, seed, 1);
    const int et = c.n1->cfg().election_tick;
    c.nt.send(hup(1));
    REQUIRE(c.n1->role() == leader);

    c.nt.isolate(3);
    for (int i = 0; i < 3 * et; ++i) tick(c.nt, {1, 2, 3}, all_but({3}));
    REQUIRE(c.n3->term() == c.n1->term());  // pre-votes did not move its term
    c.nt.send(transfer_to(2, 1));
    REQUIRE(c.n2->role() == leader);
    REQUIRE(c.n2->term() == c.n3->term() + 1);

    c.nt.recover();
    c.nt.isolate(2);
    node_id lead = none;
    for (int i = 0; i < 20 * et && lead == none; ++i) {
        tick(c.nt, {1, 3}, all_but({2}));
        lead = leader_among(c.nt, {1, 3});
    }
    CHECK(lead == 1);  // node 3 lacks node 2's entry: it cannot win
    CHECK(c.n3->lead() == lead);
    CHECK(c.n3->term() == c.n1->term());
}

// etcd's newPreVoteMigrationCluster: n1 (pre_vote) leads at term 2 and n2 (pre_vote) follows;
// n3, running without pre_vote, was partitioned, campaigned up to term 4 and missed an entry.
// etcd then sets n3.preVote; we restart n3 from its storage with pre_vote on, as a rolling
// upgrade would (so it comes back a follower at term 4, not a candidate).
struct migration_cluster {
    test_raft_ptr n1, n2, n3, old_n3;
    std::optional<network> nt;
    std::vector<role> roles() const { return {n1->role(), n2->role(), n3->role()}; }

    explicit migration_cluster(std::uint64_t seed) {
        const features pv{.pre_vote = true};
        n1 = make_node(1, {1, 2, 3}, pv, seed);
        n2 = make_node(2, {1, 2, 3}, pv, seed);
        old_n3 = make_node(3, {1, 2, 3}, {}, seed);
        for (test_raft* n : {n1.get(), n2.get(), old_n3.get()}) n->become_follower(1, none);
        network before({n1, n2, old_n3});
        before.send(hup(1));
        before.isolate(3);
        before.send(propose(1));
        before.send(hup(3));
        before.send(hup(3));
        REQUIRE(std::vector{n1->role(), n2->role(), old_n3->role()} ==
                std::vector{leader, follower, candidate});
        REQUIRE(std::vector{n1->term(), n2->term(), old_n3->term()} == terms{2, 2, 4});

        auto s = new_test_storage({1, 2, 3});
        s.storage = old_n3->log().storage();  // all persisted by the network
        n3 = new_test_raft(make_config(3, pv, seed), std::move(s));
        REQUIRE(n3->term() == 4);
        nt.emplace(network({n1, n2, n3}));
    }
};

TEST_CASE("pre-vote migration: a node with an inflated term and a short log neither blocks "
          "nor wedges elections",
          "[prevote]") {
    const std::uint64_t seed = 29;
    CAPTURE(seed);
    migration_cluster c(seed);
    network& nt = *c.nt;

    SECTION("etcd TestPreVoteMigrationCanCompleteElection") {
        nt.isolate(1);  // the leader goes down
        nt.send(hup(3));
        nt.send(hup(2));
        // Node 2's pre-vote was rejected with node 3's term.
        CHECK((c.n2->role() == follower && c.n2->term() == 4));
        CHECK(c.n3->role() == pre_candidate);
        nt.send(hup(3));
        nt.send(hup(2));
        CHECK(c.n2->role() == leader);
        CHECK(c.n3->role() == follower);
    }
    SECTION("etcd TestPreVoteMigrationWithFreeStuckPreCandidate") {
        for (int round = 0; round < 2; ++round) {
            CAPTURE(round);
            nt.send(hup(3));
            CHECK(c.roles() == roles{leader, follower, pre_candidate});
        }
        // Node 3 answers the stale heartbeat with its term: the leader steps down.
        nt.send(heartbeat(1, 3, c.n1->term()));
        CHECK(c.n1->role() == follower);
        CHECK(c.n3->term() == c.n1->term());
    }
}

// etcd's TestDisruptiveFollowerPreVote; etcd turns pre_vote on mid-test, here it is on
// throughout (the first election ends at term 2 either way).
TEST_CASE("with pre_vote, a lagging follower that times out does not depose the leader",
          "[prevote][check_quorum]") {
    const std::uint64_t seed = 37;
    CAPTURE(seed);
    trio c({.check_quorum = true, .pre_vote = true}, seed, 1);
    c.nt.send(hup(1));
    REQUIRE(c.roles() == roles{leader, follower, follower});

    c.nt.isolate(3);
    for (int i = 0; i < 3; ++i) c.nt.send(propose(1));
    c.nt.recover();
    c.nt.send(hup(3));
    CHECK(c.roles() == roles{leader, follower, pre_candidate});
    CHECK(c.terms() == terms{2, 2, 2});

    // The delayed heartbeat is of node 3's own term: it follows again, nobody steps down.
    c.nt.send(heartbeat(1, 3, c.n1->term()));
    CHECK(c.n1->role() == leader);
    CHECK(c.n3->role() == follower);
}

// Thesis §9.6: pre-election rounds never raise a partitioned node's term, so it rejoins without
// forcing an election; the leader's log moved on, so its pre-votes are refused (and with
// check_quorum they are not even answered while the followers hear from the leader).
TEST_CASE("a partitioned node with pre_vote keeps its term and rejoins without disrupting "
          "the leader",
          "[prevote]") {
    const bool check_quorum = GENERATE(false, true);
    const std::uint64_t seed = GENERATE(41, 42, 43);
    CAPTURE(check_quorum, seed);
    trio c({.check_quorum = check_quorum, .pre_vote = true}, seed, 0);
    const int et = c.n1->cfg().election_tick;
    c.nt.send(hup(1));
    REQUIRE(c.n1->role() == leader);
    const term_t term = c.n1->term();

    c.nt.isolate(3);
    for (int i = 0; i < 3; ++i) c.nt.send(propose(1));
    for (int i = 0; i < 10 * et; ++i) tick(c.nt, {1, 2, 3}, all_but({3}));
    CHECK(c.n3->term() == term);
    CHECK(c.n3->role() != leader);

    c.nt.recover();
    for (int i = 0; i < 5 * et; ++i) tick(c.nt, {1, 2, 3});
    CHECK(c.n1->role() == leader);
    for (test_raft* n : {c.n1.get(), c.n2.get(), c.n3.get()}) {
        CAPTURE(n->id());
        CHECK(n->term() == term);
        CHECK(n->lead() == 1);
        CHECK(n->log().last_index() == c.n1->log().last_index());
    }
}

// Votes that no longer count: a (pre-)candidate's own vote delivered after its election ended
// (etcd main's TestCandidateSelfVoteAfterLostElectionPreVote and
// TestCandidateDeliversPreCandidateSelfVoteAfterBecomingCandidate), vote responses of the wrong
// kind or of an older term; and a rejection, which carries the voter's own term.
TEST_CASE("a pre-candidate counts only pre-vote responses for its pre-election", "[prevote]") {
    const std::uint64_t seed = 47;
    CAPTURE(seed);
    auto r = new_test_raft(make_config(1, {.pre_vote = true}, seed),
                           new_test_storage({1, 2, 3}).set_hard_state({5, none, 0}));
    REQUIRE(r->step(hup(1)));
    REQUIRE(r->role() == pre_candidate);
    REQUIRE(r->term() == 5);
    auto self_vote = std::exchange(r->messages_after_append(), {});
    REQUIRE(self_vote.size() == 1);
    CHECK(self_vote[0].term == 6);  // a pre-vote carries the term it asks for
    const auto granted_votes = [&] { return r->tracker().tally_votes().granted; };
    auto resp = [](message_type t, node_id from, term_t term, bool reject = false) {
        message m = make_message(t, from, 1, term);
        m.reject = reject;
        return m;
    };

    SECTION("its own vote, delivered after it lost to a leader, is ignored") {
        REQUIRE(r->step(heartbeat(2, 1, 5)));
        REQUIRE(r->role() == follower);
        for (auto& m : self_vote) REQUIRE(r->step(m));
        CHECK(r->role() == follower);
        CHECK(r->term() == 5);
        CHECK(granted_votes() == 0);
    }
    SECTION("its own pre-vote, delivered after it became a candidate, is ignored") {
        REQUIRE(r->step(resp(message_type::pre_vote_resp, 2, 6)));
        REQUIRE(r->step(resp(message_type::pre_vote_resp, 3, 6)));
        REQUIRE(r->role() == candidate);
        for (auto& m : self_vote) REQUIRE(r->step(m));
        CHECK(r->role() == candidate);
        CHECK(granted_votes() == 0);
        auto real_self_vote = std::exchange(r->messages_after_append(), {});
        REQUIRE(r->step(resp(message_type::vote_resp, 2, 6)));
        CHECK(r->role() == candidate);
        for (auto& m : real_self_vote) REQUIRE(r->step(m));
        CHECK(r->role() == leader);
    }
    SECTION("vote responses and older pre-vote responses do not count") {
        for (auto& m : self_vote) REQUIRE(r->step(m));
        REQUIRE(r->step(resp(message_type::vote_resp, 2, 5)));
        REQUIRE(r->step(resp(message_type::vote_resp, 3, 5)));
        REQUIRE(r->step(resp(message_type::pre_vote_resp, 2, 4)));
        CHECK(r->role() == pre_candidate);
        CHECK(r->term() == 5);
        CHECK(r->tracker().vote(2) == std::nullopt);
        CHECK(r->tracker().vote(3) == std::nullopt);
        REQUIRE(r->step(resp(message_type::pre_vote_resp, 3, 6)));
        CHECK(r->role() == candidate);
    }
    SECTION("a grant does not move its term; a rejection carries the voter's newer term") {
        REQUIRE(r->step(resp(message_type::pre_vote_resp, 2, 6)));
        CHECK(r->role() == pre_candidate);  // its own vote is not durable yet
        CHECK(r->term() == 5);
        REQUIRE(r->step(resp(message_type::pre_vote_resp, 3, 8, true)));
        CHECK(r->role() == follower);
        CHECK(r->term() == 8);
        CHECK(r->vote() == none);
        CHECK(r->lead() == none);
    }
}
