// Must not compile: this storage's write side lacks append(span<const entry>), and the error
// must say so.
#include <raftpp/concepts.hpp>

struct storage_without_append {
    raftpp::result<void> set_hard_state(const raftpp::hard_state&) { return {}; }
    raftpp::result<void> apply_snapshot(const raftpp::snapshot&) { return {}; }
};

static_assert(raftpp::check_storage_writer<storage_without_append>());
int main() {}
