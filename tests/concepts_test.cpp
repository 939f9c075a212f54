// The policy concepts (docs/concepts.md): which types model them, which do not, and that
// raft_log, raft and raw_node compile and run with the archetypes of tests/archetypes.hpp —
// that is, with nothing beyond what the concepts promise.
#include <catch2/catch.hpp>

#include <cstdint>
#include <deque>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <raftpp/concepts.hpp>
#include <raftpp/logger.hpp>
#include <raftpp/memory_storage.hpp>
#include <raftpp/raft_log.hpp>
#include <raftpp/raw_node.hpp>
#include <raftpp/transport.hpp>

#include "archetypes.hpp"

using namespace raftpp;

// --- the library's own policies model their concepts ------------------------------------------

static_assert(storage<memory_storage>);
static_assert(check_storage_reader<memory_storage>() && check_storage_writer<memory_storage>());
static_assert(transport<vector_transport> && check_transport<vector_transport>());
static_assert(logger<null_logger> && check_logger<null_logger>());
static_assert(logger<stream_logger> && check_logger<stream_logger>());
// null_logger is off at compile time (nothing is ever formatted); stream_logger decides at run
// time; so does the logger archetype, whose enabled() is neither static nor constexpr.
static_assert(statically_disabled<null_logger>);
static_assert(!statically_disabled<stream_logger>);
static_assert(!statically_disabled<archetypes::logger>);

// --- each archetype models exactly one concept ------------------------------------------------

template <class T>
constexpr int concepts_modelled =
    int{storage_reader<T>} + int{storage_writer<T>} + int{transport<T>} + int{logger<T>};

static_assert(storage_reader<archetypes::storage_reader> &&
              concepts_modelled<archetypes::storage_reader> == 1);
static_assert(storage_writer<archetypes::storage_writer> &&
              concepts_modelled<archetypes::storage_writer> == 1);
static_assert(transport<archetypes::transport> && concepts_modelled<archetypes::transport> == 1);
static_assert(logger<archetypes::logger> && concepts_modelled<archetypes::logger> == 1);
// The combined storage is reader + writer and nothing more.
static_assert(storage<archetypes::storage> && !transport<archetypes::storage> &&
              !logger<archetypes::storage>);

// --- a type missing any one member does not model the concept ---------------------------------
// Each template has every member of its concept except the one numbered Missing (a trailing
// requires-clause removes it). Missing == count removes nothing: that type must model the
// concept, so the negative checks cannot pass vacuously.

namespace missing {

enum : unsigned { initial_state, entries, term, first_index, last_index, snapshot, reader_count };
template <unsigned Missing>
struct reader {
    result<initial_state_t> initial_state() const requires(Missing != missing::initial_state);
    result<std::vector<entry>> entries(index_t, index_t, std::uint64_t) const
        requires(Missing != missing::entries);
    result<term_t> term(index_t) const requires(Missing != missing::term);
    result<index_t> first_index() const requires(Missing != missing::first_index);
    result<index_t> last_index() const requires(Missing != missing::last_index);
    result<raftpp::snapshot> snapshot() const requires(Missing != missing::snapshot);
};

enum : unsigned { append, set_hard_state, apply_snapshot, writer_count };
template <unsigned Missing>
struct writer {
    result<void> append(std::span<const entry>) requires(Missing != missing::append);
    result<void> set_hard_state(const hard_state&) requires(Missing != missing::set_hard_state);
    result<void> apply_snapshot(const raftpp::snapshot&) requires(Missing != missing::apply_snapshot);
};

enum : unsigned { enabled, write, logger_count };
template <unsigned Missing>
struct log_sink {
    bool enabled(log_level) const requires(Missing != missing::enabled);
    void write(log_level, std::string_view) requires(Missing != missing::write);
};

template <unsigned... I>
constexpr bool no_reader_lacking_a_member(std::integer_sequence<unsigned, I...>) {
    return (!storage_reader<reader<I>> && ...);
}
template <unsigned... I>
constexpr bool no_writer_lacking_a_member(std::integer_sequence<unsigned, I...>) {
    return (!storage_writer<writer<I>> && ...);
}
template <unsigned... I>
constexpr bool no_logger_lacking_a_member(std::integer_sequence<unsigned, I...>) {
    return (!logger<log_sink<I>> && ...);
}

static_assert(storage_reader<reader<reader_count>>);
static_assert(no_reader_lacking_a_member(std::make_integer_sequence<unsigned, reader_count>()));
static_assert(storage_writer<writer<writer_count>>);
static_assert(no_writer_lacking_a_member(std::make_integer_sequence<unsigned, writer_count>()));
static_assert(logger<log_sink<logger_count>>);
static_assert(no_logger_lacking_a_member(std::make_integer_sequence<unsigned, logger_count>()));

struct no_send {};
static_assert(!transport<no_send>);

}  // namespace missing

// --- members of the wrong shape ---------------------------------------------------------------

namespace wrong_shape {

// The reads are called on a const storage.
struct term_not_const : missing::reader<missing::term> {
    result<term_t> term(index_t);
};
static_assert(!storage_reader<term_not_const>);

// entries() takes the byte limit; etcd's Entries(lo, hi, maxSize) does too.
struct entries_without_limit : missing::reader<missing::entries> {
    result<std::vector<entry>> entries(index_t, index_t) const;
};
static_assert(!storage_reader<entries_without_limit>);

// append() receives a span of the ready's entries, not a container.
struct append_takes_vector : missing::writer<missing::append> {
    result<void> append(const std::vector<entry>&);
};
static_assert(!storage_writer<append_takes_vector>);

// send() is handed an rvalue: a transport taking a mutable lvalue reference cannot take it...
struct send_lvalue_ref {
    void send(message&);
};
static_assert(!transport<send_lvalue_ref>);
// ...while one taking a const reference (and copying) can.
struct send_const_ref {
    void send(const message&);
};
static_assert(transport<send_const_ref>);

// enabled() must answer with something that converts to bool.
struct enabled_returns_void : missing::log_sink<missing::enabled> {
    void enabled(log_level) const;
};
static_assert(!logger<enabled_returns_void>);

}  // namespace wrong_shape

// --- the library instantiated with the archetypes ---------------------------------------------
// Explicit instantiation compiles every member whose constraints hold: if raft_log, raft or
// raw_node used a storage_writer member, a copy, or a default constructor of a policy outside
// a constrained member, these lines would not compile. raw_node's persist() and
// process_ready() require storage_writer, so with a reader they are (rightly) left out.

template class raftpp::raft_log<archetypes::storage_reader>;
template class raftpp::raft<archetypes::storage_reader, archetypes::transport, archetypes::logger>;
template class raftpp::raw_node<archetypes::storage_reader, archetypes::transport,
                                archetypes::logger>;
template class raftpp::raw_node<archetypes::storage, archetypes::transport, archetypes::logger>;

namespace {

entry ent(term_t term, index_t index, std::string_view data = {}) {
    return {term, index, entry_type::normal, buffer(data)};
}

}  // namespace

TEST_CASE("raft_log reads its log through a storage_reader alone", "[concepts][storage]") {
    memory_storage backing;
    const std::vector<entry> stored = {ent(1, 1), ent(1, 2), ent(2, 3), ent(2, 4), ent(3, 5)};
    REQUIRE(backing.append(stored));
    REQUIRE(backing.compact(2));  // entry 2 becomes the dummy: first index 3, term(2) known
    archetypes::storage_reader reader(backing);
    raft_log<archetypes::storage_reader> log(reader);

    CHECK(log.first_index() == 3);
    CHECK(log.last_index() == 5);
    CHECK(log.committed() == 2);  // everything compacted was committed and applied
    CHECK(log.term(2).value() == 1);
    CHECK(log.term(1).error() == errc::compacted);
    CHECK(log.last_term() == 3);

    // A follower's append that overwrites index 5 with a newer term (Raft §5.3).
    const std::vector<entry> incoming = {ent(4, 5, "x"), ent(4, 6, "y")};
    REQUIRE(log.maybe_append(4, 2, 6, incoming) == index_t{6});
    CHECK(log.committed() == 6);
    CHECK(log.unstable_entries().size() == 2);
    auto all = log.slice(3, 7, no_limit);
    REQUIRE(all);
    CHECK(*all == std::vector<entry>{ent(2, 3), ent(2, 4), ent(4, 5, "x"), ent(4, 6, "y")});
    CHECK(log.find_conflict_by_term(6, 3) == std::pair<index_t, term_t>{4, 2});
    CHECK(log.is_up_to_date(6, 4));
    CHECK_FALSE(log.is_up_to_date(7, 3));
    CHECK(log.next_committed_entries().size() == 4);
}

TEST_CASE("the ready cycle runs by hand with a storage_reader, transport and logger archetype",
          "[concepts][raw_node]") {
    // The application persists through its own write path (here a storage_writer over the
    // same backing store); raft only ever reads.
    memory_storage backing;
    archetypes::storage_reader reader(backing);
    archetypes::storage_writer writer(backing);
    std::vector<message> sent;
    std::vector<std::string> lines;
    config cfg;
    cfg.id = 1;
    raw_node<archetypes::storage_reader, archetypes::transport, archetypes::logger> node(
        cfg, reader, archetypes::transport(sent), archetypes::logger(lines, log_level::info));

    std::vector<std::string> applied;
    auto cycle = [&] {
        while (node.has_ready()) {
            auto& rd = node.ready();
            if (!is_empty(rd.snapshot)) REQUIRE(writer.apply_snapshot(rd.snapshot));
            if (!is_empty(rd.hard_state)) REQUIRE(writer.set_hard_state(rd.hard_state));
            REQUIRE(writer.append(rd.entries));
            for (const auto& e : rd.committed_entries) {
                if (e.type == entry_type::normal && !e.data.empty()) applied.push_back(e.data.str());
            }
            node.advance();
        }
    };
    REQUIRE(node.bootstrap({peer{1, false, {}}}));
    cycle();
    REQUIRE(node.campaign());
    cycle();
    REQUIRE(node.status().soft_state.role == role::leader);
    REQUIRE(node.propose(buffer("hello")));
    cycle();

    CHECK(applied == std::vector<std::string>{"hello"});
    CHECK(backing.hard_state().commit == backing.last_index().value());
    CHECK(sent.empty());  // a single node has nobody to talk to
    CHECK_FALSE(lines.empty());  // "became leader" and friends, through write()
}

TEST_CASE("a three-node cluster replicates over the storage, transport and logger archetypes",
          "[concepts][raw_node]") {
    using node_type = raw_node<archetypes::storage, archetypes::transport, archetypes::logger>;
    const std::vector<peer> peers = {{1, false, {}}, {2, false, {}}, {3, false, {}}};
    std::deque<memory_storage> backing(peers.size());
    std::deque<archetypes::storage> storages;
    std::deque<std::vector<message>> outboxes(peers.size());
    std::vector<std::string> lines;
    std::deque<node_type> nodes;
    for (const auto& p : peers) {
        const std::size_t i = p.id - 1;
        config cfg;
        cfg.id = p.id;
        storages.emplace_back(backing[i]);
        nodes.emplace_back(cfg, storages[i], archetypes::transport(outboxes[i]),
                           archetypes::logger(lines, log_level::warning));
        REQUIRE(nodes.back().bootstrap(peers));
    }
    std::vector<std::vector<std::string>> applied(peers.size());
    auto settle = [&] {
        for (bool busy = true; busy;) {
            busy = false;
            for (std::size_t i = 0; i < nodes.size(); ++i) {
                auto apply = [&](const entry& e) {
                    if (e.type == entry_type::normal && !e.data.empty())
                        applied[i].push_back(e.data.str());
                };
                for (;;) {
                    auto r = nodes[i].process_ready(apply);
                    REQUIRE(r);
                    if (!*r) break;
                    busy = true;
                }
                for (auto& m : std::exchange(outboxes[i], {})) {
                    REQUIRE(nodes[m.to - 1].step(std::move(m)));
                    busy = true;
                }
            }
        }
    };
    settle();
    REQUIRE(nodes[1].campaign());
    settle();
    REQUIRE(nodes[1].status().soft_state.role == role::leader);
    REQUIRE(nodes[1].propose(buffer("hello")));
    settle();

    for (const auto& a : applied) CHECK(a == std::vector<std::string>{"hello"});
    CHECK(lines.empty());  // nothing at warning or above on a healthy run
}
