// Helpers shared by the read tests (read_index_test, read_lease_test): configs, the messages
// a read involves, and a leader of {1, 2, 3} with its first entry committed.
#pragma once

#include "raft_test_util.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace raftpp::test {

// Election timers are seeded explicitly so a failure replays exactly.
inline constexpr std::uint64_t test_seed = 0x7ead1de7;

inline config cfg_for(node_id id, read_only_option ro = read_only_option::safe) {
    config c = test_config(id, 10, 1);
    c.seed = test_seed + id;
    c.read_only = ro;
    c.check_quorum = ro == read_only_option::lease_based;
    return c;
}

inline message hup(node_id id) { return make_message(message_type::hup, id, id); }

inline message propose(node_id id, std::string_view data = {}) {
    message m = make_message(message_type::prop, id, id);
    m.entries.push_back({0, 0, entry_type::normal, buffer(data)});
    return m;
}

inline message read_index(node_id from, node_id to, std::string_view ctx) {
    message m = make_message(message_type::read_index, from, to);
    m.entries.push_back({0, 0, entry_type::normal, buffer(ctx)});
    return m;
}

inline message heartbeat_resp(node_id from, node_id to, term_t term, std::string_view ctx) {
    message m = make_message(message_type::heartbeat_resp, from, to, term);
    m.context = buffer(ctx);
    return m;
}

inline read_state rs(index_t index, std::string_view ctx) { return {index, buffer(ctx)}; }

// A leader of {1, 2, 3} at term 1 whose empty entry (index 1) is committed and applied.
inline test_raft_ptr committed_leader() {
    auto r = new_test_raft(cfg_for(1), new_test_storage({1, 2, 3}));
    r->become_candidate();
    r->become_leader();
    commit_noop_entry(*r);
    return r;
}

// Commits one more entry on a leader built by committed_leader(): follower 2 acks it.
inline void commit_one(test_raft& r) {
    REQUIRE(r.step(propose(1)));
    for (auto& m : read_messages(r))
        if (m.to == 2 && m.type == message_type::app) REQUIRE(r.step(accept_and_reply(m)));
    (void)read_messages(r);
}

// The heartbeats in msgs, as (to, context) pairs.
inline std::vector<std::pair<node_id, std::string>> heartbeats(const std::vector<message>& msgs) {
    std::vector<std::pair<node_id, std::string>> out;
    for (const auto& m : msgs)
        if (m.type == message_type::heartbeat) out.emplace_back(m.to, m.context.str());
    return out;
}

}  // namespace raftpp::test
