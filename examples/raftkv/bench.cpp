// raftkv-bench: closed-loop clients over keep-alive HTTP against raftkv, or against etcd's v3
// JSON gateway with the same keys and values, for side-by-side figures; and a check that every
// member holds the same value for every key.
//
//   raftkv-bench --endpoints=http://127.0.0.1:2379,... [--clients=32] [--requests=N |
//                --duration-ms=D] [--value-size=16] [--keys=1000] [--read-ratio=0]
//                [--api=raftkv|etcd] [--serializable] [--progress] [--json]
//   raftkv-bench --endpoints=... --keys=K --verify [--json]
//
// Client c talks to endpoint c mod n; a request that fails (refused, 5xx, timed out) counts as
// a failure and is tried again on the next endpoint. Latencies are of successful requests.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <iostream>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <boost/json.hpp>

#include "flags.hpp"
#include "http.hpp"

namespace {

using clock_type = std::chrono::steady_clock;
using verb = raftkv::http::verb;

struct bench_options {
    std::vector<raftkv::endpoint> endpoints;
    std::size_t clients = 32;
    std::uint64_t requests = 0;      // total operations; 0: run for duration_ms
    std::uint64_t duration_ms = 0;
    std::size_t value_size = 16;
    std::uint64_t keys = 1000;
    double read_ratio = 0;
    bool etcd = false;
    bool serializable = false;
    bool progress = false;
    bool json = false;
    bool verify = false;
};

std::string usage() {
    return "usage: raftkv-bench --endpoints=URL[,URL...] [--clients=32] [--requests=N | "
           "--duration-ms=D]\n"
           "                    [--value-size=16] [--keys=1000] [--read-ratio=0] "
           "[--api=raftkv|etcd]\n"
           "                    [--serializable] [--progress] [--json]\n"
           "       raftkv-bench --endpoints=URL[,URL...] --keys=K --verify [--json]\n";
}

template <class T>
bool parse_number(std::string_view s, T& out) {
    try {
        std::size_t used = 0;
        if constexpr (std::is_floating_point_v<T>) out = static_cast<T>(std::stod(std::string(s), &used));
        else {
            if (s.empty() || s[0] == '-') return false;
            out = static_cast<T>(std::stoull(std::string(s), &used));
        }
        return used == s.size();
    } catch (...) {
        return false;
    }
}

std::optional<bench_options> parse(int argc, char** argv, std::string& error) {
    bench_options o;
    for (int i = 1; i < argc; ++i) {
        const std::string_view a = argv[i];
        const auto eq = a.find('=');
        const std::string_view name = a.substr(0, eq);
        const std::string_view value = eq == std::string_view::npos ? "" : a.substr(eq + 1);
        bool ok = true;
        if (name == "--endpoints") {
            std::size_t start = 0;
            while (start <= value.size()) {
                const auto comma = value.find(',', start);
                const auto url = value.substr(start, comma == std::string_view::npos ? value.npos : comma - start);
                auto ep = raftkv::parse_endpoint(url);
                if (!ep) {
                    error = "--endpoints: bad URL \"" + std::string(url) + "\"";
                    return std::nullopt;
                }
                o.endpoints.push_back(*ep);
                if (comma == std::string_view::npos) break;
                start = comma + 1;
            }
        } else if (name == "--clients") ok = parse_number(value, o.clients) && o.clients > 0;
        else if (name == "--requests") ok = parse_number(value, o.requests);
        else if (name == "--duration-ms") ok = parse_number(value, o.duration_ms);
        else if (name == "--value-size") ok = parse_number(value, o.value_size);
        else if (name == "--keys") ok = parse_number(value, o.keys) && o.keys > 0;
        else if (name == "--read-ratio") ok = parse_number(value, o.read_ratio) && o.read_ratio >= 0 && o.read_ratio <= 1;
        else if (name == "--api") {
            ok = value == "raftkv" || value == "etcd";
            o.etcd = value == "etcd";
        } else if (name == "--serializable") o.serializable = true;
        else if (name == "--progress") o.progress = true;
        else if (name == "--json") o.json = true;
        else if (name == "--verify") o.verify = true;
        else if (name == "--help" || name == "-h") {
            error.clear();
            return std::nullopt;
        } else {
            error = std::string(name) + ": unknown flag";
            return std::nullopt;
        }
        if (!ok) {
            error = std::string(name) + ": bad value \"" + std::string(value) + "\"";
            return std::nullopt;
        }
    }
    if (o.endpoints.empty()) error = "--endpoints is required";
    else if (!o.verify && o.requests == 0 && o.duration_ms == 0) error = "give --requests or --duration-ms";
    else if (o.verify && o.etcd) error = "--verify works with --api=raftkv only";
    if (!error.empty()) return std::nullopt;
    return o;
}

std::string base64(std::string_view in) {
    static constexpr char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    std::size_t i = 0;
    for (; i + 2 < in.size(); i += 3) {
        const unsigned v = (static_cast<unsigned char>(in[i]) << 16) |
                           (static_cast<unsigned char>(in[i + 1]) << 8) | static_cast<unsigned char>(in[i + 2]);
        out += {t[v >> 18], t[(v >> 12) & 63], t[(v >> 6) & 63], t[v & 63]};
    }
    if (i + 1 == in.size()) {
        const unsigned v = static_cast<unsigned char>(in[i]) << 16;
        out += {t[v >> 18], t[(v >> 12) & 63], '=', '='};
    } else if (i + 2 == in.size()) {
        const unsigned v = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8);
        out += {t[v >> 18], t[(v >> 12) & 63], t[(v >> 6) & 63], '='};
    }
    return out;
}

std::string key_name(std::uint64_t n) { return "k" + std::to_string(n); }

struct client_result {
    std::vector<double> write_ms, read_ms;
    std::uint64_t failures = 0;
};

// One operation, retried on the next endpoint until it succeeds (or the run is over).
bool run_op(const bench_options& o, std::vector<std::unique_ptr<raftkv::http::client>>& conns,
            std::size_t& at, bool read, const std::string& key, const std::string& value,
            client_result& res, const std::atomic<bool>& stop) {
    for (;;) {
        if (stop.load(std::memory_order_relaxed)) return false;
        const auto t0 = clock_type::now();
        bool ok = false;
        try {
            raftkv::http::response r;
            if (o.etcd) {
                boost::json::object body{{"key", base64(key)}};
                if (!read) body["value"] = base64(value);
                r = conns[at]->request(verb::post, read ? "/v3/kv/range" : "/v3/kv/put",
                                       boost::json::serialize(body), std::chrono::seconds(5));
                ok = r.result_int() == 200;
            } else if (read) {
                r = conns[at]->request(verb::get, "/kv/" + key + (o.serializable ? "?serializable" : ""),
                                       {}, std::chrono::seconds(5));
                ok = r.result_int() == 200 || r.result_int() == 404;
            } else {
                r = conns[at]->request(verb::put, "/kv/" + key, value, std::chrono::seconds(5));
                ok = r.result_int() == 204;
            }
        } catch (const std::exception&) {
            ok = false;
        }
        if (ok) {
            const double ms = std::chrono::duration<double, std::milli>(clock_type::now() - t0).count();
            (read ? res.read_ms : res.write_ms).push_back(ms);
            return true;
        }
        ++res.failures;
        at = (at + 1) % conns.size();
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
}

double percentile(std::vector<double>& v, double p) {
    if (v.empty()) return 0;
    const auto k = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1));
    std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
    return v[k];
}

int run_load(const bench_options& o) {
    std::atomic<std::uint64_t> issued{0}, done{0};
    std::atomic<bool> stop{false};
    std::vector<client_result> results(o.clients);
    std::vector<std::thread> threads;
    const auto start = clock_type::now();
    for (std::size_t c = 0; c < o.clients; ++c) {
        threads.emplace_back([&, c] {
            std::vector<std::unique_ptr<raftkv::http::client>> conns;
            for (const auto& ep : o.endpoints) conns.push_back(std::make_unique<raftkv::http::client>(ep.host, ep.port));
            std::size_t at = c % conns.size();
            std::mt19937_64 rng(c * 7919 + 1);
            std::string value(o.value_size, 'x');
            for (;;) {
                if (o.requests != 0 && issued.fetch_add(1) >= o.requests) break;
                const bool read = o.read_ratio > 0 && std::uniform_real_distribution<>(0, 1)(rng) < o.read_ratio;
                const std::string key = key_name(rng() % o.keys);
                for (auto& ch : value) ch = static_cast<char>('a' + rng() % 26);
                if (!run_op(o, conns, at, read, key, value, results[c], stop)) break;
                done.fetch_add(1, std::memory_order_relaxed);
            }
        });
    }
    std::thread reporter([&] {
        std::uint64_t last = 0;
        auto last_t = clock_type::now();
        for (;;) {
            std::this_thread::sleep_for(std::chrono::milliseconds(200));
            const auto now = clock_type::now();
            const std::uint64_t d = done.load();
            if (o.duration_ms != 0 && now - start >= std::chrono::milliseconds(o.duration_ms)) stop = true;
            const bool finished = stop || (o.requests != 0 && d >= o.requests);
            if (o.progress) {
                const double rate = static_cast<double>(d - last) / std::chrono::duration<double>(now - last_t).count();
                if (o.requests != 0) {
                    const auto width = 30;
                    const auto fill = static_cast<int>(width * static_cast<double>(d) / static_cast<double>(o.requests));
                    std::fprintf(stderr, "\r  [%s%s] %6llu/%llu  %8.0f ops/s ", std::string(static_cast<std::size_t>(fill), '#').c_str(),
                                 std::string(static_cast<std::size_t>(width - fill), '.').c_str(),
                                 static_cast<unsigned long long>(d), static_cast<unsigned long long>(o.requests), rate);
                } else {
                    std::fprintf(stderr, "\r  %8llu ops  %8.0f ops/s ", static_cast<unsigned long long>(d), rate);
                }
            }
            last = d;
            last_t = now;
            if (finished) break;
        }
        if (o.progress) std::fprintf(stderr, "\n");
    });
    for (auto& t : threads) t.join();
    stop = true;
    reporter.join();
    const double secs = std::chrono::duration<double>(clock_type::now() - start).count();

    std::vector<double> writes, reads, all;
    std::uint64_t failures = 0;
    for (auto& r : results) {
        writes.insert(writes.end(), r.write_ms.begin(), r.write_ms.end());
        reads.insert(reads.end(), r.read_ms.begin(), r.read_ms.end());
        failures += r.failures;
    }
    all = writes;
    all.insert(all.end(), reads.begin(), reads.end());
    const double p50 = percentile(all, 0.5), p99 = percentile(all, 0.99), p999 = percentile(all, 0.999);
    const double wps = static_cast<double>(writes.size()) / secs, rps = static_cast<double>(reads.size()) / secs;
    if (o.json) {
        boost::json::object j{{"writes", writes.size()}, {"write_failures", failures},
                              {"reads", reads.size()}, {"seconds", secs},
                              {"writes_per_s", wps}, {"reads_per_s", rps},
                              {"p50_ms", p50}, {"p99_ms", p99}, {"p999_ms", p999},
                              {"clients", o.clients}, {"value_size", o.value_size}};
        std::cout << boost::json::serialize(j) << std::endl;
    } else {
        std::printf("%zu writes (%.0f/s), %zu reads (%.0f/s), %llu failed attempts in %.2f s\n"
                    "latency p50 %.2f ms  p99 %.2f ms  p99.9 %.2f ms\n",
                    writes.size(), wps, reads.size(), rps, static_cast<unsigned long long>(failures), secs,
                    p50, p99, p999);
    }
    return 0;
}

// Every key read from every endpoint (locally: ?serializable); all must agree.
int run_verify(const bench_options& o) {
    const std::size_t n = o.endpoints.size();
    std::vector<std::vector<std::optional<std::string>>> seen(n, std::vector<std::optional<std::string>>(o.keys));
    std::vector<std::string> errors(n);
    std::vector<std::thread> threads;
    for (std::size_t e = 0; e < n; ++e) {
        threads.emplace_back([&, e] {
            try {
                raftkv::http::client c(o.endpoints[e].host, o.endpoints[e].port);
                for (std::uint64_t k = 0; k < o.keys; ++k) {
                    auto r = c.request(verb::get, "/kv/" + key_name(k) + "?serializable");
                    if (r.result_int() == 200) seen[e][k] = r.body();
                    else if (r.result_int() != 404) throw std::runtime_error("status " + std::to_string(r.result_int()));
                }
            } catch (const std::exception& ex) {
                errors[e] = ex.what();
            }
        });
    }
    for (auto& t : threads) t.join();
    for (std::size_t e = 0; e < n; ++e)
        if (!errors[e].empty()) {
            std::cerr << "raftkv-bench: endpoint " << e << ": " << errors[e] << "\n";
            return 1;
        }
    std::uint64_t equal = 0, differ = 0, missing = 0;
    for (std::uint64_t k = 0; k < o.keys; ++k) {
        bool same = true, any_missing = false;
        for (std::size_t e = 0; e < n; ++e) {
            same = same && seen[e][k] == seen[0][k];
            any_missing = any_missing || !seen[e][k];
        }
        if (!same) ++differ;
        else if (any_missing) ++missing;
        else ++equal;
    }
    if (o.json) {
        std::cout << boost::json::serialize(boost::json::object{
                         {"keys", o.keys}, {"equal", equal}, {"differ", differ}, {"missing", missing}})
                  << std::endl;
    } else {
        std::printf("%llu keys: %llu equal on every member, %llu differ, %llu missing everywhere\n",
                    static_cast<unsigned long long>(o.keys), static_cast<unsigned long long>(equal),
                    static_cast<unsigned long long>(differ), static_cast<unsigned long long>(missing));
    }
    return differ == 0 ? 0 : 1;  // a key never written is missing everywhere, and equal
}

}  // namespace

int main(int argc, char** argv) {
    std::string error;
    const auto o = parse(argc, argv, error);
    if (!o) {
        if (!error.empty()) std::cerr << "raftkv-bench: " << error << "\n";
        std::cerr << usage();
        return error.empty() ? 0 : 2;
    }
    return o->verify ? run_verify(*o) : run_load(*o);
}
