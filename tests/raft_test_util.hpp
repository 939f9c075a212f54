// Helpers for tests that drive raft<...> directly, ported from etcd-io/raft main's raft_test.go:
// newTestRaft / newTestMemoryStorage(withPeers(...)) -> new_test_raft / new_test_storage,
// readMessages / advanceMessagesAfterAppend / nextEnts, and the synchronous `network` (with
// nopStepper as a black hole). As in etcd main, responses that vouch for durable state wait in
// messages_after_append() until the helpers have persisted the log; the ones a node owes itself
// (its own vote, the leader's ack of its entries) are then stepped back into it.
// This header also gives Catch readable output for entry and message: suites that include it
// must not specialize Catch::StringMaker for those types themselves.
#pragma once

#include <catch2/catch.hpp>

#include "core_instances.hpp"
#include "message_util.hpp"

#include <raftpp/memory_storage.hpp>
#include <raftpp/raft.hpp>

#include <algorithm>
#include <bitset>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

namespace raftpp::test {

using test_raft = raft<memory_storage, vector_transport, null_logger>;

// Fails the test (by exception) when a call the scenario relies on fails.
inline void must(result<void> r, const char* what) {
    if (!r) throw std::runtime_error(std::string(what) + ": " + r.error().message());
}

// etcd's newTestMemoryStorage(withPeers(...), withLearners(...)): a memory_storage to fill
// before the raft is made, and the configuration that raft starts with. etcd writes the peers
// into the storage's (index 0) snapshot; memory_storage refuses a snapshot at index 0, so
// new_test_raft applies `peers` as conf changes instead, unless the storage holds a real one.
struct test_storage {
    memory_storage storage;
    conf_state peers;

    test_storage& append(std::span<const entry> ents) {
        must(storage.append(ents), "memory_storage::append");
        return *this;
    }
    test_storage& append(const std::vector<entry>& ents) { return append(std::span(ents)); }
    test_storage& set_hard_state(const raftpp::hard_state& hs) {
        must(storage.set_hard_state(hs), "memory_storage::set_hard_state");
        return *this;
    }
};

inline test_storage new_test_storage(std::vector<node_id> voters,
                                     std::vector<node_id> learners = {}) {
    test_storage s;
    s.peers.voters = std::move(voters);
    s.peers.learners = std::move(learners);
    return s;
}

// etcd's idsBySize: 1, 2, ..., n.
inline std::vector<node_id> ids_by_size(std::size_t n) {
    std::vector<node_id> ids(n);
    for (std::size_t i = 0; i < n; ++i) ids[i] = i + 1;
    return ids;
}

// etcd's index(first).terms(t...): entries first, first + 1, ... with the given terms.
inline std::vector<entry> entries_at(index_t first, std::initializer_list<term_t> terms) {
    std::vector<entry> ents;
    for (term_t t : terms) ents.push_back({t, first + ents.size(), entry_type::normal, {}});
    return ents;
}

// etcd's newTestConfig: unlimited message size, 256 inflight messages.
inline config test_config(node_id id, int election, int heartbeat) {
    config c;
    c.id = id;
    c.election_tick = election;
    c.heartbeat_tick = heartbeat;
    c.max_size_per_msg = no_limit;
    c.max_inflight_msgs = 256;
    return c;
}

// test_node's storage, a base so that it is constructed before and destroyed after the raft
// that points at it (base-from-member). Not in a `detail` namespace: suites using both
// raftpp and raftpp::test must still be able to say detail::progress.
struct test_storage_owner {
    memory_storage owned_storage;
};

// A test_raft that owns its storage. Pinned (neither copied nor moved) because the raft keeps
// a pointer to the storage; new_test_raft hands it out on the heap.
class test_node : private test_storage_owner, public test_raft {
public:
    test_node(const config& cfg, memory_storage s)
        : test_storage_owner{std::move(s)}, test_raft(cfg, owned_storage) {}
    test_node(const test_node&) = delete;
    test_node& operator=(const test_node&) = delete;
};
using test_raft_ptr = std::unique_ptr<test_node>;

inline test_raft_ptr new_test_raft(const config& cfg, test_storage s) {
    auto r = std::make_unique<test_node>(cfg, std::move(s.storage));
    auto st = r->log().storage().initial_state();
    if (!st || !st->conf_state.voters.empty() || !st->conf_state.learners.empty()) return r;
    bool changed = false;
    auto add = [&](node_id id, conf_change_type t) {
        if (!r->apply_conf_change(conf_change{t, id, {}}.as_v2()))
            throw std::runtime_error("new_test_raft: cannot add node " + std::to_string(id));
        changed = true;
    };
    for (node_id id : s.peers.voters) add(id, conf_change_type::add_node);
    for (node_id id : s.peers.learners) add(id, conf_change_type::add_learner_node);
    // etcd's newRaft ends with becomeFollower after the configuration is restored, which
    // resets every progress to next = last index + 1.
    if (changed) r->become_follower(r->term(), none);
    return r;
}

inline test_raft_ptr new_test_raft(node_id id, int election, int heartbeat, test_storage s) {
    return new_test_raft(test_config(id, election, heartbeat), std::move(s));
}

// What a ready cycle persists: the unstable snapshot, the entries and the hard state go to
// storage, and the log is told they are stable.
inline void persist(test_raft& r) {
    auto& log = r.log();
    auto& s = log.storage();
    if (const auto& snap = log.unstable().snapshot) {
        const index_t i = snap->metadata.index;
        must(s.apply_snapshot(*snap), "memory_storage::apply_snapshot");
        r.on_snapshot_persisted(i);
    }
    if (auto ents = log.unstable_entries(); !ents.empty()) {
        const index_t i = ents.back().index;
        const term_t t = ents.back().term;
        must(s.append(ents), "memory_storage::append");
        r.on_persisted(i, t);
    }
    if (auto hs = r.hard_state_now(); !is_empty(hs)) must(s.set_hard_state(hs), "set_hard_state");
}

// etcd's advanceMessagesAfterAppend: persists, then steps the responses addressed to this
// node and moves the others to messages(); repeats while stepping produces more.
inline void advance_messages_after_append(test_raft& r) {
    for (;;) {
        persist(r);
        auto msgs = std::exchange(r.messages_after_append(), {});
        if (msgs.empty()) return;
        for (auto& m : msgs) {
            if (m.to == r.id()) (void)r.step(std::move(m));
            else r.messages().push_back(std::move(m));
        }
    }
}

// etcd's readMessages: everything the node may send now, in the order it was emitted.
inline std::vector<message> read_messages(test_raft& r) {
    advance_messages_after_append(r);
    return std::exchange(r.messages(), {});
}

// etcd's nextEnts: persists, then returns the committed entries not yet applied and marks
// them applied (the log only: like etcd, no conf change is applied and no size is released).
inline std::vector<entry> next_committed(test_raft& r) {
    advance_messages_after_append(r);
    auto ents = r.log().next_committed_entries(no_limit);
    must(r.log().applied_to(r.log().committed()), "applied_to");
    return ents;
}

// etcd's messageSlice sort: a canonical order for comparing messages whose emit order is not
// part of what a test checks.
inline std::vector<message> sorted(std::vector<message> msgs) {
    std::stable_sort(msgs.begin(), msgs.end(), [](const message& a, const message& b) {
        return std::tie(a.type, a.to, a.from, a.term, a.log_term, a.index, a.commit) <
               std::tie(b.type, b.to, b.from, b.term, b.log_term, b.index, b.commit);
    });
    return msgs;
}

// etcd's acceptAndReply: the follower's successful answer to an append.
inline message accept_and_reply(const message& m) {
    if (m.type != message_type::app) throw std::logic_error("accept_and_reply: not an append");
    message r;
    r.type = message_type::app_resp;
    r.from = m.to;
    r.to = m.from;
    r.term = m.term;
    r.index = m.index + m.entries.size();
    return r;
}

// etcd's commitNoopEntry: a fresh leader gets its empty entry acked by every follower,
// committed, persisted and applied. etcd triggers the appends with bcastAppend, which is
// private here: a heartbeat response from each follower makes the leader send what it lacks.
inline void commit_noop_entry(test_raft& r) {
    if (r.role() != role::leader) throw std::logic_error("commit_noop_entry: not the leader");
    std::vector<node_id> followers = r.tracker().voter_nodes();
    for (node_id id : r.tracker().learner_nodes()) followers.push_back(id);
    for (node_id id : followers) {
        if (id == r.id()) continue;
        message hb;
        hb.type = message_type::heartbeat_resp;
        hb.from = id;
        hb.to = r.id();
        hb.term = r.term();
        (void)r.step(std::move(hb));
    }
    for (auto& m : read_messages(r)) {
        if (m.type != message_type::app || m.entries.size() != 1 || !m.entries[0].data.empty())
            throw std::logic_error("commit_noop_entry: not an append of the empty entry");
        (void)r.step(accept_and_reply(m));
    }
    (void)read_messages(r);  // the commit index updates sent to followers
    (void)next_committed(r);
}

// etcd's nopStepper / blackHole, as a network constructor argument.
struct nop_stepper_t {};
inline constexpr nop_stepper_t nop_stepper{};

// etcd's test `network`: nodes 1..n exchange messages synchronously; send() delivers until
// no node has anything left to say. Drops (with a seeded generator), cuts, isolation, ignored
// types and a hook filter what nodes send, never the messages handed to send().
class network {
public:
    // One constructor argument per node (ids 1, 2, ...): nullptr for a fresh node made like
    // etcd's (election 10, heartbeat 1, every node a voter, then `configure`d), a test_raft
    // the test owns (its id must match its position; missing voters are added to its
    // configuration), or nop_stepper for a node that swallows everything.
    struct peer_arg {
        peer_arg(std::nullptr_t) {}
        peer_arg(test_raft& r) : node(&r) {}
        peer_arg(const test_raft_ptr& r) : node(r.get()) {}
        peer_arg(nop_stepper_t) : black_hole(true) {}
        test_raft* node = nullptr;
        bool black_hole = false;
    };

    explicit network(std::initializer_list<peer_arg> peers,
                     const std::function<void(config&)>& configure = {})
        : rng_(0x5eed) {
        const auto ids = ids_by_size(peers.size());
        node_id id = 0;
        for (const peer_arg& p : peers) {
            ++id;
            if (p.black_hole) {
                peers_[id] = nullptr;
            } else if (p.node == nullptr) {
                config c = test_config(id, 10, 1);
                if (configure) configure(c);
                owned_.push_back(new_test_raft(c, new_test_storage(ids)));
                peers_[id] = owned_.back().get();
            } else {
                if (p.node->id() != id) throw std::logic_error("network: peer id mismatch");
                for (node_id v : ids) {
                    if (p.node->tracker().progress(v) != nullptr) continue;
                    const conf_change add{conf_change_type::add_node, v, {}};
                    if (!p.node->apply_conf_change(add.as_v2()))
                        throw std::runtime_error("network: cannot add node " + std::to_string(v));
                }
                peers_[id] = p.node;
            }
        }
    }

    void send(message m) { send(std::vector<message>{std::move(m)}); }
    void send(std::vector<message> msgs) {
        std::deque<message> q(std::make_move_iterator(msgs.begin()),
                              std::make_move_iterator(msgs.end()));
        while (!q.empty()) {
            message m = std::move(q.front());
            q.pop_front();
            auto it = peers_.find(m.to);
            if (it == peers_.end()) throw std::logic_error("network: message to an unknown node");
            if (it->second == nullptr) continue;  // black hole
            test_raft& p = *it->second;
            (void)p.step(std::move(m));
            for (auto& out : read_messages(p))
                if (keep(out)) q.push_back(std::move(out));
        }
    }

    // Drops messages from -> to with probability perc (>= 1: always).
    void drop(node_id from, node_id to, double perc) { dropm_[{from, to}] = perc; }
    void cut(node_id a, node_id b) {
        drop(a, b, 1);
        drop(b, a, 1);
    }
    void isolate(node_id id) {
        for (const auto& [other, _] : peers_)
            if (other != id) cut(id, other);
    }
    void ignore(message_type t) { ignored_.set(static_cast<std::size_t>(t)); }
    // Undoes drop, cut, isolate and ignore (etcd's recover); the hook stays.
    void recover() {
        dropm_.clear();
        ignored_.reset();
    }
    // etcd's msgHook: a message is delivered only if keep(m); an empty function removes it.
    void set_msg_hook(std::function<bool(const message&)> keep) { hook_ = std::move(keep); }
    void seed(std::uint64_t s) { rng_ = raftpp::detail::splitmix64(s); }

    // The node with this id; a black hole or unknown id is a test bug.
    test_raft& peer(node_id id) {
        auto it = peers_.find(id);
        if (it == peers_.end() || it->second == nullptr)
            throw std::logic_error("network: no raft node " + std::to_string(id));
        return *it->second;
    }
    std::size_t size() const noexcept { return peers_.size(); }

private:
    bool keep(const message& m) {
        if (ignored_.test(static_cast<std::size_t>(m.type))) return false;
        if (auto it = dropm_.find({m.from, m.to}); it != dropm_.end()) {
            const double u = static_cast<double>(rng_.next() >> 11) * 0x1.0p-53;
            if (u < it->second) return false;
        }
        return !hook_ || hook_(m);
    }

    std::map<node_id, test_raft*> peers_;  // nullptr: a black hole
    std::vector<test_raft_ptr> owned_;
    std::map<std::pair<node_id, node_id>, double> dropm_;
    std::bitset<message_type_count> ignored_;
    std::function<bool(const message&)> hook_;
    raftpp::detail::splitmix64 rng_;
};

}  // namespace raftpp::test

namespace Catch {
template <>
struct StringMaker<raftpp::entry> {
    static std::string convert(const raftpp::entry& e) {
        std::string s = "{i" + std::to_string(e.index) + " t" + std::to_string(e.term);
        if (e.type != raftpp::entry_type::normal) s += " conf";
        if (!e.data.empty()) s += " \"" + e.data.str() + "\"";
        return s + "}";
    }
};
template <>
struct StringMaker<raftpp::message> {
    static std::string convert(const raftpp::message& m) {
        std::string s = "{" + std::string(raftpp::to_string(m.type)) + " " +
                        std::to_string(m.from) + "->" + std::to_string(m.to) +
                        " term:" + std::to_string(m.term) + " logterm:" +
                        std::to_string(m.log_term) + " index:" + std::to_string(m.index) +
                        " commit:" + std::to_string(m.commit);
        if (m.reject) s += " rejected(hint " + std::to_string(m.reject_hint) + ")";
        if (!m.entries.empty()) {
            s += " entries:[";
            for (const auto& e : m.entries) s += StringMaker<raftpp::entry>::convert(e);
            s += "]";
        }
        if (!m.context.empty()) s += " ctx:" + m.context.str();
        if (m.snapshot) s += " snap@" + std::to_string(m.snapshot->metadata.index);
        return s + "}";
    }
};
}  // namespace Catch
