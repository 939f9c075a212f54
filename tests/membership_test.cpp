// Membership: learners and one-at-a-time conf changes (Raft thesis §4.1), ported from etcd-io/raft
// main's raft_test.go and testdata/confchange_v1_*.txt; joint consensus is in joint_test.cpp.
// Unit tests drive raft<> through raft_test_util.hpp (a node's own vote and its own entries
// count only once persisted, as in etcd main); the end-to-end scenarios run on the
// deterministic cluster harness with fixed seeds, CAPTUREd. As in etcd, a configuration takes
// effect when its entry is applied, not when it is appended.
#include <catch2/catch.hpp>

#include "raft_test_util.hpp"

#include <raftpp/testing/cluster.hpp>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace Catch {
template <>
struct StringMaker<raftpp::conf_state> {  // "voters=(1 2)&&(1) learners=(3) autoleave"
    static std::string convert(const raftpp::conf_state& cs) {
        auto list = [](std::string s, const std::vector<raftpp::node_id>& ids) {
            // append(), not `const char* + string`: g++ 12 -O3 misreports -Wrestrict on it.
            for (std::size_t i = 0; i < ids.size(); ++i)
                s.append(i ? " " : "(").append(std::to_string(ids[i]));
            return s.append(ids.empty() ? "()" : ")");
        };
        std::string s = list("voters=", cs.voters);
        if (!cs.voters_outgoing.empty()) s = list(s + "&&", cs.voters_outgoing);
        if (!cs.learners.empty()) s = list(s + " learners=", cs.learners);
        if (!cs.learners_next.empty()) s = list(s + " learners_next=", cs.learners_next);
        return cs.auto_leave ? s + " autoleave" : s;
    }
};
}  // namespace Catch

using namespace raftpp;
using namespace raftpp::test;
using raftpp::testing::cluster;
using ids = std::vector<node_id>;
using transition = conf_change_transition;
using cct = conf_change_type;

namespace {

conf_change_single cc_add(node_id id) { return {cct::add_node, id}; }
conf_change_single cc_remove(node_id id) { return {cct::remove_node, id}; }
conf_change_v2 v2(std::vector<conf_change_single> ccs, transition t = transition::automatic) {
    return {t, std::move(ccs), {}};
}
conf_change v1(cct t, node_id id) { return {t, id, {}}; }

// A configuration as conf_state lists it: voters, learners, outgoing voters, learners_next.
conf_state conf_of(ids voters, ids learners = {}, ids outgoing = {}, ids next = {},
                   bool auto_leave = false) {
    return {std::move(voters), std::move(learners), std::move(outgoing), std::move(next),
            auto_leave};
}

// A proposal of one entry, as raw_node makes it.
message proposal(node_id id, entry_type t, buffer data) {
    message m = make_message(message_type::prop, id, id);
    m.entries.push_back({0, 0, t, std::move(data)});
    return m;
}

template <class CC>  // conf_change or conf_change_v2
message propose_cc(node_id id, const CC& cc) {
    constexpr bool is_v1 = std::is_same_v<CC, conf_change>;
    return proposal(id, is_v1 ? entry_type::conf_change : entry_type::conf_change_v2, encode(cc));
}

message propose_data(node_id id, std::string_view d) {
    return proposal(id, entry_type::normal, buffer(d));
}
message hup(node_id id) { return make_message(message_type::hup, id, id); }

// `from` acks r's log up to `index`, at r's term.
message ack(const test_raft& r, node_id from, index_t index) {
    message m = make_message(message_type::app_resp, from, r.id(), r.term());
    m.index = index;
    return m;
}

// A leader at term 1 whose empty entry is persisted and acked by itself (not yet by others).
test_raft_ptr new_leader(test_storage s) {
    auto r = new_test_raft(1, 10, 1, std::move(s));
    r->become_candidate();
    r->become_leader();
    (void)read_messages(*r);
    return r;
}

// etcd's newTestLearnerRaft(id, [1], [2]) at term 1.
test_raft_ptr learner_pair_node(node_id id) {
    auto r = new_test_raft(id, 10, 1, new_test_storage({1}, {2}));
    r->become_follower(1, none);
    return r;
}

// etcd's setRandomizedElectionTimeout + electionTimeout ticks, then a beat so that the network
// delivers what the campaign produced (the node's own vote counts once persisted).
void campaign_by_timeout(test_raft& r, network& nt) {
    r.set_randomized_election_timeout(r.cfg().election_tick);
    for (int i = 0; i < r.cfg().election_tick; ++i) r.tick();
    nt.send(make_message(message_type::beat, r.id(), r.id()));
}

bool contains(const std::vector<std::string>& v, std::string_view s) {
    return std::find(v.begin(), v.end(), s) != v.end();
}

template <class Pred>
bool tick_until(cluster<>& c, Pred pred, std::size_t max_ticks) {
    for (std::size_t i = 0; i < max_ticks && !pred(); ++i) c.run_ticks(1);
    return pred();
}

// A bootstrapped cluster in which node 1 was elected.
cluster<> elected_cluster(ids voters, ids learners, std::uint64_t seed) {
    raftpp::testing::cluster_options o;
    o.voters = std::move(voters);
    o.learners = std::move(learners);
    o.seed = seed;
    cluster<> c(std::move(o));
    REQUIRE(c.bootstrap());
    REQUIRE(c.elect(1));
    return c;
}

}  // namespace

// --- learners ------------------------------------------------------------------------------

TEST_CASE("a learner never campaigns: not on timeout, hup or timeout_now", "[learner]") {
    // etcd's TestLearnerElectionTimeout and TestLearnerCampaign.
    auto n1 = learner_pair_node(1);
    auto n2 = learner_pair_node(2);
    REQUIRE(n2->is_learner());
    CHECK_FALSE(n2->promotable());
    n2->set_randomized_election_timeout(n2->cfg().election_tick);
    for (int i = 0; i < 3 * n2->cfg().election_tick; ++i) n2->tick();
    CHECK(n2->role() == role::follower);
    CHECK(n2->term() == 1);
    CHECK(read_messages(*n2).empty());

    network nt({n1, n2});
    nt.send(hup(2));
    CHECK(n2->role() == role::follower);
    nt.send(hup(1));
    REQUIRE(n1->role() == role::leader);
    // A leader never sends timeout_now to a learner, but one can arrive when the transferee
    // was demoted after the transfer began: it is ignored.
    nt.send(make_message(message_type::timeout_now, 1, 2, n1->term()));
    CHECK(n2->role() == role::follower);
    CHECK(n2->term() == n1->term());
    CHECK(n1->role() == role::leader);
    // And a leader refuses to transfer leadership to a learner in the first place.
    REQUIRE(n1->step(make_message(message_type::transfer_leader, 2, 1)));
    CHECK(n1->lead_transferee() == none);
    CHECK(read_messages(*n1).empty());
}

TEST_CASE("a learner promoted to voter campaigns and wins", "[learner]") {
    // etcd's TestLearnerPromotion.
    auto n1 = learner_pair_node(1);
    auto n2 = learner_pair_node(2);
    network nt({n1, n2});
    campaign_by_timeout(*n1, nt);
    REQUIRE(n1->role() == role::leader);
    REQUIRE(n2->role() == role::follower);

    const conf_change promote = v1(cct::add_node, 2);
    REQUIRE(n1->apply_conf_change(promote.as_v2()));
    REQUIRE(n2->apply_conf_change(promote.as_v2()));
    CHECK_FALSE(n2->is_learner());
    CHECK(n2->promotable());

    campaign_by_timeout(*n2, nt);
    CHECK(n1->role() == role::follower);
    CHECK(n2->role() == role::leader);
}

TEST_CASE("a learner grants votes: the candidate's configuration decides whether they count",
          "[learner]") {
    // etcd's TestLearnerCanVote: a learner may be a voter in the candidate's (newer)
    // configuration, which it has not applied yet; refusing would block that election.
    auto n2 = learner_pair_node(2);
    message v = make_message(message_type::vote, 1, 2, 2);
    v.log_term = 11;
    v.index = 11;
    REQUIRE(n2->step(v));
    auto msgs = read_messages(*n2);
    REQUIRE(msgs.size() == 1);
    CHECK(msgs[0].type == message_type::vote_resp);
    CHECK_FALSE(msgs[0].reject);
    CHECK(n2->vote() == 1);

    // Candidate 1 already runs with voters (1 2 3); node 3 still thinks it is a learner. With
    // node 2 silent, 3's vote is the one that elects 1.
    auto c1 = new_test_raft(1, 10, 1, new_test_storage({1, 2, 3}));
    auto l3 = new_test_raft(3, 10, 1, new_test_storage({1, 2}, {3}));
    network nt({c1, nop_stepper, l3});
    nt.send(hup(1));
    CHECK(c1->role() == role::leader);
    CHECK(l3->vote() == 1);
    CHECK(l3->is_learner());
}

TEST_CASE("learners receive the log but never count toward the commit quorum", "[learner]") {
    SECTION("etcd's TestLearnerLogReplication") {
        auto n1 = learner_pair_node(1);
        auto n2 = learner_pair_node(2);
        network nt({n1, n2});
        campaign_by_timeout(*n1, nt);
        REQUIRE(n1->role() == role::leader);
        const index_t next_commit = n1->log().committed() + 1;
        nt.send(propose_data(1, "somedata"));
        CHECK(n1->log().committed() == next_commit);
        CHECK(n2->log().committed() == n1->log().committed());
        CHECK(n1->tracker().progress(2)->match == n2->log().committed());
    }
    SECTION("a learner's ack commits nothing") {
        auto r = new_leader(new_test_storage({1, 2}, {3}));
        REQUIRE(r->step(propose_data(1, "x")));
        const index_t last = r->log().last_index();
        const auto msgs = read_messages(*r);
        CHECK(std::any_of(msgs.begin(), msgs.end(), [&](const message& m) {
            return m.type == message_type::app && m.to == 3 && !m.entries.empty() &&
                   m.entries.back().index == last;
        }));
        REQUIRE(r->step(ack(*r, 3, last)));
        CHECK(r->log().committed() == 0);
        CHECK(r->tracker().progress(3)->match == last);
        REQUIRE(r->step(ack(*r, 2, last)));
        CHECK(r->log().committed() == last);
    }
}

TEST_CASE("a snapshot's configuration keeps voters and learners apart", "[learner]") {
    // etcd's TestRestoreWithLearner, TestRestoreVoterToLearner, TestRestoreLearnerPromotion.
    struct {
        std::string_view name;
        ids voters, learners;
        conf_state snap;
        bool learner_after;
    } const tcs[] = {
        {"a learner stays a learner", {1, 2}, {3}, conf_of({1, 2}, {3}), true},
        {"a voter is demoted", {1, 2, 3}, {}, conf_of({1, 2}, {3}), true},
        {"a learner is promoted", {1, 2}, {3}, conf_of({1, 2, 3}), false},
    };
    for (const auto& tc : tcs) {
        CAPTURE(tc.name);
        auto r = new_test_raft(3, 8, 2, new_test_storage(tc.voters, tc.learners));
        REQUIRE(r->is_learner() == !tc.learners.empty());
        message m = make_message(message_type::snap, 1, 3, 11);
        m.snapshot = std::make_shared<const snapshot>(snapshot{{}, {tc.snap, 11, 11}});
        REQUIRE(r->step(m));

        CHECK(r->log().last_index() == 11);
        CHECK(r->log().term(11).value() == 11);
        CHECK(r->tracker().voter_nodes() == tc.snap.voters);
        CHECK(r->tracker().learner_nodes() == tc.snap.learners);
        for (node_id id : tc.snap.voters) CHECK_FALSE(r->tracker().progress(id)->is_learner);
        for (node_id id : tc.snap.learners) CHECK(r->tracker().progress(id)->is_learner);
        CHECK(r->is_learner() == tc.learner_after);
        CHECK(r->promotable() == !tc.learner_after);
        const auto msgs = read_messages(*r);
        REQUIRE(msgs.size() == 1);
        CHECK((msgs[0].type == message_type::app_resp && msgs[0].index == 11));
    }
}

// --- single-node conf changes --------------------------------------------------------------

TEST_CASE("simple conf changes add, promote, demote and remove members", "[conf_change][learner]") {
    auto r = new_test_raft(1, 10, 1, new_test_storage({1}));
    auto apply = [&](cct t, node_id id) { return r->apply_conf_change(v1(t, id).as_v2()); };

    SECTION("etcd's TestAddNode") {
        CHECK(apply(cct::add_node, 2).value() == conf_of({1, 2}));
        CHECK(r->tracker().voter_nodes() == ids{1, 2});
    }
    SECTION("etcd's TestAddLearner: add, promote, demote and promote again") {
        CHECK(apply(cct::add_learner_node, 2).value() == conf_of({1}, {2}));
        CHECK_FALSE(r->is_learner());
        CHECK(r->tracker().progress(2)->is_learner);
        REQUIRE(apply(cct::add_node, 2));
        CHECK_FALSE(r->tracker().progress(2)->is_learner);
        // A simple change may demote a voter, since it changes one voter only: our changer does
        // what etcd's does (confchange/testdata/simple_promote_demote.txt). Node 1 demotes itself.
        CHECK(apply(cct::add_learner_node, 1).value() == conf_of({2}, {1}));
        CHECK(r->tracker().progress(1)->is_learner);
        CHECK(r->is_learner());
        CHECK_FALSE(r->promotable());
        REQUIRE(apply(cct::add_node, 1));
        CHECK_FALSE(r->tracker().progress(1)->is_learner);
        CHECK_FALSE(r->is_learner());
    }
    SECTION("etcd's TestRemoveNode and TestRemoveLearner: the last voter stays") {
        REQUIRE(apply(cct::add_node, 2));
        REQUIRE(apply(cct::add_learner_node, 3));
        CHECK(apply(cct::remove_node, 2).value() == conf_of({1}, {3}));
        CHECK(apply(cct::remove_node, 3).value() == conf_of({1}));
        CHECK(r->tracker().progress(3) == nullptr);
        // etcd panics here; raftpp refuses with invalid_config and changes nothing.
        for (cct t : {cct::remove_node, cct::add_learner_node}) {
            auto refused = apply(t, 1);
            REQUIRE_FALSE(refused);
            CHECK(refused.error() == errc::invalid_config);
            CHECK(r->tracker().conf_state() == conf_of({1}));
            CHECK(r->promotable());
        }
    }
    SECTION("update_node, repeated changes and unknown nodes leave the configuration as is") {
        REQUIRE(apply(cct::add_node, 2));
        REQUIRE(apply(cct::add_learner_node, 3));
        const conf_state before = r->tracker().conf_state();
        for (auto [t, id] : {std::pair{cct::update_node, node_id{2}}, {cct::add_node, 2},
                             {cct::add_learner_node, 3}, {cct::remove_node, 9},
                             {cct::update_node, 9}}) {
            CAPTURE(static_cast<int>(t), id);
            CHECK(apply(t, id).value() == before);
        }
    }
}

TEST_CASE("only a voter of its own configuration is promotable", "[conf_change][learner]") {
    SECTION("etcd's TestPromotable, plus a learner") {
        struct {
            ids voters, learners;
            bool want;
        } const tcs[] = {{{1}, {}, true}, {{1, 2, 3}, {}, true}, {{}, {}, false},
                         {{2, 3}, {}, false}, {{2}, {1}, false}};
        for (const auto& tc : tcs) {
            CAPTURE(tc.voters, tc.learners);
            CHECK(new_test_raft(1, 5, 1, new_test_storage(tc.voters, tc.learners))->promotable() ==
                  tc.want);
        }
    }
    SECTION("etcd's TestCampaignWhileLeader: a leader that campaigns again stays leader") {
        const bool pre_vote = GENERATE(false, true);
        CAPTURE(pre_vote);
        config c = test_config(1, 5, 1);
        c.pre_vote = pre_vote;
        auto r = new_test_raft(c, new_test_storage({1}));
        for (int i = 0; i < 2; ++i) {
            REQUIRE(r->step(hup(1)));
            (void)read_messages(*r);
            CHECK(r->role() == role::leader);
            CHECK(r->term() == 1);
        }
    }
}

TEST_CASE("a leader takes one conf change at a time", "[conf_change]") {
    SECTION("etcd's TestStepConfig and TestStepIgnoreConfig") {
        // While a conf change is pending (appended, not yet applied), another one, v1 or v2,
        // is replaced by an empty normal entry.
        const bool second_v2 = GENERATE(false, true);
        CAPTURE(second_v2);
        auto r = new_test_raft(1, 10, 1, new_test_storage({1, 2}));
        r->become_candidate();
        r->become_leader();
        const index_t index = r->log().last_index();
        REQUIRE(r->step(propose_cc(1, v1(cct::add_node, 3))));
        CHECK(r->log().last_index() == index + 1);
        CHECK(r->pending_conf_index() == index + 1);
        REQUIRE(r->step(second_v2 ? propose_cc(1, v2({cc_add(4)}))
                                  : propose_cc(1, v1(cct::add_node, 4))));
        CHECK(r->log().entries(index + 2, no_limit).value() ==
              std::vector<entry>{{1, index + 2, entry_type::normal, {}}});
        CHECK(r->pending_conf_index() == index + 1);
    }
    SECTION("etcd's TestNewLeaderPendingConfig: a new leader's whole tail may hold one") {
        const bool add_entry = GENERATE(false, true);
        CAPTURE(add_entry);
        test_storage s = new_test_storage({1, 2});
        if (add_entry) s.append(entries_at(1, {1})).set_hard_state({1, none, 0});
        auto r = new_test_raft(1, 10, 1, std::move(s));
        r->become_candidate();
        r->become_leader();
        CHECK(r->pending_conf_index() == (add_entry ? 1u : 0u));
    }
}

TEST_CASE("with keep_voter_majority a leader refuses changes that keep a minority of voters",
          "[conf_change]") {
    // docs/reliability.md, bug 2: such a change can leave the cluster without a leader for
    // good. Off by default (etcd accepts them, see the next sections' defaults).
    struct tc {
        std::string_view name;
        ids voters;
        conf_change_v2 cc;
        bool kept;
    };
    const tc cases[] = {
        {"remove one of two voters", {1, 2}, v2({cc_remove(2)}), false},
        {"the leader demotes itself, one of two", {1, 2}, v2({{cct::add_learner_node, 1}}), false},
        {"replace two of three at once (joint)", {1, 2, 3},
         v2({cc_remove(2), cc_remove(3), cc_add(4), cc_add(5)}, transition::joint_explicit), false},
        {"remove one of three", {1, 2, 3}, v2({cc_remove(3)}), true},
        {"demote one of three", {1, 2, 3}, v2({{cct::add_learner_node, 2}}), true},
        {"add a voter to one", {1}, v2({cc_add(2)}), true},
        {"replace one of three (joint)", {1, 2, 3}, v2({cc_remove(3), cc_add(4)}), true},
    };
    const bool enabled = GENERATE(true, false);
    for (const auto& c : cases) {
        CAPTURE(c.name, enabled);
        config cfg = test_config(1, 10, 1);
        cfg.keep_voter_majority = enabled;
        auto r = new_test_raft(cfg, new_test_storage(c.voters));
        r->become_candidate();
        r->become_leader();
        const index_t index = r->log().last_index();
        REQUIRE(r->step(propose_cc(1, c.cc)));
        REQUIRE(r->log().last_index() == index + 1);
        const entry e = r->log().entries(index + 1, no_limit).value().at(0);
        if (c.kept || !enabled) {
            CHECK(e.type == entry_type::conf_change_v2);
            CHECK(r->pending_conf_index() == index + 1);
        } else {
            CHECK(e == entry{1, index + 1, entry_type::normal, {}});
            CHECK(r->pending_conf_index() < index + 1);
        }
    }
}

TEST_CASE("a conf change proposal with malformed data becomes an empty entry", "[conf_change]") {
    const entry_type t = GENERATE(entry_type::conf_change, entry_type::conf_change_v2);
    const std::string data = GENERATE(as<std::string>{}, "", "\xC1", "\xC2\x01", "not a change");
    CAPTURE(static_cast<int>(t), data);
    auto r = new_leader(new_test_storage({1}));
    REQUIRE(next_committed(*r).size() == 1);
    const index_t pending = r->pending_conf_index();

    REQUIRE(r->step(proposal(1, t, buffer(data))));
    auto ents = next_committed(*r);
    REQUIRE(ents.size() == 1);
    CHECK(ents[0] == entry{1, 2, entry_type::normal, {}});
    CHECK(r->pending_conf_index() == pending);
    CHECK(r->tracker().conf_state() == conf_of({1}));
    // A well-formed change is taken right after.
    REQUIRE(r->step(propose_cc(1, v1(cct::add_learner_node, 2))));
    CHECK(r->pending_conf_index() == 3);
    CHECK(r->log().entries(3, no_limit).value().at(0).type == entry_type::conf_change);
}

TEST_CASE("a node with a committed but unapplied conf change does not campaign", "[conf_change]") {
    // etcd's TestConfChangeCheckBeforeCampaign / TestConfChangeV2CheckBeforeCampaign.
    const bool use_v2 = GENERATE(false, true);
    CAPTURE(use_v2);
    network nt({nullptr, nullptr, nullptr});
    nt.send(hup(1));
    test_raft& n1 = nt.peer(1);
    test_raft& n2 = nt.peer(2);
    REQUIRE(n1.role() == role::leader);
    nt.send(use_v2 ? propose_cc(1, v2({cc_remove(3)})) : propose_cc(1, v1(cct::remove_node, 3)));
    REQUIRE(n2.log().committed() == n1.log().last_index());
    REQUIRE(n2.log().applied() < n2.log().committed());
    const term_t term = n1.term();

    nt.send(hup(2));
    CHECK(n2.role() == role::follower);
    CHECK(n2.term() == term);
    CHECK(n1.role() == role::leader);

    (void)next_committed(n2);  // applied (like etcd's nextEnts, without applying the change)
    nt.send(hup(2));
    CHECK(n2.role() == role::leader);
    CHECK(n1.role() == role::follower);
}

TEST_CASE("a node added under check_quorum counts as active until it could answer",
          "[conf_change]") {
    // etcd's TestAddNodeCheckQuorum.
    config c = test_config(1, 10, 1);
    c.check_quorum = true;
    auto r = new_test_raft(c, new_test_storage({1}));
    r->become_candidate();
    r->become_leader();
    for (int i = 0; i < c.election_tick - 1; ++i) r->tick();
    REQUIRE(r->apply_conf_change(v1(cct::add_node, 2).as_v2()));
    r->tick();  // the quorum check: 2 is new, so it counts as active
    CHECK(r->role() == role::leader);
    for (int i = 0; i < c.election_tick; ++i) r->tick();
    CHECK(r->role() == role::follower);
}

TEST_CASE("removing a node lowers the quorum, so pending entries commit", "[conf_change]") {
    // etcd's TestCommitAfterRemoveNode.
    auto r = new_test_raft(1, 5, 1, new_test_storage({1, 2}));
    r->become_candidate();
    r->become_leader();
    const conf_change cc = v1(cct::remove_node, 2);
    REQUIRE(r->step(propose_cc(1, cc)));
    CHECK(next_committed(*r).empty());
    const index_t cc_index = r->log().last_index();

    REQUIRE(r->step(propose_data(1, "hello")));
    REQUIRE(r->step(ack(*r, 2, cc_index)));
    auto ents = next_committed(*r);
    REQUIRE(ents.size() == 2);
    CHECK(ents[0] == entry{1, 1, entry_type::normal, {}});
    CHECK(ents[1].type == entry_type::conf_change);

    REQUIRE(r->apply_conf_change(cc.as_v2()));
    ents = next_committed(*r);
    REQUIRE(ents.size() == 1);
    CHECK(ents[0].data.str() == "hello");
}

TEST_CASE("a leader that applied its own removal stops counting itself and drops proposals",
          "[conf_change]") {
    // etcd's testdata/confchange_v1_remove_leader.txt. As in etcd main (without
    // StepDownOnRemoval) the removed leader does not step down by itself.
    auto r = new_leader(new_test_storage({1, 2, 3}));
    commit_noop_entry(*r);
    const conf_change cc = v1(cct::remove_node, 1);
    REQUIRE(r->step(propose_cc(1, cc)));       // 2
    REQUIRE(r->step(propose_data(1, "foo")));  // 3
    (void)read_messages(*r);
    REQUIRE(r->step(ack(*r, 2, 3)));
    REQUIRE(r->step(propose_data(1, "bar")));  // 4, persisted and self-acked below
    auto ents = next_committed(*r);
    REQUIRE(ents.size() == 2);
    CHECK(ents[0].type == entry_type::conf_change);
    CHECK(ents[1].data.str() == "foo");
    CHECK(r->apply_conf_change(cc.as_v2()).value() == conf_of({2, 3}));
    CHECK(r->role() == role::leader);

    // Voters are now (2 3): the leader's own copy of "bar" no longer counts.
    REQUIRE(r->step(ack(*r, 2, 4)));
    CHECK(r->log().committed() == 3);
    REQUIRE(r->step(ack(*r, 3, 4)));
    CHECK(r->log().committed() == 4);

    auto dropped = r->step(propose_data(1, "baz"));
    REQUIRE_FALSE(dropped);
    CHECK(dropped.error() == errc::proposal_dropped);
    CHECK_FALSE(r->promotable());
}

TEST_CASE("with step_down_on_removal a leader that applies its own removal or demotion "
          "becomes a follower", "[conf_change]") {
    for (const cct change : {cct::remove_node, cct::add_learner_node}) {
        CAPTURE(static_cast<int>(change));
        config cfg = test_config(1, 10, 1);
        cfg.step_down_on_removal = true;
        auto r = new_test_raft(cfg, new_test_storage({1, 2, 3}));
        r->become_candidate();
        r->become_leader();
        (void)read_messages(*r);
        commit_noop_entry(*r);
        const term_t term = r->term();
        const conf_change cc = v1(change, 1);
        REQUIRE(r->step(propose_cc(1, cc)));
        (void)read_messages(*r);
        REQUIRE(r->step(ack(*r, 2, r->log().last_index())));
        REQUIRE(next_committed(*r).size() == 1);
        CHECK(r->apply_conf_change(cc.as_v2()));
        CHECK(r->role() == role::follower);
        CHECK(r->lead() == none);
        CHECK(r->term() == term);  // stepping aside starts no election
        auto dropped = r->step(propose_data(1, "after"));
        CHECK_FALSE(dropped);
    }
}

TEST_CASE("with step_down_on_removal the others elect a new leader while the removed one "
          "still runs", "[conf_change][cluster]") {
    const auto seed = GENERATE(as<std::uint64_t>{}, 1, 2, 3);
    CAPTURE(seed);
    raftpp::testing::cluster_options o;
    o.voters = {1, 2, 3};
    o.seed = seed;
    o.base.step_down_on_removal = true;
    cluster<> c(std::move(o));
    REQUIRE(c.bootstrap());
    REQUIRE(c.elect(1));
    REQUIRE(c.propose(1, "before"));
    REQUIRE(c.node(1).propose_conf_change(v1(cct::remove_node, 1)));
    REQUIRE(c.step_until_quiet());
    CHECK(c.node(1).raft().role() == role::follower);
    // Node 1 is not stopped: it no longer heartbeats, so 2 and 3 time out and elect.
    node_id lead = none;
    REQUIRE(tick_until(c, [&] {
        lead = c.leader().value_or(none);
        return lead == 2 || lead == 3;
    }, 300));
    REQUIRE(c.propose(lead, "after"));
    CHECK(tick_until(c, [&] {
        return contains(c.applied_data(2), "after") && contains(c.applied_data(3), "after");
    }, 50));
    CHECK(c.violations().empty());
}

TEST_CASE("a removed leader drops proposals; once it is stopped the others elect a new one",
          "[conf_change][cluster]") {
    const auto seed = GENERATE(as<std::uint64_t>{}, 1, 2, 3);
    CAPTURE(seed);
    auto c = elected_cluster({1, 2, 3}, {}, seed);
    REQUIRE(c.propose(1, "before"));
    REQUIRE(c.node(1).propose_conf_change(v1(cct::remove_node, 1)));
    REQUIRE(c.step_until_quiet());
    for (node_id id : c.ids()) {
        CAPTURE(id);
        CHECK(c.conf(id) == conf_of({2, 3}));
        CHECK(contains(c.applied_data(id), "before"));
    }
    CHECK(c.node(1).raft().role() == role::leader);
    CHECK(c.node(1).raft().tracker().progress(1) == nullptr);
    auto dropped = c.propose(1, "dropped");
    REQUIRE_FALSE(dropped);
    CHECK(dropped.error() == errc::proposal_dropped);
    CHECK_FALSE(c.node(1).raft().promotable());

    // The application shuts the removed member down (etcd's server does once it applied its
    // removal); until then its heartbeats keep the others from timing out.
    c.crash(1);
    node_id lead = none;
    REQUIRE(tick_until(c, [&] {
        lead = c.leader().value_or(none);
        return lead == 2 || lead == 3;
    }, 300));
    CHECK(c.node(lead).raft().term() > 1);
    REQUIRE(c.propose(lead, "after"));
    CHECK(tick_until(c, [&] {
        return contains(c.applied_data(2), "after") && contains(c.applied_data(3), "after");
    }, 50));
    CHECK(c.violations().empty());
}

TEST_CASE("a leader that removed itself commits on the next ack, even one at or below commit",
          "[membership][commit]") {
    // Applying its own removal, a leader does not commit (as etcd), though the new quorum may
    // already allow it: the next append response that moves a voter must, as it does in etcd,
    // even when that voter's match stays at or below the commit index.
    auto r = new_test_raft(1, 10, 1, new_test_storage({1, 2, 3, 4}));
    r->become_candidate();
    r->become_leader();
    commit_noop_entry(*r);
    const term_t t = r->term();
    const index_t c0 = r->log().committed();
    auto ack = [&](node_id from, index_t idx) {
        message m = make_message(message_type::app_resp, from, 1, t);
        m.index = idx;
        return m;
    };
    // c0 + 1: the leader (its own ack delivered), 2 and 3 have it; 4 lags at c0.
    REQUIRE(r->step(propose_data(1, "a")));
    (void)read_messages(*r);
    REQUIRE(r->step(ack(2, c0 + 1)));
    REQUIRE(r->step(ack(3, c0 + 1)));
    (void)read_messages(*r);
    REQUIRE(r->log().committed() == c0 + 1);
    // c0 + 2: only 2 and 3 ack; the leader's own ack never arrives.
    REQUIRE(r->step(propose_data(1, "b")));
    r->messages().clear();
    r->messages_after_append().clear();
    REQUIRE(r->step(ack(2, c0 + 2)));
    REQUIRE(r->step(ack(3, c0 + 2)));
    REQUIRE(r->log().committed() == c0 + 1);  // 2 of 4
    REQUIRE(r->apply_conf_change(conf_change{conf_change_type::remove_node, 1, {}}.as_v2()));
    REQUIRE(r->role() == role::leader);
    CHECK(r->log().committed() == c0 + 1);  // {2, 3, 4} would allow c0 + 2 already
    REQUIRE(r->step(ack(4, c0 + 1)));      // the lagging voter catches up to the commit index
    CHECK(r->log().committed() == c0 + 2);
}
