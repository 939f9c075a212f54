// Structural checks on messages that arrive from peers. Bytes off the wire are user input: a
// message that would break an invariant deeper in the core (non-contiguous entries, an
// index that wraps, a snap message without a snapshot) is refused with
// errc::malformed_message before any state changes, never asserted on.
#pragma once

#include <limits>

#include <raftpp/error.hpp>
#include <raftpp/types.hpp>

namespace raftpp::detail {

// The largest log position a peer may name. No real log gets anywhere near 2^63 entries; a
// position beyond it could only be a forgery, and once in the log (a snapshot's index, an
// entry) the core's index arithmetic (last + 1, committed + 1, the entries a leader appends
// next) would wrap.
inline constexpr index_t max_peer_index = std::numeric_limits<index_t>::max() / 2;

inline std::error_code validate_message(const message& m) {
    // The enum's byte can hold values no type has (the codec refuses them, a message built in
    // memory may not): nothing in the core knows what to do with one.
    if (static_cast<int>(m.type) >= message_type_count) return errc::malformed_message;
    switch (m.type) {
    case message_type::app: {
        // Entries must be the positions index+1, index+2, ... with non-decreasing terms no
        // newer than the leader's (Raft §5.3 Log Matching relies on it).
        if (m.index > max_peer_index || m.entries.size() > max_peer_index - m.index)
            return errc::malformed_message;
        term_t prev = m.log_term;
        for (std::size_t i = 0; i < m.entries.size(); ++i) {
            const entry& e = m.entries[i];
            if (e.index != m.index + 1 + i || e.term == 0 || e.term < prev || e.term > m.term)
                return errc::malformed_message;
            prev = e.term;
        }
        return {};
    }
    case message_type::snap:
        if (!m.snapshot || is_empty(*m.snapshot) || m.snapshot->metadata.term > m.term ||
            m.snapshot->metadata.index > max_peer_index)
            return errc::malformed_message;
        return {};
    case message_type::read_index_resp:
    case message_type::read_index:
    case message_type::prop:
        return m.entries.empty() ? make_error_code(errc::malformed_message) : std::error_code{};
    default: return {};
    }
}

}  // namespace raftpp::detail
