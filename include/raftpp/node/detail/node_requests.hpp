// The requests a raftpp::node is waiting on (proposals, conf changes, reads, transfers) and
// how each completes: on its handler's executor, never inline, exactly once — applied,
// refused, overwritten, timed out or cut short by stop().
//
// A request that succeeded is held until the cycle that applied it has published the node's
// status (flush_applied): whoever sees the completion then sees status().applied at least
// that far, as with reads.
//
// Proposals are numbered in the order they enter the log, so the pending ones sit in a deque
// indexed by number and their deadlines are in order too: expiry looks at the front only.
// A proposal the leader appended to its own log also remembers its index, so a different
// entry applied there (a new leader overwrote it) fails it at once instead of at its deadline.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <system_error>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/append.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/post.hpp>
#include <boost/system/error_code.hpp>

#include <raftpp/buffer.hpp>
#include <raftpp/cluster_members.hpp>
#include <raftpp/error.hpp>
#include <raftpp/raft.hpp>
#include <raftpp/types.hpp>

namespace raftpp {

enum class member_change_type : std::uint8_t { add_voter, add_learner, promote, remove };

// A membership change for node::async_propose_conf_change. add_voter and add_learner need
// the new member whole (an id not in the cluster and at least one peer URL; see
// derive_member_id); promote and remove need only m.id.
struct member_change {
    member_change_type type = member_change_type::add_voter;
    member m;
};

namespace detail {

// An applied entry's request number, when this node proposed it.
struct own_request {
    bool mine = false;
    std::uint64_t seq = 0;
};

template <class R>
struct propose_signature {
    using type = void(boost::system::error_code, R);
};
template <>
struct propose_signature<void> {
    using type = void(boost::system::error_code);
};

template <class R>
class node_requests {
public:
    using propose_handler =
        boost::asio::any_completion_handler<typename propose_signature<R>::type>;
    using read_handler = boost::asio::any_completion_handler<void(boost::system::error_code, index_t)>;
    using members_handler =
        boost::asio::any_completion_handler<void(boost::system::error_code, cluster_members)>;
    using done_handler = boost::asio::any_completion_handler<void(boost::system::error_code)>;
    using stop_handler = boost::asio::any_completion_handler<void()>;
    using clock = std::chrono::steady_clock;

    struct proposal_request {
        buffer data;
        propose_handler handler;
    };
    struct request_counters {
        std::uint64_t proposals_applied = 0;
        std::uint64_t proposals_failed = 0;
        std::uint64_t reads_completed = 0;
    };

protected:
    node_requests(const boost::asio::any_io_executor& ex, node_id self) : ex_(ex), self_(self) {}

    const boost::asio::any_io_executor& executor() const noexcept { return ex_; }
    const request_counters& counters() const noexcept { return counters_; }

    template <class Sig, class... Args>
    void complete(boost::asio::any_completion_handler<Sig>&& h, Args&&... args) {
        if (!h) return;
        // Posted through the node's executor, then dispatched by Asio to the handler's own
        // associated executor (a coroutine's, a strand) when it has one.
        boost::asio::post(ex_, boost::asio::append(std::move(h), std::forward<Args>(args)...));
    }

    void complete_proposal_error(propose_handler&& h, std::error_code ec) {
        ++counters_.proposals_failed;
        if constexpr (std::is_void_v<R>) complete(std::move(h), ec);
        else complete(std::move(h), ec, R{});
    }

    // Proposals in the log awaiting their entry, and those waiting for a leader.
    std::size_t live_proposals() const noexcept { return live_ + leaderless_.size(); }

    // A proposal made while no leader is known waits here until one is (node_impl proposes
    // it then) or its deadline passes: then no_leader, for it never entered the log.
    void wait_for_leader(proposal_request&& p, clock::time_point deadline) {
        leaderless_.push_back({std::move(p), deadline});
    }
    // A membership change likewise (etcd's ProposeConfChange blocks as Propose does); it is
    // checked against the member table again when a leader is known.
    void wait_for_leader(member_change&& ch, members_handler&& h, clock::time_point deadline) {
        leaderless_conf_.push_back({std::move(ch), std::move(h), deadline});
    }
    bool waiting_for_leader() const noexcept {
        return !leaderless_.empty() || !leaderless_conf_.empty();
    }
    template <class Propose, class ProposeConf>
    void drain_leaderless(Propose&& propose, ProposeConf&& propose_conf) {
        // Both taken first: a proposal made meanwhile must not see these still waiting.
        auto waiting = std::exchange(leaderless_, {});
        auto conf = std::exchange(leaderless_conf_, {});
        for (auto& w : waiting) propose(std::move(w.p), w.deadline);
        for (auto& w : conf) propose_conf(std::move(w.ch), std::move(w.h), w.deadline);
    }

    // seq is the number after the last one added (numbers are taken only by proposals that
    // entered the log).
    void add_proposal(std::uint64_t seq, propose_handler h, clock::time_point deadline,
                      index_t at) {
        if (proposals_.empty()) base_seq_ = seq;
        proposals_.push_back({std::move(h), deadline});
        ++live_;
        if (at != 0) by_index_[at] = {false, seq};
    }

    // The entry at index i was applied; `mine` names it when this node proposed it, and
    // r what the state machine returned.
    template <class... Result>
    void on_applied(index_t i, own_request mine, Result&&... r) {
        if (!by_index_.empty()) check_overwritten(i, false, mine);
        if (!mine.mine) return;
        if (auto* p = find_proposal(mine.seq); p && p->h) {
            ++counters_.proposals_applied;
            --live_;
            if constexpr (std::is_void_v<R>)
                applied_.push_back({std::move(p->h), {}});
            else if constexpr (sizeof...(Result) == 0)
                applied_.push_back({std::move(p->h), R{}});
            else
                applied_.push_back({std::move(p->h), R(std::forward<Result>(r)...)});
            pop_done();
        }
    }

    void add_conf_op(std::uint64_t seq, members_handler h, clock::time_point deadline,
                     index_t at) {
        conf_ops_.push_back({seq, std::move(h), deadline});
        if (at != 0) by_index_[at] = {true, seq};
    }

    void on_conf_applied(index_t i, own_request mine, std::error_code ec,
                         const cluster_members& members) {
        if (!by_index_.empty()) check_overwritten(i, true, mine);
        if (!mine.mine) return;
        for (auto it = conf_ops_.begin(); it != conf_ops_.end(); ++it) {
            if (it->seq != mine.seq) continue;
            if (ec) complete(std::move(it->h), ec, members);
            else applied_conf_.push_back({std::move(it->h), members});
            conf_ops_.erase(it);
            return;
        }
    }

    // One ReadIndex for every read that arrived together.
    template <class Raw>
    void add_read_batch(std::vector<read_handler>&& hs, Raw& raw, clock::time_point deadline,
                        clock::time_point retry_at) {
        read_batch b{next_read_ctx_++, 0, deadline, retry_at, std::move(hs)};
        raw.read_index(read_ctx(b.ctx));
        reads_.push_back(std::move(b));
    }

    void on_read_state(const read_state& rs) {
        if (rs.request_ctx.size() != 16) return;
        std::uint64_t owner = 0, ctx = 0;
        for (int i = 0; i < 8; ++i) {
            owner |= std::uint64_t(std::to_integer<std::uint8_t>(rs.request_ctx.data()[i])) << (8 * i);
            ctx |= std::uint64_t(std::to_integer<std::uint8_t>(rs.request_ctx.data()[8 + i])) << (8 * i);
        }
        if (owner != self_) return;
        for (auto& b : reads_)
            if (b.ctx == ctx && b.index == 0) b.index = rs.index;
    }

    void complete_reads(index_t applied) {
        for (auto it = reads_.begin(); it != reads_.end();) {
            if (it->index == 0 || it->index > applied) {
                ++it;
                continue;
            }
            for (auto& h : it->handlers) {
                ++counters_.reads_completed;
                complete(std::move(h), std::error_code{}, it->index);
            }
            it = reads_.erase(it);
        }
    }

    // A ReadIndex without an answer (no leader yet, a message lost) is asked again.
    template <class Raw>
    void retry_reads(Raw& raw, clock::time_point now, clock::duration retry) {
        for (auto& b : reads_) {
            if (b.index != 0 || now < b.next_retry) continue;
            raw.read_index(read_ctx(b.ctx));
            b.next_retry = now + retry;
        }
    }

    void add_transfer(node_id target, done_handler h, clock::time_point deadline) {
        transfers_.push_back({target, std::move(h), deadline});
    }

    void on_leader(node_id lead) {
        for (auto it = transfers_.begin(); it != transfers_.end();) {
            if (it->target != lead) {
                ++it;
                continue;
            }
            complete(std::move(it->h), std::error_code{});
            it = transfers_.erase(it);
        }
    }

    void expire(clock::time_point now) {
        while (!leaderless_.empty() && leaderless_.front().deadline <= now) {
            complete_proposal_error(std::move(leaderless_.front().p.handler), errc::no_leader);
            leaderless_.pop_front();
        }
        while (!leaderless_conf_.empty() && leaderless_conf_.front().deadline <= now) {
            complete(std::move(leaderless_conf_.front().h), make_error_code(errc::no_leader),
                     cluster_members{});
            leaderless_conf_.pop_front();
        }
        const auto timed_out = make_error_code(errc::timed_out);
        while (!proposals_.empty() && (!proposals_.front().h || proposals_.front().deadline <= now)) {
            if (proposals_.front().h) {
                --live_;
                complete_proposal_error(std::move(proposals_.front().h), timed_out);
            }
            proposals_.pop_front();
            ++base_seq_;
        }
        std::erase_if(conf_ops_, [&](conf_op& op) {
            if (op.deadline > now) return false;
            complete(std::move(op.h), timed_out, cluster_members{});
            return true;
        });
        std::erase_if(reads_, [&](read_batch& b) {
            if (b.deadline > now) return false;
            for (auto& h : b.handlers) complete(std::move(h), timed_out, index_t{0});
            return true;
        });
        std::erase_if(transfers_, [&](transfer_op& t) {
            if (t.deadline > now) return false;
            complete(std::move(t.h), make_error_code(errc::leader_transfer_failed));
            return true;
        });
    }

    // A snapshot replaced the log up to i: whether the entries remembered there were ours is
    // no longer known, so those proposals wait for their deadline.
    void forget_below(index_t i) {
        std::erase_if(by_index_, [i](const auto& kv) { return kv.first <= i; });
    }

    bool has_applied() const noexcept { return !applied_.empty() || !applied_conf_.empty(); }

    // The successes of the cycles just run go out (see the top of this file).
    void flush_applied() {
        for (auto& a : applied_) {
            if constexpr (std::is_void_v<R>) complete(std::move(a.h), std::error_code{});
            else complete(std::move(a.h), std::error_code{}, std::move(a.r));
        }
        applied_.clear();
        for (auto& a : applied_conf_) complete(std::move(a.h), std::error_code{}, std::move(a.members));
        applied_conf_.clear();
    }

    void fail_all(std::error_code ec) {
        // What was applied succeeded, even when the node stops right after.
        flush_applied();
        for (auto& p : proposals_)
            if (p.h) complete_proposal_error(std::move(p.h), ec);
        proposals_.clear();
        for (auto& w : leaderless_) complete_proposal_error(std::move(w.p.handler), ec);
        leaderless_.clear();
        for (auto& w : leaderless_conf_) complete(std::move(w.h), ec, cluster_members{});
        leaderless_conf_.clear();
        live_ = 0;
        by_index_.clear();
        for (auto& op : conf_ops_) complete(std::move(op.h), ec, cluster_members{});
        conf_ops_.clear();
        for (auto& b : reads_)
            for (auto& h : b.handlers) complete(std::move(h), ec, index_t{0});
        reads_.clear();
        for (auto& t : transfers_) complete(std::move(t.h), ec);
        transfers_.clear();
    }

    std::uint64_t next_seq_ = 1;
    std::uint64_t next_conf_seq_ = 1;

private:
    struct pending_proposal {
        propose_handler h;
        clock::time_point deadline;
    };
    struct leaderless_proposal {
        proposal_request p;
        clock::time_point deadline;  // in order, as they came
    };
    struct leaderless_conf_change {
        member_change ch;
        members_handler h;
        clock::time_point deadline;
    };
    struct applied_proposal {
        propose_handler h;
        [[no_unique_address]] std::conditional_t<std::is_void_v<R>, std::monostate, R> r;
    };
    struct applied_conf_op {
        members_handler h;
        cluster_members members;
    };
    struct index_record {
        bool conf = false;
        std::uint64_t seq = 0;
    };
    struct conf_op {
        std::uint64_t seq;
        members_handler h;
        clock::time_point deadline;
    };
    struct read_batch {
        std::uint64_t ctx = 0;
        index_t index = 0;  // 0 until the read state arrives
        clock::time_point deadline;
        clock::time_point next_retry;
        std::vector<read_handler> handlers;
    };
    struct transfer_op {
        node_id target;
        done_handler h;
        clock::time_point deadline;
    };

    // The leader tells reads apart by context, and every member's reads reach it: the
    // context names the member as well as the read.
    buffer read_ctx(std::uint64_t ctx) const {
        std::byte b[16];
        for (int i = 0; i < 8; ++i) {
            b[i] = static_cast<std::byte>(self_ >> (8 * i));
            b[8 + i] = static_cast<std::byte>(ctx >> (8 * i));
        }
        return buffer(b, sizeof b);
    }

    pending_proposal* find_proposal(std::uint64_t seq) {
        if (seq < base_seq_ || seq - base_seq_ >= proposals_.size()) return nullptr;
        return &proposals_[static_cast<std::size_t>(seq - base_seq_)];
    }
    void pop_done() {
        while (!proposals_.empty() && !proposals_.front().h) {
            proposals_.pop_front();
            ++base_seq_;
        }
    }

    // The entry applied at i is not the request this node appended there: fail that request.
    void check_overwritten(index_t i, bool conf, own_request mine) {
        auto it = by_index_.find(i);
        if (it == by_index_.end()) return;
        const index_record rec = it->second;
        by_index_.erase(it);
        if (rec.conf == conf && mine.mine && mine.seq == rec.seq) return;
        const auto dropped = make_error_code(errc::proposal_dropped);
        if (!rec.conf) {
            if (auto* p = find_proposal(rec.seq); p && p->h) {
                --live_;
                complete_proposal_error(std::move(p->h), dropped);
                pop_done();
            }
            return;
        }
        for (auto c = conf_ops_.begin(); c != conf_ops_.end(); ++c) {
            if (c->seq != rec.seq) continue;
            complete(std::move(c->h), dropped, cluster_members{});
            conf_ops_.erase(c);
            return;
        }
    }

    boost::asio::any_io_executor ex_;
    node_id self_;
    request_counters counters_;
    std::deque<pending_proposal> proposals_;
    std::deque<leaderless_proposal> leaderless_;
    std::deque<leaderless_conf_change> leaderless_conf_;
    std::uint64_t base_seq_ = 0;
    std::size_t live_ = 0;
    std::unordered_map<index_t, index_record> by_index_;
    std::vector<conf_op> conf_ops_;
    std::deque<read_batch> reads_;
    std::uint64_t next_read_ctx_ = 1;
    std::vector<transfer_op> transfers_;
    std::vector<applied_proposal> applied_;  // capacity kept from cycle to cycle
    std::vector<applied_conf_op> applied_conf_;
};

}  // namespace detail
}  // namespace raftpp
