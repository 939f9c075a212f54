// Crash loop: a child process appends to a WAL and reports each index once it is synced; the
// parent SIGKILLs it at a random point, reopens the WAL, and checks that every index reported
// synced is there and intact. RAFTPP_WAL_CRASH_KILLS sets the number of kills (default 200),
// RAFTPP_WAL_CRASH_SEED the seed (printed, so a failing run replays).
#include <catch2/catch.hpp>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <raftpp/wal/wal.hpp>

#include "wal_test_util.hpp"

using namespace raftpp;
using raftpp::test::temp_dir;
namespace fs = std::filesystem;

namespace {

std::uint64_t env_or(const char* name, std::uint64_t fallback) {
    const char* v = std::getenv(name);
    return v != nullptr && *v != '\0' ? std::strtoull(v, nullptr, 10) : fallback;
}

// The payload of entry i: names the index, with sizes from a few bytes to several pages so
// that a kill can land inside a multi-page write.
std::string payload(index_t i) {
    std::string s = "entry-" + std::to_string(i) + "-";
    const std::size_t extra = i % 23 == 0 ? 9000 + i % 1000 : (i * 31) % 200;
    s.append(extra, static_cast<char>('a' + i % 26));
    return s;
}

wal::options opts() {
    wal::options o;
    o.segment_size = 256 * 1024;  // cuts happen during the run
    return o;
}

const wal::metadata md{.id = 7, .cluster_id = 9, .user = {}};

// The child: open, append batches, report each synced last index on fd. Never returns. A
// child that is not `honest` reports batches it only buffered (to prove the check can fail).
[[noreturn]] void child(const fs::path& dir, int fd, std::uint64_t seed, bool honest) {
    try {
        auto w = wal::open(dir, {}, opts());
        auto c = w.read_all();
        index_t next = c.entries.empty() ? 1 : c.entries.back().index + 1;
        std::mt19937_64 rng(seed);
        std::vector<entry> batch;
        for (int round = 0; round < 100000; ++round) {
            batch.clear();
            const auto n = 1 + rng() % 8;
            for (std::uint64_t k = 0; k < n; ++k, ++next)
                batch.push_back({1, next, entry_type::normal, buffer(payload(next))});
            if (!(honest ? w.save({1, 1, next - 1}, batch, true) : w.append(batch))) _exit(3);
            const std::string line = std::to_string(next - 1) + "\n";
            if (::write(fd, line.data(), line.size()) != static_cast<ssize_t>(line.size())) _exit(4);
        }
    } catch (...) {
        _exit(2);
    }
    _exit(0);
}

struct child_process {
    pid_t pid = -1;
    int fd = -1;
    ~child_process() {  // killed and reaped even when the test fails
        if (pid > 0) {
            ::kill(pid, SIGKILL);
            int st;
            ::waitpid(pid, &st, 0);
        }
        if (fd >= 0) ::close(fd);
    }
};

// Reads whole lines from fd until `want` more arrived or the child is gone; returns the
// largest index read. Every wait is a poll with a deadline.
index_t read_reports(int fd, std::string& pending, int want, index_t synced, bool& eof) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    int got = 0;
    while (got < want || want < 0) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) FAIL("no report from the child within 60 s");
        pollfd p{fd, POLLIN, 0};
        const int rc = ::poll(&p, 1, static_cast<int>(left.count()));
        if (rc < 0 && errno == EINTR) continue;
        REQUIRE(rc >= 0);
        if (rc == 0) continue;
        char buf[4096];
        const ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            eof = true;
            break;
        }
        pending.append(buf, static_cast<std::size_t>(n));
        for (std::size_t nl; (nl = pending.find('\n')) != std::string::npos;) {
            synced = std::max<index_t>(synced, std::stoull(pending.substr(0, nl)));
            pending.erase(0, nl + 1);
            ++got;
        }
    }
    return synced;
}

// Runs `kills` rounds of fork, append, SIGKILL, reopen; returns how many rounds found an
// index that was reported synced missing or damaged (0 is the only passing outcome).
std::uint64_t crash_loop(std::uint64_t kills, std::uint64_t seed, bool honest) {
    std::mt19937_64 rng(seed);
    temp_dir t;
    const auto dir = t / "wal";
    { auto w = wal::create(dir, md, opts()); }

    index_t synced = 0;  // the largest index any child reported synced
    std::uint64_t torn = 0, lost = 0;
    for (std::uint64_t k = 0; k < kills; ++k) {
        CAPTURE(k);
        int fds[2];
        REQUIRE(::pipe(fds) == 0);
        child_process c;
        c.pid = ::fork();
        REQUIRE(c.pid >= 0);
        if (c.pid == 0) {
            ::close(fds[0]);
            child(dir, fds[1], seed + k + 1, honest);
        }
        ::close(fds[1]);
        c.fd = fds[0];
        // Kill after a random number of synced batches: 0 lands in open/replay.
        const int wait_for = static_cast<int>(rng() % 12) + (honest ? 0 : 1);
        std::string pending;
        bool eof = false;
        synced = read_reports(c.fd, pending, wait_for, synced, eof);
        REQUIRE_FALSE(eof);  // the child died on its own
        REQUIRE(::kill(c.pid, SIGKILL) == 0);
        int status = 0;
        REQUIRE(::waitpid(c.pid, &status, 0) == c.pid);
        c.pid = -1;
        REQUIRE(WIFSIGNALED(status));
        // Reports written before the kill still count: the child had synced them.
        synced = read_reports(c.fd, pending, -1, synced, eof);

        raftpp::test::recording_logger log;
        auto w = wal::open(dir, {}, opts(), log);
        auto contents = w.read_all();
        torn += log.contains(log_level::warning, "torn tail");
        bool ok = contents.entries.size() >= synced;
        for (std::size_t i = 0; i < contents.entries.size(); ++i) {
            const entry& e = contents.entries[i];
            if (e.index != i + 1 || e.data.view() != payload(e.index)) {
                CAPTURE(e.index, i);
                FAIL("entry damaged or out of place");
            }
        }
        if (!ok) {
            ++lost;
            synced = contents.entries.size();  // start the next round from what is there
        }
    }
    std::printf("wal_crash_test: %llu kills, last synced index %llu, %llu torn tails repaired, "
                "%llu rounds lost a synced index\n",
                static_cast<unsigned long long>(kills), static_cast<unsigned long long>(synced),
                static_cast<unsigned long long>(torn), static_cast<unsigned long long>(lost));
    return lost;
}

}  // namespace

TEST_CASE("every index reported synced survives SIGKILL at random points", "[wal][crash]") {
    const std::uint64_t kills = env_or("RAFTPP_WAL_CRASH_KILLS", 200);
    const std::uint64_t seed = env_or("RAFTPP_WAL_CRASH_SEED", std::random_device{}());
    std::printf("wal_crash_test: seed %llu, %llu kills (RAFTPP_WAL_CRASH_SEED to replay)\n",
                static_cast<unsigned long long>(seed), static_cast<unsigned long long>(kills));
    INFO("seed " << seed);
    CHECK(crash_loop(kills, seed, true) == 0);
}

TEST_CASE("the crash loop catches a writer that reports what it did not write", "[wal][crash]") {
    const std::uint64_t seed = env_or("RAFTPP_WAL_CRASH_SEED", std::random_device{}());
    INFO("seed " << seed);
    CHECK(crash_loop(10, seed, false) > 0);
}
