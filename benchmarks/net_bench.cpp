// The wire format's cost: an append message of B entries of P bytes framed by frame_encoder
// and read back by frame_decoder (prepare, copy in, commit, next), as a connection does. The
// figure to compare with is the three-node loop's cost per proposal (rawnode_compare_bench):
// the codec must not be what limits a cluster.
// Counters: ns per message, ns per entry, wire bytes per message, allocations per message.
//
// Then the transport's throughput on loopback: two asio_transports on 127.0.0.1, each on its
// own io_context and thread, A sending windows of N one-entry app messages to B
// (BM_transport_loopback); and the limit to hold it against, a plain Boost.Asio TCP pair
// writing the same N length-prefixed blobs as one async_write of one buffer and a reader
// thread counting them (BM_raw_asio_loopback). Items are messages, bytes are payload bytes.
#include <benchmark/benchmark.h>

#include "alloc_counter.hpp"

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include <raftpp/net/asio_transport.hpp>
#include <raftpp/net/frame.hpp>

namespace {

using namespace raftpp;

message append_message(int entries, std::size_t payload) {
    message m;
    m.type = message_type::app;
    m.from = 1;
    m.to = 2;
    m.term = 7;
    m.log_term = 7;
    m.index = 1000;
    m.commit = 990;
    const buffer data(std::string(payload, 'x'));
    for (int k = 0; k < entries; ++k)
        m.entries.push_back({7, 1001 + static_cast<index_t>(k), entry_type::normal, data});
    return m;
}

// Args: entries per message, payload bytes per entry.
void BM_frame_append_roundtrip(benchmark::State& state) {
    const auto entries = static_cast<int>(state.range(0));
    const auto payload = static_cast<std::size_t>(state.range(1));
    const message m = append_message(entries, payload);
    net::frame_encoder enc;
    net::frame_decoder dec;
    std::vector<std::byte> wire;
    std::size_t wire_bytes = 0;
    // Warm up: the buffers reach their steady capacity.
    for (int k = 0; k < 2; ++k) {
        wire.clear();
        enc.encode(m, wire);
        auto in = dec.prepare(wire.size());
        std::memcpy(in.data(), wire.data(), wire.size());
        dec.commit(wire.size());
        if (!dec.next()) state.SkipWithError("decode failed");
    }
    const auto allocs0 = raftpp_bench::allocation_count();
    for (auto _ : state) {
        wire.clear();
        enc.encode(m, wire);
        auto in = dec.prepare(wire.size());
        std::memcpy(in.data(), wire.data(), wire.size());
        dec.commit(wire.size());
        auto item = dec.next();
        if (!item || !*item) state.SkipWithError("decode failed");
        benchmark::DoNotOptimize(item);
        wire_bytes = wire.size();
    }
    const auto allocs = raftpp_bench::allocation_count() - allocs0;
    const auto n = static_cast<double>(state.iterations());
    state.counters["ns_per_message"] =
        benchmark::Counter(n, benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
    state.counters["ns_per_entry"] = benchmark::Counter(
        n * entries, benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
    state.counters["wire_bytes"] = static_cast<double>(wire_bytes);
    state.counters["allocs_per_message"] = static_cast<double>(allocs) / n;
    state.SetItemsProcessed(state.iterations() * entries);
}
BENCHMARK(BM_frame_append_roundtrip)
    ->ArgNames({"entries", "payload"})
    ->Args({1, 16})
    ->Args({1, 1024})
    ->Args({64, 16})
    ->Args({64, 1024});

// --- loopback throughput ----------------------------------------------------------------

using namespace std::chrono_literals;
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

constexpr auto loopback_deadline = 10s;

// Messages per benchmark iteration: enough to fill the transport's batches.
std::size_t window_for(std::size_t payload) { return payload <= 1024 ? 1024 : 64; }

// An io_context run by its own thread until the guard is released.
struct io_thread {
    asio::io_context io;
    asio::executor_work_guard<asio::io_context::executor_type> guard{io.get_executor()};
    std::thread th{[this] { io.run(); }};
    void finish() {
        guard.reset();
        if (th.joinable()) th.join();
    }
    ~io_thread() { finish(); }
};

// Counts arrivals; the benchmark thread waits for a target.
struct arrival_counter {
    std::atomic<std::uint64_t> count{0};
    std::atomic<std::uint64_t> target{0};
    std::mutex mu;
    std::condition_variable cv;

    void add(std::uint64_t n = 1) {
        const auto now = count.fetch_add(n, std::memory_order_acq_rel) + n;
        if (now >= target.load(std::memory_order_acquire)) {
            std::lock_guard lock(mu);
            cv.notify_all();
        }
    }
    void notify() {
        std::lock_guard lock(mu);
        cv.notify_all();
    }
    // Waits until count reaches target and extra() holds; false at the deadline.
    template <class Extra>
    bool wait(std::chrono::steady_clock::time_point deadline, Extra extra) {
        std::unique_lock lock(mu);
        return cv.wait_until(lock, deadline, [&] {
            return count.load(std::memory_order_acquire) >= target.load() && extra();
        });
    }
};

net::asio_transport_options loopback_options(node_id id) {
    net::asio_transport_options o;
    o.id = id;
    o.cluster_id = 7;
    o.queue_messages = std::size_t{1} << 20;
    o.queue_bytes = std::size_t{1} << 30;
    o.backoff_min = 10ms;
    o.backoff_max = 200ms;
    return o;
}

// Arg: payload bytes of the one entry of each app message.
void BM_transport_loopback(benchmark::State& state) {
    const auto payload = static_cast<std::size_t>(state.range(0));
    const std::size_t window = window_for(payload);
    const buffer data(std::string(payload, 'x'));

    io_thread ta;
    io_thread tb;
    arrival_counter arrived;
    std::optional<net::asio_transport> a;
    std::optional<net::asio_transport> b;
    a.emplace(ta.io.get_executor(), loopback_options(1));
    b.emplace(tb.io.get_executor(), loopback_options(2));
    b->on_message([&arrived](message&&) { arrived.add(); });
    auto shutdown = [&] {
        a->stop();
        b->stop();
        ta.finish();
        tb.finish();
    };
    if (!a->start() || !b->start()) {
        state.SkipWithError("listen failed");
        shutdown();
        return;
    }
    if (!a->add_peer(2, b->local_endpoint()) || !b->add_peer(1, a->local_endpoint())) {
        state.SkipWithError("add_peer failed");
        shutdown();
        return;
    }
    // Until A's connection to B is up its messages would be dropped as "peer down".
    const auto connect_by = std::chrono::steady_clock::now() + loopback_deadline;
    while (!a->stats(2)->connected) {
        if (std::chrono::steady_clock::now() >= connect_by) {
            state.SkipWithError("A did not connect to B");
            shutdown();
            return;
        }
        std::this_thread::sleep_for(1ms);
    }

    auto to_b = a->get_sender();
    index_t next_index = 1;
    std::uint64_t sent = 0;
    for (auto _ : state) {
        sent += window;
        arrived.target.store(sent, std::memory_order_release);
        for (std::size_t k = 0; k < window; ++k) {
            message m;
            m.type = message_type::app;
            m.from = 1;
            m.to = 2;
            m.term = 1;
            m.log_term = 1;
            m.index = next_index - 1;
            m.entries.push_back({1, next_index, entry_type::normal, data});
            ++next_index;
            to_b.send(std::move(m));
        }
        if (!arrived.wait(std::chrono::steady_clock::now() + loopback_deadline,
                          [] { return true; })) {
            state.SkipWithError("B did not receive the window in time");
            break;
        }
    }
    const auto st = a->stats(2);
    if (!st || st->dropped_full != 0 || st->dropped_down != 0)
        state.SkipWithError("messages were dropped");
    shutdown();

    const auto items = static_cast<std::int64_t>(state.iterations()) *
                       static_cast<std::int64_t>(window);
    state.SetItemsProcessed(items);
    state.SetBytesProcessed(items * static_cast<std::int64_t>(payload));
    state.counters["window"] = static_cast<double>(window);
}
BENCHMARK(BM_transport_loopback)->ArgName("payload")->Arg(16)->Arg(65536)->UseRealTime();

// The limit: N blobs of `payload` bytes, each behind a 4-byte length, copied into one buffer
// and written with one async_write (as the transport encodes a batch into its write buffer);
// a reader thread reads with blocking read_some and counts whole blobs.
void BM_raw_asio_loopback(benchmark::State& state) {
    const auto payload = static_cast<std::size_t>(state.range(0));
    const std::size_t window = window_for(payload);
    const std::string data(payload, 'x');

    io_thread tw;  // the writer's io_context
    asio::io_context setup;
    tcp::acceptor acceptor(setup, tcp::endpoint(asio::ip::address_v4::loopback(), 0));
    tcp::socket reader_sock(setup);
    tcp::socket writer_sock(tw.io);
    writer_sock.connect(acceptor.local_endpoint());
    acceptor.accept(reader_sock);
    writer_sock.set_option(tcp::no_delay(true));

    arrival_counter arrived;
    std::thread reader([&] {
        std::vector<unsigned char> rbuf(std::size_t{256} << 10);
        std::array<unsigned char, 4> hdr{};
        std::size_t hdr_have = 0;
        std::size_t body_left = 0;
        for (;;) {
            boost::system::error_code ec;
            const std::size_t n = reader_sock.read_some(asio::buffer(rbuf), ec);
            if (ec) return;
            std::size_t done = 0;
            std::uint64_t whole = 0;
            while (done < n) {
                if (body_left > 0) {
                    const std::size_t take = std::min(body_left, n - done);
                    body_left -= take;
                    done += take;
                    if (body_left == 0) ++whole;
                    continue;
                }
                hdr[hdr_have++] = rbuf[done++];
                if (hdr_have == hdr.size()) {
                    hdr_have = 0;
                    std::uint32_t len = 0;
                    std::memcpy(&len, hdr.data(), sizeof len);
                    body_left = len;
                    if (len == 0) ++whole;
                }
            }
            if (whole > 0) arrived.add(whole);
        }
    });

    std::vector<unsigned char> wbuf;
    std::atomic<bool> write_done{true};
    bool write_failed = false;
    std::uint64_t sent = 0;
    for (auto _ : state) {
        sent += window;
        arrived.target.store(sent, std::memory_order_release);
        write_done.store(false, std::memory_order_release);
        asio::post(tw.io, [&] {
            wbuf.resize(window * (4 + payload));
            unsigned char* p = wbuf.data();
            const auto len = static_cast<std::uint32_t>(payload);
            for (std::size_t k = 0; k < window; ++k) {
                std::memcpy(p, &len, sizeof len);
                std::memcpy(p + 4, data.data(), payload);
                p += 4 + payload;
            }
            asio::async_write(writer_sock, asio::buffer(wbuf),
                              [&](const boost::system::error_code& ec, std::size_t) {
                                  if (ec) write_failed = true;
                                  write_done.store(true, std::memory_order_release);
                                  arrived.notify();
                              });
        });
        if (!arrived.wait(std::chrono::steady_clock::now() + loopback_deadline,
                          [&] { return write_done.load(std::memory_order_acquire); })) {
            state.SkipWithError("the reader did not receive the window in time");
            break;
        }
        if (write_failed) {
            state.SkipWithError("write failed");
            break;
        }
    }
    asio::post(tw.io, [&] {
        boost::system::error_code ec;
        writer_sock.shutdown(tcp::socket::shutdown_both, ec);
        writer_sock.close(ec);
    });
    tw.finish();
    reader.join();

    const auto items = static_cast<std::int64_t>(state.iterations()) *
                       static_cast<std::int64_t>(window);
    state.SetItemsProcessed(items);
    state.SetBytesProcessed(items * static_cast<std::int64_t>(payload));
    state.counters["window"] = static_cast<double>(window);
}
BENCHMARK(BM_raw_asio_loopback)->ArgName("payload")->Arg(16)->Arg(65536)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
