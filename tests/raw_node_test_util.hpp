// Helpers shared by the raw_node tests: a node config, one whole ready cycle as an
// application runs it, and small builders for peers, messages and entries.
#pragma once

#include <catch2/catch.hpp>

#include "core_instances.hpp"
#include "message_util.hpp"

#include <raftpp/memory_storage.hpp>
#include <raftpp/raw_node.hpp>

#include <initializer_list>
#include <optional>
#include <string_view>
#include <vector>

namespace raftpp::test {

inline config cfg_for(node_id id) {
    config c;
    c.id = id;
    c.election_tick = 10;
    c.heartbeat_tick = 1;
    return c;
}

using node = raw_node<memory_storage>;  // vector_transport: sent messages are inspectable

// What one ready held, copied out before advance() consumes it.
struct cycle_out {
    std::optional<soft_state> soft;
    hard_state hard;
    std::vector<entry> entries;
    std::vector<entry> committed;
    std::vector<message> messages;
    bool must_sync = false;
};

// One whole ready cycle as an application runs it: persist, apply, advance.
template <class Node>
cycle_out cycle(Node& n) {
    REQUIRE(n.has_ready());
    auto& rd = n.ready();
    cycle_out out{rd.soft_state, rd.hard_state, {rd.entries.begin(), rd.entries.end()},
                  rd.committed_entries, rd.messages, rd.must_sync};
    REQUIRE(n.persist(rd));
    for (const auto& e : rd.committed_entries)
        if (e.type != entry_type::normal)
            REQUIRE(n.apply_conf_change(*decode_conf_change_entry(e)));
    n.advance();
    return out;
}

template <class Node>
void settle(Node& n) {
    while (n.has_ready()) cycle(n);
}

inline std::vector<peer> voters(std::initializer_list<node_id> ids) {
    std::vector<peer> out;
    for (node_id id : ids) out.push_back({id, false, {}});
    return out;
}

inline entry ent(term_t term, index_t index, std::string_view data = {}) {
    return {term, index, entry_type::normal, buffer(data)};
}

inline std::vector<index_t> indexes(const std::vector<entry>& es) {
    std::vector<index_t> out;
    for (const auto& e : es) out.push_back(e.index);
    return out;
}

inline const progress_status* progress_of(const status& s, node_id id) {
    for (const auto& p : s.progress)
        if (p.id == id) return &p;
    return nullptr;
}

}  // namespace raftpp::test
