// Pending linearizable reads on the leader (etcd's readOnly), grouped into heartbeat rounds
// (Raft thesis §6.4). A round is keyed by the context of its first request; the heartbeats of
// the round carry that key, and a quorum of acks for it confirms the round and every round
// before it: their heartbeats went out no later. Each request is answered with its round's
// read index, the commit index when the round's heartbeats were queued or when the last
// request joined them, whichever is later.
//
// Without batching (a bare raft, as in etcd) every request is a round of its own. With it (the
// ready cycle seals rounds, raw_node does), a request joins the newest round while that
// round's heartbeats have not left the node, or waits in the next round while one is in
// flight: at most one round is queued at a time, so concurrent reads cost one round trip per
// round instead of one each. Storage is reused: no allocation per request in steady state.
#pragma once

#include <algorithm>
#include <cstddef>
#include <utility>
#include <vector>

#include <raftpp/types.hpp>

namespace raftpp::detail {

// One read request: who asked (none or the leader itself for a local read) and the contexts it
// carries, one per entry (a follower forwards the reads of a ready cycle in one message).
struct read_request {
    node_id from = none;
    std::vector<entry> ctxs;
};

struct read_round {
    buffer key;         // the context of its first request; its heartbeats carry it
    index_t index = 0;  // the read index its requests are answered with
    std::vector<node_id> acks;
    std::size_t end = 0;    // requests before this position belong to it or an earlier round
    bool launched = false;  // its heartbeats are queued or sent
    bool sealed = false;    // its heartbeats left in a ready cycle: nothing may join it
};

class read_only {
public:
    // Context of a request: the data of its first entry.
    static const buffer& context_of(const message& m) { return m.entries.front().data; }

    bool empty() const noexcept { return rounds_.empty(); }
    // Contexts waiting for an answer (a request may carry several).
    std::size_t pending_count() const noexcept { return pending_; }
    std::size_t round_count() const noexcept { return rounds_.size(); }

    // A pending round keyed by this context: a request repeating it is dropped (etcd).
    bool has_round(const buffer& key) const {
        return std::any_of(rounds_.begin(), rounds_.end(),
                           [&](const read_round& r) { return r.key == key; });
    }

    // The newest round, or nullptr.
    read_round* newest() noexcept { return rounds_.empty() ? nullptr : &rounds_.back(); }

    // Starts a round with this request (its entries are taken); the caller launches it.
    read_round& add_round(message& m, index_t index) {
        read_round r;
        r.key = context_of(m);
        r.index = index;
        if (!spare_acks_.empty()) {
            r.acks = std::move(spare_acks_.back());
            spare_acks_.pop_back();
        }
        push_request(m);
        r.end = requests_.size();
        rounds_.push_back(std::move(r));
        return rounds_.back();
    }

    // Adds this request to the newest round (there must be one). A request from the same node
    // as the round's last one is merged into it: its contexts are moved over and the message
    // keeps its vector, which the caller recycles.
    void join_newest(message& m) {
        read_round& r = rounds_.back();
        if (r.end == requests_.size() && r.end > head_ && requests_.back().from == m.from) {
            auto& ctxs = requests_.back().ctxs;
            pending_ += m.entries.size();
            for (auto& e : m.entries) ctxs.push_back(std::move(e));
            m.entries.clear();
            return;
        }
        push_request(m);
        r.end = requests_.size();
    }

    // Records an ack for the round keyed ctx; returns that round's acks, or nullptr.
    const std::vector<node_id>* recv_ack(node_id id, const buffer& ctx) {
        read_round* r = find(ctx);
        if (r == nullptr) return nullptr;
        if (std::find(r->acks.begin(), r->acks.end(), id) == r->acks.end()) r->acks.push_back(id);
        return &r->acks;
    }

    // Answers every request of the round keyed ctx and of the rounds before it, in order:
    // answer(read_request&, index_t read_index). The requests are gone afterwards.
    template <class F>
    void advance(const buffer& ctx, F&& answer) {
        auto it = std::find_if(rounds_.begin(), rounds_.end(),
                               [&](const read_round& r) { return r.key == ctx; });
        if (it == rounds_.end()) return;
        const auto done = static_cast<std::size_t>(it - rounds_.begin()) + 1;
        for (std::size_t k = 0; k < done; ++k) {
            read_round& r = rounds_[k];
            for (; head_ < r.end; ++head_) {
                pending_ -= requests_[head_].ctxs.size();
                answer(requests_[head_], r.index);
            }
            r.acks.clear();
            spare_acks_.push_back(std::move(r.acks));
        }
        rounds_.erase(rounds_.begin(), rounds_.begin() + static_cast<std::ptrdiff_t>(done));
        compact();
    }

    // The key of the newest launched round (periodic heartbeats carry it, so a lost ack is
    // made up for), or an empty buffer.
    buffer last_launched_key() const {
        for (auto it = rounds_.rbegin(); it != rounds_.rend(); ++it)
            if (it->launched) return it->key;
        return {};
    }
    bool any_launched() const noexcept { return !rounds_.empty() && rounds_.front().launched; }

    // The ready cycle took the queued heartbeats: no request may join a launched round now.
    void seal() noexcept {
        for (auto& r : rounds_)
            if (r.launched) r.sealed = true;
    }

    void clear() noexcept {
        for (auto& r : rounds_) {
            r.acks.clear();
            spare_acks_.push_back(std::move(r.acks));
        }
        rounds_.clear();
        requests_.clear();
        head_ = 0;
        pending_ = 0;
    }

private:
    void push_request(message& m) {
        pending_ += m.entries.size();
        requests_.push_back({m.from, std::move(m.entries)});
    }

    read_round* find(const buffer& ctx) {
        for (auto& r : rounds_)
            if (r.key == ctx) return &r;
        return nullptr;
    }

    // Drops answered requests from the front once they are most of the vector.
    void compact() {
        if (head_ == requests_.size()) {
            requests_.clear();
            head_ = 0;
            return;
        }
        if (head_ < 64 || head_ * 2 < requests_.size()) return;
        requests_.erase(requests_.begin(), requests_.begin() + static_cast<std::ptrdiff_t>(head_));
        for (auto& r : rounds_) r.end -= head_;
        head_ = 0;
    }

    std::vector<read_request> requests_;
    std::size_t head_ = 0;  // requests_[0, head_) are answered
    std::size_t pending_ = 0;
    std::vector<read_round> rounds_;
    std::vector<std::vector<node_id>> spare_acks_;
};

}  // namespace raftpp::detail
