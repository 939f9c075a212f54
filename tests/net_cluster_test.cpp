// Three raw_nodes over real sockets (127.0.0.1): each node has its own io_context and thread,
// which runs its asio_transport and the node itself (ticks from a steady_timer, received
// messages stepped on the node's strand, a ready cycle after every input). They elect a
// leader and commit 10,000 proposals, proposed by whichever node leads in batches within a
// window; every node must apply the same entries in the same order.
//
// The state machine is a client with retries: an entry carries a sequence number and is
// applied only when it is the next one expected, so a proposal lost with a leader change can
// be proposed again without being applied twice. Every wait has a deadline.
#include <catch2/catch.hpp>

#include <raftpp/memory_storage.hpp>
#include <raftpp/net/asio_transport.hpp>
#include <raftpp/raw_node.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include <atomic>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <iostream>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

using namespace raftpp;
using namespace std::chrono_literals;

namespace {

constexpr std::size_t total_proposals = 10000;
constexpr std::size_t proposal_window = 2000;  // proposed and not yet applied, at most
constexpr std::size_t proposal_batch = 250;    // proposed in one go
constexpr auto tick_interval = 10ms;
constexpr int stall_ticks = 100;  // a leader re-proposes what has not been applied by then

// Wakes the test thread whenever a node makes progress.
struct progress_signal {
    std::mutex mu;
    std::condition_variable cv;
    void notify() {
        { std::lock_guard lock(mu); }
        cv.notify_all();
    }
    template <class Pred>
    bool wait(std::chrono::steady_clock::duration limit, Pred pred) {
        std::unique_lock lock(mu);
        return cv.wait_for(lock, limit, pred);
    }
};

class host {
public:
    using node_type = raw_node<memory_storage, asio_transport::sender>;

    host(node_id id, progress_signal& progress)
        : id_(id), progress_(progress), strand_(boost::asio::make_strand(io_)),
          transport_(io_.get_executor(), options(id)), ticker_(strand_) {
        // The transport calls these on its own strand; the node's work goes to the node's.
        transport_.on_message([this](message&& m) { enqueue(std::move(m)); });
        transport_.on_unreachable([this](node_id peer) {
            boost::asio::post(strand_, [this, peer] { node_->report_unreachable(peer); });
        });
        transport_.on_snapshot_status([this](node_id peer, snapshot_status s) {
            boost::asio::post(strand_, [this, peer, s] { node_->report_snapshot(peer, s); });
        });
        REQUIRE(transport_.start());
        config cfg;
        cfg.id = id;
        cfg.election_tick = 20;
        cfg.heartbeat_tick = 2;
        cfg.pre_vote = true;
        node_.emplace(cfg, storage_, transport_.get_sender());
    }

    net::asio_transport& transport() { return transport_; }

    void start(const std::vector<peer>& peers) {
        REQUIRE(node_->bootstrap(peers));
        boost::asio::post(strand_, [this] { on_tick({}); });
        thread_ = std::thread([this] {
            io_.run();
            finished_ = true;
            progress_.notify();
        });
    }

    // Stops the node and its transport; the io_context then runs out of work.
    void stop() {
        boost::asio::post(strand_, [this] {
            stopping_ = true;
            ticker_.cancel();
            transport_.stop();
        });
    }
    bool finished() const { return finished_; }
    // After a deadline passed: make run() return whatever is still pending.
    void force_stop() { io_.stop(); }
    void join() {
        if (thread_.joinable()) thread_.join();
    }

    std::size_t applied_seq() const { return applied_seq_; }
    index_t applied_index() const { return applied_index_; }
    bool leader() const { return is_leader_; }
    std::uint64_t proposals_dropped() const { return proposals_dropped_; }
    bool ready_failed() const { return ready_failed_; }
    // Valid once the thread has finished.
    const std::vector<std::pair<index_t, std::string>>& committed() const { return committed_; }

private:
    static net::asio_transport_options options(node_id id) {
        net::asio_transport_options o;
        o.id = id;
        o.cluster_id = 0x5eed;
        o.backoff_min = 10ms;
        o.backoff_max = 500ms;
        o.seed = id;
        return o;
    }

    // Transport's strand: queue the message, wake the node once per burst.
    void enqueue(message&& m) {
        std::lock_guard lock(inbox_mu_);
        inbox_.push_back(std::move(m));
        if (!drain_posted_) {
            drain_posted_ = true;
            boost::asio::post(strand_, [this] { drain(); });
        }
    }

    // --- the node's strand ---------------------------------------------------------------

    void drain() {
        {
            std::lock_guard lock(inbox_mu_);
            drain_posted_ = false;
            std::swap(inbox_, stepping_);
        }
        if (stopping_) return;
        for (auto& m : stepping_) (void)node_->step(std::move(m));  // a stale one may fail
        stepping_.clear();
        top_up();
        cycle();
    }

    void on_tick(boost::system::error_code ec) {
        if (ec || stopping_) return;
        node_->tick();
        const auto st = node_->status();
        const bool leader = st.soft_state.role == role::leader;
        if (leader && !is_leader_) next_propose_ = applied_seq_;  // a new reign starts here
        is_leader_ = leader;
        // Proposals that were lost (a leader change) are proposed again.
        if (applied_seq_ != seq_at_last_tick_) {
            seq_at_last_tick_ = applied_seq_;
            stalled_ticks_ = 0;
        } else if (next_propose_ > applied_seq_ && ++stalled_ticks_ >= stall_ticks) {
            next_propose_ = applied_seq_;
            stalled_ticks_ = 0;
        }
        top_up();
        cycle();
        ticker_.expires_after(tick_interval);
        ticker_.async_wait([this](boost::system::error_code e) { on_tick(e); });
    }

    void top_up() {
        if (!is_leader_) return;
        const std::size_t done = applied_seq_;
        if (next_propose_ < done) next_propose_ = done;
        for (std::size_t n = 0; n < proposal_batch && next_propose_ < total_proposals &&
                                next_propose_ - done < proposal_window;
             ++n) {
            if (!node_->propose(buffer(std::to_string(next_propose_)))) {
                ++proposals_dropped_;
                break;
            }
            ++next_propose_;
        }
    }

    void cycle() {
        bool moved = false;
        while (true) {
            auto r = node_->process_ready([this](const entry& e) { apply(e); });
            if (!r) {  // Catch2 is not thread-safe: the test thread reports it
                ready_failed_ = true;
                break;
            }
            if (!*r) break;
            moved = true;
        }
        if (moved) progress_.notify();
    }

    void apply(const entry& e) {
        applied_index_ = e.index;
        if (e.type != entry_type::normal || e.data.empty()) return;
        committed_.emplace_back(e.index, e.data.str());
        std::size_t seq = 0;
        const auto v = e.data.view();
        std::from_chars(v.data(), v.data() + v.size(), seq);
        if (seq == applied_seq_) ++applied_seq_;
    }

    const node_id id_;
    progress_signal& progress_;
    boost::asio::io_context io_;
    boost::asio::strand<boost::asio::io_context::executor_type> strand_;
    net::asio_transport transport_;
    memory_storage storage_;
    std::optional<node_type> node_;
    boost::asio::steady_timer ticker_;
    std::thread thread_;

    std::mutex inbox_mu_;
    std::vector<message> inbox_;  // guarded by inbox_mu_
    bool drain_posted_ = false;   // guarded by inbox_mu_
    std::vector<message> stepping_;

    // Node's strand; the atomics are read by the test thread.
    std::atomic<std::size_t> applied_seq_{0};  // next sequence number the state machine takes
    std::atomic<index_t> applied_index_{0};
    std::atomic<bool> is_leader_{false};
    std::atomic<std::uint64_t> proposals_dropped_{0};
    std::atomic<bool> finished_{false};
    std::atomic<bool> ready_failed_{false};
    std::size_t next_propose_ = 0;
    std::size_t seq_at_last_tick_ = 0;
    int stalled_ticks_ = 0;
    bool stopping_ = false;
    std::vector<std::pair<index_t, std::string>> committed_;
};

}  // namespace

TEST_CASE("three nodes on real sockets elect a leader and commit 10,000 proposals",
          "[net][cluster]") {
    progress_signal progress;
    std::deque<host> hosts;
    for (node_id id = 1; id <= 3; ++id) hosts.emplace_back(id, progress);
    for (node_id i = 1; i <= 3; ++i)
        for (node_id j = 1; j <= 3; ++j)
            if (i != j) {
                const auto ep = hosts[j - 1].transport().local_endpoint();
                REQUIRE(hosts[i - 1].transport().add_peer(j, ep));
            }
    const std::vector<peer> peers = {{1, false, {}}, {2, false, {}}, {3, false, {}}};
    const auto start = std::chrono::steady_clock::now();
    for (auto& h : hosts) h.start(peers);

    const bool leader_elected = progress.wait(30s, [&] {
        for (const auto& h : hosts)
            if (h.leader()) return true;
        return false;
    });
    const bool all_applied = leader_elected && progress.wait(180s, [&] {
        for (const auto& h : hosts)
            if (h.applied_seq() < total_proposals) return false;
        return true;
    });
    const auto elapsed = std::chrono::steady_clock::now() - start;
    // The followers learn the last commit index with the next append or heartbeat.
    const bool converged = all_applied && progress.wait(30s, [&] {
        for (const auto& h : hosts)
            if (h.applied_index() != hosts[0].applied_index()) return false;
        return true;
    });

    for (auto& h : hosts) h.stop();
    const bool stopped = progress.wait(30s, [&] {
        for (const auto& h : hosts)
            if (!h.finished()) return false;
        return true;
    });
    if (!stopped)
        for (auto& h : hosts) h.force_stop();
    for (auto& h : hosts) h.join();

    REQUIRE(leader_elected);
    REQUIRE(all_applied);
    REQUIRE(converged);
    CHECK(stopped);  // every io_context ran out of work once its transport stopped

    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count();
    std::cout << "net_cluster_test: " << total_proposals << " proposals applied on 3 nodes in "
              << ms << " ms; committed entries " << hosts[0].committed().size() << '\n';
    for (auto& h : hosts) {
        for (node_id peer = 1; peer <= 3; ++peer) {
            auto s = h.transport().stats(peer);
            if (!s) continue;
            std::cout << "  to node " << peer << ": sent " << s->messages_sent << " ("
                      << s->bytes_sent << " B), received " << s->messages_received << " ("
                      << s->bytes_received << " B), dropped " << s->dropped_full + s->dropped_down
                      << ", reconnects " << s->reconnects << '\n';
        }
        std::cout << "  proposals refused by the node: " << h.proposals_dropped() << '\n';
        CHECK_FALSE(h.ready_failed());
    }

    // The same log everywhere, and in it every sequence number in order.
    const auto& log = hosts[0].committed();
    for (const auto& h : hosts) CHECK(h.committed() == log);
    std::size_t expected = 0;
    index_t last = 0;
    for (const auto& [index, data] : log) {
        REQUIRE(index > last);
        last = index;
        if (data == std::to_string(expected)) ++expected;
    }
    CHECK(expected == total_proposals);
}
