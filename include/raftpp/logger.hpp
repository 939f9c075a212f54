// The logger policy: a type with `enabled(log_level)` and `write(log_level, std::string_view)`.
// Text is built only after enabled() said yes, so a disabled logger costs a branch and
// null_logger (whose enabled() is constexpr false) costs nothing: the formatting is dead code.
//   null_logger   — the default; logs nothing.
//   stream_logger — "LEVEL text\n" lines to a std::ostream, at or above a minimum level.
// Build messages with RAFTPP_LOG(l, level, parts...) (parts are not even evaluated when the
// level is off), log_lazy(l, level, callable) or log(l, level, parts...).
#pragma once

#include <charconv>
#include <concepts>
#include <cstdint>
#include <ostream>
#include <sstream>
#include <string>
#include <system_error>
#include <string_view>
#include <type_traits>
#include <utility>

namespace raftpp {

enum class log_level : std::uint8_t { debug, info, warning, error };

// etcd's level tags.
inline constexpr std::string_view to_string(log_level lv) noexcept {
    switch (lv) {
    case log_level::debug: return "DEBUG";
    case log_level::info: return "INFO";
    case log_level::warning: return "WARN";
    case log_level::error: return "ERROR";
    }
    return "UNKNOWN";
}

namespace detail {
template <class L>
concept has_enabled = requires(L& l, log_level lv) {
    { l.enabled(lv) } -> std::convertible_to<bool>;
};
template <class L>
concept has_write = requires(L& l, log_level lv, std::string_view text) {
    l.write(lv, text);
};
// enabled() is a static constexpr function (it can be called as L::enabled in a constant).
template <class L>
concept has_constexpr_enabled = requires {
    typename std::bool_constant<L::enabled(log_level::debug)>;
    typename std::bool_constant<L::enabled(log_level::error)>;
};
}  // namespace detail

// Requirements (docs/concepts.md#logger):
//   l.enabled(lv)     -> bool   whether text at level lv would be written; cheap
//   l.write(lv, text)           writes one line of text (without a trailing newline)
template <class L>
concept logger = detail::has_enabled<L> && detail::has_write<L>;

// True when L is off at every level at compile time, like null_logger.
template <class L>
inline constexpr bool statically_disabled = [] {
    if constexpr (detail::has_constexpr_enabled<L>)
        return !L::enabled(log_level::debug) && !L::enabled(log_level::info) &&
               !L::enabled(log_level::warning) && !L::enabled(log_level::error);
    else
        return false;
}();

// Checks a logger type member by member so a type that does not fit fails with a message
// naming what is missing. Use in templates: `static_assert(check_logger<L>());`.
template <class L>
consteval bool check_logger() {
    static_assert(detail::has_enabled<L>,
                  "raftpp: Logger must provide `bool enabled(log_level) const` (may be static "
                  "constexpr); see docs/concepts.md#logger");
    static_assert(detail::has_write<L>,
                  "raftpp: Logger must provide `void write(log_level, std::string_view)`; "
                  "see docs/concepts.md#logger");
    return true;
}

// Logs nothing; enabled() is a constant false, so no message is ever formatted.
struct null_logger {
    static constexpr bool enabled(log_level) noexcept { return false; }
    static constexpr void write(log_level, std::string_view) noexcept {}
};

// Writes "LEVEL text\n" to a stream for levels at or above min_level. Copies share the stream,
// which must outlive them.
class stream_logger {
public:
    explicit stream_logger(std::ostream& os, log_level min_level = log_level::info) noexcept
        : os_(&os), min_(min_level) {}

    bool enabled(log_level lv) const noexcept { return lv >= min_; }
    void write(log_level lv, std::string_view text) const {
        std::string line;
        line.reserve(to_string(lv).size() + 2 + text.size());
        line.append(to_string(lv)).append(1, ' ').append(text).append(1, '\n');
        os_->write(line.data(), static_cast<std::streamsize>(line.size()));
    }

    log_level min_level() const noexcept { return min_; }
    void set_min_level(log_level lv) noexcept { min_ = lv; }

private:
    std::ostream* os_;
    log_level min_;
};

namespace detail {

template <class T>
concept has_adl_to_string = requires(const T& v) {
    { to_string(v) } -> std::convertible_to<std::string_view>;
};
template <class T>
concept streamable = requires(std::ostream& os, const T& v) { os << v; };

template <class T>
void append_part(std::string& out, const T& v) {
    using U = std::remove_cvref_t<T>;
    if constexpr (std::is_same_v<U, bool>) {
        out.append(v ? "true" : "false");
    } else if constexpr (std::is_same_v<U, char>) {
        out.push_back(v);
    } else if constexpr (std::is_convertible_v<const T&, std::string_view>) {
        out.append(std::string_view(v));
    } else if constexpr (std::is_same_v<U, std::error_code>) {
        out.append(v.message());
    } else if constexpr (has_adl_to_string<U>) {
        out.append(std::string_view(to_string(v)));
    } else if constexpr (std::is_enum_v<U>) {
        append_part(out, static_cast<std::underlying_type_t<U>>(v));
    } else if constexpr (std::is_arithmetic_v<U>) {
        // Numbers via to_chars: locale-independent; signed/unsigned char print as numbers.
        using N = std::conditional_t<std::is_integral_v<U> && sizeof(U) == 1,
                                     std::conditional_t<std::is_signed_v<U>, int, unsigned>, U>;
        char buf[64];
        auto [end, ec] = std::to_chars(buf, buf + sizeof buf, static_cast<N>(v));
        if (ec == std::errc{}) out.append(buf, end);
    } else if constexpr (streamable<U>) {
        std::ostringstream os;
        os << v;
        out.append(std::move(os).str());
    } else {
        static_assert(streamable<U>,
                      "raftpp: a log argument must be a string, a number, an enum, a type with "
                      "an ADL to_string(), or have operator<<(std::ostream&, const T&)");
    }
}

// Concatenates the parts as text: strings as-is, numbers in decimal, bool as true/false,
// enums through their to_string() when one exists (message_type, role, ...).
template <class... A>
std::string concat(const A&... parts) {
    std::string out;
    (append_part(out, parts), ...);
    return out;
}

}  // namespace detail

// Calls build() — which returns the text — only when the level is enabled.
template <logger L, class Build>
void log_lazy(L& l, log_level lv, Build&& build) {
    if constexpr (!statically_disabled<L>) {
        if (l.enabled(lv)) {
            const auto& text = std::forward<Build>(build)();
            l.write(lv, std::string_view(text));
        }
    } else {
        (void)l, (void)lv, (void)build;
    }
}

// Logs the concatenation of parts (see detail::concat). The parts are evaluated by the caller
// but formatted only when the level is enabled; use RAFTPP_LOG to skip evaluating them too.
template <logger L, class... A>
void log(L& l, log_level lv, const A&... parts) {
    log_lazy(l, lv, [&] { return detail::concat(parts...); });
}

}  // namespace raftpp

// RAFTPP_LOG(logger, level, parts...): the parts are evaluated and concatenated only when
// logger.enabled(level); with null_logger nothing is evaluated at all.
#define RAFTPP_LOG(logger_, level_, ...) \
    ::raftpp::log_lazy((logger_), (level_), [&] { return ::raftpp::detail::concat(__VA_ARGS__); })
