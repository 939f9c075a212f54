// raftkv-bench: closed-loop clients over keep-alive HTTP against raftkv, or against etcd's v3
// JSON gateway with the same keys and values, for side-by-side figures; and a check that every
// member holds the same value for every key.
//
//   raftkv-bench --endpoints=http://127.0.0.1:2379,... [--clients=32] [--threads=1]
//                [--requests=N | --duration-ms=D] [--value-size=16] [--keys=1000] [--read-ratio=0]
//                [--api=raftkv|etcd] [--serializable] [--progress] [--json]
//   raftkv-bench --endpoints=... --keys=K --verify [--json]
//
// Client c talks to endpoint c mod n over its own keep-alive connection; a request that fails
// (refused, 5xx, no answer in 5 s) counts as a failure and is tried again on the next endpoint
// after 10 ms. Latencies are of successful requests.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/json.hpp>

#include "flags.hpp"
#include "http.hpp"

namespace {

using clock_type = std::chrono::steady_clock;
using verb = raftkv::http::verb;
namespace beast = boost::beast;

struct bench_options {
    std::vector<raftkv::endpoint> endpoints;
    std::size_t clients = 32;
    std::size_t threads = 1;         // event loops the clients share
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
    return "usage: raftkv-bench --endpoints=URL[,URL...] [--clients=32] [--threads=1]\n"
           "                    [--requests=N | --duration-ms=D]\n"
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
        else if (name == "--threads") ok = parse_number(value, o.threads) && o.threads > 0;
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

double percentile(std::vector<double>& v, double p) {
    if (v.empty()) return 0;
    const auto k = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1));
    std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
    return v[k];
}

// The load side is asynchronous: --threads event loops (default 1) run every client as a
// coroutine, so the generator itself costs little of the CPU it shares with the servers on
// one machine (a thread per client cost as much CPU as the three servers together).
namespace asio = boost::asio;
using tcp = asio::ip::tcp;
constexpr auto no_throw = asio::as_tuple(asio::use_awaitable);
constexpr auto request_timeout = std::chrono::seconds(5);

struct shared_state {
    const bench_options& o;
    std::vector<std::vector<tcp::endpoint>> resolved;  // per endpoint
    std::vector<std::string> hosts;                    // "host:port", for the Host header
    std::atomic<std::uint64_t> issued{0}, done{0};
    std::atomic<bool> stop{false};
};

struct load_client {
    std::size_t index = 0;
    std::vector<std::optional<tcp::socket>> conns;  // per endpoint, dialled when first used
    client_result result;
    bool busy = false;
    clock_type::time_point op_start;
    std::size_t at = 0;
};

// The request's bytes, written by hand: nothing per request but the string itself.
void format_request(const shared_state& s, bool read, const std::string& key,
                    const std::string& value, std::size_t ep, std::string& out) {
    const auto& o = s.o;
    out.clear();
    std::string body;
    if (o.etcd) {
        body = "{\"key\":\"" + base64(key) + "\"";
        if (!read) body += ",\"value\":\"" + base64(value) + "\"";
        body += "}";
        out += read ? "POST /v3/kv/range" : "POST /v3/kv/put";
    } else if (read) {
        out += "GET /kv/" + key + (o.serializable ? "?serializable" : "");
    } else {
        out += "PUT /kv/" + key;
        body = value;
    }
    out += " HTTP/1.1\r\nHost: " + s.hosts[ep] + "\r\n";
    if (o.etcd) out += "Content-Type: application/json\r\n";
    if (!read || o.etcd) out += "Content-Length: " + std::to_string(body.size()) + "\r\n";
    out += "\r\n";
    out += body;
}

bool success(const bench_options& o, bool read, unsigned status) {
    if (o.etcd) return status == 200;
    return read ? status == 200 || status == 404 : status == 204;
}

// One exchange on the client's current endpoint; false on any failure (the socket is closed).
asio::awaitable<bool> exchange(shared_state& s, load_client& c, const std::string& req,
                               bool read, beast::flat_buffer& buf) {
    auto& conn = c.conns[c.at];
    if (!conn) {
        conn.emplace(co_await asio::this_coro::executor);
        auto [ec, ep] = co_await asio::async_connect(*conn, s.resolved[c.at], no_throw);
        if (ec) {
            conn.reset();
            co_return false;
        }
        boost::system::error_code ignored;
        conn->set_option(tcp::no_delay(true), ignored);
        buf.clear();
    }
    auto [wec, wn] = co_await asio::async_write(*conn, asio::buffer(req), no_throw);
    bool ok = !wec;
    if (ok) {
        beast::http::response_parser<beast::http::string_body> parser;
        parser.body_limit(boost::none);
        auto [rec, rn] = co_await beast::http::async_read(*conn, buf, parser, no_throw);
        ok = !rec && success(s.o, read, parser.get().result_int());
        if (ok && !parser.get().keep_alive()) conn.reset();
    }
    if (!ok) conn.reset();
    co_return ok;
}

asio::awaitable<void> client_loop(shared_state& s, load_client& c) {
    const auto& o = s.o;
    std::mt19937_64 rng(c.index * 7919 + 1);
    std::string value(o.value_size, 'x'), req;
    for (auto& ch : value) ch = static_cast<char>('a' + rng() % 26);
    char stamp[32];
    std::uint64_t sent = 0;
    beast::flat_buffer buf;
    asio::steady_timer backoff(co_await asio::this_coro::executor);
    for (;;) {
        if (o.requests != 0 && s.issued.fetch_add(1) >= o.requests) break;
        if (s.stop.load(std::memory_order_relaxed)) break;
        const bool read = o.read_ratio > 0 && std::uniform_real_distribution<>(0, 1)(rng) < o.read_ratio;
        const std::string key = key_name(rng() % o.keys);
        // One random value per client (as etcd's benchmark uses one for all), its first bytes
        // made different per request; the generator costs nothing per byte.
        std::snprintf(stamp, sizeof stamp, "%08llx", static_cast<unsigned long long>(++sent));
        std::memcpy(value.data(), stamp, std::min<std::size_t>(8, value.size()));
        // Retried on the next endpoint until it succeeds or the run is over.
        bool finished = false;
        while (!finished) {
            if (s.stop.load(std::memory_order_relaxed)) co_return;
            format_request(s, read, key, value, c.at, req);
            c.op_start = clock_type::now();
            c.busy = true;
            const bool ok = co_await exchange(s, c, req, read, buf);
            c.busy = false;
            if (ok) {
                const double ms = std::chrono::duration<double, std::milli>(clock_type::now() - c.op_start).count();
                (read ? c.result.read_ms : c.result.write_ms).push_back(ms);
                s.done.fetch_add(1, std::memory_order_relaxed);
                finished = true;
            } else {
                ++c.result.failures;
                c.at = (c.at + 1) % c.conns.size();
                backoff.expires_after(std::chrono::milliseconds(10));
                co_await backoff.async_wait(no_throw);
            }
        }
    }
}

// Closes the socket of any exchange older than request_timeout, which fails it; one timer per
// event loop instead of one per request.
asio::awaitable<void> watchdog(std::vector<load_client*> clients, const std::size_t& alive) {
    asio::steady_timer t(co_await asio::this_coro::executor);
    while (alive != 0) {
        t.expires_after(std::chrono::milliseconds(100));
        co_await t.async_wait(no_throw);
        const auto now = clock_type::now();
        for (auto* c : clients)
            if (c->busy && now - c->op_start > request_timeout && c->conns[c->at]) {
                boost::system::error_code ignored;
                c->conns[c->at]->close(ignored);
            }
    }
}

int run_load(const bench_options& o) {
    shared_state s{o, {}, {}};
    {
        asio::io_context io;
        tcp::resolver resolver(io);
        for (const auto& ep : o.endpoints) {
            auto r = resolver.resolve(ep.host, std::to_string(ep.port));
            s.resolved.emplace_back(r.begin(), r.end());
            const bool v6 = ep.host.find(':') != std::string::npos;
            s.hosts.push_back((v6 ? "[" + ep.host + "]" : ep.host) + ":" + std::to_string(ep.port));
        }
    }
    const std::size_t loops = std::min(o.threads, o.clients);
    std::vector<std::unique_ptr<asio::io_context>> ios;
    for (std::size_t t = 0; t < loops; ++t) ios.push_back(std::make_unique<asio::io_context>(1));
    std::vector<load_client> clients(o.clients);
    std::vector<std::size_t> alive(loops, 0);
    std::vector<std::vector<load_client*>> per_loop(loops);
    for (std::size_t c = 0; c < o.clients; ++c) {
        clients[c].index = c;
        clients[c].conns.resize(o.endpoints.size());
        clients[c].at = c % o.endpoints.size();
        per_loop[c % loops].push_back(&clients[c]);
    }
    const auto start = clock_type::now();
    for (std::size_t t = 0; t < loops; ++t) {
        alive[t] = per_loop[t].size();
        for (auto* c : per_loop[t])
            asio::co_spawn(*ios[t], client_loop(s, *c), [&alive, t](std::exception_ptr e) {
                --alive[t];
                if (e) std::rethrow_exception(e);
            });
        asio::co_spawn(*ios[t], watchdog(per_loop[t], alive[t]), asio::detached);
    }
    std::vector<std::thread> threads;
    for (std::size_t t = 0; t < loops; ++t) threads.emplace_back([&, t] { ios[t]->run(); });

    std::thread reporter([&] {
        std::uint64_t last = 0;
        auto last_t = clock_type::now();
        for (;;) {
            std::this_thread::sleep_for(std::chrono::milliseconds(200));
            const auto now = clock_type::now();
            const std::uint64_t d = s.done.load();
            if (o.duration_ms != 0 && now - start >= std::chrono::milliseconds(o.duration_ms)) s.stop = true;
            const bool finished = s.stop || (o.requests != 0 && d >= o.requests);
            if (o.progress) {
                // The running rate while it runs; the whole run's on the last line.
                const double rate =
                    finished ? static_cast<double>(d) / std::chrono::duration<double>(now - start).count()
                             : static_cast<double>(d - last) / std::chrono::duration<double>(now - last_t).count();
                const char* what = finished ? "ops/s overall" : "ops/s";
                if (o.requests != 0) {
                    const auto width = 30;
                    const auto fill = static_cast<int>(width * static_cast<double>(std::min(d, o.requests)) /
                                                       static_cast<double>(o.requests));
                    std::fprintf(stderr, "\r  [%s%s] %6llu/%llu  %8.0f %s ", std::string(static_cast<std::size_t>(fill), '#').c_str(),
                                 std::string(static_cast<std::size_t>(width - fill), '.').c_str(),
                                 static_cast<unsigned long long>(d), static_cast<unsigned long long>(o.requests), rate, what);
                } else {
                    std::fprintf(stderr, "\r  %8llu ops  %8.0f %s ", static_cast<unsigned long long>(d), rate, what);
                }
            }
            last = d;
            last_t = now;
            if (finished) break;
        }
        if (o.progress) std::fprintf(stderr, "\n");
    });
    for (auto& t : threads) t.join();
    s.stop = true;
    reporter.join();
    const double secs = std::chrono::duration<double>(clock_type::now() - start).count();

    std::vector<double> writes, reads, all;
    std::uint64_t failures = 0;
    for (auto& c : clients) {
        writes.insert(writes.end(), c.result.write_ms.begin(), c.result.write_ms.end());
        reads.insert(reads.end(), c.result.read_ms.begin(), c.result.read_ms.end());
        failures += c.result.failures;
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
