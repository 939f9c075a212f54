// The step fuzzer's cluster: nodes 1-3 bootstrapped as voters and node 4 a spare with empty
// storage, each a raw_node over its own memory_storage, driven one action at a time by the
// fuzz input (fuzz/step_fuzzer.cpp). Messages the nodes send wait in an in-flight list the
// input delivers, drops, duplicates, reorders, replays and mutates; the input may also step
// forged messages into any node, crash and restart nodes, and snapshot and compact logs.
//
// After every action the invariants are checked; a violation prints what broke and aborts,
// which libFuzzer reports as a crash with the input that did it.
//   Always (they hold whatever a peer sends): per incarnation, a node's term and commit index
//   never decrease and its vote never changes within a term; applied <= committed <=
//   last index; the state machine applies index after index; a message refused by
//   raw_node::step (local type, malformed, unknown sender) changes nothing; a vote or append
//   ack leaves only once storage backs it; every ready persists.
//   Until a forged or mutated message is accepted ("tainted": Raft assumes honest peers):
//   at most one leader per term (Raft §5.2), every node applies the same entry at the same
//   index and snapshots agree with the applied history (§5.4.3), a leader commits only what
//   it persisted, and no node refuses a message another node sent as malformed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <raftpp/conf_change.hpp>
#include <raftpp/logger.hpp>
#include <raftpp/memory_storage.hpp>
#include <raftpp/raw_node.hpp>
#include <raftpp/types.hpp>

namespace raftpp::fuzz {

// RAFTPP_FUZZ_TRACE=1 in the environment: actions, raft's log lines and violations on stderr.
inline bool trace_enabled() {
    static bool on = [] {
        const char* e = std::getenv("RAFTPP_FUZZ_TRACE");
        return e != nullptr && *e != '\0' && *e != '0';
    }();
    return on;
}

struct trace_logger {
    bool enabled(log_level) const noexcept { return trace_enabled(); }
    void write(log_level lv, std::string_view text) const {
        std::fprintf(stderr, "    raft %s %.*s\n", std::string(to_string(lv)).c_str(),
                     static_cast<int>(text.size()), text.data());
    }
};

template <class... A>
void trace(const A&... parts) {
    if (trace_enabled()) std::fprintf(stderr, "%s\n", detail::concat(parts...).c_str());
}

// Every message a node sends lands in the cluster's outbox.
struct outbox_transport {
    std::vector<message>* out = nullptr;
    void send(message&& m) { out->push_back(std::move(m)); }
};

// Constructs the fuzzer steers around because they break the core for a known, reported
// reason (fuzz/README.md#findings). Build with -DRAFTPP_FUZZ_KNOWN_BUGS=1 (scripts/fuzz
// --known-bugs) to reach them again, e.g. to check a fix; the guards are in step_fuzzer.cpp.
#ifndef RAFTPP_FUZZ_KNOWN_BUGS
#define RAFTPP_FUZZ_KNOWN_BUGS 0
#endif
inline constexpr bool avoid_known_bugs = !RAFTPP_FUZZ_KNOWN_BUGS;

inline constexpr node_id node_count = 4;  // 1-3 voters, 4 the spare
inline constexpr std::size_t max_in_flight = 256;
inline constexpr std::size_t history_size = 64;

class fuzz_cluster {
public:
    using node_type = raw_node<memory_storage, outbox_transport, trace_logger>;

    explicit fuzz_cluster(const config& base) : base_(base) {
        for (node_id id = 1; id <= node_count; ++id) {
            member& m = members_[id];
            m.storage = std::make_unique<memory_storage>();
            m.node = make_node(id, 0);
        }
        std::vector<peer> peers{{1, false, {}}, {2, false, {}}, {3, false, {}}};
        for (node_id id = 1; id <= 3; ++id) {
            if (!members_[id].node->bootstrap(peers)) fail("bootstrap of node ", id, " failed");
        }
        for (node_id id = 1; id <= node_count; ++id) {
            observe(id);
            process(id);
        }
    }

    // --- driving --------------------------------------------------------------------------

    // id's raw_node, null while crashed. Call check() after driving it directly.
    node_type* node(node_id id) { return at(id).node.get(); }
    bool tainted() const noexcept { return tainted_; }

    // Checks every live node's invariants (what each action ends with).
    void check() {
        for (node_id id = 1; id <= node_count; ++id) observe(id);
    }
    std::vector<message>& in_flight() noexcept { return in_flight_; }
    const std::vector<message>& history() const noexcept { return history_; }

    void tick(node_id id) {
        if (node_type* n = node(id)) {
            n->tick();
            observe(id);
        }
    }

    // Ready cycles until id has nothing ready: persist, check durability, apply, advance.
    void process(node_id id) {
        member& m = at(id);
        for (int cycles = 0; m.node && m.node->has_ready(); ++cycles) {
            if (cycles == 1000) fail("node ", id, ": ready cycles do not settle");
            run_ready(id, m);
            observe(id);
            collect();
        }
    }
    void process_all() {
        for (node_id id = 1; id <= node_count; ++id) process(id);
    }

    // Steps in-flight message k into its node (it leaves the list).
    void deliver(std::size_t k) {
        if (in_flight_.empty()) return;
        k %= in_flight_.size();
        message m = std::move(in_flight_[k]);
        in_flight_.erase(in_flight_.begin() + static_cast<std::ptrdiff_t>(k));
        step_real(std::move(m));
    }
    void deliver_all() {
        auto msgs = std::exchange(in_flight_, {});
        for (auto& m : msgs) step_real(std::move(m));
    }
    // Steps a message some node really sent (a delivery, a duplicate or a replay: Raft
    // tolerates all three, so none of them taints the run).
    void step_real(message&& m) {
        node_type* n = m.to >= 1 && m.to <= node_count ? node(m.to) : nullptr;
        if (n == nullptr) return;  // lost: crashed or unknown destination
        const node_id to = m.to;
        message header;  // what the failure report needs, without the payload
        header.type = m.type;
        header.from = m.from;
        header.to = m.to;
        header.term = m.term;
        header.log_term = m.log_term;
        header.index = m.index;
        header.commit = m.commit;
        header.reject = m.reject;
        auto r = n->step(std::move(m));
        if (!r && !tainted_ &&
            (r.error() == errc::malformed_message || r.error() == errc::step_local_msg))
            fail("node ", to, " refused a message another node sent (", describe(header),
                 "): ", r.error().message());
        observe(to);
    }

    // Steps a message built by the input. A refusal must leave the node as it was; anything
    // accepted may be a lie no Raft peer would tell, so the cross-node checks stop.
    void inject(node_id id, message&& m) {
        node_type* n = node(id);
        if (n == nullptr) return;
        const auto before = fingerprint(*n);
        const message_type type = m.type;
        auto r = n->step(std::move(m));
        trace("    -> ", r ? std::string("ok") : r.error().message());
        if (!r && (r.error() == errc::malformed_message || r.error() == errc::step_local_msg ||
                   r.error() == errc::step_peer_not_found)) {
            if (fingerprint(*n) != before)
                fail("node ", id, " changed state although it refused a ", to_string(type), ": ",
                     r.error().message());
        } else {
            taint();
        }
        observe(id);
    }

    void taint() {
        if (!tainted_) trace("    (tainted: cross-node invariants off from here)");
        tainted_ = true;
    }

    // "app 1->2 term 2 log_term 1 index 3 commit 3 entries [4/2 5/2] reject": entries as
    // index/term.
    static std::string describe(const message& m) {
        std::string ents;
        for (const entry& e : m.entries)
            ents += detail::concat(ents.empty() ? "" : " ", e.index, "/", e.term);
        return detail::concat(to_string(m.type), " ", m.from, "->", m.to, " term ", m.term,
                              " log_term ", m.log_term, " index ", m.index, " commit ", m.commit,
                              " entries [", ents, "]", m.snapshot ? " +snapshot" : "",
                              m.reject ? " reject" : "");
    }

    // Rounds without ticks until no node has a ready and nothing is in flight.
    void settle(int max_rounds = 64) {
        for (int i = 0; i < max_rounds; ++i) {
            process_all();
            if (in_flight_.empty()) return;
            deliver_all();
        }
        process_all();
    }

    void crash(node_id id) {
        member& m = at(id);
        m.node.reset();
    }

    // Rebuilds id from its storage. The state machine restarts from the storage's snapshot
    // (config.applied says so) and re-applies the committed log after it.
    void restart(node_id id) {
        member& m = at(id);
        m.node.reset();
        const snapshot snap = *m.storage->snapshot();
        m.sm = {};
        m.conf = conf_state{};
        if (!is_empty(snap)) {
            restore_state_machine(id, m, snap);
            m.conf = snap.metadata.conf_state;
        }
        m.watch = {};
        ++m.incarnation;
        m.node = make_node(id, m.incarnation);
        observe(id);
        process(id);
    }

    // What an application does to bound its log: snapshot the state machine at its applied
    // index, then compact storage up to `keep` entries before it.
    void snapshot_and_compact(node_id id, index_t keep) {
        member& m = at(id);
        if (!m.node || m.sm.applied == 0) return;
        const index_t i = m.sm.applied;
        if (!m.storage->create_snapshot(i, &m.conf, encode_state(m.sm))) return;
        if (i > keep) (void)m.storage->compact(i - keep);
    }

    // --- invariants -----------------------------------------------------------------------

    template <class... A>
    [[noreturn]] static void fail(const A&... parts) {
        std::fprintf(stderr, "raftpp-fuzz: invariant violated: %s\n",
                     detail::concat(parts...).c_str());
        std::fflush(stderr);
        std::abort();
    }

private:
    struct state_machine {
        index_t applied = 0;
        std::uint64_t hash = 0xcbf29ce484222325ULL;  // FNV-1a of every entry applied, in order
        bool known = true;                           // false after a snapshot of unknown origin
    };
    // The last values seen of what must never go back, per incarnation.
    struct watermarks {
        term_t term = 0;
        node_id vote = none;
        index_t committed = 0;
    };
    struct member {
        std::unique_ptr<memory_storage> storage;
        std::unique_ptr<node_type> node;  // null while crashed
        state_machine sm;
        conf_state conf;
        watermarks watch;
        std::uint64_t incarnation = 0;
    };

    member& at(node_id id) {
        if (id < 1 || id > node_count) fail("no node ", id);
        return members_[id];
    }

    std::unique_ptr<node_type> make_node(node_id id, std::uint64_t incarnation) {
        member& m = members_[id];
        config c = base_;
        c.id = id;
        c.seed = id * 0x9e3779b97f4a7c15ULL + incarnation * 0xd1b54a32d192ed03ULL + 1;
        c.applied = m.sm.applied;
        try {
            return std::make_unique<node_type>(c, *m.storage, outbox_transport{&outbox_},
                                               trace_logger{});
        } catch (const std::exception& e) {
            fail("node ", id, " cannot restart from its own storage: ", e.what());
        }
    }

    void run_ready(node_id id, member& m) {
        node_type& n = *m.node;
        auto& rd = n.ready();
        std::optional<storage_write> write = std::move(rd.write);
        const snapshot* snap = write ? &write->snapshot : &rd.snapshot;
        auto persisted = write ? n.persist(*write) : n.persist(rd);
        if (!persisted)
            fail("node ", id, ": storage refused a ready: ", persisted.error().message());
        if (!is_empty(*snap)) {
            restore_state_machine(id, m, *snap);
            m.conf = snap->metadata.conf_state;
        }
        check_durable(id, m, rd.messages);
        if (write) check_durable(id, m, write->responses);
        for (const entry& e : rd.committed_entries) apply(id, m, e);
        n.advance();
        if (write) n.on_write_complete(std::move(*write));
    }

    static std::uint64_t fnv(std::uint64_t h, const void* p, std::size_t n) {
        const auto* b = static_cast<const unsigned char*>(p);
        for (std::size_t i = 0; i < n; ++i) h = (h ^ b[i]) * 0x100000001b3ULL;
        return h;
    }
    static std::uint64_t hash_entry(std::uint64_t h, const entry& e) {
        h = fnv(h, &e.index, sizeof e.index);
        h = fnv(h, &e.term, sizeof e.term);
        h = fnv(h, &e.type, sizeof e.type);
        return fnv(h, e.data.data(), e.data.size());
    }

    static buffer encode_state(const state_machine& sm) {
        unsigned char b[16];
        for (int i = 0; i < 8; ++i) b[i] = static_cast<unsigned char>(sm.applied >> (8 * i));
        for (int i = 0; i < 8; ++i) b[8 + i] = static_cast<unsigned char>(sm.hash >> (8 * i));
        return buffer(b, sizeof b);
    }

    // The state machine as of a snapshot: ours (16 bytes: applied, hash) or, from a forged
    // one, of unknown content.
    void restore_state_machine(node_id id, member& m, const snapshot& s) {
        const index_t i = s.metadata.index;
        state_machine sm;
        sm.applied = i;
        if (s.data.size() == 16) {
            const auto* b = reinterpret_cast<const unsigned char*>(s.data.data());
            index_t di = 0;
            std::uint64_t h = 0;
            for (int k = 0; k < 8; ++k) di |= std::uint64_t{b[k]} << (8 * k);
            for (int k = 0; k < 8; ++k) h |= std::uint64_t{b[8 + k]} << (8 * k);
            sm.hash = h;
            sm.known = di == i;
        } else {
            sm.known = false;
        }
        if (!tainted_) {
            if (!sm.known) fail("node ", id, " installed a snapshot at ", i, " nobody took");
            if (auto it = hash_at_.find(i); it != hash_at_.end() && it->second != sm.hash)
                fail("node ", id, " installed a snapshot at ", i,
                     " that disagrees with the history");
        }
        m.sm = sm;
    }

    // Applies one committed entry: conf changes go to the node first (they may be refused),
    // then the entry is checked against what every node applied at its index.
    void apply(node_id id, member& m, const entry& e) {
        if (e.type != entry_type::normal) {
            if (auto cc = decode_conf_change_entry(e)) {
                if (auto cs = m.node->apply_conf_change(*cc)) m.conf = std::move(*cs);
            }
        }
        if (e.index != m.sm.applied + 1)
            fail("node ", id, " applied index ", e.index, " after ", m.sm.applied);
        m.sm.applied = e.index;
        m.sm.hash = hash_entry(m.sm.hash, e);
        if (tainted_ || !m.sm.known) return;
        auto [it, fresh] = history_by_index_.try_emplace(e.index, e);
        if (!fresh && it->second != e)
            fail("node ", id, " applied a different entry at ", e.index, " (term ", e.term, " vs ",
                 it->second.term, ")");
        auto [ht, hfresh] = hash_at_.try_emplace(e.index, m.sm.hash);
        if (!hfresh && ht->second != m.sm.hash)
            fail("node ", id, " reached index ", e.index, " with a different state");
    }

    // A granted vote and an append ack leave only once storage backs them (unless storage
    // moved to a later term since: the response is stale then, not unfounded).
    void check_durable(node_id id, const member& m, const std::vector<message>& msgs) {
        const hard_state& hs = m.storage->hard_state();
        const index_t last = m.storage->raw_log().back().index;
        for (const message& msg : msgs) {
            if (msg.reject || hs.term > msg.term) continue;
            if (msg.type == message_type::vote_resp && hs.vote != msg.to)
                fail("node ", id, " grants its vote to ", msg.to, " at term ", msg.term,
                     " but storage holds vote ", hs.vote, " at term ", hs.term);
            if (msg.type == message_type::app_resp && last < msg.index)
                fail("node ", id, " acks index ", msg.index, " to ", msg.to,
                     " but storage ends at ", last);
        }
    }

    // Checks id's invariants after an input reached it and records what must not go back.
    void observe(node_id id) {
        member& m = at(id);
        if (!m.node) return;
        const auto& r = m.node->raft();
        const auto& log = r.log();
        watermarks& w = m.watch;
        if (r.term() < w.term) fail("node ", id, " term went back from ", w.term, " to ", r.term());
        if (r.term() == w.term && w.vote != none && r.vote() != w.vote)
            fail("node ", id, " changed its vote at term ", r.term(), " from ", w.vote, " to ",
                 r.vote());
        if (log.committed() < w.committed)
            fail("node ", id, " commit index went back from ", w.committed, " to ",
                 log.committed());
        if (log.applied() > log.committed())
            fail("node ", id, " applied ", log.applied(), " past commit ", log.committed());
        if (log.committed() > log.last_index())
            fail("node ", id, " committed ", log.committed(), " past its last index ",
                 log.last_index());
        if (m.sm.applied > log.committed())
            fail("node ", id, " state machine at ", m.sm.applied, " past commit ", log.committed());
        w = {r.term(), r.vote(), log.committed()};

        if (tainted_ || r.role() != role::leader) return;
        auto [it, fresh] = leaders_.try_emplace(r.term(), id);
        if (!fresh && it->second != id)
            fail("two leaders at term ", r.term(), ": ", it->second, " and ", id);
        if (log.committed() > m.storage->raw_log().back().index)
            fail("leader ", id, " committed ", log.committed(), " past its persisted log");
    }

    // Moves what the nodes sent into the in-flight list and the replay history.
    void collect() {
        for (auto& m : outbox_) {
            if (history_.size() < history_size)
                history_.push_back(m);
            else
                history_[history_next_++ % history_size] = m;
            if (in_flight_.size() < max_in_flight) in_flight_.push_back(std::move(m));
        }
        outbox_.clear();
    }

    struct node_fingerprint {
        hard_state hs;
        soft_state ss;
        index_t last = 0;
        index_t applied = 0;
        std::size_t msgs = 0, after_append = 0, reads = 0;
        bool operator==(const node_fingerprint&) const = default;
    };
    static node_fingerprint fingerprint(const node_type& n) {
        const auto& r = n.raft();
        return {r.hard_state_now(),    r.soft_state_now(),  r.log().last_index(),
                r.log().applied(),     r.messages().size(), r.messages_after_append().size(),
                r.read_states().size()};
    }

    config base_;
    std::map<node_id, member> members_;
    std::vector<message> outbox_;
    std::vector<message> in_flight_;
    std::vector<message> history_;
    std::size_t history_next_ = 0;
    bool tainted_ = false;
    std::map<term_t, node_id> leaders_;
    std::map<index_t, entry> history_by_index_;
    std::map<index_t, std::uint64_t> hash_at_;
};

}  // namespace raftpp::fuzz
