// CheckQuorum and its leader lease (Raft thesis §6.2, §6.4), ported from etcd-io/raft main's
// raft_test.go: a leader that lost its quorum steps down, and a partitioned node does not
// disrupt a leader its peers still hear from. PreVote is in prevote_test.cpp.
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
// CheckQuorum and the leader lease
// ---------------------------------------------------------------------------------------------

// etcd's TestLeaderStepdownWhenQuorumActive / TestLeaderStepdownWhenQuorumLost.
TEST_CASE("check_quorum: a leader stays while a quorum is active and steps down when it is not",
          "[check_quorum]") {
    const bool active = GENERATE(true, false);
    const std::uint64_t seed = 53;
    CAPTURE(active, seed);
    auto r = make_node(1, {1, 2, 3}, {.check_quorum = true}, seed, 5);
    r->become_candidate();
    r->become_leader();

    for (int i = 0; i < r->cfg().election_tick + 1; ++i) {
        if (active) REQUIRE(r->step(make_message(message_type::heartbeat_resp, 2, 1, r->term())));
        r->tick();
    }

    CHECK(r->role() == (active ? leader : follower));
    CHECK(r->term() == 1);
}

// etcd's TestLeaderSupersedingWithCheckQuorum, also with pre_vote.
TEST_CASE("check_quorum: a campaign succeeds only once a quorum's leases have expired",
          "[check_quorum]") {
    const bool pre_vote = GENERATE(false, true);
    const std::uint64_t seed = 59;
    CAPTURE(pre_vote, seed);
    trio c({.check_quorum = true, .pre_vote = pre_vote}, seed, 0);
    const int et = c.n2->cfg().election_tick;
    c.n2->set_randomized_election_timeout(et + 1);
    for (int i = 0; i < et; ++i) c.n2->tick();
    c.nt.send(hup(1));
    CHECK(c.n1->role() == leader);
    CHECK(c.n3->role() == follower);

    c.nt.send(hup(3));
    // Node 2 heard from node 1 within its election timeout: it ignored node 3.
    CHECK(c.n3->role() == (pre_vote ? pre_candidate : candidate));

    // Let node 2's lease run out (without it campaigning itself).
    c.n2->set_randomized_election_timeout(et + 1);
    for (int i = 0; i < et; ++i) c.n2->tick();
    c.nt.send(hup(3));
    CHECK(c.n3->role() == leader);
}

// etcd's TestLeaderElectionWithCheckQuorum, also with pre_vote.
TEST_CASE("check_quorum: nodes that have not heard from the leader for a timeout elect another",
          "[check_quorum][prevote]") {
    const bool pre_vote = GENERATE(false, true);
    const std::uint64_t seed = 61;
    CAPTURE(pre_vote, seed);
    trio c({.check_quorum = true, .pre_vote = pre_vote}, seed, 0);
    const int et = c.n1->cfg().election_tick;
    c.n1->set_randomized_election_timeout(et + 1);
    c.n2->set_randomized_election_timeout(et + 2);

    // Right after creation nobody has a leader, so votes are cast regardless of timeouts.
    c.nt.send(hup(1));
    CHECK(c.n1->role() == leader);
    CHECK(c.n3->role() == follower);

    // Becoming leader/follower redrew the timeouts: set them above the ticks again.
    c.n1->set_randomized_election_timeout(et + 1);
    c.n2->set_randomized_election_timeout(et + 2);
    for (int i = 0; i < et; ++i) c.n1->tick();
    for (int i = 0; i < et; ++i) c.n2->tick();
    // Node 2 has not heard from node 1 for a timeout: node 1's heartbeats were lost. (With
    // pre_vote, one of node 1's own term would rightly end node 3's pre-election.)
    (void)read_messages(*c.n1);
    c.nt.send(hup(3));
    CHECK(c.n1->role() == follower);
    CHECK(c.n3->role() == leader);
}

// etcd's TestFreeStuckCandidateWithCheckQuorum: a candidate whose term ran ahead (without
// pre_vote) answers the leader's heartbeat with that term, deposing the leader so that an
// election can succeed.
TEST_CASE("check_quorum: a candidate stuck at a higher term is freed by deposing the leader",
          "[check_quorum]") {
    const std::uint64_t seed = 67;
    CAPTURE(seed);
    trio c({.check_quorum = true}, seed, 0);
    const int et = c.n2->cfg().election_tick;
    c.n2->set_randomized_election_timeout(et + 1);
    for (int i = 0; i < et; ++i) c.n2->tick();
    c.nt.send(hup(1));

    c.nt.isolate(1);
    for (term_t ahead = 1; ahead <= 2; ++ahead) {  // twice, for safety
        c.nt.send(hup(3));
        CHECK(c.roles() == roles{leader, follower, candidate});
        CHECK(c.n3->term() == c.n2->term() + ahead);
    }

    c.nt.recover();
    c.nt.send(heartbeat(1, 3, c.n1->term()));
    CHECK(c.n1->role() == follower);
    CHECK(c.n3->term() == c.n1->term());

    c.nt.send(hup(3));
    CHECK(c.n3->role() == leader);
}

// etcd's TestNonPromotableVoterWithCheckQuorum: a node outside the configuration still votes
// and follows, though it never campaigns.
TEST_CASE("check_quorum: a non-promotable node votes for and follows the leader",
          "[check_quorum]") {
    const std::uint64_t seed = 71;
    CAPTURE(seed);
    auto a = make_node(1, {1, 2}, {.check_quorum = true}, seed);
    auto b = make_node(2, {1}, {.check_quorum = true}, seed);
    network nt({a, b});
    b->set_randomized_election_timeout(b->cfg().election_tick + 1);
    // The network added node 2 to b's configuration: remove it again.
    REQUIRE(b->apply_conf_change(conf_change{conf_change_type::remove_node, 2, {}}.as_v2()));
    REQUIRE_FALSE(b->promotable());

    for (int i = 0; i < b->cfg().election_tick; ++i) b->tick();
    nt.send(hup(1));

    CHECK(a->role() == leader);
    CHECK(b->role() == follower);
    CHECK(b->lead() == 1);
}

// etcd's TestDisruptiveFollower: without pre_vote, a follower whose timer fires before the
// leader's (delayed) heartbeat arrives campaigns at a higher term; its answer to that heartbeat
// makes the leader step down.
TEST_CASE("check_quorum: a follower that times out without pre_vote deposes the leader",
          "[check_quorum]") {
    const std::uint64_t seed = 73;
    CAPTURE(seed);
    trio c({.check_quorum = true}, seed, 1);
    c.nt.send(hup(1));
    REQUIRE(c.roles() == roles{leader, follower, follower});

    // As etcd's server does with advanceTicksForElection, or when the leader's messages are
    // delayed while the ticks go by.
    c.n3->set_randomized_election_timeout(c.n3->cfg().election_tick + 2);
    for (int i = 0; i < c.n3->randomized_election_timeout(); ++i) c.n3->tick();
    REQUIRE(c.roles() == roles{leader, follower, candidate});
    REQUIRE(c.terms() == terms{2, 2, 3});

    // The heartbeat arrives while node 3's vote requests are still queued.
    c.nt.send(heartbeat(1, 3, c.n1->term()));
    CHECK(c.roles() == roles{follower, follower, candidate});
    CHECK(c.terms() == terms{3, 2, 3});  // node 2 ignored node 3's vote: node 1's lease
}

// Thesis §6.4 (etcd's inLease): with check_quorum, a node that heard from a leader within the
// election timeout ignores (pre-)votes of a newer term, unless they come from a leader transfer.
TEST_CASE("leader lease: a follower that heard from its leader recently ignores newer "
          "campaigns",
          "[check_quorum]") {
    struct tc {
        std::string_view name;
        bool check_quorum;
        node_id lead;
        int ticks;
        bool transfer, granted;
    };
    const tc tests[] = {
        {"just heard from the leader", true, 2, 0, false, false},
        {"one tick before the lease runs out", true, 2, 9, false, false},
        {"a whole election timeout without the leader", true, 2, 10, false, true},
        {"a leader transfer overrides the lease", true, 2, 0, true, true},
        {"no leader known", true, none, 0, false, true},
        {"no lease without check_quorum", false, 2, 0, false, true},
    };
    const message_type type = GENERATE(message_type::vote, message_type::pre_vote);
    const std::uint64_t seed = 79;
    for (const auto& tt : tests) {
        CAPTURE(to_string(type), tt.name, seed);
        auto r = make_node(1, {1, 2, 3}, {.check_quorum = tt.check_quorum}, seed);
        r->become_follower(2, tt.lead);
        r->set_randomized_election_timeout(2 * r->cfg().election_tick);  // no campaign of its own
        for (int i = 0; i < tt.ticks; ++i) r->tick();

        message m = make_message(type, 3, 1, 3);
        if (tt.transfer) m.context = buffer("CampaignTransfer");  // etcd's campaignTransfer
        REQUIRE(r->step(m));

        const auto msgs = read_messages(*r);
        if (!tt.granted) {
            CHECK(msgs.empty());
            CHECK(r->term() == 2);
            CHECK(r->lead() == tt.lead);
            continue;
        }
        REQUIRE(msgs.size() == 1);
        CHECK(msgs[0].type == vote_response_type(type));
        CHECK_FALSE(msgs[0].reject);
        CHECK(msgs[0].term == 3);
        const bool vote = type == message_type::vote;
        CHECK(r->term() == (vote ? 3 : 2));
        CHECK(r->vote() == (vote ? 3 : none));
    }
}

// The lease check lets a leader transfer through (etcd's TestLeaderTransferWithCheckQuorum):
// the transferee's campaign skips pre_vote and is marked as forced.
TEST_CASE("leader lease: followers within their lease vote for a leader transfer",
          "[check_quorum]") {
    const bool pre_vote = GENERATE(false, true);
    const std::uint64_t seed = 83;
    CAPTURE(pre_vote, seed);
    network nt({nullptr, nullptr, nullptr},
               with({.check_quorum = true, .pre_vote = pre_vote}, seed));
    nt.send(hup(1));
    nt.send(propose(1));
    const term_t term = nt.peer(1).term();

    nt.send(transfer_to(3, 1));  // nodes 1 and 2 are within their leases
    CHECK(nt.peer(3).role() == leader);
    CHECK(nt.peer(3).term() == term + 1);
    for (node_id id : {1, 2}) {
        CAPTURE(id);
        CHECK(nt.peer(id).role() == follower);
        CHECK(nt.peer(id).lead() == 3);
    }
}

// Raft thesis §6.2: a leader cut off with a minority hears from no quorum, so it steps down
// after one election timeout, and the majority elects a leader its followers then join.
TEST_CASE("check_quorum: a leader cut off in a minority steps down after an election timeout",
          "[check_quorum]") {
    const bool pre_vote = GENERATE(false, true);
    const std::uint64_t seed = 89;
    CAPTURE(pre_vote, seed);
    network nt({nullptr, nullptr, nullptr, nullptr, nullptr},
               with({.check_quorum = true, .pre_vote = pre_vote}, seed));
    nt.send(hup(1));
    test_raft& old = nt.peer(1);
    REQUIRE(old.role() == leader);
    const term_t term = old.term();
    const int et = old.cfg().election_tick;

    const auto in_minority = [](node_id id) { return id <= 2; };
    for (node_id a : {1, 2})
        for (node_id b : {3, 4, 5}) nt.cut(a, b);
    const link_filter up = [&](const message& m) {
        return in_minority(m.from) == in_minority(m.to);
    };

    // The check runs once per election timeout; the first one still counts the acks from
    // before the cut, so the leader steps down at the second.
    for (int i = 1; i < 2 * et; ++i) tick(nt, {1}, up);
    CHECK(old.role() == leader);
    tick(nt, {1}, up);
    CHECK(old.role() == follower);
    CHECK(old.term() == term);
    CHECK(old.lead() == none);

    node_id lead = none;
    for (int i = 0; i < 20 * et && lead == none; ++i) {
        tick(nt, {3, 4, 5}, up);
        lead = leader_among(nt, {3, 4, 5});
    }
    REQUIRE(lead != none);
    CHECK(nt.peer(lead).term() > term);

    nt.recover();
    nt.send(make_message(message_type::beat, lead, lead));
    for (node_id id : {1, 2}) {
        CAPTURE(id);
        CHECK(nt.peer(id).role() == follower);
        CHECK(nt.peer(id).lead() == lead);
        CHECK(nt.peer(id).term() == nt.peer(lead).term());
    }
}
