// The consumer check's durable-storage program: a single node on wal_storage in a temporary
// directory commits "hello", then a second storage opened on the directory finds it.
// Exits 0 when it did.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include <raftpp/raw_node.hpp>
#include <raftpp/wal/wal_storage.hpp>

int main() {
    std::string dir = (std::filesystem::temp_directory_path() / "raftpp-consumer-XXXXXX").string();
    if (::mkdtemp(dir.data()) == nullptr) return 1;
    using storage_type = raftpp::wal_storage<>;
    bool found = false;
    {
        auto st = storage_type::create(dir, {.id = 1, .cluster_id = 1, .user = {}});
        raftpp::config cfg;
        cfg.id = 1;
        raftpp::raw_node<storage_type> node(cfg, st);
        auto run = [&] {
            for (;;) {
                auto r = node.process_ready([](const raftpp::entry&) {});
                if (!r || !*r) return;
            }
        };
        if (!node.bootstrap({{.id = 1, .learner = false, .context = {}}})) return 1;
        run();
        if (!node.campaign()) return 1;
        run();
        if (!node.propose(raftpp::buffer("hello"))) return 1;
        run();
    }
    {
        auto st = storage_type::open(dir, {.id = 1, .cluster_id = 1});
        const auto ents = st.raw_entries();
        found = !ents.empty() && ents.back().data == raftpp::buffer("hello");
    }
    std::filesystem::remove_all(dir);
    std::printf("consumer wal: %s\n", found ? "hello survived" : "lost");
    return found ? 0 : 1;
}
