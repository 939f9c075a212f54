// raftkv's Prometheus metrics: counters, gauges and histograms kept in a registry that renders
// the text exposition format 0.0.4 for GET /metrics. Raft, apply and HTTP threads all update
// metrics, so updates are relaxed atomics and never lock; only registering and rendering take
// the registry's mutex. References handed out by the registry stay valid for its lifetime.
// Names follow etcd's: raftkv_<subsystem>_<name>[_total|_seconds|_bytes].
#pragma once

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <set>
#include <stdexcept>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace raftkv {

class counter {
public:
    void inc(std::uint64_t n = 1) noexcept { value_.fetch_add(n, std::memory_order_relaxed); }
    std::uint64_t value() const noexcept { return value_.load(std::memory_order_relaxed); }

private:
    std::atomic<std::uint64_t> value_{0};
};

class gauge {
public:
    void set(double v) noexcept { value_.store(v, std::memory_order_relaxed); }
    void inc(double d = 1) noexcept { value_.fetch_add(d, std::memory_order_relaxed); }
    void dec(double d = 1) noexcept { value_.fetch_sub(d, std::memory_order_relaxed); }
    double value() const noexcept { return value_.load(std::memory_order_relaxed); }

private:
    std::atomic<double> value_{0};
};

// Buckets are counted apart and summed when read, so observe() touches two atomics and a
// scrape's +Inf bucket always equals its _count. _sum is read separately and may lag or lead
// them by observations made during the scrape, as Prometheus tolerates.
class histogram {
public:
    // upper_bounds: finite and strictly increasing; the +Inf bucket is implicit. Throws
    // std::invalid_argument otherwise.
    explicit histogram(std::vector<double> upper_bounds)
        : bounds_(std::move(upper_bounds)),
          buckets_(std::make_unique<std::atomic<std::uint64_t>[]>(bounds_.size() + 1)) {
        for (std::size_t i = 0; i < bounds_.size(); ++i) {
            if (!std::isfinite(bounds_[i]))
                throw std::invalid_argument("histogram bounds must be finite");
            if (i > 0 && !(bounds_[i - 1] < bounds_[i]))
                throw std::invalid_argument("histogram bounds must be strictly increasing");
        }
    }

    // Counts v in the first bucket whose bound is >= v (Prometheus's le). NaN goes to +Inf
    // only, as in client_golang.
    void observe(double v) noexcept {
        auto it = std::partition_point(bounds_.begin(), bounds_.end(),
                                       [v](double bound) { return !(bound >= v); });
        buckets_[static_cast<std::size_t>(it - bounds_.begin())].fetch_add(
            1, std::memory_order_relaxed);
        sum_.fetch_add(v, std::memory_order_relaxed);
    }

    // Takes counts kept elsewhere (the node's WAL sync histogram): one per bucket, not
    // cumulative, the +Inf bucket last; and their sum. Throws std::invalid_argument when the
    // number of counts is not the number of bounds plus one.
    void load(std::span<const std::uint64_t> per_bucket, double sum) {
        if (per_bucket.size() != bounds_.size() + 1)
            throw std::invalid_argument("histogram load: one count per bucket, +Inf included");
        for (std::size_t i = 0; i < per_bucket.size(); ++i)
            buckets_[i].store(per_bucket[i], std::memory_order_relaxed);
        sum_.store(sum, std::memory_order_relaxed);
    }

    const std::vector<double>& upper_bounds() const noexcept { return bounds_; }

    // Cumulative counts: one per upper bound, then the +Inf bucket (the total count).
    std::vector<std::uint64_t> cumulative_counts() const {
        std::vector<std::uint64_t> out(bounds_.size() + 1);
        std::uint64_t total = 0;
        for (std::size_t i = 0; i < out.size(); ++i) {
            total += buckets_[i].load(std::memory_order_relaxed);
            out[i] = total;
        }
        return out;
    }
    std::uint64_t count() const { return cumulative_counts().back(); }
    double sum() const noexcept { return sum_.load(std::memory_order_relaxed); }

private:
    std::vector<double> bounds_;
    // buckets_[i] counts observations in (bounds_[i-1], bounds_[i]]; buckets_[bounds_.size()]
    // those above the last bound.
    std::unique_ptr<std::atomic<std::uint64_t>[]> buckets_;
    std::atomic<double> sum_{0};
};

// count bounds start, start*factor, start*factor^2, ... (client_golang's ExponentialBuckets).
inline std::vector<double> exponential_buckets(double start, double factor, std::size_t count) {
    std::vector<double> out;
    for (std::size_t i = 0; i < count; ++i, start *= factor) out.push_back(start);
    return out;
}

// Seconds, 100 µs to 13.1 s doubling: 0.0001 * 2^k for k = 0..17. The start and factor of etcd's
// apply_duration_seconds (ExponentialBuckets(0.0001, 2, 20)), which, unlike
// wal_fsync_duration_seconds's 1 ms start, resolves fast SSD fsyncs and in-memory applies;
// it stops at the first bound past 10 s because a request that slow has long timed out.
inline std::vector<double> latency_buckets() {
    return exponential_buckets(0.0001, 2, 18);
}

// A sample value as client_golang writes it (Go's strconv 'g' with shortest precision):
// "+Inf", "-Inf", "NaN"; otherwise the shortest text that reads back to v, in exponent form
// when the decimal exponent is below -4 or at least 6 (0.0001, 123456, 1.234567e+06, 1e-05).
inline std::string format_value(double v) {
    if (std::isnan(v)) return "NaN";
    if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
    char buf[64];
    auto sci = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::scientific);
    std::string_view text(buf, static_cast<std::size_t>(sci.ptr - buf));
    auto e = text.find('e');
    int exponent = 0;
    std::from_chars(text.data() + e + 2, text.data() + text.size(), exponent);
    if (text[e + 1] == '-') exponent = -exponent;
    if (exponent < -4 || exponent >= 6) return std::string(text);
    auto fixed = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed);
    return std::string(buf, fixed.ptr);
}

// True for [a-zA-Z_:][a-zA-Z0-9_:]*, the Prometheus metric name syntax.
inline bool is_valid_metric_name(std::string_view name) {
    auto head = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':'; };
    return !name.empty() && head(name.front()) &&
           std::all_of(name.begin() + 1, name.end(),
                       [&](char c) { return head(c) || (c >= '0' && c <= '9'); });
}

class registry {
public:
    // The Content-Type of render()'s output.
    static constexpr std::string_view content_type = "text/plain; version=0.0.4; charset=utf-8";

    // Each add_* throws std::invalid_argument if the name is not a valid metric name or
    // collides with a series already exposed (a histogram "h" also takes h_bucket, h_sum and
    // h_count). Metrics are rendered in the order they were added.
    counter& add_counter(std::string name, std::string help) {
        std::lock_guard lock(mutex_);
        claim({name});
        auto& m = counters_.emplace_back();
        entries_.push_back({std::move(name), std::move(help), &m, nullptr, nullptr});
        return m;
    }

    gauge& add_gauge(std::string name, std::string help) {
        std::lock_guard lock(mutex_);
        claim({name});
        auto& m = gauges_.emplace_back();
        entries_.push_back({std::move(name), std::move(help), nullptr, &m, nullptr});
        return m;
    }

    histogram& add_histogram(std::string name, std::string help, std::vector<double> upper_bounds) {
        std::lock_guard lock(mutex_);
        std::vector<std::string> series{name, name + "_bucket", name + "_sum", name + "_count"};
        check(series);
        auto& m = histograms_.emplace_back(std::move(upper_bounds));  // may throw: nothing claimed
        taken_.insert(series.begin(), series.end());
        entries_.push_back({std::move(name), std::move(help), nullptr, nullptr, &m});
        return m;
    }

    std::string render() const {
        std::lock_guard lock(mutex_);
        std::string out;
        for (const auto& e : entries_) {
            if (!e.help.empty()) out += "# HELP " + e.name + " " + escape_help(e.help) + "\n";
            if (e.c != nullptr) {
                out += "# TYPE " + e.name + " counter\n";
                out += e.name + " " + std::to_string(e.c->value()) + "\n";
            } else if (e.g != nullptr) {
                out += "# TYPE " + e.name + " gauge\n";
                out += e.name + " " + format_value(e.g->value()) + "\n";
            } else {
                out += "# TYPE " + e.name + " histogram\n";
                render_histogram(out, e.name, *e.h);
            }
        }
        return out;
    }

private:
    struct entry {
        std::string name;
        std::string help;
        // Exactly one is set.
        const counter* c;
        const gauge* g;
        const histogram* h;
    };

    void check(const std::vector<std::string>& series) const {
        for (const auto& s : series) {
            if (!is_valid_metric_name(s))
                throw std::invalid_argument("invalid metric name \"" + s + "\"");
            if (s.starts_with("__"))
                throw std::invalid_argument("metric names starting with __ are reserved: \"" + s + "\"");
            if (taken_.count(s) != 0)
                throw std::invalid_argument("metric \"" + s + "\" is already registered");
        }
    }

    void claim(const std::vector<std::string>& series) {
        check(series);
        taken_.insert(series.begin(), series.end());
    }

    // Format 0.0.4 escapes only backslash and newline in HELP text.
    static std::string escape_help(std::string_view help) {
        std::string out;
        for (char c : help) {
            if (c == '\\') out += "\\\\";
            else if (c == '\n') out += "\\n";
            else out += c;
        }
        return out;
    }

    static void render_histogram(std::string& out, const std::string& name, const histogram& h) {
        auto counts = h.cumulative_counts();
        const auto& bounds = h.upper_bounds();
        for (std::size_t i = 0; i < counts.size(); ++i) {
            auto le = i < bounds.size() ? format_value(bounds[i]) : std::string("+Inf");
            out += name + "_bucket{le=\"" + le + "\"} " + std::to_string(counts[i]) + "\n";
        }
        out += name + "_sum " + format_value(h.sum()) + "\n";
        out += name + "_count " + std::to_string(counts.back()) + "\n";
    }

    mutable std::mutex mutex_;
    // deques: emplace_back never moves what earlier calls handed out.
    std::deque<counter> counters_;
    std::deque<gauge> gauges_;
    std::deque<histogram> histograms_;
    std::vector<entry> entries_;
    std::set<std::string, std::less<>> taken_;
};

}  // namespace raftkv
