// raw_node: the ready cycle and its durability contract. Bootstrap and restart, config and
// step errors, and above all: nothing leaves a node (votes, append acks) before advance(),
// i.e. before the application persisted the state it vouches for, and a leader counts its own
// log toward the commit index only once its append is persisted.
#include <catch2/catch.hpp>

#include "abort_test_util.hpp"
#include "raw_node_test_util.hpp"

#include <raftpp/memory_storage.hpp>
#include <raftpp/raw_node.hpp>

#include <functional>
#include <string_view>
#include <system_error>
#include <vector>

using namespace raftpp;
using namespace raftpp::test;

namespace {

// A transport that records, with each message, what the node's storage held when the message
// was handed over: the durability contract says that state already covers the message.
struct sent_message {
    message msg;
    hard_state durable_hard_state;
    index_t durable_last_index = 0;
};
struct durability_probe {
    const memory_storage* storage = nullptr;
    std::vector<sent_message>* sent = nullptr;
    void send(message&& m) {
        sent->push_back({std::move(m), storage->hard_state(), storage->raw_entries().back().index});
    }
};
using probed_node = raw_node<memory_storage, durability_probe>;

using raftpp::test::abort_message;

std::error_code construction_error(const config& cfg, memory_storage& st) {
    try {
        node n(cfg, st);
    } catch (const std::system_error& e) {
        return e.code();
    }
    return {};
}

}  // namespace

// --- bootstrap and restart ----------------------------------------------------------------

TEST_CASE("bootstrap commits one conf change per peer at term 1", "[raw_node][bootstrap]") {
    memory_storage st;
    node n(cfg_for(1), st);
    std::vector<peer> peers = voters({1, 2, 3});
    peers.push_back({4, true, {}});
    REQUIRE(n.bootstrap(peers));

    const auto& r = n.raft();
    CHECK(r.term() == 1);
    CHECK(r.vote() == none);
    CHECK(r.role() == role::follower);
    CHECK(r.log().last_index() == 4);
    CHECK(r.log().committed() == 4);
    CHECK(r.log().applied() == 0);
    CHECK(r.tracker().voter_nodes() == std::vector<node_id>{1, 2, 3});
    CHECK(r.tracker().learner_nodes() == std::vector<node_id>{4});
    CHECK(st.raw_entries().size() == 1);  // nothing is persisted before the ready cycle

    REQUIRE(n.has_ready());
    auto& rd = n.ready();
    CHECK_FALSE(rd.soft_state);  // still a follower without a leader
    CHECK(rd.hard_state == hard_state{1, none, 4});
    CHECK(rd.must_sync);
    CHECK(rd.messages.empty());
    REQUIRE(rd.entries.size() == 4);
    CHECK(std::vector<entry>(rd.entries.begin(), rd.entries.end()) == rd.committed_entries);
    conf_state cs;
    for (std::size_t i = 0; i < 4; ++i) {
        const entry& e = rd.entries[i];
        CAPTURE(i);
        CHECK(e.term == 1);
        CHECK(e.index == i + 1);
        REQUIRE(e.type == entry_type::conf_change);
        auto cc = decode_conf_change(e.data);
        REQUIRE(cc);
        CHECK(cc->node == i + 1);
        const auto expected =
            i == 3 ? conf_change_type::add_learner_node : conf_change_type::add_node;
        CHECK(cc->type == expected);
        // Applying them again is harmless: bootstrap already put the peers in the tracker.
        auto applied = n.apply_conf_change(*cc);
        REQUIRE(applied);
        cs = *applied;
    }
    CHECK(cs.voters == std::vector<node_id>{1, 2, 3});
    CHECK(cs.learners == std::vector<node_id>{4});
    CHECK(cs.voters_outgoing.empty());

    REQUIRE(n.persist(rd));
    CHECK(st.hard_state() == hard_state{1, none, 4});
    CHECK(st.raw_entries().back().index == 4);
    n.advance();
    CHECK_FALSE(n.has_ready());
    CHECK(n.status().applied == 4);
    CHECK(n.transport().empty());

    SECTION("a learner bootstraps as a learner and cannot campaign") {
        memory_storage st4;
        node n4(cfg_for(4), st4);
        REQUIRE(n4.bootstrap(peers));
        settle(n4);
        CHECK(n4.raft().is_learner());
        CHECK_FALSE(n4.raft().promotable());
        REQUIRE(n4.campaign());
        CHECK(n4.raft().role() == role::follower);
        CHECK_FALSE(n4.has_ready());
    }
}

TEST_CASE("bootstrap refuses bad peer lists and used storage", "[raw_node][bootstrap]") {
    struct tc {
        std::string_view name;
        std::vector<peer> peers;
        std::function<void(memory_storage&)> prepare;
    };
    const tc cases[] = {
        {"no peers", {}, {}},
        {"peer id 0", voters({1, 0, 3}), {}},
        {"duplicate peer id", voters({1, 2, 1}), {}},
        {"storage holds a log", voters({1, 2, 3}),
         [](memory_storage& st) { REQUIRE(st.append(std::vector<entry>{ent(1, 1)})); }},
        {"storage holds a configuration", voters({1, 2, 3}),
         [](memory_storage& st) {
             snapshot s;
             s.metadata = {conf_state{{1, 2, 3}, {}, {}, {}, false}, 5, 1};
             REQUIRE(st.apply_snapshot(s));
         }},
        {"node already bootstrapped (restart)", voters({1, 2, 3}),
         [](memory_storage& st) {
             node first(cfg_for(1), st);
             REQUIRE(first.bootstrap(voters({1, 2, 3})));
             settle(first);
         }},
    };
    for (const auto& c : cases) {
        CAPTURE(c.name);
        memory_storage st;
        if (c.prepare) c.prepare(st);
        node n(cfg_for(1), st);
        const auto term = n.raft().term();
        const auto last = n.raft().log().last_index();
        const bool had_ready = n.has_ready();
        auto r = n.bootstrap(c.peers);
        REQUIRE_FALSE(r);
        CHECK(r.error() == errc::invalid_config);
        // A refused bootstrap changes nothing.
        CHECK(n.raft().term() == term);
        CHECK(n.raft().log().last_index() == last);
        CHECK(n.has_ready() == had_ready);
    }

    SECTION("bootstrapping twice") {
        memory_storage st;
        node n(cfg_for(1), st);
        REQUIRE(n.bootstrap(voters({1, 2, 3})));
        CHECK(n.bootstrap(voters({1, 2, 3})).error() == errc::invalid_config);
        CHECK(n.raft().log().last_index() == 3);
    }
}

TEST_CASE("a node restarts from its storage", "[raw_node][restart]") {
    memory_storage st;
    {
        node n(cfg_for(1), st);
        REQUIRE(n.bootstrap(voters({1, 2, 3})));
        settle(n);
        message vote = make_message(message_type::vote, 2, 1, 2);
        vote.index = 3;
        vote.log_term = 1;
        REQUIRE(n.step(vote));
        settle(n);
        message app = make_message(message_type::app, 2, 1, 2);
        app.index = 3;
        app.log_term = 1;
        app.entries = {ent(2, 4, "a"), ent(2, 5, "b")};
        app.commit = 5;
        REQUIRE(n.step(app));
        settle(n);
        REQUIRE(st.hard_state() == hard_state{2, 2, 5});
    }
    // memory_storage keeps a configuration only in a snapshot's metadata, as etcd's: record
    // the application's snapshot at 3 (without compacting) so the restart can load it.
    conf_state cs;
    cs.voters = {1, 2, 3};
    REQUIRE(st.create_snapshot(3, &cs, buffer("state@3")));

    SECTION("hard state, configuration and log are loaded; applied 0 re-delivers the log") {
        node n(cfg_for(1), st);
        const auto& r = n.raft();
        CHECK(r.term() == 2);
        CHECK(r.vote() == 2);
        CHECK(r.lead() == none);
        CHECK(r.role() == role::follower);
        CHECK(r.log().committed() == 5);
        CHECK(r.log().last_index() == 5);
        CHECK(r.log().last_term() == 2);
        CHECK(r.tracker().voter_nodes() == std::vector<node_id>{1, 2, 3});
        auto out = cycle(n);
        CHECK(is_empty(out.hard));  // nothing changed: nothing to persist
        CHECK(out.entries.empty());
        CHECK(out.messages.empty());
        CHECK(indexes(out.committed) == std::vector<index_t>{1, 2, 3, 4, 5});
        CHECK_FALSE(n.has_ready());
    }
    SECTION("config.applied is honoured: applied entries are not handed out again") {
        config cfg = cfg_for(1);
        cfg.applied = 4;
        node n(cfg, st);
        CHECK(n.raft().log().applied() == 4);
        CHECK(n.status().applied == 4);
        auto out = cycle(n);
        REQUIRE(out.committed.size() == 1);
        CHECK(out.committed[0] == ent(2, 5, "b"));
        CHECK(n.status().applied == 5);
        CHECK_FALSE(n.has_ready());
    }
    SECTION("config.applied past the commit index is refused") {
        config cfg = cfg_for(1);
        cfg.applied = 6;
        CHECK(construction_error(cfg, st) == errc::index_out_of_range);
    }
}

TEST_CASE("an invalid config throws std::system_error(invalid_config)", "[raw_node][config]") {
    struct tc {
        std::string_view name;
        std::function<void(config&)> spoil;
    };
    const tc cases[] = {
        {"id 0", [](config& c) { c.id = none; }},
        {"heartbeat_tick 0", [](config& c) { c.heartbeat_tick = 0; }},
        {"election_tick == heartbeat_tick", [](config& c) { c.election_tick = c.heartbeat_tick; }},
        {"max_inflight_msgs 0", [](config& c) { c.max_inflight_msgs = 0; }},
        {"max_inflight_bytes below max_size_per_msg",
         [](config& c) { c.max_inflight_bytes = c.max_size_per_msg - 1; }},
        {"lease_based reads without check_quorum",
         [](config& c) { c.read_only = read_only_option::lease_based; }},
    };
    for (const auto& c : cases) {
        CAPTURE(c.name);
        config cfg = cfg_for(1);
        c.spoil(cfg);
        memory_storage st;
        CHECK(construction_error(cfg, st) == errc::invalid_config);
    }
    memory_storage st;
    CHECK_FALSE(construction_error(cfg_for(1), st));
}

// --- step ---------------------------------------------------------------------------------

TEST_CASE("step refuses a message for another node and a term at or above 2^63",
          "[raw_node][step]") {
    memory_storage st;
    node n(cfg_for(1), st);
    REQUIRE(n.bootstrap(voters({1, 2, 3})));
    settle(n);
    // A single vote request at the largest term would leave the cluster leaderless for good:
    // every node would adopt it, and no election can go past it.
    message vote = make_message(message_type::vote, 2, 1, ~term_t{0});
    CHECK(n.step(vote).error() == errc::malformed_message);
    CHECK(n.step(make_message(message_type::pre_vote, 2, 1, term_t{1} << 63)).error() ==
          errc::malformed_message);
    CHECK(n.step(make_message(message_type::heartbeat, 2, 1, term_t{1} << 63)).error() ==
          errc::malformed_message);
    // Addressed to node 3 (or to nobody): not ours to step.
    CHECK(n.step(make_message(message_type::heartbeat, 2, 3, 5)).error() ==
          errc::malformed_message);
    CHECK(n.step(make_message(message_type::heartbeat, 2, none, 5)).error() ==
          errc::malformed_message);
    // From node 1 itself: answering it, the node would address a heartbeat_resp to itself.
    // The core refuses it the same way when stepped directly (raft_step_input_test has more).
    CHECK(n.step(make_message(message_type::heartbeat, 1, 1, 5)).error() ==
          errc::malformed_message);
    CHECK(n.raft().step(make_message(message_type::heartbeat, 1, 1, 5)).error() ==
          errc::malformed_message);
    CHECK(n.raft().term() == 1);
    CHECK(n.raft().lead() == none);
    // The largest term a peer may use is still accepted.
    CHECK(n.step(make_message(message_type::heartbeat, 2, 1, (term_t{1} << 63) - 1)));
    CHECK(n.raft().term() == (term_t{1} << 63) - 1);
}

TEST_CASE("step refuses local messages and responses from unknown peers", "[raw_node][step]") {
    memory_storage st;
    node n(cfg_for(1), st);
    REQUIRE(n.bootstrap(voters({1, 2, 3})));
    settle(n);

    const message_type local[] = {
        message_type::hup, message_type::beat, message_type::unreachable,
        message_type::snap_status, message_type::check_quorum};
    for (auto t : local) {
        CAPTURE(to_string(t));
        CHECK(n.step(make_message(t, 2, 1, 1)).error() == errc::step_local_msg);
    }
    const message_type responses[] = {message_type::app_resp, message_type::vote_resp,
                                      message_type::heartbeat_resp, message_type::pre_vote_resp,
                                      message_type::read_index_resp};
    for (auto t : responses) {
        CAPTURE(to_string(t));
        CHECK(n.step(make_message(t, 9, 1, 1)).error() == errc::step_peer_not_found);
    }
    // Neither kind of refusal changed anything (the campaign a hup would start, included).
    CHECK(n.raft().role() == role::follower);
    CHECK(n.raft().term() == 1);
    CHECK_FALSE(n.has_ready());
    // The same responses from a known peer are stepped.
    for (auto t : responses) {
        CAPTURE(to_string(t));
        message known = make_message(t, 2, 1, 1);
        if (t == message_type::read_index_resp) known.entries.push_back(ent(0, 0, "ctx"));
        CHECK(n.step(known));
    }
    settle(n);
    // A request from an unknown node is not a response: it is stepped.
    message hb = make_message(message_type::heartbeat, 9, 1, 1);
    CHECK(n.step(hb));
    CHECK(n.raft().lead() == 9);
}

// --- the durability contract --------------------------------------------------------------

TEST_CASE("a follower's vote leaves only after the vote is persisted", "[raw_node][durability]") {
    memory_storage st;
    std::vector<sent_message> sent;
    probed_node n(cfg_for(2), st, durability_probe{&st, &sent});
    REQUIRE(n.bootstrap(voters({1, 2, 3})));
    settle(n);

    message vote = make_message(message_type::vote, 1, 2, 2);
    vote.index = 3;
    vote.log_term = 1;
    REQUIRE(n.step(vote));
    CHECK(n.raft().vote() == 1);
    CHECK(sent.empty());

    auto& rd = n.ready();
    CHECK(rd.hard_state == hard_state{2, 1, 3});
    CHECK(rd.must_sync);
    REQUIRE(rd.messages.size() == 1);
    CHECK(rd.messages[0].type == message_type::vote_resp);
    CHECK(rd.messages[0].to == 1);
    CHECK_FALSE(rd.messages[0].reject);
    CHECK(sent.empty());  // ready() hands it to the application, not to the transport

    REQUIRE(n.persist(rd));
    CHECK(st.hard_state().vote == 1);
    CHECK(sent.empty());  // persisting does not send either
    n.advance();
    REQUIRE(sent.size() == 1);
    CHECK(sent[0].msg.type == message_type::vote_resp);
    CHECK(sent[0].durable_hard_state == hard_state{2, 1, 3});
    CHECK_FALSE(n.has_ready());
}

TEST_CASE("a follower acks appended entries only after persisting them",
          "[raw_node][durability]") {
    memory_storage st;
    std::vector<sent_message> sent;
    probed_node n(cfg_for(2), st, durability_probe{&st, &sent});
    REQUIRE(n.bootstrap(voters({1, 2, 3})));
    settle(n);

    message app = make_message(message_type::app, 1, 2, 2);
    app.index = 3;
    app.log_term = 1;
    app.entries = {ent(2, 4, "x"), ent(2, 5, "y")};
    app.commit = 3;
    REQUIRE(n.step(app));
    CHECK(sent.empty());

    auto& rd = n.ready();
    CHECK(rd.soft_state == soft_state{1, role::follower});
    CHECK(rd.hard_state == hard_state{2, none, 3});
    CHECK(indexes({rd.entries.begin(), rd.entries.end()}) == std::vector<index_t>{4, 5});
    CHECK(rd.committed_entries.empty());
    REQUIRE(rd.messages.size() == 1);
    CHECK(rd.messages[0].type == message_type::app_resp);
    CHECK(rd.messages[0].index == 5);
    CHECK(sent.empty());
    REQUIRE(n.persist(rd));
    CHECK(sent.empty());
    n.advance();
    REQUIRE(sent.size() == 1);
    CHECK(sent[0].msg.type == message_type::app_resp);
    CHECK(sent[0].durable_last_index == 5);
    CHECK_FALSE(n.has_ready());

    // A heartbeat's response vouches for nothing durable, but it too leaves in advance().
    message hb = make_message(message_type::heartbeat, 1, 2, 2);
    hb.commit = 5;
    REQUIRE(n.step(hb));
    auto& rd2 = n.ready();
    CHECK(rd2.hard_state == hard_state{2, none, 5});
    CHECK(indexes(rd2.committed_entries) == std::vector<index_t>{4, 5});
    CHECK(sent.size() == 1);
    REQUIRE(n.persist(rd2));
    n.advance();
    REQUIRE(sent.size() == 2);
    CHECK(sent[1].msg.type == message_type::heartbeat_resp);
}

TEST_CASE("a single-node leader commits only what it has persisted", "[raw_node][durability]") {
    memory_storage st;
    node n(cfg_for(1), st);
    REQUIRE(n.bootstrap(voters({1})));
    settle(n);

    REQUIRE(n.campaign());
    {
        auto& rd = n.ready();
        CHECK(rd.soft_state == soft_state{none, role::candidate});
        CHECK(rd.hard_state == hard_state{2, 1, 1});
        CHECK(rd.messages.empty());  // its own vote is stepped back in advance(), not sent
        // The vote for itself counts only once it is durable: still a candidate.
        CHECK(n.raft().role() == role::candidate);
        REQUIRE(n.persist(rd));
        n.advance();
    }
    CHECK(n.raft().role() == role::leader);
    CHECK(n.raft().log().last_index() == 2);  // the empty entry of the new term (Raft §5.4.2)
    CHECK(n.raft().log().committed() == 1);
    CHECK(progress_of(n.status(), 1)->match == 1);
    {
        auto& rd = n.ready();
        CHECK(rd.soft_state == soft_state{1, role::leader});
        CHECK(indexes({rd.entries.begin(), rd.entries.end()}) == std::vector<index_t>{2});
        CHECK(rd.committed_entries.empty());  // a quorum of one, but not yet durable
        CHECK(is_empty(rd.hard_state));
        REQUIRE(n.persist(rd));
        CHECK(n.raft().log().committed() == 1);
        n.advance();
    }
    CHECK(progress_of(n.status(), 1)->match == 2);
    CHECK(n.raft().log().committed() == 2);
    {
        auto out = cycle(n);
        CHECK(out.hard == hard_state{2, 1, 2});
        CHECK(indexes(out.committed) == std::vector<index_t>{2});
        CHECK(out.entries.empty());
    }
    CHECK_FALSE(n.has_ready());

    REQUIRE(n.propose(buffer("x")));
    {
        auto& rd = n.ready();
        REQUIRE(rd.entries.size() == 1);
        CHECK(rd.entries[0] == ent(2, 3, "x"));
        CHECK(rd.committed_entries.empty());
        CHECK(is_empty(rd.hard_state));
        CHECK(n.raft().log().committed() == 2);
        REQUIRE(n.persist(rd));
        n.advance();
    }
    CHECK(n.raft().log().committed() == 3);
    auto out = cycle(n);
    CHECK(out.hard == hard_state{2, 1, 3});
    REQUIRE(out.committed.size() == 1);
    CHECK(out.committed[0] == ent(2, 3, "x"));
    CHECK(n.status().applied == 3);
    CHECK_FALSE(n.has_ready());
}

TEST_CASE("a leader's own log counts toward commit only after advance()",
          "[raw_node][durability]") {
    memory_storage st;
    node n(cfg_for(1), st);
    REQUIRE(n.bootstrap(voters({1, 2, 3})));
    settle(n);
    REQUIRE(n.campaign());
    {
        auto out = cycle(n);
        CHECK(out.messages.size() == 2);  // vote requests to 2 and 3
        CHECK(out.hard == hard_state{2, 1, 3});
    }
    CHECK(n.transport().take().size() == 2);
    CHECK(n.raft().role() == role::candidate);  // its own vote alone is no majority
    message granted = make_message(message_type::vote_resp, 2, 1, 2);
    REQUIRE(n.step(granted));
    REQUIRE(n.raft().role() == role::leader);
    settle(n);  // persists the empty entry 4 and sends it; the self-ack is stepped
    CHECK(progress_of(n.status(), 1)->match == 4);
    for (node_id f : {2, 3}) {
        message ack = make_message(message_type::app_resp, f, 1, 2);
        ack.index = 4;
        REQUIRE(n.step(ack));
    }
    settle(n);
    CHECK(n.raft().log().committed() == 4);
    (void)n.transport().take();

    // A new entry at 5, not yet persisted by the leader.
    REQUIRE(n.propose(buffer("y")));
    CHECK(progress_of(n.status(), 1)->match == 4);
    CHECK(n.transport().empty());  // its appends wait for advance() too

    SECTION("one follower's ack is not a majority without the leader's own write") {
        // Injected: raftpp sends the append for 5 only in advance(), after the leader's own
        // write, so no real follower can ack it yet. Were one to (as where appends go out in
        // parallel with the local write), the leader's own match must still be 4.
        message ack = make_message(message_type::app_resp, 2, 1, 2);
        ack.index = 5;
        REQUIRE(n.step(ack));
        CHECK(progress_of(n.status(), 2)->match == 5);
        CHECK(n.raft().log().committed() == 4);
        auto& rd = n.ready();
        CHECK(indexes({rd.entries.begin(), rd.entries.end()}) == std::vector<index_t>{5});
        CHECK(rd.committed_entries.empty());
        REQUIRE(n.persist(rd));
        CHECK(n.raft().log().committed() == 4);
        n.advance();  // the self-ack for 5 is stepped: {1, 2} is a majority
        CHECK(progress_of(n.status(), 1)->match == 5);
        CHECK(n.raft().log().committed() == 5);
        auto out = cycle(n);
        CHECK(indexes(out.committed) == std::vector<index_t>{5});
        CHECK(out.hard.commit == 5);
    }
    SECTION("two followers' acks are a majority without the leader") {
        // Injected likewise. Raft needs a majority of durable copies, not necessarily the
        // leader's: {2, 3} suffices. The entry is then both to persist and to apply in one
        // ready; persist comes first.
        for (node_id f : {2, 3}) {
            message ack = make_message(message_type::app_resp, f, 1, 2);
            ack.index = 5;
            REQUIRE(n.step(ack));
        }
        CHECK(progress_of(n.status(), 1)->match == 4);
        CHECK(n.raft().log().committed() == 5);
        auto out = cycle(n);
        CHECK(indexes(out.entries) == std::vector<index_t>{5});
        CHECK(indexes(out.committed) == std::vector<index_t>{5});
        CHECK(progress_of(n.status(), 1)->match == 5);
    }
    CHECK_FALSE(n.has_ready());
}

// --- misuse of the cycle ------------------------------------------------------------------

// advance() before the storage holds the ready's state would leave the log reading entries the
// storage never got; it aborts at once, naming the missed call (a forked child shows it).
TEST_CASE("advance() before persisting the ready aborts naming the missed call",
          "[raw_node][misuse]") {
    memory_storage st;
    node n(cfg_for(1), st);
    REQUIRE(n.bootstrap(voters({1})));
    REQUIRE(n.ready().entries.size() == 1);
    auto why = abort_message([&] { n.advance(); });
    REQUIRE(why);
    CHECK_THAT(*why, Catch::Contains("raw_node::advance(): called before the entries of this "
                                     "ready were persisted (call persist(rd)"));
    // The legal order in this process: it must not abort.
    REQUIRE(n.persist(n.ready()));
    n.advance();
    settle(n);

    // A snapshot from the leader, handed out but not applied to the storage.
    memory_storage st2;
    node f(cfg_for(2), st2);
    REQUIRE(f.bootstrap(voters({1, 2, 3})));
    settle(f);
    message snap = make_message(message_type::snap, 1, 2, 2);
    auto s = std::make_shared<snapshot>();
    s->metadata.index = 10;
    s->metadata.term = 2;
    s->metadata.conf_state.voters = {1, 2, 3};
    snap.snapshot = s;
    REQUIRE(f.step(std::move(snap)));
    REQUIRE_FALSE(is_empty(f.ready().snapshot));
    why = abort_message([&] { f.advance(); });
    REQUIRE(why);
    CHECK_THAT(*why, Catch::Contains("raw_node::advance(): called before the snapshot of this "
                                     "ready was persisted"));
    REQUIRE(f.persist(f.ready()));
    f.advance();
    CHECK(f.raft().log().committed() == 10);
}

TEST_CASE("on_write_complete() before persisting the write aborts naming the missed call",
          "[raw_node][misuse][async]") {
    memory_storage st;
    config c = cfg_for(1);
    c.async_storage_writes = true;
    node n(c, st);
    REQUIRE(n.bootstrap(voters({1})));
    auto& rd = n.ready();
    REQUIRE(rd.write);
    storage_write w = std::move(*rd.write);
    n.advance();  // async: right after ready(), before the write is durable
    auto why = abort_message([&] { n.on_write_complete(storage_write(w)); });
    REQUIRE(why);
    CHECK_THAT(*why, Catch::Contains("raw_node::on_write_complete(): called before the entries "
                                     "of this write were persisted (call persist(w)"));
    REQUIRE(n.persist(w));
    n.on_write_complete(std::move(w));
    CHECK(n.raft().log().unstable_entries().empty());
}

// --- observers ----------------------------------------------------------------------------

TEST_CASE("has_ready is false when idle and soft_state is reported once per change",
          "[raw_node][ready]") {
    memory_storage st;
    node n(cfg_for(1), st);
    CHECK_FALSE(n.has_ready());  // a fresh node has nothing to say
    REQUIRE(n.bootstrap(voters({1, 2, 3})));
    CHECK(n.has_ready());
    settle(n);
    CHECK_FALSE(n.has_ready());
    for (int i = 0; i < 5; ++i) n.tick();  // below the election timeout: nothing happens
    CHECK_FALSE(n.has_ready());

    REQUIRE(n.campaign());
    auto out = cycle(n);
    CHECK(out.soft == soft_state{none, role::candidate});
    CHECK_FALSE(n.has_ready());  // the stepped self-vote changed no observable state

    REQUIRE(n.step(make_message(message_type::vote_resp, 3, 1, 2)));
    out = cycle(n);
    CHECK(out.soft == soft_state{1, role::leader});
    CHECK_FALSE(n.has_ready());  // entry 4 is persisted but waits for a follower's ack
    message ack = make_message(message_type::app_resp, 3, 1, 2);
    ack.index = 4;
    REQUIRE(n.step(ack));
    out = cycle(n);  // commits 4: no role change, so no soft state
    CHECK_FALSE(out.soft);
    CHECK(out.hard.commit == 4);
    settle(n);

    message app = make_message(message_type::app, 2, 1, 3);  // a leader at a higher term
    app.index = 4;
    app.log_term = 2;
    REQUIRE(n.step(app));
    out = cycle(n);
    CHECK(out.soft == soft_state{2, role::follower});
    CHECK(out.hard.term == 3);
    CHECK(out.hard.vote == none);
    settle(n);
    CHECK_FALSE(n.has_ready());
}

TEST_CASE("status reports role, term, commit, applied and the leader's progress",
          "[raw_node][status]") {
    memory_storage st;
    node n(cfg_for(1), st);
    REQUIRE(n.bootstrap(voters({1, 2, 3})));
    settle(n);

    auto s = n.status();
    CHECK(s.id == 1);
    CHECK(s.hard_state == hard_state{1, none, 3});
    CHECK(s.soft_state == soft_state{none, role::follower});
    CHECK(s.applied == 3);
    CHECK(s.lead_transferee == none);
    CHECK(s.progress.empty());  // only a leader tracks progress

    REQUIRE(n.campaign());
    settle(n);
    REQUIRE(n.step(make_message(message_type::vote_resp, 2, 1, 2)));
    settle(n);
    message ack = make_message(message_type::app_resp, 2, 1, 2);
    ack.index = 4;
    REQUIRE(n.step(ack));
    settle(n);

    s = n.status();
    CHECK(s.hard_state == hard_state{2, 1, 4});
    CHECK(s.soft_state == soft_state{1, role::leader});
    CHECK(s.applied == 4);
    REQUIRE(s.progress.size() == 3);
    const auto* self = progress_of(s, 1);
    const auto* two = progress_of(s, 2);
    const auto* three = progress_of(s, 3);
    REQUIRE((self && two && three));
    CHECK(self->match == 4);
    CHECK(self->next == 5);
    CHECK(self->state == detail::progress_state::replicate);
    CHECK(two->match == 4);
    CHECK(two->state == detail::progress_state::replicate);
    CHECK(three->match == 0);
    CHECK(three->state == detail::progress_state::probe);
    CHECK_FALSE(three->is_learner);
}
