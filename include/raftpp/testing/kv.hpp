// raftpp::testing KV: a key-value state machine replicated through the cluster harness, and
// simulated clients that drive it and record a history for the linearizability checker
// (raftpp/testing/linearizability.hpp).
//
// Writes (put, cas) are proposed as log entries carrying (client, sequence number); every
// node applies them through kv_state_machine, which runs each (client, seq) once (a session
// table, Raft thesis §6.3), so a client may retry a write on another node without applying it
// twice. A write returns when the node the client talks to applies it. Reads take the
// ReadIndex path (Raft thesis §6.4): read_index with a unique context, wait for the matching
// read state, wait until the node has applied up to its index, then read local state. A client
// that hears nothing for attempt_timeout rounds retries elsewhere; an operation abandoned
// after max_attempts is recorded as indeterminate (a write) or dropped (a read changes nothing).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <utility>
#include <vector>

#include <raftpp/buffer.hpp>
#include <raftpp/error.hpp>
#include <raftpp/raft.hpp>
#include <raftpp/testing/linearizability.hpp>
#include <raftpp/testing/network.hpp>
#include <raftpp/types.hpp>

namespace raftpp::testing {

// A write as it travels in a log entry.
struct kv_command {
    std::uint64_t client = 0;
    std::uint64_t seq = 0;  // per client, from 1, one higher per operation (not per attempt)
    kv_input input;
    friend bool operator==(const kv_command&, const kv_command&) = default;
};

namespace kv_detail {

inline constexpr std::byte command_tag{0x4b};   // 'K'
inline constexpr std::byte read_ctx_tag{0x52};  // 'R'

inline void put_varint(std::vector<std::byte>& out, std::uint64_t v) {
    while (v >= 0x80) {
        out.push_back(static_cast<std::byte>((v & 0x7f) | 0x80));
        v >>= 7;
    }
    out.push_back(static_cast<std::byte>(v));
}

// LEB128; nullopt when truncated or longer than 10 bytes.
inline std::optional<std::uint64_t> get_varint(std::span<const std::byte>& in) {
    std::uint64_t v = 0;
    for (int shift = 0; shift < 70 && !in.empty(); shift += 7) {
        const auto b = std::to_integer<std::uint64_t>(in.front());
        in = in.subspan(1);
        v |= (b & 0x7f) << shift;
        if ((b & 0x80) == 0) return v;
    }
    return std::nullopt;
}

}  // namespace kv_detail

// 'K', the operation, then LEB128 varints: client, seq, key, value, and expected for a cas.
// A put of a small value by a small client takes 6 bytes.
inline buffer encode_kv_command(const kv_command& c) {
    std::vector<std::byte> out{kv_detail::command_tag, static_cast<std::byte>(c.input.op)};
    kv_detail::put_varint(out, c.client);
    kv_detail::put_varint(out, c.seq);
    kv_detail::put_varint(out, c.input.key);
    kv_detail::put_varint(out, c.input.value);
    if (c.input.op == kv_op::cas) kv_detail::put_varint(out, c.input.expected);
    return buffer(std::span<const std::byte>(out));
}

// The command in `data`, or nullopt when data is not exactly one encoded command (entries of
// other kinds, e.g. the empty entry a new leader appends, are not commands).
inline std::optional<kv_command> decode_kv_command(std::span<const std::byte> data) {
    if (data.size() < 2 || data[0] != kv_detail::command_tag) return std::nullopt;
    const auto op = std::to_integer<std::uint8_t>(data[1]);
    if (op > static_cast<std::uint8_t>(kv_op::cas) || op == static_cast<std::uint8_t>(kv_op::get))
        return std::nullopt;
    data = data.subspan(2);
    kv_command c;
    c.input.op = static_cast<kv_op>(op);
    const auto client = kv_detail::get_varint(data);
    const auto seq = kv_detail::get_varint(data);
    const auto key = kv_detail::get_varint(data);
    const auto value = kv_detail::get_varint(data);
    if (!client || !seq || !key || !value || *key > UINT32_MAX) return std::nullopt;
    c.client = *client;
    c.seq = *seq;
    c.input.key = static_cast<std::uint32_t>(*key);
    c.input.value = *value;
    if (c.input.op == kv_op::cas) {
        const auto expected = kv_detail::get_varint(data);
        if (!expected) return std::nullopt;
        c.input.expected = *expected;
    }
    if (!data.empty()) return std::nullopt;
    return c;
}

// The replicated state machine: committed entries in, in index order.
class kv_state_machine {
public:
    struct applied_command {
        kv_command command;
        kv_output output;
    };

    // Applies committed entry e. Returns the command e carries with its output; a retry of a
    // command already applied changes nothing and returns the output of its first run. Returns
    // nullopt for entries that are not commands, and for a retry older than the client's
    // latest command (the client has moved on: it abandoned that one).
    std::optional<applied_command> apply(const entry& e) {
        RAFTPP_ASSERT(e.index > applied_, "kv_state_machine: entries applied out of order");
        applied_ = e.index;
        if (e.type != entry_type::normal) return std::nullopt;
        auto cmd = decode_kv_command(e.data.bytes());
        if (!cmd) return std::nullopt;
        session& s = sessions_[cmd->client];
        if (cmd->seq < s.seq) return std::nullopt;
        if (cmd->seq > s.seq) s = {cmd->seq, kv_model::apply(data_, cmd->input)};
        return applied_command{*cmd, s.output};
    }

    // The value of key (0 when never written).
    std::uint64_t get(std::uint32_t key) const {
        auto it = std::lower_bound(data_.begin(), data_.end(), key,
                                   [](const auto& kv, std::uint32_t k) { return kv.first < k; });
        return it != data_.end() && it->first == key ? it->second : 0;
    }
    index_t applied_index() const noexcept { return applied_; }

private:
    struct session {
        std::uint64_t seq = 0;
        kv_output output;
    };
    kv_model::state_type data_;  // sorted by key
    std::map<std::uint64_t, session> sessions_;
    index_t applied_ = 0;
};

enum class kv_read_path : std::uint8_t {
    // Linearizable: read_index, wait for its read state, then for applied >= its index.
    read_index,
    // BROKEN ON PURPOSE, to prove the checker catches it: read the local state of a node that
    // believes it is leader, without asking anyone. A deposed leader cut off from the cluster
    // still believes it (unless check_quorum steps it down) and serves stale values.
    unsafe_local_leader,
    // BROKEN ON PURPOSE: read_index, but read as soon as the read state arrives, without
    // waiting for the node to apply up to its index: a lagging follower serves stale values.
    unsafe_no_apply_wait,
};

struct kv_workload {
    std::size_t clients = 3;
    std::uint32_t keys = 3;              // keys are drawn uniformly from [0, keys)
    double get_share = 0.4;              // share of operations that are gets
    double cas_share = 0.3;              // ... and cas; the rest are puts
    std::uint64_t max_think = 4;         // idle rounds between operations: uniform in [0, max]
    std::uint64_t attempt_timeout = 40;  // rounds without a reply before trying another node
    std::uint64_t max_backoff = 6;       // rounds before a retry: uniform in [1, max]
    std::size_t max_attempts = 6;        // attempts before an operation is abandoned
    kv_read_path read_path = kv_read_path::read_index;
    // 0: a node's state machine applies committed entries as soon as raft hands them out.
    // Otherwise at most a uniform [0, max] entries per round, so state machines lag behind
    // their logs, as with an asynchronous apply (the ReadIndex wait for applied >= index
    // then matters).
    std::uint64_t max_apply_per_round = 0;
};

struct kv_client_stats {
    std::uint64_t invoked = 0;
    std::uint64_t completed = 0;
    std::uint64_t indeterminate = 0;    // writes abandoned: may or may not have taken effect
    std::uint64_t reads_abandoned = 0;  // left out of the history
    std::uint64_t attempts = 0;
    std::uint64_t attempts_failed = 0;  // timed out, refused, or their node crashed
};

// Simulated clients over a testing::cluster (any type with its public API). The driver owns
// the passage of time: each round() ticks every node once, runs ready cycles, delivers one
// network step and lets every client act. Faults are injected between rounds through the
// cluster (net(), crash(), restart()); the clients notice by themselves. Used of the cluster:
// ids, alive, applied, propose, tick_all, process_all, deliver, and node(id).raft() for role,
// lead and read_states (taken right after deliver(), see harvest_read_states).
//
// Times in the history are round * 10000 + the event's rank within the round: a strict order
// of every invocation and return, readable as the round it happened in.
template <class Cluster>
class kv_clients {
public:
    kv_clients(Cluster& c, kv_workload w, std::uint64_t seed) : cluster_(c), work_(w), rng_(seed) {
        RAFTPP_ASSERT(w.clients > 0 && w.keys > 0 && w.max_attempts > 0,
                      "kv_clients: bad workload");
        const auto ids = cluster_.ids();
        for (std::size_t i = 0; i < w.clients; ++i) {
            client c;
            c.id = i;
            c.node = ids[rng_.below(ids.size())];
            c.wake = rng_.below(w.max_think + 1);
            clients_.push_back(c);
        }
    }

    // One round of the world. With issue == false clients finish what they started but begin
    // nothing new (draining at the end of a run).
    void round(bool issue = true) {
        ++round_;
        events_ = 0;
        if (work_.max_apply_per_round != 0)
            for (node_id id : cluster_.ids())
                replica(id).budget = rng_.below(work_.max_apply_per_round + 1);
        cluster_.tick_all();
        settle();
        cluster_.deliver();
        settle();
        for (client& c : clients_) act(c, issue);
        settle();
    }

    // No client has an operation in progress.
    bool idle() const {
        return std::all_of(clients_.begin(), clients_.end(),
                           [](const client& c) { return c.phase == client_phase::idle; });
    }

    // The history so far, plus the writes still in progress as indeterminate (reads in progress
    // are left out). Does not stop the clients.
    kv_history history() const {
        kv_history h = history_;
        for (const client& c : clients_)
            if (c.phase != client_phase::idle && c.op.input.op != kv_op::get) h.push_back(c.op);
        return h;
    }

    const kv_client_stats& stats() const noexcept { return stats_; }
    std::uint64_t rounds() const noexcept { return round_; }
    // The state machine of node id as of its last applied entry.
    const kv_state_machine& state_machine(node_id id) { return replica(id).sm; }

private:
    enum class client_phase : std::uint8_t {
        idle,
        backoff,
        writing,
        awaiting_read_state,
        awaiting_apply
    };

    struct client {
        std::uint64_t id = 0;
        node_id node = none;  // the node it talks to
        client_phase phase = client_phase::idle;
        std::uint64_t wake = 0;      // idle, backoff: the round to act in
        std::uint64_t deadline = 0;  // in an attempt: the round it times out in
        kv_operation op;
        std::uint64_t seq = 0;
        std::size_t attempts = 0;
        buffer read_ctx;
        index_t read_index = 0;
    };

    struct replica_state {
        kv_state_machine sm;
        std::size_t cursor = 0;  // entries of cluster.applied(id) fed to sm
        std::size_t high = 0;    // the highest cursor ever: a rebuild up to it is not rationed
        std::uint64_t budget = ~std::uint64_t{0};  // entries it may still apply this round
    };

    std::uint64_t now() {
        RAFTPP_ASSERT(events_ + 1 < 10000, "kv_clients: too many events in one round");
        return round_ * 10000 + ++events_;
    }

    void settle() {
        harvest_read_states();
        cluster_.process_all();
        sync();
    }

    replica_state& replica(node_id id) { return replicas_[id]; }

    // Feeds every node's newly applied entries to its state machine. A restart rebuilds the
    // node's applied list by re-applying the log: the entry at each position is the same
    // (State Machine Safety), so the state machine is rebuilt only if the list got shorter.
    void sync() {
        for (node_id id : cluster_.ids()) {
            if (!cluster_.alive(id)) continue;  // a crashed node answers nobody
            const auto& applied = cluster_.applied(id);
            replica_state& r = replica(id);
            if (applied.size() < r.cursor) {
                r.sm = kv_state_machine{};
                r.cursor = 0;
            }
            for (; r.cursor < applied.size(); ++r.cursor) {
                if (r.cursor == r.high) {
                    if (r.budget == 0) break;
                    --r.budget;
                    ++r.high;
                }
                if (auto done = r.sm.apply(applied[r.cursor])) on_applied(id, *done);
            }
        }
        for (client& c : clients_)
            if (c.phase == client_phase::awaiting_apply) maybe_finish_read(c);
    }

    void on_applied(node_id id, const kv_state_machine::applied_command& a) {
        for (client& c : clients_)
            if (c.phase == client_phase::writing && c.node == id && c.id == a.command.client &&
                c.seq == a.command.seq)
                complete(c, a.output);
    }

    // Read states are produced when a node steps a heartbeat response (leader) or a
    // read_index response (follower), i.e. during deliver(); they are taken here, before the
    // cluster's ready cycle would consume them.
    void harvest_read_states() {
        for (node_id id : cluster_.ids()) {
            if (!cluster_.alive(id)) continue;
            auto& states = cluster_.node(id).raft().read_states();
            for (const auto& rs : states)
                for (client& c : clients_)
                    if (c.phase == client_phase::awaiting_read_state && c.node == id &&
                        c.read_ctx == rs.request_ctx) {
                        c.read_index = rs.index;
                        c.phase = client_phase::awaiting_apply;
                        // The second broken path reads at once, whatever was applied.
                        if (work_.read_path == kv_read_path::unsafe_no_apply_wait)
                            complete(c, {true, replica(id).sm.get(c.op.input.key)});
                    }
            states.clear();
        }
    }

    void maybe_finish_read(client& c) {
        const kv_state_machine& sm = replica(c.node).sm;
        if (sm.applied_index() >= c.read_index) complete(c, {true, sm.get(c.op.input.key)});
    }

    void act(client& c, bool issue) {
        switch (c.phase) {
        case client_phase::idle:
            if (issue && round_ >= c.wake) begin(c);
            return;
        case client_phase::backoff:
            if (round_ >= c.wake) attempt(c);
            return;
        case client_phase::writing:
        case client_phase::awaiting_read_state:
        case client_phase::awaiting_apply:
            if (!cluster_.alive(c.node) || round_ >= c.deadline) fail_attempt(c);
            return;
        }
    }

    void begin(client& c) {
        c.op = kv_operation{};
        c.op.client = c.id;
        c.op.input = next_input();
        c.op.invoked_at = now();
        c.attempts = 0;
        if (c.op.input.op != kv_op::get) ++c.seq;
        ++stats_.invoked;
        attempt(c);
    }

    kv_input next_input() {
        const auto key = static_cast<std::uint32_t>(rng_.below(work_.keys));
        const double u = rng_.uniform01();
        if (u < work_.get_share) return kv_get(key);
        // Values are 1, 2, 3, ...: unique and non-zero, so a read names the write it observed.
        if (u < work_.get_share + work_.cas_share) {
            // Mostly the latest value a client saw, so that some swaps succeed.
            const std::uint64_t expected = rng_.uniform01() < 0.8 ? last_seen_[key] : 0;
            return kv_cas(key, expected, ++writes_);
        }
        return kv_put(key, ++writes_);
    }

    void attempt(client& c) {
        ++c.attempts;
        ++stats_.attempts;
        const bool read = c.op.input.op == kv_op::get;
        if (read && work_.read_path == kv_read_path::unsafe_local_leader) return unsafe_read(c);
        if (!cluster_.alive(c.node)) return fail_attempt(c);
        c.deadline = round_ + work_.attempt_timeout;
        if (!read) {
            if (!cluster_.propose(c.node, encode_kv_command({c.id, c.seq, c.op.input})))
                return fail_attempt(c);
            c.phase = client_phase::writing;
            return;
        }
        std::vector<std::byte> ctx{kv_detail::read_ctx_tag};
        kv_detail::put_varint(ctx, c.id);
        kv_detail::put_varint(ctx, ++reads_);
        c.read_ctx = buffer(std::span<const std::byte>(ctx));
        c.phase = client_phase::awaiting_read_state;
        cluster_.node(c.node).read_index(c.read_ctx);
    }

    // The broken read path (kv_read_path::unsafe_local_leader).
    void unsafe_read(client& c) {
        std::vector<node_id> believers;
        for (node_id id : cluster_.ids())
            if (cluster_.alive(id) && cluster_.node(id).raft().role() == role::leader)
                believers.push_back(id);
        if (believers.empty()) return fail_attempt(c);
        if (std::find(believers.begin(), believers.end(), c.node) == believers.end())
            c.node = believers[rng_.below(believers.size())];
        complete(c, {true, replica(c.node).sm.get(c.op.input.key)});
    }

    void fail_attempt(client& c) {
        ++stats_.attempts_failed;
        if (c.attempts >= work_.max_attempts) return abandon(c);
        c.node = next_node(c);
        c.phase = client_phase::backoff;
        c.wake = round_ + 1 + rng_.below(work_.max_backoff);
    }

    // The leader the current node names, if any; otherwise another node at random.
    node_id next_node(const client& c) {
        if (cluster_.alive(c.node)) {
            const node_id lead = cluster_.node(c.node).raft().lead();
            if (lead != none && lead != c.node) return lead;
        }
        std::vector<node_id> others;
        for (node_id id : cluster_.ids())
            if (id != c.node) others.push_back(id);
        return others.empty() ? c.node : others[rng_.below(others.size())];
    }

    void abandon(client& c) {
        if (c.op.input.op == kv_op::get) {
            ++stats_.reads_abandoned;
        } else {
            ++stats_.indeterminate;
            history_.push_back(c.op);  // returned_at stays never_returned
        }
        rest(c);
    }

    void complete(client& c, const kv_output& out) {
        c.op.output = out;
        c.op.returned_at = now();
        history_.push_back(c.op);
        ++stats_.completed;
        const kv_input& in = c.op.input;
        if (in.op == kv_op::get) last_seen_[in.key] = out.value;
        else if (out.ok) last_seen_[in.key] = in.value;
        rest(c);
    }

    void rest(client& c) {
        c.phase = client_phase::idle;
        c.wake = round_ + rng_.below(work_.max_think + 1);
    }

    Cluster& cluster_;
    kv_workload work_;
    detail::xoshiro256ss rng_;
    std::vector<client> clients_;
    std::map<node_id, replica_state> replicas_;
    std::map<std::uint32_t, std::uint64_t> last_seen_;
    kv_history history_;
    kv_client_stats stats_;
    std::uint64_t round_ = 0;
    std::uint64_t events_ = 0;
    std::uint64_t writes_ = 0;
    std::uint64_t reads_ = 0;
};

}  // namespace raftpp::testing
