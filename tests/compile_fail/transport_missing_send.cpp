// Must not compile: raft is given a transport without send(message&&), and the error must
// say what to add.
#include <raftpp/memory_storage.hpp>
#include <raftpp/raft.hpp>

struct transport_without_send {
    void post(const raftpp::message&) {}  // the wrong name
};

int main() {
    raftpp::memory_storage storage;
    raftpp::config cfg;
    cfg.id = 1;
    raftpp::raft<raftpp::memory_storage, transport_without_send> r(cfg, storage);
}
