// Running raftkv as real processes in tests: free loopback ports from the kernel, a member per
// child process (its output in a log file), SIGKILL / SIGTERM / SIGSTOP, and polls with
// deadlines. Every child is killed and reaped when its handle goes, also when a test fails.
#pragma once

#include <catch2/catch.hpp>

#include <raftkv/http.hpp>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio.hpp>
#include <boost/json.hpp>

#include "wal_test_util.hpp"

namespace raftkv::test {

using namespace std::chrono_literals;

inline std::string raftkv_bin() {
    const char* p = std::getenv("RAFTKV_BIN");
    return p != nullptr ? p : "";
}

// Ports the kernel picks: bound together, then released for the child to bind. (A child needs
// its peers' ports before any of them runs, so they cannot stay bound here.)
inline std::vector<std::uint16_t> free_ports(std::size_t n) {
    boost::asio::io_context io;
    std::vector<boost::asio::ip::tcp::acceptor> held;
    std::vector<std::uint16_t> ports;
    for (std::size_t i = 0; i < n; ++i) {
        held.emplace_back(io, boost::asio::ip::tcp::endpoint(boost::asio::ip::address_v4::loopback(), 0));
        ports.push_back(held.back().local_endpoint().port());
    }
    return ports;
}

// Polls pred every 10 ms until it holds or the deadline passes.
inline bool poll_until(const std::function<bool()>& pred, std::chrono::milliseconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    for (;;) {
        if (pred()) return true;
        if (std::chrono::steady_clock::now() >= deadline) return false;
        std::this_thread::sleep_for(10ms);
    }
}

// One child process; its stdout and stderr go to `log`.
class process {
public:
    process(const std::vector<std::string>& argv, const std::filesystem::path& log) : log_(log) {
        std::vector<char*> args;
        for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
        args.push_back(nullptr);
        pid_ = ::fork();
        if (pid_ < 0) throw std::runtime_error("fork failed");
        if (pid_ == 0) {
            const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
            if (fd >= 0) {
                ::dup2(fd, 1);
                ::dup2(fd, 2);
                ::close(fd);
            }
            ::execv(args[0], args.data());
            ::_exit(127);
        }
    }
    process(const process&) = delete;
    process& operator=(const process&) = delete;
    ~process() { kill_and_reap(); }

    pid_t pid() const noexcept { return pid_; }
    bool running() { return !reap(false).has_value(); }
    void signal(int sig) {
        if (pid_ > 0 && !status_) ::kill(pid_, sig);
    }
    // The exit status (as waitpid reports it) once it ended within limit.
    std::optional<int> wait(std::chrono::milliseconds limit) {
        std::optional<int> st;
        poll_until([&] { return (st = reap(false)).has_value(); }, limit);
        return st;
    }
    void kill_and_reap() {
        if (pid_ <= 0 || status_) return;
        ::kill(pid_, SIGCONT);
        ::kill(pid_, SIGKILL);
        (void)reap(true);
    }
    std::string log() const {
        std::ifstream in(log_);
        std::stringstream ss;
        ss << in.rdbuf();
        return ss.str();
    }

private:
    std::optional<int> reap(bool block) {
        if (status_) return status_;
        int st = 0;
        const pid_t r = ::waitpid(pid_, &st, block ? 0 : WNOHANG);
        if (r == pid_) status_ = st;
        return status_;
    }
    pid_t pid_ = -1;
    std::optional<int> status_;
    std::filesystem::path log_;
};

// A three-member (or n) raftkv cluster of child processes in a temp dir.
class kv_cluster {
public:
    struct member {
        std::string name;
        std::uint16_t peer_port = 0;
        std::uint16_t client_port = 0;
        std::unique_ptr<process> proc;
        std::unique_ptr<http::client> client;
        int starts = 0;
    };

    explicit kv_cluster(std::size_t n, std::vector<std::string> extra = {}) : extra_(std::move(extra)) {
        const auto ports = free_ports(2 * n);
        for (std::size_t i = 0; i < n; ++i) {
            member m;
            m.name = "n" + std::to_string(i + 1);
            m.peer_port = ports[2 * i];
            m.client_port = ports[2 * i + 1];
            if (!initial_.empty()) initial_ += ",";
            initial_ += m.name + "=http://127.0.0.1:" + std::to_string(m.peer_port);
            members_.push_back(std::move(m));
        }
    }

    std::size_t size() const { return members_.size(); }
    member& at(std::size_t i) { return members_.at(i); }

    // A slot for a member added later (POST /members): its ports, its name in --initial-cluster
    // for the processes started from now on. Returns its index.
    std::size_t add_slot() {
        const auto ports = free_ports(2);
        member m;
        m.name = "n" + std::to_string(members_.size() + 1);
        m.peer_port = ports[0];
        m.client_port = ports[1];
        initial_ += "," + m.name + "=http://127.0.0.1:" + std::to_string(m.peer_port);
        members_.push_back(std::move(m));
        return members_.size() - 1;
    }

    void start(std::size_t i, const std::string& state = "new", std::vector<std::string> more = {}) {
        member& m = members_.at(i);
        std::vector<std::string> argv{raftkv_bin(),
                                      "--name=" + m.name,
                                      "--data-dir=" + (dir_ / m.name).string(),
                                      "--listen-peer=http://127.0.0.1:" + std::to_string(m.peer_port),
                                      "--listen-client=http://127.0.0.1:" + std::to_string(m.client_port),
                                      "--initial-cluster=" + initial_,
                                      "--initial-cluster-state=" + state,
                                      "--heartbeat-interval=20",
                                      "--election-timeout=200"};
        argv.insert(argv.end(), extra_.begin(), extra_.end());
        argv.insert(argv.end(), more.begin(), more.end());
        m.proc = std::make_unique<process>(argv, dir_ / (m.name + ".log"));
        ++m.starts;
        m.client = std::make_unique<http::client>("127.0.0.1", m.client_port);
    }
    void start_all() {
        for (std::size_t i = 0; i < size(); ++i) start(i);
    }

    // A request to member i; nullopt when it could not be made (down, refused, timed out).
    std::optional<http::response> request(std::size_t i, boost::beast::http::verb v,
                                          const std::string& target, std::string body = {},
                                          std::chrono::milliseconds timeout = 2s) {
        try {
            return members_.at(i).client->request(v, target, std::move(body), timeout);
        } catch (const std::exception&) {
            return std::nullopt;
        }
    }

    std::optional<boost::json::object> status(std::size_t i) {
        auto r = request(i, boost::beast::http::verb::get, "/status", {}, 500ms);
        if (!r || r->result() != boost::beast::http::status::ok) return std::nullopt;
        boost::system::error_code ec;
        auto v = boost::json::parse(r->body(), ec);
        if (ec || !v.is_object()) return std::nullopt;
        return v.as_object();
    }

    // The member whose /status says it leads, among the running ones.
    std::optional<std::size_t> leader() {
        for (std::size_t i = 0; i < size(); ++i) {
            if (!members_[i].proc || !members_[i].proc->running()) continue;
            auto s = status(i);
            if (s && s->at("role").as_string() == "leader") return i;
        }
        return std::nullopt;
    }
    std::optional<std::size_t> wait_leader(std::chrono::milliseconds limit = 15s) {
        std::optional<std::size_t> l;
        poll_until([&] { return (l = leader()).has_value(); }, limit);
        return l;
    }

    // Everything the members wrote, for a failing test's report.
    std::string logs() const {
        std::string out;
        for (const auto& m : members_)
            if (m.proc) out += "--- " + m.name + " ---\n" + m.proc->log();
        return out;
    }
    const std::filesystem::path& dir() const { return dir_.path(); }

private:
    raftpp::test::temp_dir dir_;
    std::vector<std::string> extra_;
    std::string initial_;
    std::vector<member> members_;
};

}  // namespace raftkv::test
