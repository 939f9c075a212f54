// The one helper every suite that builds messages by hand shares.
#pragma once

#include <raftpp/types.hpp>

namespace raftpp::test {

// A message with the fields most tests set; set the rest by name.
inline message make_message(message_type type, node_id from, node_id to, term_t term = 0) {
    message m;
    m.type = type;
    m.from = from;
    m.to = to;
    m.term = term;
    return m;
}

}  // namespace raftpp::test
