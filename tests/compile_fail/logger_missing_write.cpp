// Must not compile: raw_node is given a logger without write(log_level, string_view), and the
// error must say what to add.
#include <string_view>

#include <raftpp/memory_storage.hpp>
#include <raftpp/raw_node.hpp>

struct logger_without_write {
    bool enabled(raftpp::log_level) const { return true; }
    void log(raftpp::log_level, std::string_view) {}  // the wrong name
};

int main() {
    raftpp::memory_storage storage;
    raftpp::config cfg;
    cfg.id = 1;
    raftpp::raw_node<raftpp::memory_storage, raftpp::vector_transport, logger_without_write> node(
        cfg, storage);
}
