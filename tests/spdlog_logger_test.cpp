// raftpp::spdlog_logger (raftpp/spdlog_logger.hpp): the logger policy over an spdlog::logger.
// Levels map one to one, text reaches the logger's sinks verbatim, a level spdlog filters out
// formats nothing, and a node runs with it. Built only when spdlog is found.
#include <catch2/catch.hpp>

#include <raftpp/memory_storage.hpp>
#include <raftpp/raw_node.hpp>
#include <raftpp/spdlog_logger.hpp>

#include <spdlog/sinks/base_sink.h>

#include <memory>
#include <mutex>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

using namespace raftpp;

namespace {

// Keeps what reaches it: the level and the message text, without spdlog's pattern.
struct captured {
    spdlog::level::level_enum level;
    std::string text;
};
class capture_sink final : public spdlog::sinks::base_sink<std::mutex> {
public:
    std::vector<captured> lines;

protected:
    void sink_it_(const spdlog::details::log_msg& m) override {
        lines.push_back({m.level, std::string(m.payload.data(), m.payload.size())});
    }
    void flush_() override {}
};

struct fixture {
    std::shared_ptr<capture_sink> sink = std::make_shared<capture_sink>();
    std::shared_ptr<spdlog::logger> spd = std::make_shared<spdlog::logger>("raft", sink);
    spdlog_logger log{spd};
};

// A log argument that counts how often it is formatted.
struct counted {
    int* formats;
    friend std::ostream& operator<<(std::ostream& os, const counted& c) {
        ++*c.formats;
        return os << "counted";
    }
};

}  // namespace

TEST_CASE("spdlog_logger models the logger concept", "[spdlog_logger]") {
    STATIC_REQUIRE(logger<spdlog_logger>);
    STATIC_REQUIRE(check_logger<spdlog_logger>());
    STATIC_REQUIRE_FALSE(statically_disabled<spdlog_logger>);
}

TEST_CASE("raftpp levels map to spdlog levels", "[spdlog_logger]") {
    STATIC_REQUIRE(to_spdlog_level(log_level::debug) == spdlog::level::debug);
    STATIC_REQUIRE(to_spdlog_level(log_level::info) == spdlog::level::info);
    STATIC_REQUIRE(to_spdlog_level(log_level::warning) == spdlog::level::warn);
    STATIC_REQUIRE(to_spdlog_level(log_level::error) == spdlog::level::err);

    fixture f;
    for (auto lv : {log_level::debug, log_level::info, log_level::warning, log_level::error})
        RAFTPP_LOG(f.log, lv, "at ", to_string(lv));
    // spdlog's default level is info: debug is filtered out.
    REQUIRE(f.sink->lines.size() == 3);
    CHECK(f.sink->lines[0].level == spdlog::level::info);
    CHECK(f.sink->lines[0].text == "at INFO");
    CHECK(f.sink->lines[1].level == spdlog::level::warn);
    CHECK(f.sink->lines[2].level == spdlog::level::err);
    CHECK(f.sink->lines[2].text == "at ERROR");

    // enabled() follows the spdlog logger's level as it changes.
    f.spd->set_level(spdlog::level::debug);
    CHECK(f.log.enabled(log_level::debug));
    f.spd->set_level(spdlog::level::err);
    CHECK_FALSE(f.log.enabled(log_level::warning));
    CHECK(f.log.enabled(log_level::error));
    f.spd->set_level(spdlog::level::off);
    CHECK_FALSE(f.log.enabled(log_level::error));
}

TEST_CASE("spdlog_logger passes the text verbatim, not as a format string", "[spdlog_logger]") {
    fixture f;
    f.log.write(log_level::info, "entry {} at {0} {:>8}");
    REQUIRE(f.sink->lines.size() == 1);
    CHECK(f.sink->lines[0].text == "entry {} at {0} {:>8}");
}

TEST_CASE("a level spdlog filters out formats nothing", "[spdlog_logger]") {
    fixture f;
    f.spd->set_level(spdlog::level::warn);
    int formats = 0;
    const counted c{&formats};
    raftpp::log(f.log, log_level::debug, "debug ", c);
    raftpp::log(f.log, log_level::info, "info ", c);
    CHECK(formats == 0);
    CHECK(f.sink->lines.empty());
    raftpp::log(f.log, log_level::warning, "warning ", c);
    CHECK(formats == 1);
    REQUIRE(f.sink->lines.size() == 1);
    CHECK(f.sink->lines[0].text == "warning counted");

    // With spdlog's backtrace on, filtered levels are kept for dump_backtrace(), so they are
    // formatted, as spdlog formats them.
    f.spd->enable_backtrace(4);
    raftpp::log(f.log, log_level::debug, "kept ", c);
    CHECK(formats == 2);
    CHECK(f.sink->lines.size() == 1);
    f.spd->dump_backtrace();
    bool dumped = false;
    for (const auto& l : f.sink->lines) dumped = dumped || l.text == "kept counted";
    CHECK(dumped);
}

TEST_CASE("the default spdlog_logger writes to spdlog's default logger", "[spdlog_logger]") {
    fixture f;
    const auto previous = spdlog::default_logger();
    spdlog::set_default_logger(f.spd);
    spdlog_logger dflt;
    spdlog::set_default_logger(previous);
    CHECK(dflt.get() == f.spd);
    RAFTPP_LOG(dflt, log_level::warning, "via the default");
    REQUIRE(f.sink->lines.size() == 1);
    CHECK(f.sink->lines[0].text == "via the default");
}

TEST_CASE("a raft node logs through spdlog_logger", "[spdlog_logger]") {
    fixture f;
    memory_storage st;
    config c;
    c.id = 1;
    raw_node<memory_storage, vector_transport, spdlog_logger> n(c, st, {}, f.log);
    auto settle = [&] {
        while (n.has_ready()) {
            auto& rd = n.ready();
            REQUIRE(n.persist(rd));
            for (const auto& e : rd.committed_entries)
                if (e.type != entry_type::normal)
                    REQUIRE(n.apply_conf_change(*decode_conf_change_entry(e)));
            n.advance();
        }
    };
    REQUIRE(n.bootstrap({peer{1, false, {}}}));
    settle();  // a node campaigns only once its configuration is applied
    REQUIRE(n.campaign());
    settle();
    REQUIRE(n.raft().role() == role::leader);
    bool became_leader = false;
    for (const auto& l : f.sink->lines)
        became_leader = became_leader || (l.level == spdlog::level::info &&
                                          l.text == "1 became leader at term 2");
    CHECK(became_leader);
}
