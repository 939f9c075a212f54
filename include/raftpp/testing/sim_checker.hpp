// raftpp::testing::invariant_checker — the ground truth the cluster harness (and through it the
// simulator) checks every node against, fed by the harness as nodes step, persist and apply.
// It knows nothing of raw_node: it records facts and reports the ones that contradict Raft's
// safety properties (Raft §5.2, §5.3, §5.4, Figure 3):
//   Election Safety     at most one leader per term;
//   Log Matching        two persisted logs holding an entry with the same index and term hold
//                       the same entries up to it (compared as prefix digests, see chain());
//   Leader Completeness a leader's log holds every entry committed before its term;
//   State Machine Safety no two nodes apply different entries at one index, and a state
//                       machine restored from a snapshot equals what was applied up to it;
//   committed entries are final: an index committed anywhere never holds another entry;
//   durable hard state  a node's persisted term and commit never go back, and it never
//                       votes for two candidates in one term.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <raftpp/logger.hpp>
#include <raftpp/raft.hpp>
#include <raftpp/testing/sim_state_machine.hpp>
#include <raftpp/types.hpp>

namespace raftpp::testing {

class invariant_checker {
public:
    // --- Election Safety ------------------------------------------------------------------

    // `id` is leader at `term`. Returns true the first time a leader is seen at that term.
    bool on_leader(term_t term, node_id id) {
        auto [it, fresh] = leaders_.try_emplace(term, id);
        if (!fresh && it->second != id)
            violation("election safety: two leaders at term ", term, ": ", it->second, " and ", id);
        return fresh;
    }
    const std::map<term_t, node_id>& leaders_by_term() const noexcept { return leaders_; }

    // --- committed entries ----------------------------------------------------------------

    // `id`, at term `now`, holds (index, term) at or below its commit index. Returns true when
    // this index was not known to be committed before. The entry was committed at a term no
    // later than `now` (a node learns a commit index from a leader of its own term); that
    // bound, not the entry's own term, is what Leader Completeness is checked against: an
    // entry of term 6 that a leader of term 11 commits need not be in the log of a leader of
    // term 9 (Raft §5.4.2, Figure 8).
    bool on_committed(node_id id, index_t index, term_t term, term_t now) {
        if (index >= committed_.size()) committed_.resize(index + 1);
        commit_record& known = committed_[index];
        if (known.term == 0) {
            known = {term, now};
            if (index > max_committed_) max_committed_ = index;
            return true;
        }
        if (known.term != term)
            violation("committed entry changed: node ", id, " committed term ", term,
                      " at index ", index, ", term ", known.term, " was committed there before");
        return false;
    }
    // The term of the entry committed at i, 0 if no node has reported it.
    term_t committed_term(index_t i) const noexcept {
        return i < committed_.size() ? committed_[i].term : 0;
    }
    // A term by which the entry at i was committed (0 if unknown): every leader of a later
    // term must hold it.
    term_t committed_by(index_t i) const noexcept {
        return i < committed_.size() ? committed_[i].by : 0;
    }
    // The highest index some node has reported committed.
    index_t max_committed() const noexcept { return max_committed_; }

    // Leader Completeness (Raft §5.4): `term_at(i)` is the term of a leader's entry at i. Every
    // entry committed before `leader_term`, from index `lo` on (entries before the leader's
    // snapshot point cannot be read), must be in the leader's log.
    template <class TermAt>
    void check_leader_log(node_id id, term_t leader_term, index_t lo, TermAt&& term_at) {
        for (index_t i = lo < 1 ? 1 : lo; i <= max_committed_; ++i) {
            const commit_record& c = committed_[i];
            if (c.term == 0 || c.by >= leader_term) continue;
            if (const term_t got = term_at(i); got != c.term) {
                violation("leader completeness: leader ", id, " of term ", leader_term,
                          " has term ", got, " at index ", i, " where term ", c.term,
                          " was committed by term ", c.by);
                return;
            }
        }
    }

    // Everything checked after an input to node `id` (a raft<>), whose commit index was
    // `commit_seen` after the previous one (updated here), whose state machine is at
    // `applied`, and whose persisted log ends at `persisted_last` (no_limit: not checked,
    // for async writes). `leaders(visit)` calls visit(id, raft) for every live leader.
    // Checks: commit never decreases within an incarnation; committed entries are final;
    // applied <= committed; a leader commits only what it persisted (sync writes: its appends
    // leave only after its own write; stronger than Raft requires); Election Safety; Leader
    // Completeness, when a leader is first seen and when an entry is newly known committed.
    template <class Raft, class Leaders>
    void observe(node_id id, const Raft& r, index_t& commit_seen, index_t applied,
                 index_t persisted_last, Leaders&& leaders) {
        const auto& log = r.log();
        const index_t commit = log.committed();
        if (commit < commit_seen) {
            violation("node ", id, " commit index went back from ", commit_seen, " to ", commit);
        } else if (commit > commit_seen) {
            for (index_t i = std::max(commit_seen + 1, log.first_index() - 1); i <= commit; ++i) {
                const term_t t = term_or_zero(log, i);
                if (t != 0 && on_committed(id, i, t, r.term()))
                    check_leaders(i, t, r.term(), leaders);
            }
            if (r.role() == role::leader && commit > persisted_last)
                violation("leader ", id, " committed ", commit, " past its persisted log");
        }
        commit_seen = commit;
        if (applied > commit)
            violation("node ", id, " applied ", applied, " past its commit ", commit);
        if (r.role() == role::leader && on_leader(r.term(), id))
            check_leader_log(id, r.term(), log.first_index() - 1,
                             [&](index_t i) { return term_or_zero(log, i); });
    }

    // --- State Machine Safety -------------------------------------------------------------

    // `id` applies e; e.index must follow what it applied before (the caller checks that).
    void on_apply(node_id id, const entry& e) {
        if (e.index <= history_.size()) {
            if (history_[e.index - 1] != e)
                violation("state machine safety: node ", id, " applied term ", e.term,
                          " at index ", e.index, ", another node applied term ",
                          history_[e.index - 1].term, " there");
        } else if (e.index == history_.size() + 1) {
            history_.push_back(e);
            digests_.push_back(chain(digests_.back(), e));
        } else {
            violation("node ", id, " applied index ", e.index, " but no node applied index ",
                      history_.size() + 1);
        }
    }

    // `id` restored a state machine at `index` with `digest` (from a snapshot).
    void on_restore(node_id id, index_t index, std::uint64_t digest) {
        if (index >= digests_.size())
            violation("node ", id, " restored a snapshot at ", index,
                      " past anything applied (", history_.size(), ")");
        else if (digests_[index] != digest)
            violation("state machine safety: node ", id, " restored a snapshot at ", index,
                      " whose state differs from what was applied up to it");
    }

    // Every entry applied so far by some node: history()[i - 1] is the entry at index i.
    const std::vector<entry>& history() const noexcept { return history_; }
    // digest(history()[0..i)), the state of a state machine that applied up to i.
    std::uint64_t history_digest(index_t i) const noexcept {
        return i < digests_.size() ? digests_[i] : 0;
    }

    // --- Log Matching ---------------------------------------------------------------------

    // `id` persisted the entry (index, term), `prefix` being the digest of its log up to it.
    void on_persisted_entry(node_id id, index_t index, term_t term, std::uint64_t prefix) {
        auto [it, fresh] = prefixes_.try_emplace(key{index, term}, prefix_record{prefix, id});
        if (!fresh && it->second.digest != prefix)
            violation("log matching: node ", id, " and node ", it->second.node,
                      " hold an entry at index ", index, " term ", term,
                      " with different logs before it");
    }

    // --- durable hard state ---------------------------------------------------------------

    void on_persisted_hard_state(node_id id, const hard_state& hs) {
        hard_state& prev = persisted_[id];
        if (hs.term < prev.term)
            violation("node ", id, " persisted term ", hs.term, " after term ", prev.term);
        else if (hs.term == prev.term && prev.vote != none && hs.vote != none &&
                 hs.vote != prev.vote)
            violation("node ", id, " voted twice at term ", hs.term, ": for ", prev.vote,
                      ", then for ", hs.vote);
        if (hs.commit < prev.commit)
            violation("node ", id, " persisted commit ", hs.commit, " after commit ", prev.commit);
        // The vote of a term is remembered even if a (broken) storage later drops it.
        const node_id vote = hs.term == prev.term && hs.vote == none ? prev.vote : hs.vote;
        prev = hs;
        prev.vote = vote;
    }

    // The durability contract, checked before msgs leave node id, whose storage holds hs and
    // entries up to last: a granted vote and an append ack are backed by storage, unless
    // storage has moved to a later term since (the response is then stale, not unfounded:
    // Raft §5.4 only needs it to have been true at its own term).
    void check_durable(node_id id, const hard_state& hs, index_t last,
                       const std::vector<message>& msgs) {
        for (const message& msg : msgs) {
            if (msg.reject || hs.term > msg.term) continue;
            const bool vote_ok = msg.type != message_type::vote_resp || hs.vote == msg.to;
            const bool ack_ok = msg.type != message_type::app_resp || last >= msg.index;
            if (!vote_ok || !ack_ok)
                violation("node ", id, " sends ", to_string(msg.type), " to ", msg.to,
                          " ahead of its storage");
        }
    }

    // --- violations -----------------------------------------------------------------------

    template <class... A>
    void violation(const A&... parts) {
        violations_.push_back(raftpp::detail::concat(parts...));
        if (on_violation_) on_violation_(violations_.back());
    }
    const std::vector<std::string>& violations() const noexcept { return violations_; }
    // Called with each violation as it is found (the simulator logs it with its step).
    void set_on_violation(std::function<void(const std::string&)> f) {
        on_violation_ = std::move(f);
    }

private:
    template <class Log>
    static term_t term_or_zero(const Log& log, index_t i) {
        auto t = log.term(i);
        return t ? *t : 0;
    }

    // (index, term) is newly known committed, by term `by`: every live leader of a later term
    // must hold it (Leader Completeness holds from the moment they were elected).
    template <class Leaders>
    void check_leaders(index_t index, term_t term, term_t by, Leaders& leaders) {
        leaders([&](node_id lid, const auto& l) {
            const auto& log = l.log();
            if (l.term() <= by || index + 1 < log.first_index()) return;
            if (const term_t got = term_or_zero(log, index); got != term)
                violation("leader completeness: leader ", lid, " of term ", l.term(), " has term ",
                          got, " at index ", index, " where term ", term, " was committed by term ",
                          by);
        });
    }

    struct key {
        index_t index;
        term_t term;
        friend bool operator==(const key&, const key&) = default;
    };
    struct key_hash {
        std::size_t operator()(const key& k) const noexcept {
            return static_cast<std::size_t>(
                detail::mix64(k.index * 0x9e3779b97f4a7c15ULL ^ k.term));
        }
    };
    struct prefix_record {
        std::uint64_t digest;
        node_id node;
    };

    std::map<term_t, node_id> leaders_;
    struct commit_record {
        term_t term = 0;  // of the entry committed at this index; 0: unknown
        term_t by = 0;    // committed by this term at the latest
    };
    std::vector<commit_record> committed_;
    index_t max_committed_ = 0;
    std::vector<entry> history_;
    std::vector<std::uint64_t> digests_{0};  // digests_[i]: digest of history_[0..i)
    std::unordered_map<key, prefix_record, key_hash> prefixes_;
    std::map<node_id, hard_state> persisted_;
    std::vector<std::string> violations_;
    std::function<void(const std::string&)> on_violation_;
};

}  // namespace raftpp::testing
