// Every ```cpp block of README.md and docs/*.md that is not marked
// `<!-- snippet: fragment -->`, compiled into this test: tests/meson.build extracts them with
// `scripts/extract-snippet.py --all` into doc_snippets_all.hpp (each block in its own
// namespace snippet_<name>), and the doc_snippets_cover test fails when a block escapes (a doc
// missing from the list, a misspelled fence). Blocks that are Catch2 test cases run here; the
// README programs and docs/node.md's node run in readme_test and node_start_test.
#include <catch2/catch.hpp>

#include "doc_snippets_all.hpp"

#include <deque>
#include <string>
#include <vector>

#include <raftpp/memory_storage.hpp>
#include <raftpp/raw_node.hpp>

TEST_CASE("docs/design.md: the asynchronous ready cycle runs a node", "[docs][async]") {
    raftpp::memory_storage storage;
    raftpp::config cfg;
    cfg.id = 1;
    cfg.async_storage_writes = true;
    raftpp::raw_node<raftpp::memory_storage> node(cfg, storage);

    std::vector<std::string> applied;
    auto apply = [&](const raftpp::entry& e) {
        if (e.type == raftpp::entry_type::normal && !e.data.empty()) applied.push_back(e.data.str());
    };
    std::deque<raftpp::storage_write> writes;
    // Cycles until idle, each write completed one cycle after it was handed out.
    auto run = [&] {
        for (bool busy = true; busy;) {
            busy = false;
            const std::size_t queued = writes.size();
            if (node.has_ready()) {
                snippet_async_ready_cycle::async_ready_cycle(node, writes, apply);
                busy = true;
            }
            for (std::size_t i = 0; i < queued; ++i) {
                REQUIRE(snippet_async_ready_cycle::complete_oldest(node, writes));
                busy = true;
            }
        }
    };
    REQUIRE(node.bootstrap({{.id = 1, .learner = false, .context = {}}}));
    run();
    REQUIRE(node.campaign());
    run();
    CHECK(node.status().soft_state.role == raftpp::role::leader);
    REQUIRE(node.propose(raftpp::buffer("hello")));
    // Not applied before its write completes: the entry is not durable yet.
    snippet_async_ready_cycle::async_ready_cycle(node, writes, apply);
    CHECK(applied.empty());
    CHECK(writes.size() == 1);
    run();
    CHECK(applied == std::vector<std::string>{"hello"});
    CHECK(writes.empty());
    CHECK(node.transport().empty());  // a single node sends nothing
}
