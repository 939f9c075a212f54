// config validation and normalization (etcd's Config.validate), and the logger policy.
#include <catch2/catch.hpp>

#include <raftpp/config.hpp>
#include <raftpp/logger.hpp>
#include <raftpp/types.hpp>

#include <sstream>
#include <string>
#include <string_view>

using namespace raftpp;

namespace {

config valid_config() {
    config c;
    c.id = 1;
    return c;
}

}  // namespace

TEST_CASE("defaults with an id are valid and match etcd", "[config]") {
    const config c = valid_config();
    CHECK(c.validate().has_value());
    CHECK(c.invalid_reason().empty());
    CHECK(c.election_tick == 10);
    CHECK(c.heartbeat_tick == 1);
    CHECK(c.max_size_per_msg == std::uint64_t{1} << 20);
    CHECK(c.max_inflight_msgs == 256);
    CHECK(c.read_only == read_only_option::safe);
    CHECK_FALSE(c.check_quorum);
    CHECK_FALSE(c.pre_vote);
    CHECK_FALSE(c.async_storage_writes);
}

TEST_CASE("every configuration etcd rejects is invalid_config with etcd's reason", "[config]") {
    struct test_case {
        std::string_view name;
        void (*mutate)(config&);
        std::string_view reason;
    };
    const test_case cases[] = {
        {"id is none", [](config& c) { c.id = none; }, "cannot use none as id"},
        {"heartbeat tick zero", [](config& c) { c.heartbeat_tick = 0; },
         "heartbeat tick must be greater than 0"},
        {"heartbeat tick negative", [](config& c) { c.heartbeat_tick = -3; },
         "heartbeat tick must be greater than 0"},
        {"election tick equals heartbeat tick",
         [](config& c) { c.election_tick = 5, c.heartbeat_tick = 5; },
         "election tick must be greater than heartbeat tick"},
        {"election tick below heartbeat tick",
         [](config& c) { c.election_tick = 2, c.heartbeat_tick = 3; },
         "election tick must be greater than heartbeat tick"},
        {"election tick zero", [](config& c) { c.election_tick = 0; },
         "election tick must be greater than heartbeat tick"},
        {"no inflight messages", [](config& c) { c.max_inflight_msgs = 0; },
         "max inflight messages must be greater than 0"},
        {"inflight bytes below message size",
         [](config& c) { c.max_inflight_bytes = c.max_size_per_msg - 1; },
         "max inflight bytes must be >= max message size"},
        {"inflight bytes 1 with unlimited messages",
         [](config& c) { c.max_size_per_msg = no_limit, c.max_inflight_bytes = 1; },
         "max inflight bytes must be >= max message size"},
        {"lease-based reads without check_quorum",
         [](config& c) { c.read_only = read_only_option::lease_based; },
         "check_quorum must be enabled when read_only is lease_based"},
        // Several faults: the first rule in etcd's order is the one reported.
        {"none id and bad ticks",
         [](config& c) { c.id = none, c.heartbeat_tick = 0, c.max_inflight_msgs = 0; },
         "cannot use none as id"},
        {"bad ticks and no inflight",
         [](config& c) { c.election_tick = 1, c.max_inflight_msgs = 0; },
         "election tick must be greater than heartbeat tick"},
    };
    for (const auto& tc : cases) {
        CAPTURE(tc.name);
        config c = valid_config();
        tc.mutate(c);
        const result<void> r = c.validate();
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error() == errc::invalid_config);
        CHECK(r.error() == make_error_code(errc::invalid_config));
        CHECK(c.invalid_reason() == tc.reason);
    }
}

TEST_CASE("boundary configurations etcd accepts are valid", "[config]") {
    struct test_case {
        std::string_view name;
        void (*mutate)(config&);
    };
    const test_case cases[] = {
        {"election tick one above heartbeat", [](config& c) { c.election_tick = 2; }},
        {"one inflight message", [](config& c) { c.max_inflight_msgs = 1; }},
        {"inflight bytes equal to message size",
         [](config& c) { c.max_inflight_bytes = c.max_size_per_msg; }},
        {"inflight bytes unlimited", [](config& c) { c.max_inflight_bytes = no_limit; }},
        {"one entry per message with any inflight bytes",
         [](config& c) { c.max_size_per_msg = 0, c.max_inflight_bytes = 1; }},
        {"lease-based reads with check_quorum",
         [](config& c) { c.read_only = read_only_option::lease_based, c.check_quorum = true; }},
        {"all features on",
         [](config& c) {
             c.pre_vote = c.check_quorum = c.async_storage_writes = true;
             c.disable_proposal_forwarding = true;
             c.applied = 42;
             c.seed = 7;
         }},
    };
    for (const auto& tc : cases) {
        CAPTURE(tc.name);
        config c = valid_config();
        tc.mutate(c);
        CHECK(c.validate().has_value());
        CHECK(c.invalid_reason() == "");
    }
}

TEST_CASE("invalid_reason is usable in constant expressions", "[config]") {
    constexpr config bad{};
    static_assert(bad.invalid_reason() == "cannot use none as id");
    constexpr config good = [] {
        config c;
        c.id = 3;
        return c;
    }();
    static_assert(good.invalid_reason().empty());
    static_assert(good.normalized().max_uncommitted_entries_size == no_limit);
    SUCCEED();
}

TEST_CASE("normalized makes etcd's special zeros explicit", "[config]") {
    const config n = valid_config().normalized();
    CHECK(n.max_uncommitted_entries_size == no_limit);
    CHECK(n.max_committed_size_per_ready == n.max_size_per_msg);
    CHECK(n.max_inflight_bytes == no_limit);
    CHECK(n.seed != 0);
    CHECK(n.validate().has_value());
    CHECK(n.normalized() == n);

    SECTION("explicit values are kept") {
        config c = valid_config();
        c.max_uncommitted_entries_size = 100;
        c.max_committed_size_per_ready = 200;
        c.max_inflight_bytes = 2u << 20;
        c.seed = 99;
        const config m = c.normalized();
        CHECK(m.max_uncommitted_entries_size == 100);
        CHECK(m.max_committed_size_per_ready == 200);
        CHECK(m.max_inflight_bytes == 2u << 20);
        CHECK(m.seed == 99);
        CHECK(m == c);
    }
    SECTION("committed size follows a one-entry max_size_per_msg") {
        config c = valid_config();
        c.max_size_per_msg = 0;
        CHECK(c.normalized().max_committed_size_per_ready == 0);
        CHECK(c.normalized().normalized() == c.normalized());
    }
    SECTION("normalizing does not validate") {
        config c;
        CHECK(c.normalized().invalid_reason() == "cannot use none as id");
    }
}

TEST_CASE("seed 0 derives a distinct, stable seed from the id", "[config]") {
    config a = valid_config();
    config b = valid_config();
    b.id = 2;
    CHECK(a.effective_seed() != 0);
    CHECK(a.effective_seed() == valid_config().effective_seed());
    CHECK(a.effective_seed() != b.effective_seed());
    a.seed = 12345;
    CHECK(a.effective_seed() == 12345);
}

// --- logger ---

namespace {

// Counts what reaches it; enabled at or above `min`, decided at run time.
struct recording_logger {
    log_level min = log_level::debug;
    std::string text;
    int writes = 0;
    bool enabled(log_level lv) const { return lv >= min; }
    void write(log_level lv, std::string_view s) {
        ++writes;
        text.append(to_string(lv)).append(":").append(s).append(";");
    }
};

struct only_enabled {
    bool enabled(log_level) const { return true; }
};

static_assert(logger<null_logger>);
static_assert(logger<stream_logger>);
static_assert(logger<recording_logger>);
static_assert(!logger<only_enabled>);
static_assert(!logger<int>);
static_assert(check_logger<null_logger>() && check_logger<stream_logger>());
static_assert(statically_disabled<null_logger>);
static_assert(!statically_disabled<stream_logger>);
static_assert(!statically_disabled<recording_logger>);

int evaluations = 0;
int counted(int v) {
    ++evaluations;
    return v;
}

}  // namespace

TEST_CASE("null_logger formats and evaluates nothing", "[logger]") {
    null_logger l;
    evaluations = 0;
    RAFTPP_LOG(l, log_level::error, "value ", counted(1));
    log_lazy(l, log_level::error, [] {
        ++evaluations;
        return std::string("built");
    });
    CHECK(evaluations == 0);
}

TEST_CASE("a disabled level builds no text", "[logger]") {
    recording_logger l;
    l.min = log_level::warning;
    evaluations = 0;
    RAFTPP_LOG(l, log_level::info, "skipped ", counted(1));
    CHECK(evaluations == 0);
    CHECK(l.writes == 0);
    RAFTPP_LOG(l, log_level::error, "kept ", counted(2));
    CHECK(evaluations == 1);
    CHECK(l.text == "ERROR:kept 2;");
}

TEST_CASE("stream_logger writes LEVEL text lines at or above its level", "[logger]") {
    std::ostringstream os;
    stream_logger l(os);  // default minimum: info
    CHECK(l.min_level() == log_level::info);
    log(l, log_level::debug, "hidden");
    log(l, log_level::info, "node ", node_id{3}, " became ", "leader");
    log(l, log_level::warning, "term ", term_t{7});
    log(l, log_level::error, "boom");
    CHECK(os.str() == "INFO node 3 became leader\nWARN term 7\nERROR boom\n");

    l.set_min_level(log_level::debug);
    os.str("");
    log(l, log_level::debug, "now visible");
    CHECK(os.str() == "DEBUG now visible\n");
}

TEST_CASE("concat formats numbers, bools, chars and enums", "[logger]") {
    using detail::concat;
    CHECK(concat() == "");
    CHECK(concat("a", std::string("b"), std::string_view("c"), 'd') == "abcd");
    CHECK(concat(-5, ' ', 18446744073709551615ULL) == "-5 18446744073709551615");
    CHECK(concat(true, '/', false) == "true/false");
    CHECK(concat(static_cast<std::uint8_t>(200), ' ', static_cast<signed char>(-1)) == "200 -1");
    CHECK(concat(1.5) == "1.5");
    CHECK(concat(message_type::app_resp, ' ', log_level::warning) == "app_resp WARN");
    CHECK(concat(read_only_option::lease_based) == "lease_based");
    enum class plain : int { a = 4 };
    CHECK(concat(plain::a) == "4");
}
