// The values Raft passes around: log entries, hard state, configuration state, snapshots and
// messages. Field names and meanings follow etcd's raftpb so etcd users can read them as-is.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include <raftpp/buffer.hpp>

namespace raftpp {

using node_id = std::uint64_t;
using term_t = std::uint64_t;
using index_t = std::uint64_t;

// "No node" (etcd's None): no leader, no vote.
inline constexpr node_id none = 0;
// "No limit" for size-limited reads (etcd's noLimit).
inline constexpr std::uint64_t no_limit = ~std::uint64_t{0};

enum class entry_type : std::uint8_t { normal = 0, conf_change = 1, conf_change_v2 = 2 };

struct entry {
    term_t term = 0;
    index_t index = 0;
    entry_type type = entry_type::normal;
    buffer data;

    friend bool operator==(const entry&, const entry&) = default;
};

// Bytes an entry accounts for in size limits (etcd uses the protobuf size; we use a fixed
// header plus the payload so limits behave the same way on every platform).
inline std::uint64_t entry_size(const entry& e) noexcept { return 16 + e.data.size(); }
// Bytes counted against max_uncommitted_entries_size: the payload only, as etcd.
inline std::uint64_t payload_size(const entry& e) noexcept { return e.data.size(); }
inline std::uint64_t payload_size(std::span<const entry> es) noexcept {
    std::uint64_t s = 0;
    for (const auto& e : es) s += payload_size(e);
    return s;
}

struct hard_state {
    term_t term = 0;
    node_id vote = none;
    index_t commit = 0;

    friend bool operator==(const hard_state&, const hard_state&) = default;
};
inline bool is_empty(const hard_state& hs) noexcept { return hs == hard_state{}; }

struct conf_state {
    std::vector<node_id> voters;
    std::vector<node_id> learners;
    // The voters of the outgoing configuration while in a joint configuration.
    std::vector<node_id> voters_outgoing;
    // Voters that become learners when the joint configuration is left.
    std::vector<node_id> learners_next;
    bool auto_leave = false;

    friend bool operator==(const conf_state&, const conf_state&) = default;
};

struct snapshot_metadata {
    raftpp::conf_state conf_state;
    index_t index = 0;
    term_t term = 0;

    friend bool operator==(const snapshot_metadata&, const snapshot_metadata&) = default;
};

struct snapshot {
    buffer data;
    snapshot_metadata metadata;

    friend bool operator==(const snapshot&, const snapshot&) = default;
};
inline bool is_empty(const snapshot& s) noexcept { return s.metadata.index == 0; }

// The values are the wire encoding (codec/message.hpp, docs/net.md): never renumber them, and
// add new types at the end. etcd's MsgStorageAppend/MsgStorageApply (and their responses) have
// no counterpart: async storage writes travel as raw_node's storage_write instead.
enum class message_type : std::uint8_t {
    hup = 0,               // local: start an election
    beat,                  // local: leader broadcasts heartbeats
    prop,                  // propose entries
    app,                   // append entries
    app_resp,
    vote,
    vote_resp,
    snap,                  // install snapshot
    heartbeat,
    heartbeat_resp,
    unreachable,           // local: a peer could not be reached
    snap_status,           // local: result of sending a snapshot
    check_quorum,          // local: leader checks it still has a quorum
    transfer_leader,
    timeout_now,
    read_index,
    read_index_resp,
    pre_vote,
    pre_vote_resp = 18,
};
inline constexpr int message_type_count = 19;

struct message {
    message_type type = message_type::hup;
    node_id to = none;
    node_id from = none;
    term_t term = 0;
    // The term of the entry at `index` (app), or of the candidate's last entry (vote).
    term_t log_term = 0;
    index_t index = 0;
    std::vector<entry> entries;
    index_t commit = 0;
    // Set on snap messages only. Shared and immutable: a message is moved several times on
    // its way and may be copied (retries, duplicates); the snapshot's bytes never are.
    std::shared_ptr<const raftpp::snapshot> snapshot;
    bool reject = false;
    index_t reject_hint = 0;
    buffer context;

    friend bool operator==(const message& a, const message& b) {
        const bool same_snap = a.snapshot == b.snapshot ||
                               (a.snapshot && b.snapshot && *a.snapshot == *b.snapshot);
        return same_snap && a.type == b.type && a.to == b.to && a.from == b.from &&
               a.term == b.term && a.log_term == b.log_term && a.index == b.index &&
               a.entries == b.entries && a.commit == b.commit && a.reject == b.reject &&
               a.reject_hint == b.reject_hint && a.context == b.context;
    }
};

inline std::string_view to_string(message_type t) noexcept {
    constexpr std::string_view names[] = {
        "hup", "beat", "prop", "app", "app_resp", "vote", "vote_resp", "snap",
        "heartbeat", "heartbeat_resp", "unreachable", "snap_status", "check_quorum",
        "transfer_leader", "timeout_now", "read_index", "read_index_resp", "pre_vote",
        "pre_vote_resp"};
    static_assert(std::size(names) == message_type_count);
    auto i = static_cast<unsigned>(t);
    return i < std::size(names) ? names[i] : std::string_view("unknown");
}

// Messages a node generates for itself and never sends (etcd's IsLocalMsg).
inline constexpr bool is_local_message(message_type t) noexcept {
    return t == message_type::hup || t == message_type::beat ||
           t == message_type::unreachable || t == message_type::snap_status ||
           t == message_type::check_quorum;
}

inline constexpr bool is_response_message(message_type t) noexcept {
    return t == message_type::app_resp || t == message_type::vote_resp ||
           t == message_type::heartbeat_resp || t == message_type::unreachable ||
           t == message_type::pre_vote_resp || t == message_type::read_index_resp;
}

// The response type for a vote request type (vote -> vote_resp, pre_vote -> pre_vote_resp).
inline constexpr message_type vote_response_type(message_type t) noexcept {
    return t == message_type::pre_vote ? message_type::pre_vote_resp : message_type::vote_resp;
}

}  // namespace raftpp
