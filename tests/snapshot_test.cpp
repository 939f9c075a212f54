// Snapshots (Raft §7): the leader's side (when it sends one, snapshot state, report_snapshot),
// the follower's side (restore, or fast-forward when its log already has the snapshot's last
// entry), and the application's side through the raw_node ready cycle (create_snapshot +
// compact on the leader, ready.snapshot persisted and "applied" on a lagging follower).
// Ported from etcd raft_snap_test.go and the snapshot tests of raft_test.go; plus the traps:
// a snapshot that conflicts with the follower's log replaces all of it (hashicorp/raft#697),
// a follower that lost its disk must not crash on a heartbeat (etcd-io/raft#197), and a snap
// message without a snapshot is refused as malformed.
#include <catch2/catch.hpp>

#include "raft_test_util.hpp"

#include <raftpp/raw_node.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

using namespace raftpp;
using namespace raftpp::test;

namespace {

snapshot make_snap(index_t index, term_t term, std::vector<node_id> voters,
                   std::vector<node_id> learners = {}) {
    snapshot s;
    s.metadata.index = index;
    s.metadata.term = term;
    s.metadata.conf_state.voters = std::move(voters);
    s.metadata.conf_state.learners = std::move(learners);
    return s;
}

// etcd's testingSnap.
snapshot testing_snap() { return make_snap(11, 11, {1, 2}); }

message snap_msg(node_id from, node_id to, term_t term, std::shared_ptr<const snapshot> s) {
    message m = make_message(message_type::snap, from, to, term);
    m.snapshot = std::move(s);
    return m;
}

message prop(node_id id, std::string_view data = "somedata") {
    message m = make_message(message_type::prop, id, id);
    m.entries.push_back({0, 0, entry_type::normal, buffer(data)});
    return m;
}

// etcd's `sm.restore(s)`, which is private here: the snapshot arrives in a snap message from
// `from` at the snapshot's term (or ours, if higher). True if it replaced the log, i.e. it is
// now the pending (unstable) snapshot.
bool restore(test_raft& r, const snapshot& s, node_id from = 2) {
    const term_t term = std::max(r.term(), s.metadata.term);
    REQUIRE(r.step(snap_msg(from, r.id(), term, std::make_shared<const snapshot>(s))));
    const auto& pending = r.log().unstable().snapshot;
    return pending.has_value() && pending->metadata.index == s.metadata.index;
}

// etcd's prologue: newTestRaft(peers), becomeFollower(11), restore(testingSnap),
// becomeCandidate, becomeLeader. The snapshot is persisted, so storage holds it.
test_raft_ptr leader_after_snapshot(std::vector<node_id> peers) {
    auto r = new_test_raft(1, 10, 1, new_test_storage(std::move(peers)));
    REQUIRE(restore(*r, testing_snap()));
    (void)read_messages(*r);  // persists the snapshot; drops the ack to 2
    r->become_candidate();
    r->become_leader();
    return r;
}

// append(), not operator+: g++ 12 -O3 misreports -Wrestrict on `const char* + string`.
buffer payload(std::string prefix, int i) {
    prefix.append(std::to_string(i));
    return buffer(prefix);
}

detail::progress& pr_of(test_raft& r, node_id id) {
    auto* pr = r.tracker().progress(id);
    REQUIRE(pr != nullptr);
    return *pr;
}

message reject_append(test_raft& r, node_id from, index_t index) {
    message m = make_message(message_type::app_resp, from, r.id(), r.term());
    m.index = index;
    m.reject = true;
    return m;
}

// Delivers msgs among `nodes`, and everything they cause, until quiet. False if more than
// `limit` messages went round (a livelock); a real cluster would spin there forever.
bool route(std::map<node_id, test_raft*>& nodes, std::vector<message> msgs,
           std::size_t limit = 20000) {
    for (std::size_t n = 0; !msgs.empty(); ++n) {
        if (n == limit) return false;
        message m = std::move(msgs.front());
        msgs.erase(msgs.begin());
        test_raft& to = *nodes.at(m.to);
        (void)to.step(std::move(m));
        for (auto& out : read_messages(to)) msgs.push_back(std::move(out));
    }
    return true;
}

}  // namespace

// ---- the leader ---------------------------------------------------------------------------

TEST_CASE("a follower that needs compacted entries is sent a snapshot and marked pending",
          "[snapshot][leader]") {
    // TestSendingSnapshotSetPendingSnapshot + TestProvideSnap.
    auto sm = leader_after_snapshot({1});
    (void)read_messages(*sm);
    auto& pr = pr_of(*sm, 2);
    pr.next = sm->log().first_index();  // node 2 needs index 11's predecessor: compacted

    REQUIRE(sm->step(reject_append(*sm, 2, pr.next - 1)));

    CHECK(pr.state == detail::progress_state::snapshot);
    CHECK(pr.pending_snapshot == 11);
    auto msgs = read_messages(*sm);
    REQUIRE(msgs.size() == 1);
    CHECK(msgs[0].type == message_type::snap);
    CHECK(msgs[0].to == 2);
    REQUIRE(msgs[0].snapshot);
    CHECK(msgs[0].snapshot->metadata == testing_snap().metadata);
}

TEST_CASE("no snapshot is sent to a follower that is not recently active", "[snapshot][leader]") {
    // TestIgnoreProvidingSnap.
    auto sm = leader_after_snapshot({1});
    (void)read_messages(*sm);
    auto& pr = pr_of(*sm, 2);
    pr.next = sm->log().first_index() - 1;
    pr.recent_active = false;

    REQUIRE(sm->step(prop(1)));

    CHECK(read_messages(*sm).empty());
    CHECK(pr.state == detail::progress_state::probe);
    CHECK(pr.pending_snapshot == 0);
}

TEST_CASE("a pending snapshot pauses replication to that follower", "[snapshot][leader]") {
    // TestPendingSnapshotPauseReplication.
    auto sm = leader_after_snapshot({1, 2});
    pr_of(*sm, 2).become_snapshot(11);
    REQUIRE(sm->step(prop(1)));
    CHECK(read_messages(*sm).empty());
}

TEST_CASE("report_snapshot moves the follower to probe, waiting for a heartbeat response",
          "[snapshot][leader]") {
    // TestSnapshotFailure / TestSnapshotSucceed.
    struct tc {
        std::string_view name;
        bool reject;
        index_t want_next;
    };
    const tc cases[] = {{"failure forgets the snapshot: probe from match", true, 1},
                        {"success probes past the snapshot", false, 12}};
    for (const auto& c : cases) {
        CAPTURE(c.name);
        auto sm = leader_after_snapshot({1, 2});
        auto& pr = pr_of(*sm, 2);
        pr.next = 1;
        pr.become_snapshot(11);

        message st = make_message(message_type::snap_status, 2, 1);
        st.reject = c.reject;
        REQUIRE(sm->step(st));

        CHECK(pr.state == detail::progress_state::probe);
        CHECK(pr.pending_snapshot == 0);
        CHECK(pr.next == c.want_next);
        CHECK(pr.probe_sent);
    }
}

TEST_CASE("an append response at or past the pending snapshot ends snapshot state",
          "[snapshot][leader]") {
    SECTION("TestSnapshotAbort: the ack of index 11 resumes replication at once") {
        auto sm = leader_after_snapshot({1, 2});
        auto& pr = pr_of(*sm, 2);
        pr.next = 1;
        pr.become_snapshot(11);

        message ack = make_message(message_type::app_resp, 2, 1, sm->term());
        ack.index = 11;
        REQUIRE(sm->step(ack));

        CHECK(pr.pending_snapshot == 0);
        CHECK(pr.state == detail::progress_state::replicate);
        // The empty entry at 12 went out optimistically.
        CHECK(pr.next == 13);
        CHECK(pr.inflights.count() == 1);
    }
    SECTION("snapshot_succeed_via_app_resp_behind: an older snapshot the follower applied") {
        // The leader asked for a snapshot at 13 (its last index); the follower applied an
        // older one at 12. The leader's log covers 13, so replication resumes from there.
        auto sm = leader_after_snapshot({1, 2});
        REQUIRE(sm->step(prop(1, "foo")));
        (void)read_messages(*sm);
        auto& pr = pr_of(*sm, 2);
        pr.become_snapshot(13);

        message ack = make_message(message_type::app_resp, 2, 1, sm->term());
        ack.index = 12;
        REQUIRE(sm->step(ack));

        CHECK(pr.state == detail::progress_state::replicate);
        CHECK(pr.match == 12);
        CHECK(pr.next == 14);
        CHECK(pr.inflights.count() == 1);
        auto msgs = read_messages(*sm);
        REQUIRE(msgs.size() == 1);
        CHECK(msgs[0].type == message_type::app);
        CHECK(msgs[0].index == 12);
        REQUIRE(msgs[0].entries.size() == 1);
        CHECK(msgs[0].entries[0].data.view() == "foo");
    }
}

// ---- the follower -------------------------------------------------------------------------

TEST_CASE("restore replaces the log and the configuration, once", "[snapshot][restore]") {
    // TestRestore.
    const snapshot s = make_snap(11, 11, {1, 2, 3});
    auto sm = new_test_raft(1, 10, 1, new_test_storage({1, 2}));
    REQUIRE(restore(*sm, s));

    CHECK(sm->log().last_index() == 11);
    CHECK(sm->log().term(11).value() == 11);
    CHECK(sm->log().committed() == 11);
    CHECK(sm->tracker().voter_nodes() == std::vector<node_id>{1, 2, 3});
    auto msgs = read_messages(*sm);
    REQUIRE(msgs.size() == 1);
    CHECK(msgs[0].type == message_type::app_resp);
    CHECK(msgs[0].index == 11);
    CHECK_FALSE(msgs[0].reject);
    CHECK(sm->log().storage().snapshot().value().metadata == s.metadata);

    CHECK_FALSE(restore(*sm, s));
}

TEST_CASE("restore brings voters and learners from the snapshot", "[snapshot][restore]") {
    // TestRestoreWithLearner.
    const snapshot s = make_snap(11, 11, {1, 2}, {3});
    auto sm = new_test_raft(3, 8, 2, new_test_storage({1, 2}, {3}));
    REQUIRE(restore(*sm, s));

    CHECK(sm->log().last_index() == 11);
    CHECK(sm->log().term(11).value() == 11);
    CHECK(sm->tracker().voter_nodes() == std::vector<node_id>{1, 2});
    CHECK(sm->tracker().learner_nodes() == std::vector<node_id>{3});
    for (node_id v : {1, 2}) CHECK_FALSE(pr_of(*sm, v).is_learner);
    CHECK(pr_of(*sm, 3).is_learner);
    CHECK(sm->is_learner());
    (void)read_messages(*sm);
    CHECK_FALSE(restore(*sm, s));
}

TEST_CASE("a snapshot the log already holds only fast-forwards the commit index",
          "[snapshot][restore]") {
    // TestRestoreIgnoreSnapshot.
    auto storage = new_test_storage({1, 2}).append(entries_at(1, {1, 1, 1}));
    storage.set_hard_state({1, none, 1});
    auto sm = new_test_raft(1, 10, 1, std::move(storage));
    REQUIRE(sm->log().committed() == 1);

    CHECK_FALSE(restore(*sm, make_snap(1, 1, {1, 2})));
    CHECK(sm->log().committed() == 1);

    CHECK_FALSE(restore(*sm, make_snap(2, 1, {1, 2})));
    CHECK(sm->log().committed() == 2);
    CHECK(sm->log().last_index() == 3);  // the entries after it stay
}

TEST_CASE("a snap message makes its sender the leader", "[snapshot][restore]") {
    // TestRestoreFromSnapMsg (at the snapshot's term: a snapshot from a later term than its
    // message is malformed here).
    auto sm = new_test_raft(2, 10, 1, new_test_storage({1, 2}));
    REQUIRE(restore(*sm, testing_snap(), 1));
    CHECK(sm->lead() == 1);
    CHECK(sm->term() == 11);
    CHECK(sm->role() == role::follower);
}

TEST_CASE("a learner restored from a snapshot that lists it as a voter is promoted",
          "[snapshot][restore]") {
    // TestRestoreLearnerPromotion.
    auto sm = new_test_raft(3, 10, 1, new_test_storage({1, 2}, {3}));
    REQUIRE(sm->is_learner());
    REQUIRE(restore(*sm, make_snap(11, 11, {1, 2, 3})));
    CHECK_FALSE(sm->is_learner());
    CHECK(sm->promotable());
}

TEST_CASE("a learner catches up from the leader's snapshot", "[snapshot][restore]") {
    // TestLearnerReceiveSnapshot: n1 starts from storage holding the snapshot.
    test_storage st1 = new_test_storage({1}, {2});
    REQUIRE(st1.storage.apply_snapshot(make_snap(11, 11, {1}, {2})));
    st1.set_hard_state({11, none, 11});
    auto n1 = new_test_raft(1, 10, 1, std::move(st1));
    auto n2 = new_test_raft(2, 10, 1, new_test_storage({1}, {2}));
    network nt({n1, n2});

    n1->set_randomized_election_timeout(n1->cfg().election_tick);
    for (int i = 0; i < n1->cfg().election_tick; ++i) n1->tick();
    nt.send(make_message(message_type::beat, 1, 1));

    REQUIRE(n1->role() == role::leader);
    CHECK(n2->log().committed() == n1->log().committed());
    CHECK(n2->log().storage().snapshot().value().metadata.index == 11);
}

// hashicorp/raft#697: the follower's entry at the snapshot's index has another term, so
// nothing of its log is known to match: all of it goes, uncommitted suffix included.
TEST_CASE("a snapshot that conflicts with the follower's log replaces all of it",
          "[snapshot][restore][trap]") {
    struct tc {
        std::string_view name;
        std::vector<entry> log;  // the follower's log, committed up to 2
        index_t snap_index;
        term_t snap_term;
        bool replaced;
        index_t want_last;
        term_t want_last_term;
    };
    const tc cases[] = {
        {"conflict at the snapshot index, longer conflicting tail",
         entries_at(1, {1, 1, 2, 2, 2, 2}), 4, 3, true, 4, 3},
        {"conflict, tail ends exactly at the snapshot index", entries_at(1, {1, 1, 2, 2}), 4, 3,
         true, 4, 3},
        {"the log is shorter than the snapshot", entries_at(1, {1, 1, 2}), 6, 3, true, 6, 3},
        {"the log holds the snapshot's last entry: keep it, fast-forward commit",
         entries_at(1, {1, 1, 2, 2, 2}), 4, 2, false, 5, 2},
    };
    for (const auto& c : cases) {
        CAPTURE(c.name);
        auto st = new_test_storage({1, 2, 3}).append(c.log);
        st.set_hard_state({2, none, 2});
        auto f = new_test_raft(2, 10, 1, std::move(st));

        CHECK(restore(*f, make_snap(c.snap_index, c.snap_term, {1, 2, 3}), 1) == c.replaced);
        CHECK(f->log().last_index() == c.want_last);
        CHECK(f->log().last_term() == c.want_last_term);
        CHECK(f->log().committed() == c.snap_index);
        CHECK(f->log().unstable_entries().empty());

        auto msgs = read_messages(*f);  // persists the snapshot
        REQUIRE(msgs.size() == 1);
        CHECK(msgs[0].type == message_type::app_resp);
        CHECK_FALSE(msgs[0].reject);
        CHECK(msgs[0].index == c.snap_index);
        if (c.replaced) {
            // Storage holds just the snapshot point: nothing of the old log survived.
            const auto& raw = f->log().storage().raw_entries();
            REQUIRE(raw.size() == 1);
            CHECK(raw[0].index == c.snap_index);
            CHECK(raw[0].term == c.snap_term);
            CHECK(f->log().all_entries().empty());
        }

        // The leader's next append (after the snapshot) is accepted and lands on top of it.
        message app = make_message(message_type::app, 1, 2, 3);
        app.index = c.snap_index;
        app.log_term = c.snap_term;
        app.entries = {entry{3, c.snap_index + 1, entry_type::normal, buffer("x")}};
        app.commit = c.snap_index + 1;
        REQUIRE(f->step(app));
        msgs = read_messages(*f);
        REQUIRE(msgs.size() == 1);
        CHECK_FALSE(msgs[0].reject);
        CHECK(msgs[0].index == c.snap_index + 1);
        CHECK(f->log().last_index() == c.snap_index + 1);
        CHECK(f->log().term(c.snap_index + 1).value() == 3);
        CHECK(f->log().committed() == c.snap_index + 1);
    }
}

TEST_CASE("a malformed snap message is refused before anything changes",
          "[snapshot][restore][trap]") {
    struct tc {
        std::string_view name;
        std::shared_ptr<const snapshot> snap;
        term_t msg_term;
    };
    const tc cases[] = {
        {"no snapshot", nullptr, 5},
        {"an empty snapshot (index 0)", std::make_shared<const snapshot>(), 5},
        {"a snapshot from a later term than the message",
         std::make_shared<const snapshot>(make_snap(11, 11, {1, 2})), 5},
        // Fuzz findings 6 and 7: restored that high, the next append's index would wrap.
        {"a snapshot at the largest index",
         std::make_shared<const snapshot>(make_snap(~index_t{0}, 5, {1, 2})), 5},
        {"a snapshot a few positions below the largest index",
         std::make_shared<const snapshot>(make_snap(~index_t{0} - 2, 5, {1, 2})), 5},
        {"a snapshot past 2^63 - 1",
         std::make_shared<const snapshot>(make_snap((index_t{1} << 63), 5, {1, 2})), 5},
    };
    for (const auto& c : cases) {
        CAPTURE(c.name);
        auto f = new_test_raft(2, 10, 1, new_test_storage({1, 2}));
        f->become_follower(3, none);

        auto r = f->step(snap_msg(1, 2, c.msg_term, c.snap));
        REQUIRE_FALSE(r);
        CHECK(r.error() == errc::malformed_message);
        CHECK(f->term() == 3);  // refused before the term checks
        CHECK(f->lead() == none);
        CHECK(f->log().last_index() == 0);
        CHECK_FALSE(f->log().unstable().snapshot.has_value());
        CHECK(f->messages().empty());
        CHECK(f->messages_after_append().empty());

        // raw_node::step refuses it the same way.
        memory_storage st;
        raw_node<memory_storage> n(test_config(2, 10, 1), st);
        auto rn = n.step(snap_msg(1, 2, c.msg_term, c.snap));
        REQUIRE_FALSE(rn);
        CHECK(rn.error() == errc::malformed_message);
        CHECK(n.raft().term() == 0);
    }
}

// etcd-io/raft#197: a follower that lost its disk restarts empty while the leader still
// believes it holds everything; the heartbeat's commit is past its last index.
TEST_CASE("a heartbeat commit past the follower's log does not crash it", "[snapshot][trap]") {
    auto f = new_test_raft(3, 10, 1, new_test_storage({1, 2, 3}));
    message hb = make_message(message_type::heartbeat, 1, 3, 1);
    hb.commit = 6;
    REQUIRE(f->step(hb));
    CHECK(f->log().committed() == 0);
    CHECK(f->lead() == 1);
    CHECK(f->term() == 1);
    auto resp = read_messages(*f);
    REQUIRE(resp.size() == 1);
    CHECK(resp[0].type == message_type::heartbeat_resp);
}

// ... and the cluster must bring it back: the leader has to learn that its match went
// backwards, without an endless reject/probe ping-pong meanwhile.
TEST_CASE("a follower that lost its log is repaired by the leader",
          "[snapshot][trap]") {
    std::vector<test_raft_ptr> owned;
    std::map<node_id, test_raft*> nodes;
    for (node_id id : {1, 2, 3}) {
        owned.push_back(new_test_raft(id, 10, 1, new_test_storage({1, 2, 3})));
        nodes[id] = owned.back().get();
    }
    test_raft& lead = *nodes[1];
    REQUIRE(lead.step(make_message(message_type::hup, 1, 1)));
    REQUIRE(route(nodes, read_messages(lead)));
    REQUIRE(lead.role() == role::leader);
    for (int i = 0; i < 5; ++i) {
        REQUIRE(lead.step(prop(1, "before")));
        REQUIRE(route(nodes, read_messages(lead)));
    }
    REQUIRE(pr_of(lead, 3).match == 6);

    // Node 3 comes back with an empty disk (its configuration comes from its peers list).
    owned.push_back(new_test_raft(3, 10, 1, new_test_storage({1, 2, 3})));
    nodes[3] = owned.back().get();
    test_raft& f = *nodes[3];
    for (int round = 0; round < 5; ++round) {
        CAPTURE(round);
        REQUIRE(lead.step(make_message(message_type::beat, 1, 1)));
        REQUIRE(route(nodes, read_messages(lead)));
        REQUIRE(lead.step(prop(1, "after")));
        REQUIRE(route(nodes, read_messages(lead)));  // fails on a livelock
    }
    CHECK(lead.log().committed() == 11);  // 1 and 2 keep committing either way
    INFO("leader's progress of 3: " << pr_of(lead, 3).to_string());
    CHECK(f.log().last_index() == lead.log().last_index());
    CHECK(f.log().committed() == lead.log().committed());
    CHECK(pr_of(lead, 3).match == lead.log().last_index());
}

// ---- end to end ---------------------------------------------------------------------------

TEST_CASE("a slow node catches up through a snapshot after the leader compacts",
          "[snapshot][network]") {
    // TestSlowNodeRestore.
    network nt({nullptr, nullptr, nullptr});
    nt.send(make_message(message_type::hup, 1, 1));
    nt.isolate(3);
    for (int j = 0; j <= 100; ++j) nt.send(prop(1, ""));

    test_raft& lead = nt.peer(1);
    (void)next_committed(lead);
    const index_t applied = lead.log().applied();
    REQUIRE(applied == 102);
    conf_state cs;
    cs.voters = lead.tracker().voter_nodes();
    auto& storage = lead.log().storage();
    REQUIRE(storage.create_snapshot(applied, &cs, buffer()));
    REQUIRE(storage.compact(applied));
    REQUIRE(lead.log().first_index() == applied + 1);

    nt.recover();
    // 3 counts as active only once the leader hears from it.
    for (int i = 0; !pr_of(lead, 3).recent_active; ++i) {
        REQUIRE(i < 100);
        nt.send(make_message(message_type::beat, 1, 1));
    }
    nt.send(prop(1, ""));  // triggers the snapshot
    test_raft& follower = nt.peer(3);
    nt.send(prop(1, ""));  // and a commit after it

    CHECK(follower.log().committed() == lead.log().committed());
    CHECK(follower.log().storage().snapshot().value().metadata.index == applied);
    CHECK(follower.log().last_index() == lead.log().last_index());
    CHECK(pr_of(lead, 3).state == detail::progress_state::replicate);
}

namespace {

// raw_nodes over memory_storage, driven the way an application drives them: persist, apply
// to a state machine (the applied payloads; a snapshot's data is that list, one per line),
// advance, send. A snap message is reported to the sender's raft as finished when it is
// delivered and as failed when the link drops it, as etcd's transport does.
class app_cluster {
public:
    using node_t = raw_node<memory_storage>;
    struct member {
        std::unique_ptr<memory_storage> storage = std::make_unique<memory_storage>();
        std::unique_ptr<node_t> node;
        std::vector<std::string> state;
        index_t applied = 0;
        std::vector<index_t> snapshots;                 // ready.snapshot indexes, in order
        std::vector<index_t> applied_after_snapshot;    // status().applied right after
    };

    app_cluster(std::vector<node_id> ids, std::uint64_t seed) {
        std::vector<peer> peers;
        for (node_id id : ids) peers.push_back({id, false, {}});
        for (node_id id : ids) {
            config c = test_config(id, 10, 1);
            c.seed = seed * 131 + id;
            member& m = members_[id];
            m.node = std::make_unique<node_t>(c, *m.storage);
            REQUIRE(m.node->bootstrap(peers));
        }
        settle();
    }

    member& at(node_id id) { return members_.at(id); }
    node_t& node(node_id id) { return *members_.at(id).node; }
    // Drop what matches (both ways through isolate); an empty function drops nothing.
    std::function<bool(const message&)> drop;
    std::set<node_id> isolated;

    static buffer encode_state(const std::vector<std::string>& state) {
        std::string s;
        for (const auto& x : state) s.append(x).push_back('\n');
        return buffer(s);
    }
    static std::vector<std::string> decode_state(const buffer& b) {
        std::vector<std::string> out;
        std::string cur;
        for (char ch : b.view()) {
            if (ch == '\n') out.push_back(std::exchange(cur, {}));
            else cur.push_back(ch);
        }
        return out;
    }

    void cycle(node_id id) {
        member& m = at(id);
        while (m.node->has_ready()) {
            auto& rd = m.node->ready();
            const bool has_snap = !is_empty(rd.snapshot);
            if (has_snap) {
                m.snapshots.push_back(rd.snapshot.metadata.index);
                m.state = decode_state(rd.snapshot.data);
                m.applied = rd.snapshot.metadata.index;
            }
            REQUIRE(m.node->persist(rd));
            for (const entry& e : rd.committed_entries) {
                CHECK(e.index == m.applied + 1);
                m.applied = e.index;
                if (e.type != entry_type::normal) {
                    auto cc = decode_conf_change_entry(e);
                    REQUIRE(cc);
                    (void)m.node->apply_conf_change(*cc);
                } else if (!e.data.empty()) {
                    m.state.push_back(e.data.str());
                }
            }
            m.node->advance();
            if (has_snap) m.applied_after_snapshot.push_back(m.node->status().applied);
            for (auto& msg : m.node->transport().take()) outbox_.push_back(std::move(msg));
        }
    }

    void deliver() {
        for (auto& m : std::exchange(outbox_, {})) {
            const node_id from = m.from, to = m.to;
            const bool snap = m.type == message_type::snap;
            const bool dropped = isolated.count(from) != 0 || isolated.count(to) != 0 ||
                                 (drop && drop(m));
            if (!dropped) (void)node(to).step(std::move(m));
            if (snap)
                node(from).report_snapshot(to, dropped ? snapshot_status::failure
                                                       : snapshot_status::finish);
        }
    }

    void settle() {
        for (int round = 0;; ++round) {
            REQUIRE(round < 1000);
            for (auto& [id, m] : members_) cycle(id);
            if (outbox_.empty()) return;
            deliver();
        }
    }

    // The leader's application snapshots its state machine at what it applied and drops
    // the log before it. Returns the snapshot index.
    index_t snapshot_and_compact(node_id id) {
        member& m = at(id);
        const conf_state cs = m.node->raft().tracker().conf_state();
        REQUIRE(m.storage->create_snapshot(m.applied, &cs, encode_state(m.state)));
        REQUIRE(m.storage->compact(m.applied));
        return m.applied;
    }

    const detail::progress& progress(node_id lead, node_id of) {
        const auto* pr = node(lead).raft().tracker().progress(of);
        REQUIRE(pr != nullptr);
        return *pr;
    }

private:
    std::map<node_id, member> members_;
    std::vector<message> outbox_;
};

}  // namespace

TEST_CASE("a lagging follower catches up from a compacted leader through the ready cycle",
          "[snapshot][raw_node]") {
    const std::uint64_t seed = 7;
    CAPTURE(seed);
    app_cluster c({1, 2, 3}, seed);
    REQUIRE(c.node(1).campaign());
    c.settle();
    REQUIRE(c.node(1).raft().role() == role::leader);

    c.isolated.insert(3);
    for (int i = 0; i < 20; ++i) REQUIRE(c.node(1).propose(payload("v", i)));
    c.settle();
    REQUIRE(c.at(1).state.size() == 20);
    REQUIRE(c.at(3).state.empty());
    const index_t snap_index = c.snapshot_and_compact(1);
    REQUIRE(snap_index == 24);  // 3 bootstrap entries, the empty entry, 20 proposals
    REQUIRE(c.at(1).storage->first_index().value() == snap_index + 1);

    SECTION("the snapshot goes through at the first try") {}
    SECTION("a failed send is reported, and the snapshot is sent again") {
        c.isolated.clear();
        c.drop = [](const message& m) { return m.type == message_type::snap; };
        c.node(1).tick();  // heartbeat; 3's response makes the leader send the snapshot
        c.settle();
        const auto& pr = c.progress(1, 3);
        CHECK(pr.state == detail::progress_state::probe);
        CHECK(pr.pending_snapshot == 0);
        CHECK(pr.probe_sent);
        CHECK(c.at(3).snapshots.empty());
        c.drop = {};
    }
    c.isolated.clear();
    c.node(1).tick();
    c.settle();

    auto& f = c.at(3);
    REQUIRE(f.snapshots == std::vector<index_t>{snap_index});
    CHECK(f.applied_after_snapshot == std::vector<index_t>{snap_index});
    CHECK(f.storage->snapshot().value().metadata.index == snap_index);
    CHECK(f.storage->first_index().value() == snap_index + 1);
    CHECK(f.state == c.at(1).state);
    const auto& pr = c.progress(1, 3);
    CHECK(pr.state == detail::progress_state::replicate);
    CHECK(pr.match == c.node(1).raft().log().last_index());

    // Ordinary replication after the snapshot: entries, not another snapshot.
    for (int i = 0; i < 5; ++i) REQUIRE(c.node(1).propose(payload("w", i)));
    c.settle();
    CHECK(f.snapshots.size() == 1);
    CHECK(f.state == c.at(1).state);
    CHECK(f.state.size() == 25);
    CHECK(c.node(3).raft().log().committed() == c.node(1).raft().log().committed());
    CHECK(c.at(2).state == c.at(1).state);

    // An unreachable report ends optimistic replication to 3.
    c.node(1).report_unreachable(3);
    CHECK(c.progress(1, 3).state == detail::progress_state::probe);
    CHECK(c.progress(1, 3).next == c.progress(1, 3).match + 1);
}
