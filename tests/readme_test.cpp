// The code in README.md and docs/*.md, compiled and run. tests/meson.build extracts the blocks
// with scripts/extract-snippet.py into the generated headers included below, so editing the
// Markdown changes what this test compiles: the documentation cannot drift from the code.
// Compiler errors point at the Markdown file and line (#line directives).
#include <catch2/catch.hpp>

#include <iostream>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

#include "readme_single_node.hpp"  // README.md, snippet single-node: readme_single_node()
#include "readme_three_nodes.hpp"  // README.md, snippet three-nodes: readme_three_nodes()
#include "readme_durable_node.hpp"  // README.md, snippet durable-node: readme_durable_node()
#include "wal_test_util.hpp"
#include "doc_snippets.hpp"        // docs/*.md: each block in namespace snippet_<name>

#include <raftpp/memory_storage.hpp>
#include <raftpp/raw_node.hpp>

namespace {

// Runs a README program (its main, renamed) and returns what it printed to std::cout.
template <class Main>
std::string output_of(Main program) {
    std::ostringstream out;
    auto* const saved = std::cout.rdbuf(out.rdbuf());
    int exit_code = 0;
    try {
        if constexpr (std::is_void_v<decltype(program())>) program();
        else exit_code = program();
    } catch (...) {
        std::cout.rdbuf(saved);
        throw;
    }
    std::cout.rdbuf(saved);
    CHECK(exit_code == 0);
    return out.str();
}

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> lines;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
}

}  // namespace

TEST_CASE("README: a single node commits and applies \"hello\"", "[readme]") {
    CHECK(output_of(&readme_single_node) == "applied: hello\n");
}

TEST_CASE("README: the durable node finds its entry after a restart", "[readme][wal]") {
    raftpp::test::temp_dir t;
    std::string dir = (t / "data").string();
    char prog[] = "durable";
    char* argv[] = {prog, dir.data(), nullptr};
    CHECK(output_of([&] { readme_durable_node(2, argv); }) == "first run, term 2, applied: hello\n");
    CHECK(output_of([&] { readme_durable_node(2, argv); }) ==
          "restarted, term 3, applied: hello again\n");
}

TEST_CASE("README: a three-node cluster elects one leader and applies on every node",
          "[readme]") {
    const auto lines = lines_of(output_of(&readme_three_nodes));
    REQUIRE(lines.size() == 3);
    int leaders = 0;
    for (const auto& line : lines) {
        CAPTURE(line);
        // Both proposals — one on the leader, one forwarded by a follower — in order.
        CHECK(line.ends_with(", applied: hello world"));
        CHECK(line.find(", term 2,") != std::string::npos);  // bootstrap is term 1; one election
        if (line.find(": leader,") != std::string::npos) ++leaders;
        else CHECK(line.find(": follower,") != std::string::npos);
    }
    CHECK(leaders == 1);
}

TEST_CASE("docs: the policy examples and the hand-written ready cycle run a node", "[docs]") {
    using storage_type = snippet_counting_storage::counting_storage<raftpp::memory_storage>;
    using node_type = raftpp::raw_node<storage_type, snippet_outbox_transport::outbox_transport,
                                       snippet_clog_logger::clog_logger>;
    raftpp::memory_storage backing;
    storage_type storage(backing);
    raftpp::config cfg;
    cfg.id = 1;
    node_type node(cfg, storage);

    std::vector<std::string> applied;
    auto apply = [&](const raftpp::entry& e) {
        if (e.type == raftpp::entry_type::normal && !e.data.empty()) applied.push_back(e.data.str());
    };
    auto run = [&] {
        for (;;) {
            auto r = snippet_ready_cycle::ready_cycle(node, storage, apply);
            REQUIRE(r);
            if (!*r) return;
        }
    };
    REQUIRE(node.bootstrap({{.id = 1, .learner = false, .context = {}}}));
    run();
    REQUIRE(node.campaign());
    run();
    REQUIRE(node.propose(raftpp::buffer("hello")));
    run();

    CHECK(applied == std::vector<std::string>{"hello"});
    // The bootstrap configuration entry, the new leader's empty entry, "hello".
    CHECK(storage.appended == 3);
    CHECK(storage.hard_states >= 2);  // term 1 at bootstrap, then term 2 with the vote
    CHECK(node.transport().drain(1).empty());  // a single node sends nothing
}
