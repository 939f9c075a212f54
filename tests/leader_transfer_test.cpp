// Leadership transfer (Raft thesis §3.10): the leader brings the transferee's log up to date,
// then sends it timeout_now; the transferee campaigns at once, with a context that overrides
// the other nodes' leader leases. Ported from etcd-io/raft main's raft_test.go
// (TestLeaderTransfer*, TestTransferNonMember, TestLearnerCampaign) plus message-level checks
// of what etcd only implies. Invariant under test: while a transfer is pending the leader
// accepts no proposals, and a transfer not finished within an election timeout is abandoned.
#include <catch2/catch.hpp>

#include "raft_test_util.hpp"

#include <raftpp/testing/cluster.hpp>

#include <cstdint>
#include <string_view>
#include <vector>

using namespace raftpp;
using namespace raftpp::test;

namespace {

// Election timers are seeded explicitly so a failure replays exactly.
constexpr std::uint64_t test_seed = 0x7a45fe2;

// Tells the network how to configure the nodes it makes.
auto seeded(bool check_quorum = false, bool pre_vote = false) {
    return [=](config& c) {
        c.seed = test_seed + c.id;
        c.check_quorum = check_quorum;
        c.pre_vote = pre_vote;
    };
}

config cfg_for(node_id id) {
    config c = test_config(id, 10, 1);
    c.seed = test_seed + id;
    return c;
}

message hup(node_id id) { return make_message(message_type::hup, id, id); }

message propose(node_id id) {
    message m = make_message(message_type::prop, id, id);
    m.entries.emplace_back();
    return m;
}

// etcd's MsgTransferLeader: From is the transferee, To the node asked (leader or not).
message transfer(node_id transferee, node_id to) {
    return make_message(message_type::transfer_leader, transferee, to);
}

// etcd's checkLeaderTransferState.
void check_transfer_state(const test_raft& r, role want_role, node_id want_lead) {
    CHECK(to_string(r.role()) == to_string(want_role));
    CHECK(r.lead() == want_lead);
    CHECK(r.lead_transferee() == none);
}

// A three-node network (made with seeded(...)) where node 1 won the first election.
network elected_network(bool check_quorum = false, bool pre_vote = false) {
    network nt({nullptr, nullptr, nullptr}, seeded(check_quorum, pre_vote));
    nt.send(hup(1));
    REQUIRE(nt.peer(1).role() == role::leader);
    return nt;
}

}  // namespace

TEST_CASE("transfer to an up-to-date node, and back", "[transfer]") {
    struct tc {
        std::string_view name;
        bool check_quorum, pre_vote;
    };
    const tc cases[] = {
        {"plain", false, false},
        // etcd TestLeaderTransferWithCheckQuorum: the followers are inside the leader's
        // lease, yet the transferee's campaign is granted.
        {"check_quorum", true, false},
        {"pre_vote: timeout_now skips the pre-vote", false, true},
        {"check_quorum and pre_vote", true, true},
    };
    for (const auto& tt : cases) {
        CAPTURE(tt.name, test_seed);
        network nt({nullptr, nullptr, nullptr}, seeded(tt.check_quorum, tt.pre_vote));
        if (tt.check_quorum) {
            for (node_id id = 1; id <= 3; ++id) {
                test_raft& r = nt.peer(id);
                r.set_randomized_election_timeout(r.cfg().election_tick + static_cast<int>(id));
            }
            // Let node 2's election timer run out so that it votes for node 1.
            test_raft& f = nt.peer(2);
            for (int i = 0; i < f.cfg().election_tick; ++i) f.tick();
        }
        nt.send(hup(1));
        test_raft& lead = nt.peer(1);
        REQUIRE(lead.role() == role::leader);
        REQUIRE(lead.lead() == 1);
        const term_t term = lead.term();

        // etcd TestLeaderTransferToUpToDateNode: asked on the leader.
        nt.send(transfer(2, 1));
        check_transfer_state(lead, role::follower, 2);
        CHECK(nt.peer(2).role() == role::leader);
        CHECK(nt.peer(2).term() == term + 1);

        // After some replication, back to 1.
        nt.send(propose(1));
        nt.send(transfer(1, 2));
        check_transfer_state(lead, role::leader, 1);
        CHECK(lead.term() == term + 2);
    }
}

// etcd TestLeaderTransferToUpToDateNodeFromFollower: every request goes to the follower
// that should lead, which forwards it to its leader.
TEST_CASE("a transfer asked on the transferee is forwarded to the leader", "[transfer]") {
    CAPTURE(test_seed);
    network nt = elected_network();
    test_raft& lead = nt.peer(1);
    REQUIRE(lead.lead() == 1);

    nt.send(transfer(2, 2));
    check_transfer_state(lead, role::follower, 2);

    nt.send(propose(1));
    nt.send(transfer(1, 1));
    check_transfer_state(lead, role::leader, 1);
}

TEST_CASE("a follower without a leader drops a transfer request", "[transfer]") {
    auto f = new_test_raft(cfg_for(2), new_test_storage({1, 2, 3}));
    f->become_follower(1, none);
    REQUIRE(f->step(transfer(2, 2)));
    CHECK(read_messages(*f).empty());
    CHECK(f->role() == role::follower);
}

// etcd main's send() sets From only when it is unset, so a follower asked to transfer
// leadership to a third node forwards the request with that node as From (raw_node's
// transfer_leader(transferee) on any member reaches the leader intact).
TEST_CASE("a transfer to a third node asked on a follower keeps its transferee",
          "[transfer][forward]") {
    CAPTURE(test_seed);
    SECTION("the forwarded message") {
        auto f = new_test_raft(cfg_for(2), new_test_storage({1, 2, 3}));
        f->become_follower(1, 1);
        REQUIRE(f->step(transfer(3, 2)));
        message fwd = transfer(3, 1);
        fwd.term = 1;  // forwarded at the follower's term, like etcd
        CHECK(read_messages(*f) == std::vector<message>{fwd});
    }
    SECTION("in a cluster") {
        network nt = elected_network();
        nt.send(transfer(3, 2));
        check_transfer_state(nt.peer(1), role::follower, 3);
        CHECK(nt.peer(3).role() == role::leader);
        CHECK(nt.peer(2).role() == role::follower);
    }
}

// etcd TestLeaderTransferToSlowFollower: the transferee first gets the entries it lacks; only
// once its ack shows it caught up is it told to campaign.
TEST_CASE("a slow transferee is caught up before timeout_now", "[transfer]") {
    CAPTURE(test_seed);
    network nt = elected_network();
    nt.isolate(3);
    nt.send(propose(1));
    nt.recover();
    test_raft& lead = nt.peer(1);
    REQUIRE(lead.tracker().progress(3)->match == 1);
    REQUIRE(lead.log().last_index() == 2);

    // What node 3 is sent, in order, with the leader's view of it when timeout_now leaves.
    std::vector<message_type> to_3;
    index_t match_at_timeout_now = 0;
    nt.set_msg_hook([&](const message& m) {
        if (m.to == 3 && m.from == 1) to_3.push_back(m.type);
        if (m.type == message_type::timeout_now)
            match_at_timeout_now = lead.tracker().progress(3)->match;
        return true;
    });
    nt.send(transfer(3, 1));
    check_transfer_state(lead, role::follower, 3);

    CHECK(match_at_timeout_now == 2);
    REQUIRE_FALSE(to_3.empty());
    CHECK(to_3.front() == message_type::app);
    std::size_t timeout_nows = 0;
    for (auto t : to_3) timeout_nows += t == message_type::timeout_now;
    CHECK(timeout_nows == 1);
}

// etcd TestLeaderTransferAfterSnapshot (main): the transferee needs a snapshot; timeout_now
// waits until its ack of the applied snapshot arrives.
TEST_CASE("a transferee behind the leader's compaction gets a snapshot first",
          "[transfer][snapshot]") {
    CAPTURE(test_seed);
    network nt = elected_network();
    nt.isolate(3);
    nt.send(propose(1));
    test_raft& lead = nt.peer(1);
    (void)next_committed(lead);
    memory_storage& st = lead.log().storage();
    conf_state cs;
    cs.voters = lead.tracker().voter_nodes();
    REQUIRE(st.create_snapshot(lead.log().applied(), &cs, {}));
    REQUIRE(st.compact(lead.log().applied()));
    REQUIRE(lead.log().first_index() == 3);

    nt.recover();
    REQUIRE(lead.tracker().progress(3)->match == 1);

    // Hold back node 3's ack of the snapshot (read_messages already persisted it there).
    message filtered;
    nt.set_msg_hook([&](const message& m) {
        if (m.type != message_type::app_resp || m.from != 3 || m.reject) return true;
        filtered = m;
        return false;
    });
    nt.send(transfer(3, 1));
    CHECK(lead.role() == role::leader);
    CHECK(lead.lead_transferee() == 3);
    REQUIRE(filtered.type == message_type::app_resp);
    CHECK(filtered.index == 2);
    CHECK(nt.peer(3).log().storage().snapshot()->metadata.index == 2);

    // Apply the snapshot (etcd's appliedSnap; the helpers only persisted it). Until then
    // the transferee must not campaign: its unapplied range starts before its log does.
    nt.peer(3).on_applied(2, {});
    nt.set_msg_hook({});
    nt.send(filtered);
    check_transfer_state(lead, role::follower, 3);
    CHECK(nt.peer(3).role() == role::leader);
}

// etcd TestLeaderTransferToSelf / ToNonExistingNode: nothing happens.
TEST_CASE("a transfer to the leader itself or to an unknown node is ignored", "[transfer]") {
    const node_id target = GENERATE(node_id{1}, node_id{4});
    CAPTURE(target, test_seed);
    network nt = elected_network();
    test_raft& lead = nt.peer(1);
    const term_t term = lead.term();
    if (target == 1) {
        nt.send(transfer(1, 1));
    } else {
        // The network has no node 4 to take a message from: step the request directly.
        REQUIRE(lead.step(transfer(4, 1)));
        CHECK(read_messages(lead).empty());
    }
    check_transfer_state(lead, role::leader, 1);
    CHECK(lead.term() == term);
}

// etcd TestLeaderTransferTimeout: the transferee never answers; the transfer is abandoned
// after an election timeout, and proposals are accepted again.
TEST_CASE("a transfer not finished within an election timeout is aborted", "[transfer]") {
    CAPTURE(test_seed);
    network nt = elected_network();
    nt.isolate(3);
    test_raft& lead = nt.peer(1);

    nt.send(transfer(3, 1));
    REQUIRE(lead.lead_transferee() == 3);
    for (int i = 0; i < lead.cfg().heartbeat_tick; ++i) lead.tick();
    REQUIRE(lead.lead_transferee() == 3);
    for (int i = 0; i < lead.cfg().election_tick - lead.cfg().heartbeat_tick - 1; ++i)
        lead.tick();
    REQUIRE(lead.lead_transferee() == 3);  // one tick short
    lead.tick();
    check_transfer_state(lead, role::leader, 1);
    CHECK(lead.step(propose(1)));
}

// etcd TestLeaderTransferIgnoreProposal.
TEST_CASE("proposals are dropped while a transfer is pending", "[transfer]") {
    CAPTURE(test_seed);
    network nt = elected_network();
    nt.isolate(3);
    test_raft& lead = nt.peer(1);
    (void)next_committed(lead);

    nt.send(transfer(3, 1));
    REQUIRE(lead.lead_transferee() == 3);

    nt.send(propose(1));
    CHECK(lead.step(propose(1)).error() == errc::proposal_dropped);
    CHECK(lead.log().last_index() == 1);
    CHECK(lead.tracker().progress(1)->match == 1);

    SECTION("a follower's forwarded proposal is dropped too") {
        nt.send(propose(2));
        CHECK(lead.log().last_index() == 1);
    }
}

// etcd TestLeaderTransferReceiveHigherTermVote: another node's election ends the transfer.
TEST_CASE("a vote at a higher term ends a pending transfer", "[transfer]") {
    CAPTURE(test_seed);
    network nt = elected_network();
    nt.isolate(3);
    test_raft& lead = nt.peer(1);

    nt.send(transfer(3, 1));
    REQUIRE(lead.lead_transferee() == 3);

    message m = hup(2);
    m.index = 1;
    m.term = 2;
    nt.send(m);
    check_transfer_state(lead, role::follower, 2);
}

// etcd TestLeaderTransferRemoveNode.
TEST_CASE("removing the transferee aborts the transfer", "[transfer][conf]") {
    CAPTURE(test_seed);
    network nt = elected_network();
    nt.ignore(message_type::timeout_now);
    test_raft& lead = nt.peer(1);

    nt.send(transfer(3, 1));
    REQUIRE(lead.lead_transferee() == 3);

    REQUIRE(lead.apply_conf_change(conf_change{conf_change_type::remove_node, 3, {}}.as_v2()));
    check_transfer_state(lead, role::leader, 1);
}

// etcd TestLeaderTransferDemoteNode (main): demoting the transferee to a learner through a
// joint configuration aborts the transfer once the joint configuration is left.
TEST_CASE("demoting the transferee to a learner aborts the transfer",
          "[transfer][conf]") {
    CAPTURE(test_seed);
    network nt = elected_network();
    nt.ignore(message_type::timeout_now);
    test_raft& lead = nt.peer(1);

    nt.send(transfer(3, 1));
    REQUIRE(lead.lead_transferee() == 3);

    conf_change_v2 demote;
    demote.changes = {{conf_change_type::remove_node, 3}, {conf_change_type::add_learner_node, 3}};
    REQUIRE(lead.apply_conf_change(demote));
    REQUIRE(lead.tracker().is_joint());
    REQUIRE(lead.apply_conf_change(conf_change_v2{}));  // leave the joint configuration
    REQUIRE(lead.tracker().learner_nodes() == std::vector<node_id>{3});
    check_transfer_state(lead, role::leader, 1);
}

// etcd TestLeaderTransferBack.
TEST_CASE("a transfer back to the leader cancels a pending transfer", "[transfer]") {
    CAPTURE(test_seed);
    network nt = elected_network();
    nt.isolate(3);
    test_raft& lead = nt.peer(1);

    nt.send(transfer(3, 1));
    REQUIRE(lead.lead_transferee() == 3);

    nt.send(transfer(1, 1));
    check_transfer_state(lead, role::leader, 1);
    CHECK(lead.step(propose(1)));
}

// etcd TestLeaderTransferSecondTransferToAnotherNode.
TEST_CASE("a second transfer to another node replaces a pending one", "[transfer]") {
    CAPTURE(test_seed);
    network nt = elected_network();
    nt.isolate(3);
    test_raft& lead = nt.peer(1);

    nt.send(transfer(3, 1));
    REQUIRE(lead.lead_transferee() == 3);

    nt.send(transfer(2, 1));
    check_transfer_state(lead, role::follower, 2);
}

// etcd TestLeaderTransferSecondTransferToSameNode: a repeated request does not restart the
// transfer's timeout.
TEST_CASE("a second transfer to the same node does not extend the timeout", "[transfer]") {
    CAPTURE(test_seed);
    network nt = elected_network();
    nt.isolate(3);
    test_raft& lead = nt.peer(1);

    nt.send(transfer(3, 1));
    REQUIRE(lead.lead_transferee() == 3);
    for (int i = 0; i < lead.cfg().heartbeat_tick; ++i) lead.tick();

    nt.send(transfer(3, 1));
    for (int i = 0; i < lead.cfg().election_tick - lead.cfg().heartbeat_tick; ++i) lead.tick();
    check_transfer_state(lead, role::leader, 1);
}

// etcd main's stepLeader ignores MsgTransferLeader from a learner; TestLearnerCampaign: a
// learner that gets timeout_now anyway does not campaign.
TEST_CASE("a learner cannot become leader by transfer", "[transfer][learner]") {
    CAPTURE(test_seed);
    auto n1 = new_test_raft(cfg_for(1), new_test_storage({1, 2}, {3}));
    auto n2 = new_test_raft(cfg_for(2), new_test_storage({1, 2}, {3}));
    auto n3 = new_test_raft(cfg_for(3), new_test_storage({1, 2}, {3}));
    network nt({n1, n2, n3});
    nt.send(hup(1));
    REQUIRE(n1->role() == role::leader);
    REQUIRE(n3->is_learner());
    nt.send(propose(1));
    REQUIRE(n1->tracker().progress(3)->match == n1->log().last_index());

    SECTION("asked on the leader") { nt.send(transfer(3, 1)); }
    SECTION("asked on the learner, which forwards it") { nt.send(transfer(3, 3)); }
    check_transfer_state(*n1, role::leader, 1);
    CHECK(n3->role() == role::follower);

    // A learner given timeout_now anyway does not campaign.
    const term_t term = n3->term();
    REQUIRE(n3->step(make_message(message_type::timeout_now, 1, 3, term)));
    CHECK(n3->role() == role::follower);
    CHECK(n3->term() == term);
    CHECK(read_messages(*n3).empty());
}

// etcd TestTransferNonMember: timeout_now at a node outside the configuration does nothing.
TEST_CASE("timeout_now at a node that is not a member does nothing", "[transfer]") {
    auto r = new_test_raft(test_config(1, 5, 1), new_test_storage({2, 3, 4}));
    REQUIRE(r->step(make_message(message_type::timeout_now, 2, 1)));
    REQUIRE(r->step(make_message(message_type::vote_resp, 2, 1)));
    REQUIRE(r->step(make_message(message_type::vote_resp, 3, 1)));
    CHECK(r->role() == role::follower);
    CHECK(read_messages(*r).empty());
}

// The transferee's campaign: straight to candidate (no pre-vote), vote requests marked
// "CampaignTransfer", which a node inside a live leader's lease grants although it ignores
// an ordinary vote request (thesis §6.4 leases, §3.10 transfer).
TEST_CASE("a timeout_now campaign overrides the other nodes' leader lease",
          "[transfer][lease]") {
    CAPTURE(test_seed);
    const bool pre_vote = GENERATE(false, true);
    CAPTURE(pre_vote);
    config c2 = cfg_for(2);
    c2.check_quorum = true;
    c2.pre_vote = pre_vote;
    auto transferee = new_test_raft(c2, new_test_storage({1, 2, 3}));
    transferee->become_follower(1, 1);

    REQUIRE(transferee->step(make_message(message_type::timeout_now, 1, 2, 1)));
    CHECK(transferee->role() == role::candidate);
    CHECK(transferee->term() == 2);
    auto votes = read_messages(*transferee);
    REQUIRE(votes.size() == 2);
    for (const auto& v : votes) {
        CAPTURE(v);
        CHECK(v.type == message_type::vote);
        CHECK(v.term == 2);
        CHECK(v.context == buffer("CampaignTransfer"));
    }

    config c3 = cfg_for(3);
    c3.check_quorum = true;
    c3.pre_vote = pre_vote;
    auto voter = new_test_raft(c3, new_test_storage({1, 2, 3}));
    voter->become_follower(1, 1);  // heard from leader 1 just now: inside its lease

    message plain = votes[1];
    REQUIRE(plain.to == 3);
    plain.context = buffer();
    REQUIRE(voter->step(plain));
    CHECK(voter->term() == 1);
    CHECK(voter->vote() == none);
    CHECK(read_messages(*voter).empty());

    REQUIRE(voter->step(votes[1]));
    CHECK(voter->term() == 2);
    CHECK(voter->vote() == 2);
    auto resp = read_messages(*voter);
    REQUIRE(resp.size() == 1);
    CHECK(resp[0].type == message_type::vote_resp);
    CHECK_FALSE(resp[0].reject);

    REQUIRE(transferee->step(resp[0]));
    (void)read_messages(*transferee);
    CHECK(transferee->role() == role::leader);
}

// --- raw_node::transfer_leader through the ready cycle ------------------------------------

TEST_CASE("raw_node::transfer_leader hands leadership over in a cluster", "[transfer][raw_node]") {
    CAPTURE(test_seed);
    raftpp::testing::cluster<> c({1, 2, 3}, test_seed);
    REQUIRE(c.bootstrap());
    REQUIRE(c.elect(1));

    c.node(1).transfer_leader(2);
    CHECK(c.node(1).status().lead_transferee == 2);
    REQUIRE(c.step_until_quiet());
    CHECK(c.leader() == node_id{2});
    CHECK(c.node(1).raft().role() == role::follower);
    CHECK(c.node(1).status().lead_transferee == none);
    CHECK(c.violations().empty());

    // Asked on the transferee itself: the request is forwarded to the leader.
    c.node(3).transfer_leader(3);
    REQUIRE(c.step_until_quiet());
    CHECK(c.leader() == node_id{3});
    CHECK(c.violations().empty());
}

// See "a transfer to a third node asked on a follower keeps its transferee".
TEST_CASE("raw_node::transfer_leader on a follower naming a third node",
          "[transfer][raw_node]") {
    CAPTURE(test_seed);
    raftpp::testing::cluster<> c({1, 2, 3}, test_seed);
    REQUIRE(c.bootstrap());
    REQUIRE(c.elect(1));

    c.node(2).transfer_leader(3);
    REQUIRE(c.step_until_quiet());
    CHECK(c.leader() == node_id{3});
    CHECK(c.violations().empty());
}
