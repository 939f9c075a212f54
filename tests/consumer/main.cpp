// The consumer check's one translation unit: a single-node raw_node over memory_storage that
// commits and applies one entry. Exits 0 when "hello" was applied; prints the version of
// the headers it was compiled with (check.sh compares it with meson.build's).
#include <cstdio>
#include <string>

#include <raftpp/memory_storage.hpp>
#include <raftpp/raw_node.hpp>
#include <raftpp/version.hpp>

static_assert(RAFTPP_VERSION ==
              RAFTPP_VERSION_MAJOR * 10000 + RAFTPP_VERSION_MINOR * 100 + RAFTPP_VERSION_PATCH);

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
    std::printf("consumer applied: %s (raftpp %s, C++ %ld)\n", applied.c_str(),
                RAFTPP_VERSION_STRING, static_cast<long>(__cplusplus));
    return applied == "hello" ? 0 : 1;
}
