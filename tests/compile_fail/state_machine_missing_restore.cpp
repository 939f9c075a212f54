// Must not compile: raftpp::node is given a state machine without restore(), and the error
// must say what to add.
#include <raftpp/memory_storage.hpp>
#include <raftpp/node.hpp>

struct machine_without_restore {
    int apply(const raftpp::entry&) { return 0; }
    raftpp::buffer snapshot() const { return {}; }
    void load(std::span<const std::byte>) {}  // the wrong name
};

int main() {
    using node_type = raftpp::node<machine_without_restore, raftpp::memory_storage>;
    return sizeof(node_type) > 0 ? 0 : 1;
}
