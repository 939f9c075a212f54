// Helpers for the raftpp::node suites: a key-value state machine speaking the
// linearizability checker's kv_input/kv_output, and a cluster of durable nodes on 127.0.0.1
// sharing one io_context run by two threads (so the node's strand is exercised on a pool).
// Every wait polls with a deadline; the destructor stops every node and joins the threads
// even when a REQUIRE failed.
#pragma once

#include <catch2/catch.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_future.hpp>

#include <raftpp/cluster_members.hpp>
#include <raftpp/net/asio_transport.hpp>
#include <raftpp/node.hpp>
#include <raftpp/node/start.hpp>
#include <raftpp/testing/linearizability.hpp>
#include <raftpp/wal/wal_storage.hpp>

#include <chrono>
#include <cstring>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "wal_test_util.hpp"

namespace raftpp::test {

using namespace std::chrono_literals;
using testing::kv_input;
using testing::kv_op;
using testing::kv_output;

inline buffer encode_kv(const kv_input& in) {
    std::byte b[21];
    b[0] = static_cast<std::byte>(in.op);
    std::memcpy(b + 1, &in.key, 4);
    std::memcpy(b + 5, &in.value, 8);
    std::memcpy(b + 13, &in.expected, 8);
    return buffer(b, sizeof b);
}

// The state is read from test threads too (after a read index), hence the lock.
class kv_machine {
public:
    kv_output apply(const entry& e) {
        std::lock_guard lock(mu_);
        ++applied_;
        last_index_ = e.index;
        if (e.data.size() != 21) return {false, 0};
        kv_input in;
        in.op = static_cast<kv_op>(e.data.data()[0]);
        std::memcpy(&in.key, e.data.data() + 1, 4);
        std::memcpy(&in.value, e.data.data() + 5, 8);
        std::memcpy(&in.expected, e.data.data() + 13, 8);
        auto& v = data_[in.key];
        switch (in.op) {
        case kv_op::put: v = in.value; return {true, 0};
        case kv_op::get: return {true, v};
        case kv_op::cas:
            if (v != in.expected) return {false, 0};
            v = in.value;
            return {true, 0};
        }
        return {};
    }
    buffer snapshot() const {
        std::lock_guard lock(mu_);
        std::vector<std::byte> out((data_.size() * 12) + 8);
        std::uint64_t n = applied_;
        std::memcpy(out.data(), &n, 8);
        std::size_t at = 8;
        for (const auto& [k, v] : data_) {
            std::memcpy(out.data() + at, &k, 4);
            std::memcpy(out.data() + at + 4, &v, 8);
            at += 12;
        }
        return buffer(std::span<const std::byte>(out));
    }
    result<void> restore(std::span<const std::byte> bytes) {
        if (bytes.size() < 8 || (bytes.size() - 8) % 12 != 0) return errc::malformed_message;
        std::lock_guard lock(mu_);
        data_.clear();
        std::memcpy(&applied_, bytes.data(), 8);
        for (std::size_t at = 8; at < bytes.size(); at += 12) {
            std::uint32_t k;
            std::uint64_t v;
            std::memcpy(&k, bytes.data() + at, 4);
            std::memcpy(&v, bytes.data() + at + 4, 8);
            data_[k] = v;
        }
        ++restores_;
        return {};
    }
    std::uint64_t get(std::uint32_t key) const {
        std::lock_guard lock(mu_);
        auto it = data_.find(key);
        return it == data_.end() ? 0 : it->second;
    }
    std::map<std::uint32_t, std::uint64_t> data() const {
        std::lock_guard lock(mu_);
        return data_;
    }
    // Entries applied (snapshots included: restore sets it to the snapshot's count).
    std::uint64_t applied() const {
        std::lock_guard lock(mu_);
        return applied_;
    }
    int restores() const {
        std::lock_guard lock(mu_);
        return restores_;
    }

private:
    mutable std::mutex mu_;
    std::map<std::uint32_t, std::uint64_t> data_;
    std::uint64_t applied_ = 0;
    index_t last_index_ = 0;
    int restores_ = 0;
};

static_assert(state_machine<kv_machine>);

using kv_node = node<kv_machine, wal_storage<>>;

template <class Pred>
bool wait_until(Pred pred, std::chrono::milliseconds limit = 10s) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!pred()) {
        if (std::chrono::steady_clock::now() > deadline) return false;
        std::this_thread::sleep_for(2ms);
    }
    return true;
}

template <class T>
T get_within(std::future<T>& f, std::chrono::milliseconds limit = 10s) {
    REQUIRE(f.wait_for(limit) == std::future_status::ready);
    return f.get();
}

// A completion handler (the callback token) that fulfils a future with what it was called
// with, errors included.
template <class... Args>
struct callback_result {
    std::shared_ptr<std::promise<std::tuple<Args...>>> p =
        std::make_shared<std::promise<std::tuple<Args...>>>();
    std::future<std::tuple<Args...>> f = p->get_future();
    auto handler() {
        return [p = p](Args... a) { p->set_value(std::tuple<Args...>(std::move(a)...)); };
    }
};
using ec_t = boost::system::error_code;

inline node_options fast_node_options() {
    node_options o;
    o.tick_interval = 10ms;
    o.raft.election_tick = 10;
    o.raft.heartbeat_tick = 1;
    o.raft.pre_vote = true;
    o.raft.check_quorum = true;
    o.request_timeout = 5s;
    o.read_retry = 100ms;
    return o;
}

class node_cluster {
public:
    struct member_slot {
        std::string name;
        std::filesystem::path dir;
        boost::asio::ip::tcp::endpoint ep;
        std::unique_ptr<kv_machine> sm;
        std::unique_ptr<kv_node> n;
    };

    explicit node_cluster(std::size_t size, node_options opts = fast_node_options())
        : opts_(opts), guard_(boost::asio::make_work_guard(io_)) {
        std::string ic;
        for (std::size_t i = 0; i < size; ++i) {
            auto a = listen_on(0);
            member_slot m;
            m.name = "n" + std::to_string(i + 1);
            m.dir = root_ / m.name;
            m.ep = a.local_endpoint();
            acceptors_.push_back(std::move(a));
            if (!ic.empty()) ic += ',';
            ic += m.name + "=http://127.0.0.1:" + std::to_string(m.ep.port());
            slots_.push_back(std::move(m));
        }
        members_ = cluster_members::parse(ic);
        for (int t = 0; t < 2; ++t) threads_.emplace_back([this] { io_.run(); });
    }

    ~node_cluster() {
        for (std::size_t i = 0; i < slots_.size(); ++i) stop(i);
        guard_.reset();
        io_.stop();
        for (auto& t : threads_) t.join();
    }

    boost::asio::io_context& io() { return io_; }
    const cluster_members& members() const { return members_; }
    std::size_t size() const { return slots_.size(); }
    member_slot& slot(std::size_t i) { return slots_[i]; }
    kv_node& node(std::size_t i) { return *slots_[i].n; }
    kv_machine& sm(std::size_t i) { return *slots_[i].sm; }
    bool running(std::size_t i) const { return slots_[i].n != nullptr; }
    node_id id(std::size_t i) const { return members_.require(slots_[i].name).id; }
    node_options& options() { return opts_; }

    // Every member of a new cluster.
    void start_all_new() {
        for (std::size_t i = 0; i < slots_.size(); ++i)
            run(i, start_new(slots_[i].dir, members_, slots_[i].name));
    }

    // Adds a member that is not in the initial cluster; returns its index. Its id is derived
    // from its URL and the token, as the initial members'.
    std::size_t add_slot(const std::string& name) {
        auto a = listen_on(0);
        member_slot m;
        m.name = name;
        m.dir = root_ / name;
        m.ep = a.local_endpoint();
        acceptors_.push_back(std::move(a));
        slots_.push_back(std::move(m));
        return slots_.size() - 1;
    }
    member member_of(std::size_t i) const {
        member m;
        m.name = slots_[i].name;
        m.peer_urls = {"http://127.0.0.1:" + std::to_string(slots_[i].ep.port())};
        m.id = derive_member_id(m.peer_urls, default_cluster_token);
        return m;
    }
    // Starts slot i joining the running cluster (which must be told with a conf change).
    void start_join(std::size_t i) {
        cluster_members known = members_;
        known.add(member_of(i));
        run(i, raftpp::start_join(slots_[i].dir, known, slots_[i].name, members_.cluster_id()));
    }

    void restart(std::size_t i) {
        REQUIRE_FALSE(running(i));
        run(i, start_restart(slots_[i].dir, {member_of(i).id, members_.cluster_id()}));
    }

    // Stops member i and waits for its storage and transport to close.
    void stop(std::size_t i) {
        auto& s = slots_[i];
        if (!s.n) return;
        auto f = s.n->async_stop(boost::asio::use_future);
        const bool done = f.wait_for(10s) == std::future_status::ready;
        s.n.reset();
        CHECK(done);
    }

    // The index of the member all running members agree leads, or nullopt.
    std::optional<std::size_t> leader() const {
        // Every running member must name the same leader, none included: a member that has
        // not heard from it yet drops the proposals it is given (as etcd's raft does).
        std::optional<std::size_t> found;
        std::optional<node_id> lead;
        for (std::size_t i = 0; i < slots_.size(); ++i) {
            if (!slots_[i].n) continue;
            const auto st = slots_[i].n->status();
            if (st.removed) continue;
            if (st.leader == none || (lead && st.leader != *lead)) return std::nullopt;
            lead = st.leader;
            if (st.role == role::leader) found = i;
        }
        if (found && slots_[*found].n->status().leader == slots_[*found].n->id()) return found;
        return std::nullopt;
    }
    std::size_t wait_leader(std::chrono::milliseconds limit = 10s) {
        REQUIRE(wait_until([&] { return leader().has_value(); }, limit));
        return *leader();
    }

    // Every running member applied as far as the first has committed.
    bool wait_converged(std::chrono::milliseconds limit = 15s) {
        return wait_until(
            [&] {
                index_t commit = 0;
                for (auto& s : slots_)
                    if (s.n && !s.n->status().removed)
                        commit = std::max(commit, s.n->status().commit);
                for (auto& s : slots_)
                    if (s.n && !s.n->status().removed && s.n->status().applied < commit)
                        return false;
                return commit > 0;
            },
            limit);
    }

private:
    boost::asio::ip::tcp::acceptor listen_on(unsigned short port) {
        boost::asio::ip::tcp::acceptor a(io_);
        const boost::asio::ip::tcp::endpoint ep(boost::asio::ip::address_v4::loopback(), port);
        a.open(ep.protocol());
        a.set_option(boost::asio::socket_base::reuse_address(true));
        a.bind(ep);
        a.listen();
        return a;
    }

    void run(std::size_t i, member_boot<wal_storage<>>&& boot) {
        auto& s = slots_[i];
        net::asio_transport_options t;
        t.id = boot.id;
        t.cluster_id = boot.cluster_id;
        t.backoff_min = 10ms;
        t.backoff_max = 200ms;
        t.seed = boot.id;
        s.sm = std::make_unique<kv_machine>();
        s.n = std::make_unique<kv_node>(io_.get_executor(), std::move(boot),
                                        net::asio_transport(io_.get_executor(), t), *s.sm, opts_);
        // The first start uses the socket bound in the constructor; a restart binds the same
        // port again (the member's URL names it).
        boost::asio::ip::tcp::acceptor a =
            i < acceptors_.size() && acceptors_[i].is_open() ? std::move(acceptors_[i])
                                                             : listen_on(s.ep.port());
        REQUIRE(s.n->start(std::move(a)));
    }

    temp_dir root_;
    node_options opts_;
    boost::asio::io_context io_;
    boost::asio::executor_work_guard<boost::asio::io_context::executor_type> guard_;
    std::vector<boost::asio::ip::tcp::acceptor> acceptors_;
    std::vector<member_slot> slots_;
    cluster_members members_;
    std::vector<std::thread> threads_;
};

}  // namespace raftpp::test
