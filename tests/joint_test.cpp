// Joint consensus (Raft thesis §4.3): conf_change_v2 entered with auto_leave or left
// explicitly, learners_next, and elections and commits that need a majority of both halves.
// Ported from etcd-io/raft main's rawnode_test.go and testdata/confchange_v2_*.txt; learners
// and single-node changes are in membership_test.cpp. Unit tests drive raft<> through
// raft_test_util.hpp, raw_node through its ready cycle; end-to-end scenarios run on the
// deterministic cluster harness with fixed seeds, CAPTUREd.
#include <catch2/catch.hpp>

#include "raft_test_util.hpp"

#include <raftpp/raw_node.hpp>
#include <raftpp/testing/cluster.hpp>

#include <algorithm>
#include <cstdint>
#include <optional>
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
conf_change_single cc_learner(node_id id) { return {cct::add_learner_node, id}; }
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

// `from` grants or rejects r's vote request at r's term.
message vote_resp(const test_raft& r, node_id from, bool granted) {
    message m = make_message(message_type::vote_resp, from, r.id(), r.term());
    m.reject = !granted;
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

// The joint configuration (1 4 5)&&(1 2 3), entered explicitly on a fresh node 1.
test_raft_ptr joint_node() {
    auto r = new_test_raft(1, 10, 1, new_test_storage({1, 2, 3}));
    auto cs = r->apply_conf_change(
        v2({cc_add(4), cc_add(5), cc_remove(2), cc_remove(3)}, transition::joint_explicit));
    REQUIRE(cs);
    REQUIRE(*cs == conf_of({1, 4, 5}, {}, {1, 2, 3}));
    return r;
}

// One ready cycle of a raw_node as an application runs it; returns the configuration that the
// last conf change it applied put in force, if any.
std::optional<conf_state> cycle(raw_node<memory_storage>& n) {
    auto& rd = n.ready();
    REQUIRE(n.persist(rd));
    std::optional<conf_state> cs;
    for (const auto& e : rd.committed_entries) {
        if (e.type == entry_type::normal) continue;
        auto applied = n.apply_conf_change(decode_conf_change_entry(e).value());
        REQUIRE(applied);
        cs = *applied;
    }
    n.advance();
    return cs;
}

// Bootstraps n as the only voter, 1, and elects it.
void start_single(raw_node<memory_storage>& n) {
    REQUIRE(n.bootstrap({peer{1, false, {}}}));
    while (n.has_ready()) cycle(n);
    REQUIRE(n.campaign());
    while (n.has_ready()) cycle(n);
    REQUIRE(n.raft().role() == role::leader);
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

TEST_CASE("raw_node proposes and applies conf changes, simple and joint", "[conf_change][joint]") {
    // etcd's TestRawNodeProposeAndConfChange: apply_conf_change returns the configuration now
    // in force; an auto-leaving joint change is followed by the empty change that leaves it.
    struct tc_t {
        std::string_view name;
        bool as_v1;  // propose cc.changes[0] as a v1 conf_change
        conf_change_v2 cc;
        conf_state exp;
        std::optional<conf_state> exp2;  // after leaving the joint configuration
    };
    const auto demote = [](transition t) {
        return v2({cc_add(2), cc_learner(1), cc_learner(3)}, t);
    };
    const tc_t tcs[] = {
        {"v1 add", true, v2({cc_add(2)}), conf_of({1, 2}), {}},
        {"v2 add is simple", false, v2({cc_add(2)}), conf_of({1, 2}), {}},
        {"v2 add learner is simple", false, v2({cc_learner(2)}), conf_of({1}, {2}), {}},
        {"explicit joint", false, v2({cc_learner(2)}, transition::joint_explicit),
         conf_of({1}, {2}, {1}), conf_of({1}, {2})},
        {"implicit joint", false, v2({cc_learner(2)}, transition::joint_implicit),
         conf_of({1}, {2}, {1}, {}, true), conf_of({1}, {2})},
        {"add 2, demote 1 (auto)", false, demote(transition::automatic),
         conf_of({2}, {3}, {1}, {1}, true), conf_of({2}, {1, 3})},
        {"add 2, demote 1 (explicit)", false, demote(transition::joint_explicit),
         conf_of({2}, {3}, {1}, {1}), conf_of({2}, {1, 3})},
        {"add 2, demote 1 (implicit)", false, demote(transition::joint_implicit),
         conf_of({2}, {3}, {1}, {1}, true), conf_of({2}, {1, 3})},
    };
    for (const auto& tc : tcs) {
        CAPTURE(tc.name);
        memory_storage s;
        raw_node<memory_storage> n(test_config(1, 10, 1), s);
        start_single(n);
        REQUIRE(n.propose(buffer("somedata")));
        const conf_change cc1{tc.cc.changes[0].type, tc.cc.changes[0].node, {}};
        REQUIRE((tc.as_v1 ? n.propose_conf_change(cc1) : n.propose_conf_change(tc.cc)));
        std::optional<conf_state> cs;
        for (int i = 0; i < 10 && !cs; ++i) cs = cycle(n);
        REQUIRE(cs);

        // The last two entries in storage are the command and the conf change, bit for bit.
        const auto& log = s.raw_entries();
        REQUIRE(log.size() >= 3);
        CHECK(log[log.size() - 2].data.str() == "somedata");
        CHECK(log.back().type == (tc.as_v1 ? entry_type::conf_change : entry_type::conf_change_v2));
        CHECK(log.back().data == (tc.as_v1 ? encode(cc1) : encode(tc.cc)));
        CHECK(*cs == tc.exp);
        // An auto-leaving change has already appended (not yet persisted) the leave entry.
        CHECK(n.raft().pending_conf_index() == log.back().index + (tc.exp.auto_leave ? 1 : 0));

        ready* rd = &n.ready();
        conf_change_v2 want_leave;
        if (!tc.exp.auto_leave) {
            CHECK(rd->entries.empty());
            REQUIRE(n.persist(*rd));
            n.advance();
            if (!tc.exp2) continue;
            CHECK(n.raft().tracker().is_joint());  // explicit: nothing leaves by itself
            want_leave.context = buffer("manual");
            REQUIRE(n.propose_conf_change(want_leave));
            rd = &n.ready();
        }
        REQUIRE(rd->entries.size() == 1);
        CHECK(rd->entries[0].type == entry_type::conf_change_v2);
        const auto leave = decode_conf_change_v2(rd->entries[0].data);
        REQUIRE(leave);
        CHECK(*leave == want_leave);
        // Pretend it committed (it cannot while voter 2 stays silent), as etcd's test does.
        CHECK(n.apply_conf_change(*leave).value() == *tc.exp2);
        REQUIRE(n.persist(*rd));
        n.advance();
    }
}

TEST_CASE("the automatic leave is not refused by max_uncommitted_entries_size",
          "[joint]") {
    // The leave entry carries an encoded conf_change_v2 (etcd's has no payload, so etcd never
    // refuses it). Refused when the enter entry is applied, it is retried only on a later apply,
    // and nothing else is left to apply: the group stays joint.
    config cfg = test_config(1, 10, 1);
    cfg.max_uncommitted_entries_size = 10;  // less than one encoded conf change
    memory_storage s;
    raw_node<memory_storage> n(cfg, s);
    start_single(n);
    REQUIRE(n.propose_conf_change(v2({cc_learner(2)}, transition::joint_implicit)));
    for (int i = 0; i < 10 && n.has_ready(); ++i) cycle(n);
    CHECK(n.raft().tracker().conf_state() == conf_of({1}, {2}));
}

TEST_CASE("while joint, the only conf change a leader takes is the one that leaves", "[joint]") {
    // etcd's testdata/confchange_v2_add_single_explicit.txt, on a single voter that commits
    // alone in both halves.
    auto r = new_leader(new_test_storage({1}));
    REQUIRE(next_committed(*r).size() == 1);
    // Proposes, commits and applies m; returns the entry it became.
    auto run = [&](message m) {
        REQUIRE(r->step(std::move(m)));
        auto ents = next_committed(*r);
        REQUIRE(ents.size() == 1);
        if (ents[0].type != entry_type::normal)
            REQUIRE(r->apply_conf_change(decode_conf_change_entry(ents[0]).value()));
        return ents[0];
    };
    const conf_state joint = conf_of({1}, {2}, {1});
    CHECK(run(propose_cc(1, v2({cc_learner(2)}, transition::joint_explicit))).type ==
          entry_type::conf_change_v2);
    REQUIRE(r->tracker().conf_state() == joint);

    const message refused[] = {
        propose_cc(1, v2({cc_add(3)})),
        propose_cc(1, v2({cc_add(3), cc_learner(4)}, transition::joint_implicit)),
        propose_cc(1, v2({}, transition::joint_explicit)),  // empty, but not a leave
        propose_cc(1, v1(cct::remove_node, 2)),
    };
    for (const message& m : refused) {
        const index_t pending = r->pending_conf_index();
        const entry e = run(m);
        CHECK(e == entry{1, e.index, entry_type::normal, {}});
        CHECK(r->pending_conf_index() == pending);
        CHECK(r->tracker().conf_state() == joint);
    }

    conf_change_v2 leave;
    leave.context = buffer("any context");
    CHECK(run(propose_cc(1, leave)).type == entry_type::conf_change_v2);
    CHECK(r->tracker().conf_state() == conf_of({1}, {2}));
    // Out of the joint configuration, an empty change is refused in turn.
    const entry again = run(propose_cc(1, conf_change_v2{}));
    CHECK(again == entry{1, again.index, entry_type::normal, {}});
}

TEST_CASE("in a joint configuration a candidate needs a majority of both halves", "[joint]") {
    struct {
        std::string_view name;
        ids granted, rejected;
        role want;
    } const tcs[] = {
        {"incoming majority only", {4, 5}, {2, 3}, role::follower},
        {"outgoing majority only", {2, 3}, {4, 5}, role::follower},
        {"incoming majority, outgoing undecided", {4, 5}, {}, role::candidate},
        {"outgoing majority, incoming undecided", {2}, {}, role::candidate},
        {"majorities of both", {2, 4}, {3, 5}, role::leader},
    };
    for (const auto& tc : tcs) {
        CAPTURE(tc.name);
        auto r = joint_node();
        REQUIRE(r->step(hup(1)));
        ids asked;
        for (const auto& m : read_messages(*r))
            if (m.type == message_type::vote) asked.push_back(m.to);
        CHECK(asked == ids{2, 3, 4, 5});
        for (node_id id : tc.granted) REQUIRE(r->step(vote_resp(*r, id, true)));
        for (node_id id : tc.rejected) REQUIRE(r->step(vote_resp(*r, id, false)));
        CHECK(r->role() == tc.want);
    }
}

TEST_CASE("in a joint configuration an entry commits only with a majority of both halves",
          "[joint]") {
    struct {
        std::string_view name;
        ids acks;
        bool committed;
    } const tcs[] = {
        {"incoming majority only", {4}, false},      {"outgoing majority only", {2}, false},
        {"the whole outgoing half", {2, 3}, false},  {"majorities of both", {2, 4}, true},
        {"other majorities of both", {3, 5}, true},
    };
    for (const auto& tc : tcs) {
        CAPTURE(tc.name);
        auto r = joint_node();
        r->become_candidate();
        r->become_leader();
        (void)read_messages(*r);
        const index_t last = r->log().last_index();
        for (node_id id : tc.acks) REQUIRE(r->step(ack(*r, id, last)));
        CHECK((r->log().committed() == last) == tc.committed);
    }
}

TEST_CASE("a voter is demoted through the joint configuration (learners_next)",
          "[joint][learner]") {
    // (1 2 3) -> (1 2 4)&&(1 2 3) learners_next=(3) -> (1 2 4) learners=(3)
    auto r = new_leader(new_test_storage({1, 2, 3}));
    const auto demote = v2({cc_learner(3), cc_add(4)}, transition::joint_explicit);
    CHECK(r->apply_conf_change(demote).value() == conf_of({1, 2, 4}, {}, {1, 2, 3}, {3}));
    // Voters and learners stay disjoint: 3 is a voter of the outgoing half until the leave.
    CHECK_FALSE(r->tracker().progress(3)->is_learner);

    REQUIRE(r->step(propose_data(1, "x")));
    (void)read_messages(*r);
    const index_t x = r->log().last_index();
    REQUIRE(r->step(ack(*r, 3, x)));  // outgoing (1 3) has its majority, incoming (1) not yet
    CHECK(r->log().committed() < x);
    REQUIRE(r->step(ack(*r, 4, x)));
    CHECK(r->log().committed() == x);

    CHECK(r->apply_conf_change(conf_change_v2{}).value() == conf_of({1, 2, 4}, {3}));
    CHECK(r->tracker().progress(3)->is_learner);
    CHECK(r->tracker().progress(3)->match == x);  // its progress is kept

    REQUIRE(r->step(propose_data(1, "y")));
    (void)read_messages(*r);
    const index_t y = r->log().last_index();
    REQUIRE(r->step(ack(*r, 3, y)));  // a learner now: commits nothing
    CHECK(r->log().committed() == x);
    REQUIRE(r->step(ack(*r, 2, y)));
    CHECK(r->log().committed() == y);
}

TEST_CASE("with auto_leave the leader appends the leave entry once it applied the enter entry",
          "[joint][cluster]") {
    // etcd's testdata/confchange_v2_add_double_auto.txt, replacing two voters at once.
    const auto seed = GENERATE(as<std::uint64_t>{}, 1, 2, 3);
    CAPTURE(seed);
    auto c = elected_cluster({1, 2, 3}, {4, 5}, seed);
    const conf_change_v2 enter = v2({cc_add(4), cc_add(5), cc_remove(2), cc_remove(3)});
    REQUIRE(c.node(1).propose_conf_change(enter));
    REQUIRE(c.step_until_quiet());

    // The leader's log ends with the enter entry and, right after it, the empty leave entry.
    const auto log = c.node(1).raft().log().all_entries();
    REQUIRE(log.size() >= 2);
    const entry& e_enter = log[log.size() - 2];
    const entry& e_leave = log.back();
    CHECK(e_enter.type == entry_type::conf_change_v2);
    CHECK(decode_conf_change_v2(e_enter.data).value() == enter);
    CHECK(e_leave.type == entry_type::conf_change_v2);
    CHECK(e_leave.index == e_enter.index + 1);
    CHECK(decode_conf_change_v2(e_leave.data).value() == conf_change_v2{});
    for (node_id id : {1, 4, 5}) {
        CAPTURE(id);
        CHECK(c.conf(id) == conf_of({1, 4, 5}));
        CHECK(c.node(id).raft().log().applied() == e_leave.index);
    }
    // The removed nodes applied the joint configuration at least.
    for (node_id id : {2, 3}) CHECK(c.conf(id).voters == ids{1, 4, 5});

    // The new configuration commits without the removed nodes.
    c.crash(2);
    c.crash(3);
    REQUIRE(c.propose(1, "after"));
    REQUIRE(c.step_until_quiet());
    for (node_id id : {1, 4, 5}) CHECK(contains(c.applied_data(id), "after"));
    CHECK(c.violations().empty());
}

TEST_CASE("a new leader leaves the auto_leave joint configuration its predecessor entered",
          "[joint][cluster]") {
    const auto seed = GENERATE(as<std::uint64_t>{}, 1, 2, 3);
    CAPTURE(seed);
    auto c = elected_cluster({1, 2, 3}, {4}, seed);
    // Node 1's appends of the leave entry are lost, then node 1 crashes.
    c.net().set_filter([](const message& m) {
        return !(m.type == message_type::app &&
                 std::any_of(m.entries.begin(), m.entries.end(), [](const entry& e) {
                     return e.type == entry_type::conf_change_v2 &&
                            decode_conf_change_v2(e.data).value().leave_joint();
                 }));
    });
    REQUIRE(c.node(1).propose_conf_change(v2({cc_remove(3), cc_add(4)})));
    REQUIRE(c.step_until_quiet());
    for (node_id id : c.ids()) CHECK(c.conf(id) == conf_of({1, 2, 4}, {}, {1, 2, 3}, {}, true));
    c.crash(1);
    c.net().set_filter({});
    // Node 3 may win too: it votes in the outgoing half until the configuration is left.
    REQUIRE(tick_until(c, [&] {
        const auto lead = c.leader();
        return lead && !c.node(*lead).raft().tracker().is_joint();
    }, 500));
    c.restart(1);
    CHECK(tick_until(c, [&] { return c.conf(1) == conf_of({1, 2, 4}); }, 100));
    for (node_id id : {2, 4}) CHECK(c.conf(id) == conf_of({1, 2, 4}));
    CHECK(c.violations().empty());
}

TEST_CASE("replacing the leader through an explicit joint configuration", "[joint][cluster]") {
    // etcd's testdata/confchange_v2_replace_leader.txt: (1 2 3) -> (2 3 4)&&(1 2 3), leadership
    // moves to 4 while joint, 4 leaves the joint configuration, 1 can no longer campaign.
    const auto seed = GENERATE(as<std::uint64_t>{}, 1, 2, 3);
    CAPTURE(seed);
    auto c = elected_cluster({1, 2, 3}, {4}, seed);
    const term_t term = c.node(1).raft().term();
    const auto replace = v2({cc_remove(1), cc_add(4)}, transition::joint_explicit);
    REQUIRE(c.node(1).propose_conf_change(replace));
    REQUIRE(c.step_until_quiet());
    const conf_state joint = conf_of({2, 3, 4}, {}, {1, 2, 3});
    for (node_id id : c.ids()) CHECK(c.conf(id) == joint);

    // Explicit: the configuration stays joint however long we wait.
    c.run_ticks(20);
    REQUIRE(c.leader() == 1);
    for (node_id id : c.ids()) CHECK(c.node(id).raft().tracker().conf_state() == joint);

    c.node(1).transfer_leader(4);
    REQUIRE(c.step_until_quiet());
    REQUIRE(c.leader() == 4);
    CHECK(c.node(4).raft().term() == term + 1);

    REQUIRE(c.node(4).propose_conf_change(conf_change_v2{}));
    REQUIRE(c.step_until_quiet());
    for (node_id id : c.ids()) {
        CAPTURE(id);
        CHECK(c.conf(id) == conf_of({2, 3, 4}));
    }
    CHECK_FALSE(c.node(1).raft().promotable());
    c.run_ticks(50);
    CHECK(c.leader() == 4);
    CHECK(c.node(1).raft().role() == role::follower);
    CHECK(c.node(1).raft().term() == term + 1);
    CHECK(c.violations().empty());
}
