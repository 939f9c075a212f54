// Linearizable reads (Raft thesis §6.4): read_index requests answered with the leader's
// commit index once it has proved it still leads, ported from etcd-io/raft main's
// raft_test.go (TestReadOnlyOptionSafe, TestReadOnlyWithLearner, TestReadOnlyOptionLease,
// TestReadOnlyForNewLeader, TestRaftFreesReadOnlyMem) plus the cases etcd covers only
// implicitly: forwarding, per-request contexts, ordered release and deposed leaders.
// Invariant under test: a safe read is answered only after a quorum acked a heartbeat that
// carries its context (or a later one), at the commit index the leader had when it arrived.
#include <catch2/catch.hpp>

#include "raft_test_util.hpp"
#include "read_test_util.hpp"

#include <raftpp/raw_node.hpp>

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

using namespace raftpp;
using namespace raftpp::test;

namespace {

struct read_case {
    test_raft* node;
    int proposals;
    index_t want_index;
    std::string_view ctx;
};

// Proposes on node 1, then reads on tt.node: the read_state must appear on that node.
void check_reads(network& nt, std::span<const read_case> cases) {
    for (std::size_t i = 0; i < cases.size(); ++i) {
        const read_case& tt = cases[i];
        CAPTURE(i, tt.ctx);
        for (int j = 0; j < tt.proposals; ++j) nt.send(propose(1));
        nt.send(read_index(tt.node->id(), tt.node->id(), tt.ctx));
        REQUIRE_FALSE(tt.node->read_states().empty());
        CHECK(tt.node->read_states().front() == rs(tt.want_index, tt.ctx));
        tt.node->read_states().clear();
    }
}

}  // namespace

// etcd TestReadOnlyOptionSafe: reads from the leader and from both followers (forwarded),
// each answered with the commit index after the proposals before it.
TEST_CASE("safe read_index answers on any node with the commit index", "[read_index]") {
    CAPTURE(test_seed);
    auto a = new_test_raft(cfg_for(1), new_test_storage({1, 2, 3}));
    auto b = new_test_raft(cfg_for(2), new_test_storage({1, 2, 3}));
    auto c = new_test_raft(cfg_for(3), new_test_storage({1, 2, 3}));
    network nt({a, b, c});
    b->set_randomized_election_timeout(b->cfg().election_tick + 1);
    for (int i = 0; i < b->cfg().election_tick; ++i) b->tick();
    nt.send(hup(1));
    REQUIRE(a->role() == role::leader);

    const read_case cases[] = {
        {a.get(), 10, 11, "ctx1"}, {b.get(), 10, 21, "ctx2"}, {c.get(), 10, 31, "ctx3"},
        {a.get(), 10, 41, "ctx4"}, {b.get(), 10, 51, "ctx5"}, {c.get(), 10, 61, "ctx6"},
    };
    check_reads(nt, cases);
}

// etcd TestReadOnlyWithLearner: one voter and one learner; the voter is a quorum alone, the
// learner's reads are forwarded to it.
TEST_CASE("a learner's read_index is forwarded and answered", "[read_index][learner]") {
    CAPTURE(test_seed);
    auto a = new_test_raft(cfg_for(1), new_test_storage({1}, {2}));
    auto b = new_test_raft(cfg_for(2), new_test_storage({1}, {2}));
    network nt({a, b});
    b->set_randomized_election_timeout(b->cfg().election_tick + 1);
    for (int i = 0; i < b->cfg().election_tick; ++i) b->tick();
    nt.send(hup(1));
    REQUIRE(a->role() == role::leader);
    REQUIRE(b->is_learner());

    const read_case cases[] = {
        {a.get(), 10, 11, "ctx1"}, {b.get(), 10, 21, "ctx2"},
        {a.get(), 10, 31, "ctx3"}, {b.get(), 10, 41, "ctx4"},
    };
    check_reads(nt, cases);
}

// etcd TestReadOnlyOptionLease: the leader answers from its lease, without a heartbeat round.
TEST_CASE("lease-based read_index answers without a heartbeat round", "[read_index][lease]") {
    CAPTURE(test_seed);
    auto a = new_test_raft(cfg_for(1, read_only_option::lease_based), new_test_storage({1, 2, 3}));
    auto b = new_test_raft(cfg_for(2, read_only_option::lease_based), new_test_storage({1, 2, 3}));
    auto c = new_test_raft(cfg_for(3, read_only_option::lease_based), new_test_storage({1, 2, 3}));
    network nt({a, b, c});
    b->set_randomized_election_timeout(b->cfg().election_tick + 1);
    for (int i = 0; i < b->cfg().election_tick; ++i) b->tick();
    nt.send(hup(1));
    REQUIRE(a->role() == role::leader);

    const read_case cases[] = {
        {a.get(), 10, 11, "ctx1"}, {b.get(), 10, 21, "ctx2"}, {c.get(), 10, 31, "ctx3"},
        {a.get(), 10, 41, "ctx4"}, {b.get(), 10, 51, "ctx5"}, {c.get(), 10, 61, "ctx6"},
    };
    check_reads(nt, cases);

    SECTION("the leader answers a local read at once, sending nothing") {
        REQUIRE(a->step(read_index(1, 1, "now")));
        CHECK(a->read_states() == std::vector<read_state>{rs(61, "now")});
        CHECK(read_messages(*a).empty());
    }
}

TEST_CASE("lease-based reads require check_quorum", "[read_index][lease][config]") {
    config c = cfg_for(1, read_only_option::lease_based);
    c.check_quorum = false;
    CHECK(c.validate().error() == errc::invalid_config);
    std::error_code thrown;
    try {
        (void)new_test_raft(c, new_test_storage({1, 2, 3}));
    } catch (const std::system_error& e) {
        thrown = e.code();
    }
    CHECK(thrown == errc::invalid_config);
}

// etcd TestReadOnlyForNewLeader (etcd#7331): a new leader does not know the commit index until
// it commits an entry of its own term; reads wait until then and are answered with it.
TEST_CASE("a new leader answers reads only after committing an entry of its term",
          "[read_index][7331]") {
    CAPTURE(test_seed);
    struct node_cfg {
        node_id id;
        index_t committed, applied, compact;
    };
    const node_cfg cfgs[] = {{1, 1, 1, 0}, {2, 2, 2, 2}, {3, 2, 2, 2}};
    std::vector<test_raft_ptr> peers;
    for (const auto& nc : cfgs) {
        auto s = new_test_storage({1, 2, 3});
        s.append(entries_at(1, {1, 1})).set_hard_state({1, none, nc.committed});
        if (nc.compact != 0) must(s.storage.compact(nc.compact), "compact");
        config c = cfg_for(nc.id);
        c.applied = nc.applied;
        peers.push_back(new_test_raft(c, std::move(s)));
    }
    network nt({peers[0], peers[1], peers[2]});
    test_raft& sm = *peers[0];

    // No appends get through: the leader cannot commit its empty entry (index 3, term 2).
    nt.ignore(message_type::app);
    nt.send(hup(1));
    REQUIRE(sm.role() == role::leader);
    REQUIRE(sm.term() == 2);

    // A heartbeat round tells node 2 who leads (its appends are still dropped).
    for (int i = 0; i < sm.cfg().heartbeat_tick; ++i) sm.tick();
    nt.send(read_messages(sm));
    REQUIRE(peers[1]->lead() == 1);
    REQUIRE(sm.log().committed() == 1);

    nt.send(read_index(1, 1, "ctx"));
    nt.send(read_index(2, 2, "ctx2"));  // forwarded by a follower: held alike
    CHECK(sm.read_states().empty());
    CHECK(peers[1]->read_states().empty());

    nt.recover();
    for (int i = 0; i < sm.cfg().heartbeat_tick; ++i) sm.tick();
    nt.send(propose(1));
    REQUIRE(sm.log().committed() == 4);
    CHECK(sm.log().zero_term_on_err_compacted(sm.log().term(sm.log().committed())) == sm.term());

    // The held reads were released by that commit, at the commit index it established.
    CHECK(sm.read_states() == std::vector<read_state>{rs(4, "ctx")});
    CHECK(peers[1]->read_states() == std::vector<read_state>{rs(4, "ctx2")});

    // From now on reads are answered as they come.
    nt.send(read_index(1, 1, "ctx"));
    CHECK(sm.read_states() == std::vector<read_state>{rs(4, "ctx"), rs(4, "ctx")});
}

// The release happens on the append response that commits the leader's first entry
// (etcd TestLeaderAppResp's accept case), not on stale or rejected ones.
TEST_CASE("the append response that commits the new term's entry releases held reads",
          "[read_index][7331]") {
    struct tc {
        std::string_view name;
        index_t index;
        bool reject;
        bool released;
    };
    const tc cases[] = {
        {"rejected response", 0, true, false},
        {"stale response for index 0", 0, false, false},
        {"ack of the empty entry commits it", 1, false, true},
    };
    for (const auto& tt : cases) {
        CAPTURE(tt.name);
        auto r = new_test_raft(cfg_for(1), new_test_storage({1, 2, 3}));
        r->become_candidate();
        r->become_leader();
        (void)read_messages(*r);  // the appends of the empty entry; the self-ack is stepped
        REQUIRE(r->log().committed() == 0);

        REQUIRE(r->step(read_index(1, 1, "held")));
        CHECK(read_messages(*r).empty());  // no heartbeat round before the commit

        message resp = make_message(message_type::app_resp, 2, 1, 1);
        resp.index = tt.index;
        resp.reject = tt.reject;
        resp.reject_hint = tt.index;
        REQUIRE(r->step(resp));
        const auto hbs = heartbeats(read_messages(*r));
        CHECK(r->read_states().empty());
        if (!tt.released) {
            CHECK(r->log().committed() == 0);
            CHECK(hbs.empty());
            continue;
        }
        CHECK(r->log().committed() == 1);
        using hb = std::pair<node_id, std::string>;
        CHECK(hbs == std::vector<hb>{{2, "held"}, {3, "held"}});
        REQUIRE(r->step(heartbeat_resp(3, 1, 1, "held")));
        CHECK(r->read_states() == std::vector<read_state>{rs(1, "held")});
    }
}

// Forwarding at the message level: the follower sends the request to its leader unchanged
// (term 0, like a proposal); the answer comes back with the request's context.
TEST_CASE("a follower forwards read_index to its leader and gets the read_state back",
          "[read_index][forward]") {
    auto leader = committed_leader();
    auto f = new_test_raft(cfg_for(2), new_test_storage({1, 2, 3}));
    f->become_follower(1, 1);

    REQUIRE(f->step(read_index(2, 2, "fwd")));
    CHECK(f->read_states().empty());
    auto out = read_messages(*f);
    message want = read_index(2, 1, "fwd");
    REQUIRE(out == std::vector<message>{want});

    REQUIRE(leader->step(out[0]));
    using hb = std::pair<node_id, std::string>;
    CHECK(heartbeats(read_messages(*leader)) == std::vector<hb>{{2, "fwd"}, {3, "fwd"}});
    CHECK(leader->read_states().empty());  // the answer is the follower's, not the leader's

    REQUIRE(leader->step(heartbeat_resp(3, 1, 1, "fwd")));
    auto resp = read_messages(*leader);
    REQUIRE(resp.size() == 1);
    CHECK(resp[0].type == message_type::read_index_resp);
    CHECK(resp[0].to == 2);
    CHECK(resp[0].term == 1);
    CHECK(resp[0].index == 1);
    REQUIRE(resp[0].entries.size() == 1);
    CHECK(resp[0].entries[0].data == buffer("fwd"));
    CHECK(leader->read_states().empty());

    REQUIRE(f->step(resp[0]));
    CHECK(f->read_states() == std::vector<read_state>{rs(1, "fwd")});
    CHECK(read_messages(*f).empty());
}

TEST_CASE("a follower without a leader drops read_index", "[read_index][forward]") {
    auto f = new_test_raft(cfg_for(2), new_test_storage({1, 2, 3}));
    f->become_follower(1, none);
    CHECK(f->step(read_index(2, 2, "lost")));
    CHECK(read_messages(*f).empty());
    CHECK(f->read_states().empty());

    SECTION("and a read_index_resp without an entry is refused") {
        message bad = make_message(message_type::read_index_resp, 1, 2, 1);
        bad.index = 5;
        CHECK(f->step(bad).error() == errc::malformed_message);
        CHECK(f->read_states().empty());
    }
}

// etcd main's leader steps MsgReadIndex in a single-voter cluster without a heartbeat round.
TEST_CASE("the only voter answers read_index at once", "[read_index][single]") {
    CAPTURE(test_seed);
    auto r = new_test_raft(cfg_for(1), new_test_storage({1}));
    REQUIRE(r->step(hup(1)));
    (void)read_messages(*r);
    REQUIRE(r->role() == role::leader);
    REQUIRE(r->log().committed() == 1);

    REQUIRE(r->step(read_index(1, 1, "solo")));
    CHECK(r->read_states() == std::vector<read_state>{rs(1, "solo")});
    CHECK(r->messages().empty());
    CHECK(r->messages_after_append().empty());
}

// Each request keeps its own context and the commit index it arrived at; an ack confirms
// the request whose context it carries and every request before it, never a later one.
TEST_CASE("read contexts are matched per request, in order", "[read_index][ctx]") {
    auto r = committed_leader();
    REQUIRE(r->step(read_index(1, 1, "ctx1")));  // at commit 1
    commit_one(*r);
    REQUIRE(r->step(read_index(1, 1, "ctx2")));  // at commit 2
    commit_one(*r);
    REQUIRE(r->step(read_index(1, 1, "ctx3")));  // at commit 3
    using hb = std::pair<node_id, std::string>;
    CHECK(heartbeats(read_messages(*r)) == std::vector<hb>{{2, "ctx3"}, {3, "ctx3"}});
    REQUIRE(r->read_states().empty());

    SECTION("an ack answers its own request only") {
        REQUIRE(r->step(heartbeat_resp(2, 1, 1, "ctx1")));
        CHECK(r->read_states() == std::vector<read_state>{rs(1, "ctx1")});
        REQUIRE(r->step(heartbeat_resp(3, 1, 1, "ctx1")));  // already answered
        REQUIRE(r->step(heartbeat_resp(3, 1, 1, "unknown")));
        CHECK(r->read_states().size() == 1);
        REQUIRE(r->step(heartbeat_resp(2, 1, 1, "ctx2")));
        CHECK(r->read_states() == std::vector<read_state>{rs(1, "ctx1"), rs(2, "ctx2")});
    }
    SECTION("an ack for a later request confirms the earlier ones") {
        REQUIRE(r->step(heartbeat_resp(3, 1, 1, "ctx3")));
        CHECK(r->read_states() ==
              std::vector<read_state>{rs(1, "ctx1"), rs(2, "ctx2"), rs(3, "ctx3")});
    }
    SECTION("periodic heartbeats carry the newest pending context until it is answered") {
        REQUIRE(r->step(make_message(message_type::beat, 1, 1)));
        CHECK(heartbeats(read_messages(*r)) == std::vector<hb>{{2, "ctx3"}, {3, "ctx3"}});
        REQUIRE(r->step(heartbeat_resp(2, 1, 1, "ctx3")));
        REQUIRE(r->read_states().size() == 3);
        // etcd TestRaftFreesReadOnlyMem: nothing is left pending, so acks change nothing and
        // heartbeats carry no context.
        REQUIRE(r->step(heartbeat_resp(3, 1, 1, "ctx3")));
        CHECK(r->read_states().size() == 3);
        REQUIRE(r->step(make_message(message_type::beat, 1, 1)));
        CHECK(heartbeats(read_messages(*r)) == std::vector<hb>{{2, ""}, {3, ""}});
    }
    SECTION("an ack from an unknown node is not a vote") {
        REQUIRE(r->step(heartbeat_resp(4, 1, 1, "ctx3")));
        CHECK(r->read_states().empty());
    }
}

TEST_CASE("a repeated context while pending is one request", "[read_index][ctx]") {
    auto r = committed_leader();
    REQUIRE(r->step(read_index(1, 1, "dup")));
    REQUIRE(r->step(read_index(1, 1, "dup")));
    (void)read_messages(*r);
    REQUIRE(r->step(heartbeat_resp(2, 1, 1, "dup")));
    CHECK(r->read_states() == std::vector<read_state>{rs(1, "dup")});
}

// A leader cut off from the quorum cannot confirm it still leads: a safe read must never be
// answered, even after a new leader committed entries it does not know about.
TEST_CASE("a deposed leader never answers a safe read", "[read_index][safety]") {
    const std::uint64_t net_seed = 0xbad5eed;
    CAPTURE(test_seed, net_seed);
    network nt({nullptr, nullptr, nullptr}, [](config& c) { c.seed = test_seed + c.id; });
    nt.seed(net_seed);
    nt.send(hup(1));
    test_raft& old = nt.peer(1);
    REQUIRE(old.role() == role::leader);
    nt.send(propose(1, "before"));
    REQUIRE(old.log().committed() == 2);

    nt.isolate(1);
    nt.send(read_index(1, 1, "stale"));
    CHECK(old.read_states().empty());

    nt.send(hup(2));
    REQUIRE(nt.peer(2).role() == role::leader);
    nt.send(propose(2, "after"));
    REQUIRE(nt.peer(2).log().committed() == 4);
    REQUIRE(old.role() == role::leader);  // it has not heard of term 2
    CHECK(old.read_states().empty());

    // Its heartbeats (with the read's context) reach the others again; they are at term 2
    // and do not ack. The new leader's heartbeat then deposes it; the read dies with it.
    nt.recover();
    old.tick();
    nt.send(read_messages(old));
    CHECK(old.read_states().empty());
    nt.send(make_message(message_type::beat, 2, 2));
    CHECK(old.role() == role::follower);
    CHECK(old.lead() == 2);
    CHECK(old.read_states().empty());

    // Reads on it now go to the new leader and see the new entries.
    nt.send(read_index(1, 1, "fresh"));
    CHECK(old.read_states() == std::vector<read_state>{rs(4, "fresh")});
}

TEST_CASE("an isolated leader under check_quorum steps down without answering its read",
          "[read_index][safety]") {
    CAPTURE(test_seed);
    network nt({nullptr, nullptr, nullptr}, [](config& c) {
        c.seed = test_seed + c.id;
        c.check_quorum = true;
    });
    nt.send(hup(1));
    test_raft& old = nt.peer(1);
    REQUIRE(old.role() == role::leader);

    nt.isolate(1);
    nt.send(read_index(1, 1, "stale"));
    // The first check-quorum round still counts the acks from before the partition.
    for (int i = 0; i < 2 * old.cfg().election_tick; ++i) old.tick();
    (void)read_messages(old);
    CHECK(old.role() == role::follower);
    CHECK(old.read_states().empty());
}

// --- raw_node: read_index through the ready cycle ------------------------------------------

namespace {

using node = raw_node<memory_storage>;

// Runs ready cycles and delivers messages between raw_nodes until all are quiet, keeping
// the read_states each node's readies handed out.
struct raw_cluster {
    std::map<node_id, std::unique_ptr<memory_storage>> storage;
    std::map<node_id, std::unique_ptr<node>> nodes;
    std::map<node_id, std::vector<read_state>> reads;

    explicit raw_cluster(std::vector<node_id> ids) {
        std::vector<peer> peers;
        for (node_id id : ids) peers.push_back({id, false, {}});
        for (node_id id : ids) {
            storage[id] = std::make_unique<memory_storage>();
            nodes[id] = std::make_unique<node>(cfg_for(id), *storage[id]);
            REQUIRE(nodes[id]->bootstrap(peers));
        }
        settle();
    }
    void settle() {
        for (bool busy = true; busy;) {
            busy = false;
            for (auto& [id, n] : nodes) {
                while (n->has_ready()) {
                    busy = true;
                    auto& rd = n->ready();
                    auto& mine = reads[id];
                    mine.insert(mine.end(), rd.read_states.begin(), rd.read_states.end());
                    REQUIRE(n->persist(rd));
                    for (const auto& e : rd.committed_entries)
                        if (e.type != entry_type::normal)
                            REQUIRE(n->apply_conf_change(*decode_conf_change_entry(e)));
                    n->advance();
                }
            }
            for (auto& [id, n] : nodes) {
                for (auto& m : n->transport().take()) {
                    busy = true;
                    (void)nodes.at(m.to)->step(std::move(m));
                }
            }
        }
    }
};

}  // namespace

TEST_CASE("raw_node::read_index on a single node yields a read_state in the next ready",
          "[read_index][raw_node]") {
    CAPTURE(test_seed);
    raw_cluster c({1});
    node& n = *c.nodes.at(1);
    REQUIRE(n.campaign());
    c.settle();
    REQUIRE(n.raft().role() == role::leader);
    const index_t commit = n.raft().log().committed();
    REQUIRE(commit == 2);  // the bootstrap conf change and the leader's empty entry

    n.read_index(buffer("rn"));
    REQUIRE(n.has_ready());
    auto& rd = n.ready();
    CHECK(rd.read_states == std::vector<read_state>{rs(commit, "rn")});
    CHECK(rd.messages.empty());
    n.advance();
    CHECK_FALSE(n.has_ready());
}

TEST_CASE("raw_node::read_index on every member of a cluster", "[read_index][raw_node]") {
    CAPTURE(test_seed);
    raw_cluster c({1, 2, 3});
    REQUIRE(c.nodes.at(1)->campaign());
    c.settle();
    REQUIRE(c.nodes.at(1)->raft().role() == role::leader);
    const index_t commit = c.nodes.at(1)->raft().log().committed();
    REQUIRE(commit == 4);  // three bootstrap conf changes and the empty entry of term 2

    c.nodes.at(2)->read_index(buffer("two"));
    c.nodes.at(3)->read_index(buffer("three"));
    c.nodes.at(1)->read_index(buffer("one"));
    c.settle();
    CHECK(c.reads[1] == std::vector<read_state>{rs(commit, "one")});
    CHECK(c.reads[2] == std::vector<read_state>{rs(commit, "two")});
    CHECK(c.reads[3] == std::vector<read_state>{rs(commit, "three")});
}
