// raftpp::node end to end: three members in one process on 127.0.0.1, talking through
// net::asio_transport over loopback TCP, each member on its own io_context run by its own
// thread. P proposers keep one proposal each in flight on the leader: async_propose(payload)
// → on completion record the latency and propose again. The figures: committed proposals per
// second and the latency (async_propose → its completion) percentiles.
//
//   BM_node_memory   memory_storage (boot_in_memory); args proposers, payload bytes,
//                    client_thread (0: the proposers' callbacks run on the leader's io_context
//                    thread; 1: on a fourth io_context and thread of their own), snap
//                    (node_options::snapshot_count; 0 turns snapshots off).
//   BM_node_wal      wal_storage (start_new in a mkdtemp directory under $RAFTPP_BENCH_DIR,
//                    default /tmp, removed after the case), fdatasync on every ready cycle
//                    that must sync; args proposers, payload, snap.
//
// Each case builds a fresh cluster, waits for a leader (all three agree), runs the proposers
// for a warm-up of 0.3 s, then measures a window of $RAFTPP_NODE_BENCH_SECONDS (default 1.5)
// of wall time (reported as the manual iteration time), then stops proposing, waits for the
// proposals in flight, stops the three nodes (async_stop) and joins the threads.
//
// Counters (over the window):
//   ops_per_s        proposals completed without error, per second
//   p50_us .. max_us latency of those proposals
//   errors           proposals completed with an error (a leader change: see term_changes)
//   entries_per_cycle, cycles_per_s   the leader's ready cycles (node_status::cycles) and the
//                    entries it persisted per cycle: the batching the node achieved
//   entries_per_sync, syncs_per_s     (wal) node_status::entries_persisted / syncs deltas
//   cpu_leader, cpu_follower (mean of two), cpu_client, cpu_process: CPU seconds per wall
//                    second of the leader's, followers', client's thread and of the process
//                    (the machine has 2 cores: cpu_process near 2 means CPU bound)
//   allocs_per_op    heap allocations in the whole process per committed proposal
//   snapshots        snapshots the leader took in the window
//   term_changes     the leader's term at the end minus at the start (0: one leader throughout)
//   fsync_us         (wal) mean pwrite + fdatasync of 64 bytes in the case's directory, measured
//                    just before the cluster starts: the disk's regime at the time
#include <benchmark/benchmark.h>

#include "alloc_counter.hpp"

#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_future.hpp>

#include <raftpp/cluster_members.hpp>
#include <raftpp/memory_storage.hpp>
#include <raftpp/net/asio_transport.hpp>
#include <raftpp/node.hpp>
#include <raftpp/node/member_boot.hpp>
#include <raftpp/node/start.hpp>
#include <raftpp/wal/wal_storage.hpp>

namespace {

using namespace raftpp;
using namespace std::chrono_literals;
namespace asio = boost::asio;
namespace fs = std::filesystem;
using tcp = asio::ip::tcp;
using clock_type = std::chrono::steady_clock;

constexpr std::size_t cluster_size = 3;
constexpr auto warmup = 300ms;
constexpr auto leader_deadline = 10s;
constexpr auto drain_deadline = 15s;

double window_seconds() {
    static const double s = [] {
        const char* v = std::getenv("RAFTPP_NODE_BENCH_SECONDS");
        const double d = v != nullptr ? std::atof(v) : 0.0;
        return d > 0.0 ? d : 1.5;
    }();
    return s;
}

// The trivial state machine: counts the entries applied; apply returns the count.
struct counter_machine {
    std::uint64_t n = 0;
    std::uint64_t apply(const entry&) { return ++n; }
    buffer snapshot() const { return buffer(&n, sizeof n); }
    result<void> restore(std::span<const std::byte> bytes) {
        if (bytes.size() != sizeof n) return errc::malformed_message;
        std::memcpy(&n, bytes.data(), sizeof n);
        return {};
    }
};
static_assert(state_machine<counter_machine>);

// An io_context run by its own thread until finish().
struct io_thread {
    asio::io_context io{1};
    asio::executor_work_guard<asio::io_context::executor_type> guard{io.get_executor()};
    std::thread th{[this] { io.run(); }};

    void finish() {
        guard.reset();
        if (th.joinable()) th.join();
    }
    ~io_thread() { finish(); }
    // CPU seconds this thread has used.
    double cpu_seconds() {
        clockid_t cid;
        timespec ts{};
        if (pthread_getcpuclockid(th.native_handle(), &cid) != 0 || clock_gettime(cid, &ts) != 0)
            return 0.0;
        return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
    }
};

double process_cpu_seconds() {
    timespec ts{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

node_options bench_node_options(std::uint64_t snapshot_count) {
    node_options o;
    o.tick_interval = 10ms;
    o.raft.election_tick = 10;
    o.raft.heartbeat_tick = 1;
    o.raft.pre_vote = true;
    o.raft.check_quorum = true;
    o.snapshot_count = snapshot_count;
    return o;
}

// A mkdtemp directory, removed when destroyed.
struct temp_root {
    fs::path path;
    temp_root() {
        const char* base = std::getenv("RAFTPP_BENCH_DIR");
        std::string tmpl = std::string(base != nullptr && *base != '\0' ? base : "/tmp") +
                           "/raftpp-node-bench-XXXXXX";
        if (::mkdtemp(tmpl.data()) == nullptr) {
            std::perror("node_bench: mkdtemp");
            std::exit(1);
        }
        path = tmpl;
    }
    temp_root(const temp_root&) = delete;
    temp_root& operator=(const temp_root&) = delete;
    ~temp_root() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
};

// The disk's fdatasync latency right now (it moves between regimes on a shared VM): the
// mean of n pwrite(64 bytes) + fdatasync into a preallocated file in dir, in microseconds.
double fdatasync_us(const fs::path& dir, int n = 32) {
    const fs::path f = dir / "fsync-probe";
    const int fd = ::open(f.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) return 0.0;
    double us = 0.0;
    if (::posix_fallocate(fd, 0, 1 << 20) == 0) {
        char block[64] = {};
        const auto t0 = clock_type::now();
        for (int k = 0; k < n; ++k) {
            if (::pwrite(fd, block, sizeof block, static_cast<off_t>(k) * 64) < 0) break;
            ::fdatasync(fd);
        }
        us = std::chrono::duration<double, std::micro>(clock_type::now() - t0).count() / n;
    }
    ::close(fd);
    std::error_code ec;
    fs::remove(f, ec);
    return us;
}

// Three members, each with its own io_context and thread; storage by Storage.
template <class Storage>
class cluster {
public:
    using node_type = node<counter_machine, Storage>;

    explicit cluster(const node_options& opts) : opts_(opts) {
        std::string ic;
        for (std::size_t i = 0; i < cluster_size; ++i) {
            threads_[i] = std::make_unique<io_thread>();
            tcp::acceptor a(threads_[i]->io);
            const tcp::endpoint ep(asio::ip::address_v4::loopback(), 0);
            a.open(ep.protocol());
            a.set_option(asio::socket_base::reuse_address(true));
            a.bind(ep);
            a.listen();
            if (!ic.empty()) ic += ',';
            ic += "n" + std::to_string(i + 1) + "=http://127.0.0.1:" +
                  std::to_string(a.local_endpoint().port());
            acceptors_.push_back(std::move(a));
        }
        members_ = cluster_members::parse(ic);
    }

    ~cluster() { shutdown(); }

    // boot(i, name): the member_boot<Storage> of member i.
    template <class Boot>
    bool start(Boot boot) {
        for (std::size_t i = 0; i < cluster_size; ++i) {
            const std::string name = "n" + std::to_string(i + 1);
            member_boot<Storage> b = boot(i, members_, name);
            net::asio_transport_options t;
            t.id = b.id;
            t.cluster_id = b.cluster_id;
            t.backoff_min = 10ms;
            t.backoff_max = 200ms;
            t.seed = b.id;
            auto ex = threads_[i]->io.get_executor();
            nodes_[i] = std::make_unique<node_type>(ex, std::move(b),
                                                    net::asio_transport(ex, t), sms_[i], opts_);
            if (!nodes_[i]->start(std::move(acceptors_[i]))) return false;
        }
        return true;
    }

    // The index of the member all three agree leads, once its log has applied its own term's
    // first entry; nullopt at the deadline.
    std::optional<std::size_t> wait_leader() {
        const auto deadline = clock_type::now() + leader_deadline;
        while (clock_type::now() < deadline) {
            node_id lead = none;
            bool agree = true;
            for (auto& n : nodes_) {
                const auto st = n->status();
                if (lead == none) lead = st.leader;
                if (st.leader == none || st.leader != lead) agree = false;
            }
            if (agree) {
                for (std::size_t i = 0; i < cluster_size; ++i) {
                    const auto st = nodes_[i]->status();
                    if (st.role == role::leader && st.id == lead && st.applied == st.commit &&
                        st.commit > cluster_size)
                        return i;
                }
            }
            std::this_thread::sleep_for(2ms);
        }
        return std::nullopt;
    }

    node_type& node_at(std::size_t i) { return *nodes_[i]; }
    io_thread& thread_at(std::size_t i) { return *threads_[i]; }

    // Stops every node (waiting for each stop to complete), then the threads.
    void shutdown() {
        for (auto& n : nodes_) {
            if (!n) continue;
            auto f = n->async_stop(asio::use_future);
            if (f.wait_for(10s) != std::future_status::ready)
                std::fprintf(stderr, "node_bench: a node did not stop within 10 s\n");
            n.reset();
        }
        acceptors_.clear();
        for (auto& t : threads_)
            if (t) t->finish();
    }

private:
    node_options opts_;
    std::array<std::unique_ptr<io_thread>, cluster_size> threads_;
    std::vector<tcp::acceptor> acceptors_;
    cluster_members members_;
    std::array<counter_machine, cluster_size> sms_{};
    std::array<std::unique_ptr<node_type>, cluster_size> nodes_;
};

// P closed-loop proposers on one executor. Every callback runs there, so the latencies and
// counts need no lock; the benchmark thread reads them after `outstanding` reached 0.
template <class Node>
class load {
public:
    enum phase_t : int { warming = 0, measuring = 1, stopping = 2 };

    load(Node& leader, asio::any_io_executor ex, std::size_t payload, std::size_t proposers)
        : leader_(leader), ex_(std::move(ex)), payload_(std::string(payload, 'x')),
          proposers_(proposers) {
        latencies_.reserve(std::size_t{1} << 22);
    }

    void start() {
        outstanding_.store(static_cast<int>(proposers_), std::memory_order_relaxed);
        asio::post(ex_, [this] {
            for (std::size_t k = 0; k < proposers_; ++k) propose();
        });
    }
    void set_phase(phase_t p) { phase_.store(p, std::memory_order_release); }
    bool wait_idle(clock_type::duration limit) {
        std::unique_lock lock(mu_);
        return cv_.wait_for(lock, limit,
                            [&] { return outstanding_.load(std::memory_order_acquire) == 0; });
    }

    std::vector<std::uint64_t>& latencies() { return latencies_; }
    std::uint64_t ok() const { return ok_; }
    std::uint64_t failed() const { return failed_; }

private:
    void propose() {
        const auto t0 = clock_type::now();
        leader_.async_propose(
            payload_, asio::bind_executor(ex_, [this, t0](boost::system::error_code ec,
                                                          std::uint64_t) {
                const auto ph = phase_.load(std::memory_order_acquire);
                if (ph == measuring) {
                    if (ec) {
                        ++failed_;
                    } else {
                        ++ok_;
                        latencies_.push_back(static_cast<std::uint64_t>(
                            std::chrono::duration_cast<std::chrono::nanoseconds>(
                                clock_type::now() - t0)
                                .count()));
                    }
                }
                if (ph == stopping) {
                    // Under the lock: the waiter destroys this object once it sees 0.
                    std::lock_guard lock(mu_);
                    if (outstanding_.fetch_sub(1, std::memory_order_acq_rel) == 1)
                        cv_.notify_all();
                    return;
                }
                propose();
            }));
    }

    Node& leader_;
    asio::any_io_executor ex_;
    buffer payload_;
    std::size_t proposers_;
    std::atomic<int> phase_{warming};
    std::atomic<int> outstanding_{0};
    std::mutex mu_;
    std::condition_variable cv_;
    std::vector<std::uint64_t> latencies_;
    std::uint64_t ok_ = 0;
    std::uint64_t failed_ = 0;
};

double percentile_us(const std::vector<std::uint64_t>& sorted, double q) {
    if (sorted.empty()) return 0.0;
    const auto at = static_cast<std::size_t>(q * static_cast<double>(sorted.size() - 1));
    return static_cast<double>(sorted[at]) / 1000.0;
}

// Builds a cluster with boot, runs the load, sets the counters.
template <class Storage, class Boot>
void run_case(benchmark::State& state, const node_options& opts, Boot boot,
              std::size_t proposers, std::size_t payload, bool client_thread, bool wal) {
    using cluster_type = cluster<Storage>;
    using node_type = typename cluster_type::node_type;
    std::optional<io_thread> client;
    if (client_thread) client.emplace();
    cluster_type c(opts);
    if (!c.start(boot)) {
        state.SkipWithError("a node did not start");
        return;
    }
    const auto lead = c.wait_leader();
    if (!lead) {
        state.SkipWithError("no leader within 10 s");
        return;
    }
    node_type& leader = c.node_at(*lead);
    asio::any_io_executor ex =
        client ? asio::any_io_executor(client->io.get_executor())
               : asio::any_io_executor(c.thread_at(*lead).io.get_executor());
    load<node_type> l(leader, ex, payload, proposers);

    struct sample {
        node_status st;
        double cpu_leader = 0, cpu_followers = 0, cpu_client = 0, cpu_process = 0;
        std::uint64_t allocs = 0;
        clock_type::time_point at;
    };
    auto take = [&] {
        sample s;
        s.at = clock_type::now();
        s.st = leader.status();
        for (std::size_t i = 0; i < cluster_size; ++i) {
            const double cpu = c.thread_at(i).cpu_seconds();
            (i == *lead ? s.cpu_leader : s.cpu_followers) += cpu;
        }
        if (client) s.cpu_client = client->cpu_seconds();
        s.cpu_process = process_cpu_seconds();
        s.allocs = raftpp_bench::allocation_count();
        return s;
    };

    l.start();
    std::this_thread::sleep_for(warmup);
    sample a;
    sample b;
    for (auto _ : state) {
        l.set_phase(load<node_type>::measuring);
        a = take();
        std::this_thread::sleep_for(std::chrono::duration<double>(window_seconds()));
        b = take();
        l.set_phase(load<node_type>::stopping);
        state.SetIterationTime(std::chrono::duration<double>(b.at - a.at).count());
    }
    if (!l.wait_idle(drain_deadline)) {
        // Never leave callbacks running against a destroyed load.
        std::fprintf(stderr, "node_bench: proposals still in flight after 15 s; aborting\n");
        std::abort();
    }
    c.shutdown();
    if (client) client->finish();

    const double secs = std::chrono::duration<double>(b.at - a.at).count();
    auto& lat = l.latencies();
    std::sort(lat.begin(), lat.end());
    const double ok = static_cast<double>(l.ok());
    const double cycles = static_cast<double>(b.st.cycles - a.st.cycles);
    const double entries = static_cast<double>(b.st.entries_persisted - a.st.entries_persisted);
    state.counters["ops_per_s"] = ok / secs;
    state.counters["p50_us"] = percentile_us(lat, 0.50);
    state.counters["p99_us"] = percentile_us(lat, 0.99);
    state.counters["p999_us"] = percentile_us(lat, 0.999);
    state.counters["max_us"] = lat.empty() ? 0.0 : static_cast<double>(lat.back()) / 1000.0;
    state.counters["errors"] = static_cast<double>(l.failed());
    state.counters["cycles_per_s"] = cycles / secs;
    state.counters["entries_per_cycle"] = cycles > 0 ? entries / cycles : 0.0;
    if (wal) {
        const double syncs = static_cast<double>(b.st.syncs - a.st.syncs);
        state.counters["syncs_per_s"] = syncs / secs;
        state.counters["entries_per_sync"] = syncs > 0 ? entries / syncs : 0.0;
    }
    state.counters["cpu_leader"] = (b.cpu_leader - a.cpu_leader) / secs;
    state.counters["cpu_follower"] = (b.cpu_followers - a.cpu_followers) / 2.0 / secs;
    if (client) state.counters["cpu_client"] = (b.cpu_client - a.cpu_client) / secs;
    state.counters["cpu_process"] = (b.cpu_process - a.cpu_process) / secs;
    state.counters["allocs_per_op"] =
        ok > 0 ? static_cast<double>(b.allocs - a.allocs) / ok : 0.0;
    state.counters["snapshots"] = static_cast<double>(b.st.snapshots_taken - a.st.snapshots_taken);
    state.counters["term_changes"] = static_cast<double>(b.st.term - a.st.term);
    state.SetItemsProcessed(static_cast<std::int64_t>(l.ok()));
}

// Args: proposers, payload bytes, client_thread (0/1), snapshot_count.
void BM_node_memory(benchmark::State& state) {
    const auto proposers = static_cast<std::size_t>(state.range(0));
    const auto payload = static_cast<std::size_t>(state.range(1));
    const bool client_thread = state.range(2) != 0;
    const node_options opts = bench_node_options(static_cast<std::uint64_t>(state.range(3)));
    run_case<memory_storage>(
        state, opts,
        [](std::size_t, const cluster_members& m, const std::string& name) {
            return boot_in_memory(m, name);
        },
        proposers, payload, client_thread, false);
}

// Args: proposers, payload bytes, snapshot_count.
void BM_node_wal(benchmark::State& state) {
    const auto proposers = static_cast<std::size_t>(state.range(0));
    const auto payload = static_cast<std::size_t>(state.range(1));
    const node_options opts = bench_node_options(static_cast<std::uint64_t>(state.range(2)));
    temp_root root;
    state.counters["fsync_us"] = fdatasync_us(root.path);
    run_case<wal_storage<>>(
        state, opts,
        [&root](std::size_t, const cluster_members& m, const std::string& name) {
            return start_new(root.path / name, m, name);
        },
        proposers, payload, false, true);
}

void memory_args(benchmark::internal::Benchmark* b) {
    b->ArgNames({"proposers", "payload", "client_thread", "snap"});
    for (std::int64_t payload : {16, 1024})
        for (std::int64_t p : {1, 32, 256}) b->Args({p, payload, 0, 0});
    // The proposers on a fourth thread instead of the leader's.
    for (std::int64_t p : {1, 32, 256}) b->Args({p, 16, 1, 0});
    // Snapshots on, at etcd's default count (the log is compacted, its memory reused).
    for (std::int64_t payload : {16, 1024})
        for (std::int64_t p : {32, 256}) b->Args({p, payload, 0, 10000});
    b->Iterations(1)->UseManualTime()->Unit(benchmark::kMillisecond);
}
BENCHMARK(BM_node_memory)->Apply(memory_args);

void wal_args(benchmark::internal::Benchmark* b) {
    b->ArgNames({"proposers", "payload", "snap"});
    for (std::int64_t p : {1, 32, 256}) b->Args({p, 16, 0});
    b->Args({256, 16, 10000});
    b->Iterations(1)->UseManualTime()->Unit(benchmark::kMillisecond);
}
BENCHMARK(BM_node_wal)->Apply(wal_args);

}  // namespace

BENCHMARK_MAIN();
