// The consumer check's one translation unit: a single-node raw_node over memory_storage that
// commits and applies one entry. Exits 0 when "hello" was applied.
#include <cstdio>
#include <string>

#include <raftpp/memory_storage.hpp>
#include <raftpp/raw_node.hpp>

int main() {
    static_assert(raftpp::storage<raftpp::memory_storage>);
    raftpp::memory_storage storage;
    raftpp::config cfg;
    cfg.id = 1;
    raftpp::raw_node<raftpp::memory_storage> node(cfg, storage);

    std::string applied;
    auto apply = [&](const raftpp::entry& e) {
        if (e.type == raftpp::entry_type::normal && !e.data.empty()) applied = e.data.str();
    };
    auto run = [&] {
        for (;;) {
            auto r = node.process_ready(apply);
            if (!r || !*r) return;
        }
    };
    if (!node.bootstrap({{.id = 1, .learner = false, .context = {}}})) return 1;
    run();
    if (!node.campaign()) return 1;
    run();
    if (!node.propose(raftpp::buffer("hello"))) return 1;
    run();
    std::printf("consumer applied: %s\n", applied.c_str());
    return applied == "hello" ? 0 : 1;
}
