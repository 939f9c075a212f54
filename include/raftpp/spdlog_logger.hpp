// raftpp::spdlog_logger — the logger policy (logger.hpp, docs/concepts.md#logger) over an
// spdlog::logger, for applications that already log through spdlog:
//
//   auto log = spdlog::stdout_color_mt("raft");
//   raftpp::raw_node<raftpp::memory_storage, raftpp::vector_transport, raftpp::spdlog_logger>
//       node(cfg, storage, {}, raftpp::spdlog_logger(log));
//
// Optional: this header needs spdlog (Debian: libspdlog-dev; link `dependency('spdlog')`, which
// brings fmt), the rest of raftpp does not. Levels map one to one (debug, info, warn, err); the
// level, sinks and pattern are the spdlog logger's, and changing them at run time takes effect
// at the next message. enabled() is spdlog's should_log(), a relaxed atomic load, so a level
// that is off costs that load and nothing is formatted: raftpp builds a message's text only
// after enabled() said yes. With spdlog's backtrace on, every level is enabled (the ring buffer
// keeps what the level filters out, for dump_backtrace()), as spdlog itself does.
// raftpp's text goes to spdlog as a finished message, never as a format string, so braces in
// it (a payload, an id) are printed as they are.
#pragma once

#include <memory>
#include <string_view>
#include <utility>

#include <spdlog/spdlog.h>

#include <raftpp/error.hpp>
#include <raftpp/logger.hpp>

namespace raftpp {

// raftpp's levels in spdlog's terms. spdlog's trace and critical have no raftpp counterpart.
constexpr spdlog::level::level_enum to_spdlog_level(log_level lv) noexcept {
    switch (lv) {
    case log_level::debug: return spdlog::level::debug;
    case log_level::info: return spdlog::level::info;
    case log_level::warning: return spdlog::level::warn;
    case log_level::error: return spdlog::level::err;
    }
    return spdlog::level::err;
}

// Copies share the spdlog logger: hold it by shared_ptr, as spdlog's registry does.
class spdlog_logger {
public:
    // spdlog's default logger (spdlog::default_logger(), stdout in colour unless replaced),
    // taken when the policy is constructed.
    spdlog_logger() : spdlog_logger(spdlog::default_logger()) {}
    // `l` must not be null: a node would otherwise log nowhere without a word.
    explicit spdlog_logger(std::shared_ptr<spdlog::logger> l) noexcept : logger_(std::move(l)) {
        RAFTPP_ASSERT(logger_ != nullptr, "spdlog_logger: null spdlog::logger");
    }

    bool enabled(log_level lv) const noexcept {
        return logger_->should_log(to_spdlog_level(lv)) || logger_->should_backtrace();
    }
    void write(log_level lv, std::string_view text) const {
        // The string_view_t overload: the text is the message, not a format string.
        logger_->log(spdlog::source_loc{}, to_spdlog_level(lv),
                     spdlog::string_view_t(text.data(), text.size()));
    }

    // The spdlog logger itself, e.g. to change its level.
    const std::shared_ptr<spdlog::logger>& get() const noexcept { return logger_; }

private:
    std::shared_ptr<spdlog::logger> logger_;
};

static_assert(logger<spdlog_logger>);

}  // namespace raftpp
