// The durable write-ahead log (include/raftpp/wal): what one fdatasync'd batch costs against
// the same bytes written and synced by hand, how fast a WAL replays from the page cache, and
// a one-node raft loop persisting through wal_storage.
//
//   BM_wal_append_sync/entries:N/payload:P  per iteration w.save(hard_state, N entries of P
//                       bytes, must_sync = true) on a write_ahead_log with default options
//                       (64 MiB preallocated segments); the entries are renumbered in place.
//   BM_raw_write_fdatasync/bytes:B  the physical limit for the case above: pwrite B bytes (the
//                       WAL case's bytes per sync, computed from the record framing) then
//                       fdatasync, into files posix_fallocate'd to 64 MiB, a new one when full.
//                       Registered right after the WAL case it matches.
//   BM_wal_raw_paired/entries:N/payload:P  both loops in one: one WAL sync and one raw sync
//                       per iteration (alternating which goes first), each timed on its own,
//                       so that the ratio compares the two under the same disk conditions.
//   BM_wal_replay/payload:P  wal::open(dir) + read_all() of a WAL of RAFTPP_BENCH_REPLAY_MB
//                       MiB (default 1024) of P-byte entries, built once and read from the
//                       page cache. Destroying what was read is not timed.
//   BM_rawnode_wal/batch:B  rawnode_compare_bench's one-node loop (propose B entries of 16
//                       bytes, then ready cycles until idle) with wal_storage<> as the Storage,
//                       through raw_node::process_ready (persist, sync when the ready must_sync,
//                       apply, advance); a snapshot + compaction every 65536 entries.
//
// After the run, a table (on stdout) pairs each WAL case with its raw case and checks the
// targets on the paired ratio: WAL syncs/s >= 90 % of raw at one entry per sync, WAL MB/s
// >= 80 % of raw at 1024 x 1 KiB. Suggested run (docs/benchmarks.md): --benchmark_min_time=1
// --benchmark_repetitions=3 --benchmark_enable_random_interleaving=true
//
// Files go to a mkdtemp directory under $RAFTPP_BENCH_DIR (default /tmp), removed at exit;
// WALs are released down to their tail segment once they hold more than 4 segments, so the
// disk holds at most ~2 x RAFTPP_BENCH_REPLAY_MB (the two replay WALs) + 6 x 64 MiB.
// Everything that does I/O is timed in wall time (UseRealTime).
#include <benchmark/benchmark.h>

#include "alloc_counter.hpp"

#include <raftpp/raw_node.hpp>
#include <raftpp/wal/wal.hpp>
#include <raftpp/wal/wal_storage.hpp>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

namespace {

using namespace raftpp;
namespace fs = std::filesystem;
using clock_type = std::chrono::steady_clock;

constexpr std::uint64_t segment_bytes = std::uint64_t{64} << 20;  // wal::options' default
constexpr std::size_t max_segments = 4;  // release_to(last_index()) beyond this

// Record framing (wal/record.hpp, codec/types.hpp): a 16-byte header, then the payload padded
// to 8 bytes. An entry encodes as version u8, term u64, index u64, type u8, size u64, bytes; a
// hard state as version u8, term, vote, commit (u64 each).
constexpr std::uint64_t padded(std::uint64_t n) { return (n + 7) / 8 * 8; }
constexpr std::uint64_t entry_record_bytes(std::uint64_t payload) {
    return 16 + padded(1 + 8 + 8 + 1 + 8 + payload);
}
constexpr std::uint64_t hard_state_record_bytes = 16 + padded(1 + 8 + 8 + 8);
constexpr std::uint64_t bytes_per_sync(std::uint64_t entries, std::uint64_t payload) {
    return entries * entry_record_bytes(payload) + hard_state_record_bytes;
}
static_assert(bytes_per_sync(1, 16) == 112 && bytes_per_sync(1024, 1024) == 1097776);

const std::int64_t append_batches[] = {1, 16, 256, 1024, 4096};
const std::int64_t append_payloads[] = {16, 1024};

// The directory everything is written to -------------------------------------------------------

fs::path g_root;  // empty until main() makes it

void remove_root() noexcept {
    if (g_root.empty()) return;
    std::error_code ec;
    fs::remove_all(g_root, ec);
    g_root.clear();
}

// Ctrl-C, kill -9 or a crash must not leave gigabytes behind either. A signal handler cannot
// remove a directory tree safely (it allocates), so a helper process does it: it waits for
// the end of a pipe that only this process holds open, which comes however this process ends,
// then removes the directory and exits. It ignores the terminal's signals, which reach the
// whole process group.
void start_reaper() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) return;  // then only a normal exit cleans up
    const pid_t pid = ::fork();
    if (pid < 0) {
        ::close(fds[0]);
        ::close(fds[1]);
        return;
    }
    if (pid == 0) {
        ::close(fds[1]);
        std::signal(SIGINT, SIG_IGN);
        std::signal(SIGTERM, SIG_IGN);
        std::signal(SIGHUP, SIG_IGN);
        if (const int null = ::open("/dev/null", O_RDWR); null >= 0) {
            for (int fd = 0; fd <= 2; ++fd) ::dup2(null, fd);
            if (null > 2) ::close(null);
        }
        for (char c;;) {
            const ssize_t n = ::read(fds[0], &c, 1);
            if (n > 0 || (n < 0 && errno == EINTR)) continue;
            break;
        }
        std::error_code ec;
        fs::remove_all(g_root, ec);
        ::_exit(0);
    }
    ::close(fds[0]);  // fds[1] stays open, unused, until this process ends
}

void make_root() {
    const char* base = std::getenv("RAFTPP_BENCH_DIR");
    std::string tmpl = std::string(base != nullptr && *base != '\0' ? base : "/tmp") +
                       "/raftpp-wal-bench-XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) {
        std::perror("wal_bench: mkdtemp");
        std::exit(1);
    }
    g_root = tmpl;
    std::atexit(remove_root);
    start_reaper();
}

fs::path fresh_dir(const char* what) {
    static unsigned n = 0;
    return g_root / (std::string(what) + "-" + std::to_string(++n));
}

buffer filled_buffer(std::size_t n) {
    auto b = buffer::uninitialized(n);
    std::memset(b.mutable_data(), 0x5a, n);
    return b;
}

// Resident set: now, and the peak since reset_peak_rss() (ru_maxrss is the mm's high-water
// mark, which writing 5 to /proc/self/clear_refs resets, Linux >= 4.0).
double rss_mib_now() {
    long pages = 0, resident = 0;
    if (FILE* f = std::fopen("/proc/self/statm", "r")) {
        if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
        std::fclose(f);
    }
    return static_cast<double>(resident) * static_cast<double>(::sysconf(_SC_PAGESIZE)) /
           (1024.0 * 1024.0);
}
bool reset_peak_rss() {
    const int fd = ::open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);
    if (fd < 0) return false;
    const bool ok = ::write(fd, "5", 1) == 1;
    ::close(fd);
    return ok;
}
double peak_rss_mib() {
    rusage ru{};
    ::getrusage(RUSAGE_SELF, &ru);
    return static_cast<double>(ru.ru_maxrss) / 1024.0;  // KiB on Linux
}

double seconds_since(clock_type::time_point t0) {
    return std::chrono::duration<double>(clock_type::now() - t0).count();
}

// What the summary pairs up: per bytes-per-sync, the WAL's and the raw loop's rates. Google
// Benchmark calls a function several times while it sizes the run; the call with the most
// iterations is the one it reports (ties: repetitions, the best is kept).
struct rate {
    std::int64_t iterations = 0;
    double syncs_per_s = 0;
    double bytes_per_s = 0;
};
struct pair_key {
    std::int64_t entries, payload;
    auto operator<=>(const pair_key&) const = default;
};
std::map<pair_key, rate> g_wal_rates;
std::map<std::uint64_t, rate> g_raw_rates;

// Paired runs: one ratio (raw time / WAL time) per reported run.
struct paired_rate {
    std::int64_t iterations = 0;
    double wal_syncs_per_s = 0, raw_syncs_per_s = 0;
};
std::map<pair_key, std::vector<paired_rate>> g_paired;

void record(rate& slot, const rate& r) {
    if (r.iterations > slot.iterations ||
        (r.iterations == slot.iterations && r.syncs_per_s > slot.syncs_per_s))
        slot = r;
}

// 1. Append + fdatasync -----------------------------------------------------------------------

void BM_wal_append_sync(benchmark::State& state) {
    const auto n = static_cast<std::size_t>(state.range(0));
    const auto payload = static_cast<std::size_t>(state.range(1));
    const fs::path dir = fresh_dir("append");
    {
        auto w = wal::create(dir, wal::metadata{.id = 1, .cluster_id = 1, .user = {}});
        const buffer data = filled_buffer(payload);
        std::vector<entry> batch(n, entry{1, 0, entry_type::normal, data});
        hard_state hs{1, 1, 0};
        index_t next = 1;
        const wal::wal_stats s0 = w.stats();
        const auto allocs0 = raftpp_bench::allocation_count();
        const auto t0 = clock_type::now();
        for (auto _ : state) {
            for (auto& e : batch) e.index = next++;
            hs.commit = next - 1;
            if (auto r = w.save(hs, batch, /*must_sync=*/true); !r) {
                state.SkipWithError(("save: " + r.error().message()).c_str());
                break;
            }
            if (w.segments().size() > max_segments) {
                if (auto r = w.release_to(w.last_index()); !r) {
                    state.SkipWithError(("release_to: " + r.error().message()).c_str());
                    break;
                }
            }
        }
        const double secs = seconds_since(t0);
        const auto allocs = raftpp_bench::allocation_count() - allocs0;
        const wal::wal_stats& s = w.stats();
        const auto iters = static_cast<std::uint64_t>(state.iterations());
        const std::uint64_t entries = iters * n;
        const std::uint64_t wal_bytes = s.bytes_written - s0.bytes_written;
        const std::uint64_t syncs = s.syncs - s0.syncs;
        if (wal_bytes != iters * bytes_per_sync(n, payload))
            state.SkipWithError("bytes written differ from the framing model (bytes_per_sync)");
        state.SetItemsProcessed(static_cast<std::int64_t>(entries));
        state.SetBytesProcessed(static_cast<std::int64_t>(entries * payload));
        state.counters["wal_bytes/s"] =
            benchmark::Counter(static_cast<double>(wal_bytes), benchmark::Counter::kIsRate,
                               benchmark::Counter::kIs1024);
        state.counters["syncs/s"] =
            benchmark::Counter(static_cast<double>(syncs), benchmark::Counter::kIsRate);
        state.counters["fdatasync_us"] =
            syncs == 0 ? 0.0
                       : static_cast<double>(s.sync_nanoseconds - s0.sync_nanoseconds) / 1e3 /
                             static_cast<double>(syncs);
        state.counters["writes/sync"] =
            syncs == 0 ? 0.0
                       : static_cast<double>(s.writes - s0.writes) / static_cast<double>(syncs);
        state.counters["allocs/entry"] =
            entries == 0 ? 0.0 : static_cast<double>(allocs) / static_cast<double>(entries);
        state.counters["segments_cut"] = static_cast<double>(s.segments_cut - s0.segments_cut);
        if (secs > 0)
            record(g_wal_rates[{state.range(0), state.range(1)}],
                   {state.iterations(), static_cast<double>(syncs) / secs,
                    static_cast<double>(wal_bytes) / secs});
    }
    std::error_code ec;
    fs::remove_all(dir, ec);
}

// pwrite + fdatasync of the same bytes into files laid out as the WAL's segments are.
class raw_log {
public:
    explicit raw_log(fs::path dir) : dir_(std::move(dir)) { fs::create_directories(dir_); }
    raw_log(const raw_log&) = delete;
    raw_log& operator=(const raw_log&) = delete;
    ~raw_log() {
        if (fd_ >= 0) ::close(fd_);
    }

    // Creates the first file (as wal::create does its first segment, before timing starts).
    // errno, 0 on success; so is write_sync's.
    int start() { return next_file(); }
    int write_sync(const std::vector<std::byte>& buf) {
        if (off_ + buf.size() > segment_bytes)
            if (int e = next_file(); e != 0) return e;
        const std::byte* p = buf.data();
        std::size_t left = buf.size();
        while (left > 0) {
            const ssize_t k = ::pwrite(fd_, p, left, static_cast<off_t>(off_));
            if (k < 0) {
                if (errno == EINTR) continue;
                return errno;
            }
            p += k;
            left -= static_cast<std::size_t>(k);
            off_ += static_cast<std::uint64_t>(k);
        }
        return ::fdatasync(fd_) == 0 ? 0 : errno;
    }

private:
    int next_file() {
        if (fd_ >= 0) ::close(fd_);
        const fs::path p = dir_ / (std::to_string(seq_++) + ".raw");
        fd_ = ::open(p.c_str(), O_CREAT | O_TRUNC | O_RDWR | O_CLOEXEC, 0644);
        if (fd_ < 0) return errno;
        if (int rc = ::posix_fallocate(fd_, 0, static_cast<off_t>(segment_bytes)); rc != 0)
            return rc;
        off_ = 0;
        files_.push_back(p);
        if (files_.size() > max_segments) {  // as the WAL: keep only the file being written
            for (std::size_t k = 0; k + 1 < files_.size(); ++k) ::unlink(files_[k].c_str());
            files_.erase(files_.begin(), files_.end() - 1);
        }
        return 0;
    }

    fs::path dir_;
    int fd_ = -1;
    std::uint64_t off_ = 0;
    std::uint64_t seq_ = 0;
    std::vector<fs::path> files_;
};

void BM_raw_write_fdatasync(benchmark::State& state) {
    const auto bytes = static_cast<std::size_t>(state.range(0));
    const fs::path dir = fresh_dir("raw");
    {
        raw_log log(dir);
        const std::vector<std::byte> buf(bytes, std::byte{0x5a});
        if (int e = log.start(); e != 0) {
            state.SkipWithError(("raw file: " + std::system_category().message(e)).c_str());
            return;
        }
        const auto t0 = clock_type::now();
        for (auto _ : state) {
            if (int e = log.write_sync(buf); e != 0) {
                state.SkipWithError(("raw write: " + std::system_category().message(e)).c_str());
                break;
            }
        }
        const double secs = seconds_since(t0);
        const auto iters = static_cast<std::uint64_t>(state.iterations());
        state.SetBytesProcessed(static_cast<std::int64_t>(iters * bytes));
        state.counters["syncs/s"] =
            benchmark::Counter(static_cast<double>(iters), benchmark::Counter::kIsRate);
        if (secs > 0)
            record(g_raw_rates[bytes], {state.iterations(), static_cast<double>(iters) / secs,
                                        static_cast<double>(iters * bytes) / secs});
    }
    std::error_code ec;
    fs::remove_all(dir, ec);
}

// The same WAL and raw loops, one sync of each per iteration (which goes first alternates), so
// that both see the same disk: on a shared virtual disk, fdatasync latency changes by 30x
// from one minute to the next, and two benchmarks run apart can land in different regimes.
void BM_wal_raw_paired(benchmark::State& state) {
    const auto n = static_cast<std::size_t>(state.range(0));
    const auto payload = static_cast<std::size_t>(state.range(1));
    const std::uint64_t bytes = bytes_per_sync(n, payload);
    const fs::path wal_dir = fresh_dir("paired-wal");
    const fs::path raw_dir = fresh_dir("paired-raw");
    {
        auto w = wal::create(wal_dir, wal::metadata{.id = 1, .cluster_id = 1, .user = {}});
        raw_log raw(raw_dir);
        if (int e = raw.start(); e != 0) {
            state.SkipWithError(("raw file: " + std::system_category().message(e)).c_str());
            return;
        }
        const buffer data = filled_buffer(payload);
        std::vector<entry> batch(n, entry{1, 0, entry_type::normal, data});
        const std::vector<std::byte> buf(bytes, std::byte{0x5a});
        hard_state hs{1, 1, 0};
        index_t next = 1;
        auto wal_sync = [&]() -> bool {
            for (auto& e : batch) e.index = next++;
            hs.commit = next - 1;
            if (!w.save(hs, batch, /*must_sync=*/true)) return false;
            return w.segments().size() <= max_segments || w.release_to(w.last_index());
        };
        clock_type::duration wal_time{}, raw_time{};
        bool wal_first = true;
        for (auto _ : state) {
            const auto t0 = clock_type::now();
            const bool ok1 = wal_first ? wal_sync() : raw.write_sync(buf) == 0;
            const auto t1 = clock_type::now();
            const bool ok2 = wal_first ? raw.write_sync(buf) == 0 : wal_sync();
            const auto t2 = clock_type::now();
            (wal_first ? wal_time : raw_time) += t1 - t0;
            (wal_first ? raw_time : wal_time) += t2 - t1;
            wal_first = !wal_first;
            if (!ok1 || !ok2) {
                state.SkipWithError("WAL or raw write failed");
                break;
            }
        }
        const auto iters = static_cast<double>(state.iterations());
        const double wal_s = std::chrono::duration<double>(wal_time).count();
        const double raw_s = std::chrono::duration<double>(raw_time).count();
        if (wal_s > 0 && raw_s > 0) {
            state.counters["wal_syncs/s"] = iters / wal_s;
            state.counters["raw_syncs/s"] = iters / raw_s;
            state.counters["wal/raw"] = raw_s / wal_s;  // the ratio of the rates
            g_paired[{state.range(0), state.range(1)}].push_back(
                {state.iterations(), iters / wal_s, iters / raw_s});
        }
        state.SetBytesProcessed(static_cast<std::int64_t>(2 * state.iterations()) *
                                static_cast<std::int64_t>(bytes));
    }
    std::error_code ec;
    fs::remove_all(wal_dir, ec);
    fs::remove_all(raw_dir, ec);
}

// 2. Replay -------------------------------------------------------------------------------

struct replay_wal {
    std::size_t payload = 0;
    fs::path dir;
    std::uint64_t entries = 0;
    std::uint64_t record_bytes = 0;  // bytes of records written (what read_all decodes)
    std::uint64_t file_bytes = 0;    // segment files' sizes (the tail is preallocated)
};

std::uint64_t replay_megabytes() {
    const char* s = std::getenv("RAFTPP_BENCH_REPLAY_MB");
    if (s == nullptr || *s == '\0') return 1024;
    const auto v = std::strtoull(s, nullptr, 10);
    return v == 0 ? 1024 : v;
}

// Built on first use and kept (one per payload, so that interleaved repetitions do not
// rebuild them).
const replay_wal& replay_fixture(std::size_t payload) {
    static std::map<std::size_t, replay_wal> built;
    replay_wal& r = built[payload];
    if (!r.dir.empty()) return r;
    r.payload = payload;
    r.dir = fresh_dir("replay");
    const std::uint64_t target = replay_megabytes() << 20;
    auto w = wal::create(r.dir, wal::metadata{.id = 1, .cluster_id = 1, .user = {}});
    const buffer data = filled_buffer(payload);
    std::vector<entry> batch(1024, entry{1, 0, entry_type::normal, data});
    index_t next = 1;
    while (w.stats().bytes_written < target) {
        for (auto& e : batch) e.index = next++;
        if (!w.save({1, 1, next - 1}, batch, false)) std::abort();
    }
    if (!w.sync()) std::abort();
    r.entries = next - 1;
    r.record_bytes = w.stats().bytes_written;
    for (const auto& s : w.segments()) r.file_bytes += fs::file_size(s.path);
    return r;
}

void BM_wal_replay(benchmark::State& state) {
    const auto payload = static_cast<std::size_t>(state.range(0));
    const replay_wal& r = replay_fixture(payload);
    const bool peak_reset = reset_peak_rss();
    const double rss_before = rss_mib_now();
    const auto allocs0 = raftpp_bench::allocation_count();
    std::optional<wal::write_ahead_log<>> w;
    std::optional<wal::contents> c;
    for (auto _ : state) {
        w.emplace(wal::open(r.dir));
        c.emplace(w->read_all());
        benchmark::DoNotOptimize(c->entries.data());
        state.PauseTiming();
        const bool complete = c->entries.size() == r.entries;
        c.reset();  // freeing what was read is not part of the replay
        w.reset();  // unlocks the directory for the next open
        state.ResumeTiming();
        if (!complete) {
            state.SkipWithError("read_all() returned the wrong number of entries");
            break;
        }
    }
    const auto allocs = raftpp_bench::allocation_count() - allocs0;
    const auto iters = static_cast<std::uint64_t>(state.iterations());
    state.SetBytesProcessed(static_cast<std::int64_t>(iters * r.record_bytes));
    state.SetItemsProcessed(static_cast<std::int64_t>(iters * r.entries));
    state.counters["wal_MiB"] = static_cast<double>(r.record_bytes) / (1024.0 * 1024.0);
    state.counters["files_MiB"] = static_cast<double>(r.file_bytes) / (1024.0 * 1024.0);
    state.counters["rss_before_MiB"] = rss_before;
    if (peak_reset) state.counters["peak_rss_MiB"] = peak_rss_mib();
    state.counters["allocs/entry"] =
        iters == 0 ? 0.0
                   : static_cast<double>(allocs) / static_cast<double>(iters * r.entries);
}

// 3. A raft node on wal_storage ------------------------------------------------------------

void BM_rawnode_wal(benchmark::State& state) {
    const auto batch = static_cast<int>(state.range(0));
    constexpr index_t compact_every = 65536;
    const fs::path dir = fresh_dir("rawnode");
    {
        auto st = wal_storage<>::create(dir, wal::metadata{.id = 1, .cluster_id = 1, .user = {}});
        config cfg;
        cfg.id = 1;
        cfg.election_tick = 10;
        cfg.heartbeat_tick = 1;
        cfg.max_size_per_msg = 1 << 20;
        cfg.max_inflight_msgs = 256;
        raw_node<wal_storage<>> node(cfg, st);
        index_t applied = 0;
        auto apply = [&](const entry& e) { applied = e.index; };
        auto run = [&]() -> bool {
            for (;;) {
                auto r = node.process_ready(apply);
                if (!r) {
                    state.SkipWithError(("process_ready: " + r.error().message()).c_str());
                    return false;
                }
                if (!*r) return true;
            }
        };
        if (!node.bootstrap({{.id = 1, .learner = false, .context = {}}}) || !run() ||
            !node.campaign() || !run() || node.raft().role() != role::leader) {
            state.SkipWithError("node 1 did not become leader");
            return;
        }
        const conf_state cs{{1}, {}, {}, {}, false};
        const buffer data = buffer::uninitialized(16);
        const buffer snap_data("state");
        index_t snapped = applied;
        std::uint64_t proposals = 0;
        const wal::wal_stats s0 = st.log_file().stats();
        const auto allocs0 = raftpp_bench::allocation_count();
        const auto t0 = clock_type::now();
        for (auto _ : state) {
            bool proposed = true;
            for (int j = 0; j < batch && proposed; ++j) proposed = node.propose(data).has_value();
            if (!proposed) {
                state.SkipWithError("propose failed");
                break;
            }
            if (!run()) break;
            proposals += static_cast<std::uint64_t>(batch);
            if (applied - snapped >= compact_every) {
                if (!st.create_snapshot(applied, &cs, snap_data) || !st.compact(applied)) {
                    state.SkipWithError("snapshot/compact failed");
                    break;
                }
                snapped = applied;
            }
        }
        const double secs = seconds_since(t0);
        const auto allocs = raftpp_bench::allocation_count() - allocs0;
        const wal::wal_stats& s = st.log_file().stats();
        if (applied != node.raft().log().last_index()) state.SkipWithError("not all applied");
        const double p = proposals == 0 ? 1.0 : static_cast<double>(proposals);
        state.counters["proposals/s"] = static_cast<double>(proposals) / secs;
        state.counters["ns/proposal"] = secs * 1e9 / p;
        state.counters["syncs/proposal"] = static_cast<double>(s.syncs - s0.syncs) / p;
        state.counters["writes/proposal"] = static_cast<double>(s.writes - s0.writes) / p;
        state.counters["wal_bytes/proposal"] =
            static_cast<double>(s.bytes_written - s0.bytes_written) / p;
        state.counters["allocs/proposal"] = static_cast<double>(allocs) / p;
        state.SetItemsProcessed(static_cast<std::int64_t>(proposals));
    }
    std::error_code ec;
    fs::remove_all(dir, ec);
}

// Registration: each WAL append case, then the raw loop for its bytes, so the two run
// back to back.
void register_all() {
    for (auto p : append_payloads) {
        for (auto n : append_batches) {
            benchmark::RegisterBenchmark("BM_wal_append_sync", BM_wal_append_sync)
                ->ArgNames({"entries", "payload"})
                ->Args({n, p})
                ->UseRealTime()
                ->Unit(benchmark::kMicrosecond);
            benchmark::RegisterBenchmark("BM_raw_write_fdatasync", BM_raw_write_fdatasync)
                ->ArgName("bytes")
                ->Arg(static_cast<std::int64_t>(bytes_per_sync(static_cast<std::uint64_t>(n),
                                                               static_cast<std::uint64_t>(p))))
                ->UseRealTime()
                ->Unit(benchmark::kMicrosecond);
        }
    }
    for (auto p : append_payloads) {
        for (auto n : append_batches) {
            benchmark::RegisterBenchmark("BM_wal_raw_paired", BM_wal_raw_paired)
                ->ArgNames({"entries", "payload"})
                ->Args({n, p})
                ->UseRealTime()
                ->Unit(benchmark::kMicrosecond);
        }
    }
    benchmark::RegisterBenchmark("BM_wal_replay", BM_wal_replay)
        ->ArgName("payload")
        ->Arg(1024)
        ->Arg(16)
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark("BM_rawnode_wal", BM_rawnode_wal)
        ->ArgName("batch")
        ->Arg(1)
        ->Arg(64)
        ->UseRealTime()
        ->Unit(benchmark::kMicrosecond);
}

// WAL against raw, per bytes per sync, with the targets of issue #11: the separate
// benchmarks (best reported run of each) and the paired one (median of its reported runs).
void print_summary() {
    std::vector<pair_key> keys;
    for (const auto& [k, r] : g_wal_rates) keys.push_back(k);
    for (const auto& [k, r] : g_paired)
        if (!g_wal_rates.contains(k)) keys.push_back(k);
    if (keys.empty()) return;
    std::sort(keys.begin(), keys.end());
    std::printf("\nWAL append + fdatasync against raw pwrite + fdatasync of the same bytes\n"
                "(separate: best run of BM_wal_append_sync and BM_raw_write_fdatasync; "
                "paired: BM_wal_raw_paired, median run)\n");
    std::printf("%7s %7s %10s | %11s %11s %7s | %11s %11s %7s | %s\n", "entries", "payload",
                "bytes/sync", "WAL syncs/s", "raw syncs/s", "ratio", "WAL syncs/s",
                "raw syncs/s", "ratio", "target (paired ratio)");
    for (const auto& k : keys) {
        const auto bytes = bytes_per_sync(static_cast<std::uint64_t>(k.entries),
                                          static_cast<std::uint64_t>(k.payload));
        std::printf("%7lld %7lld %10llu |", static_cast<long long>(k.entries),
                    static_cast<long long>(k.payload), static_cast<unsigned long long>(bytes));
        const auto w = g_wal_rates.find(k);
        const auto r = g_raw_rates.find(bytes);
        if (w != g_wal_rates.end() && r != g_raw_rates.end())
            std::printf(" %11.0f %11.0f %6.1f%% |", w->second.syncs_per_s,
                        r->second.syncs_per_s,
                        100.0 * w->second.syncs_per_s / r->second.syncs_per_s);
        else
            std::printf(" %11s %11s %7s |", "-", "-", "-");
        const auto pit = g_paired.find(k);
        double ratio = -1;
        paired_rate med;
        if (pit != g_paired.end() && !pit->second.empty()) {
            // The reported runs are the calls with the most iterations (Google Benchmark sizes
            // a run with shorter calls first; repetitions reuse the final count).
            std::int64_t most = 0;
            for (const auto& x : pit->second) most = std::max(most, x.iterations);
            std::vector<paired_rate> runs;
            for (const auto& x : pit->second)
                if (x.iterations == most) runs.push_back(x);
            auto by_ratio = [](const paired_rate& a, const paired_rate& b) {
                return a.wal_syncs_per_s / a.raw_syncs_per_s <
                       b.wal_syncs_per_s / b.raw_syncs_per_s;
            };
            std::sort(runs.begin(), runs.end(), by_ratio);
            med = runs[(runs.size() - 1) / 2];
            ratio = med.wal_syncs_per_s / med.raw_syncs_per_s;
            std::printf(" %11.0f %11.0f %6.1f%% |", med.wal_syncs_per_s, med.raw_syncs_per_s,
                        100.0 * ratio);
        } else {
            std::printf(" %11s %11s %7s |", "-", "-", "-");
        }
        if (ratio >= 0 && k.entries == 1)
            std::printf(" syncs/s >= 90 %% of raw: %s", ratio >= 0.9 ? "met" : "MISSED");
        else if (ratio >= 0 && k.entries == 1024 && k.payload == 1024)
            std::printf(" MB/s >= 80 %% of raw: %s (%.0f vs %.0f MiB/s)",
                        ratio >= 0.8 ? "met" : "MISSED",
                        med.wal_syncs_per_s * static_cast<double>(bytes) / (1024.0 * 1024.0),
                        med.raw_syncs_per_s * static_cast<double>(bytes) / (1024.0 * 1024.0));
        std::printf("\n");
    }
    std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    make_root();
    register_all();
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    print_summary();
    remove_root();
    return 0;
}
