// raftpp::detail::changer — membership changes (etcd's confchange package): computes the
// configuration and progress set that result from a conf change, for the raft core to
// switch to (progress_tracker::apply_conf). Copy-on-write: the tracker is never touched, and
// an invalid change is refused with errc::invalid_config before it affects anything.
// Invariants of every configuration returned (check_invariants): voters and learners are
// disjoint; learners_next ⊆ outgoing voters; every member has a progress and its is_learner
// flag says which it is; outside a joint configuration learners_next is empty and auto_leave
// false. Raft thesis §4.3 (joint consensus) and §4.1 (single-server changes).
#pragma once

#include <algorithm>
#include <cstddef>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <raftpp/conf_change.hpp>
#include <raftpp/detail/progress_tracker.hpp>
#include <raftpp/error.hpp>
#include <raftpp/types.hpp>

namespace raftpp::detail {

// A configuration and the progress set that goes with it (etcd returns the pair
// (tracker.Config, tracker.ProgressMap)).
struct changed {
    tracker_config config;
    progress_map progress;
};

// The configuration as a conf_state, ids ascending (what progress_tracker::conf_state()
// returns for the tracker's own configuration).
inline conf_state to_conf_state(const tracker_config& cfg) {
    conf_state cs;
    cs.voters = cfg.voters.incoming.ids();
    cs.voters_outgoing = cfg.voters.outgoing.ids();
    cs.learners = cfg.learners.ids();
    cs.learners_next = cfg.learners_next.ids();
    cs.auto_leave = cfg.auto_leave;
    return cs;
}

inline std::string_view to_string(conf_change_type t) noexcept {
    switch (t) {
    case conf_change_type::add_node: return "add_node";
    case conf_change_type::remove_node: return "remove_node";
    case conf_change_type::update_node: return "update_node";
    case conf_change_type::add_learner_node: return "add_learner_node";
    }
    return "unknown";
}

// "add_node(1) remove_node(2)" (etcd's Describe), for logs.
inline std::string describe(std::span<const conf_change_single> ccs) {
    std::string s;
    for (const auto& cc : ccs) {
        if (!s.empty()) s += ' ';
        s += std::string(to_string(cc.type)) + "(" + std::to_string(cc.node) + ")";
    }
    return s;
}

// Whether the voters that cc leaves voting are a majority of `voters` (the configuration it
// applies to). Configurations take effect when applied: the voters that do not know yet that
// cc committed still count the voters it takes out, which may hold longer logs (refusing their
// votes) and no longer campaign themselves; unless the voters kept are a majority, the
// cluster can be left without a leader for good (docs/reliability.md, bug 2).
inline bool keeps_voter_majority(std::span<const node_id> voters, const conf_change_v2& cc) {
    std::size_t kept = 0;
    for (node_id v : voters) {
        bool out = false;
        for (const auto& ch : cc.changes)
            if (ch.node == v)
                out = ch.type == conf_change_type::remove_node ||
                      ch.type == conf_change_type::add_learner_node;
        kept += !out;
    }
    return kept > voters.size() / 2;
}

namespace confchange_impl {

// Why cfg/prs break the invariants in the header comment; empty if they hold. The empty
// configuration is allowed on purpose: bootstrap and tests build a first configuration from it.
inline std::string check_invariants(const tracker_config& cfg, const progress_map& prs) {
    std::string missing;
    auto tracked = [&](node_id id) {
        if (missing.empty() && !prs.contains(id)) missing = "no progress for " + std::to_string(id);
    };
    cfg.voters.visit(tracked);
    for (node_id id : cfg.learners) tracked(id);
    for (node_id id : cfg.learners_next) tracked(id);
    if (!missing.empty()) return missing;

    const auto& out = cfg.voters.outgoing;
    for (node_id id : cfg.learners_next) {
        const std::string n = std::to_string(id);
        if (!out.contains(id)) return n + " is in learners_next, but not in the outgoing voters";
        if (prs.find(id)->is_learner)
            return n + " is in learners_next, but is already marked as learner";
    }
    for (node_id id : cfg.learners) {
        const std::string n = std::to_string(id);
        if (out.contains(id)) return n + " is in learners and the outgoing voters";
        if (cfg.voters.incoming.contains(id)) return n + " is in learners and the incoming voters";
        if (!prs.find(id)->is_learner) return n + " is in learners, but is not marked as learner";
    }
    if (!cfg.voters.is_joint()) {
        if (!cfg.learners_next.empty()) return "learners_next must be empty when not joint";
        if (cfg.auto_leave) return "auto_leave must be false when not joint";
    }
    return {};
}

// |a \ b| + |b \ a|: how many voters a change added or removed.
inline std::size_t symdiff(const node_set& a, const node_set& b) {
    std::size_t n = 0;
    for (node_id id : a) n += !b.contains(id);
    for (node_id id : b) n += !a.contains(id);
    return n;
}

}  // namespace confchange_impl

// etcd's confchange.Changer: `changer{tracker, last_index}.simple(ccs)`. Only reads the
// tracker (its configuration, progress and inflight limits). New members start probing at
// max(last_index, 1) with match 0 and count as recently active, so check-quorum does not
// depose the leader before they had a chance to answer.
struct changer {
    const progress_tracker& tracker;
    index_t last_index = 0;
    // If set, a refused change writes its reason here (etcd's error text, e.g. "config is
    // already joint"); left untouched on success.
    std::string* reason = nullptr;

    // Enters a joint configuration C_{old,new} (Raft thesis §4.3): the incoming voters are
    // copied into the outgoing half, then ccs are applied to the incoming half. auto_leave is
    // passed through to the configuration.
    result<changed> enter_joint(bool auto_leave, std::span<const conf_change_single> ccs) const {
        auto c = check_and_copy();
        if (!c) return c;
        if (c->config.voters.is_joint()) return fail("config is already joint");
        if (c->config.voters.incoming.empty()) {
            // An empty configuration may grow by simple changes (bootstrap), but not joint.
            return fail("can't make a zero-voter config joint");
        }
        c->config.voters.outgoing = c->config.voters.incoming;
        if (auto r = apply(*c, ccs); !r) return r.error();
        c->config.auto_leave = auto_leave;
        return check_and_return(std::move(*c));
    }

    // Leaves the joint configuration C_{old,new} for C_new: the outgoing voters are dropped
    // (with their progress, unless they stay as voters or learners) and learners_next become
    // learners, keeping their progress.
    result<changed> leave_joint() const {
        auto c = check_and_copy();
        if (!c) return c;
        tracker_config& cfg = c->config;
        if (!cfg.voters.is_joint()) return fail("can't leave a non-joint config");
        for (node_id id : cfg.learners_next) {
            cfg.learners.insert(id);
            c->progress.find(id)->is_learner = true;  // tracked: checked by check_and_copy
        }
        cfg.learners_next.clear();
        for (node_id id : cfg.voters.outgoing) {
            if (!cfg.voters.incoming.contains(id) && !cfg.learners.contains(id))
                c->progress.erase(id);
        }
        cfg.voters.outgoing.clear();
        cfg.auto_leave = false;
        return check_and_return(std::move(*c));
    }

    // Applies ccs, which together may add or remove at most one voter (Raft thesis §4.1),
    // to a non-joint configuration.
    result<changed> simple(std::span<const conf_change_single> ccs) const {
        auto c = check_and_copy();
        if (!c) return c;
        if (c->config.voters.is_joint())
            return fail("can't apply simple config change in joint config");
        if (auto r = apply(*c, ccs); !r) return r.error();
        if (confchange_impl::symdiff(tracker.voters().incoming, c->config.voters.incoming) > 1)
            return fail("more than one voter changed without entering joint config");
        return check_and_return(std::move(*c));
    }

private:
    // Records why (if asked to) and returns invalid_config, for any result<T>.
    errc fail(std::string why) const {
        if (reason != nullptr) *reason = std::move(why);
        return errc::invalid_config;
    }

    result<changed> check_and_return(changed c) const {
        if (std::string why = confchange_impl::check_invariants(c.config, c.progress); !why.empty())
            return fail(std::move(why));
        return c;
    }

    // A copy of the tracker's configuration and progress, refused if already inconsistent.
    result<changed> check_and_copy() const {
        return check_and_return(changed{tracker.config(), tracker.progresses()});
    }

    // Changes to voters always go to the incoming half; the outgoing half is empty, or keeps
    // the outgoing configuration while joint.
    result<void> apply(changed& c, std::span<const conf_change_single> ccs) const {
        for (const auto& cc : ccs) {
            // etcd zeroes the node id of a change the application decided not to apply.
            if (cc.node == none) continue;
            switch (cc.type) {
            case conf_change_type::add_node: make_voter(c, cc.node); break;
            case conf_change_type::add_learner_node: make_learner(c, cc.node); break;
            case conf_change_type::remove_node: remove(c, cc.node); break;
            case conf_change_type::update_node: break;
            default:
                return fail("unexpected conf type " +
                            std::to_string(static_cast<unsigned>(cc.type)));
            }
        }
        if (c.config.voters.incoming.empty()) return fail("removed all voters");
        return {};
    }

    // Adds id as a voter of the incoming configuration, or promotes it.
    void make_voter(changed& c, node_id id) const {
        progress* pr = c.progress.find(id);
        if (pr == nullptr) return init_progress(c, id, false);
        pr->is_learner = false;
        c.config.learners.erase(id);
        c.config.learners_next.erase(id);
        c.config.voters.incoming.insert(id);
    }

    // Adds id as a learner, or demotes a voter. A voter of the outgoing configuration cannot
    // be a learner while joint (voters and learners stay disjoint), so its demotion is staged
    // in learners_next and carried out by leave_joint. The progress is kept either way.
    void make_learner(changed& c, node_id id) const {
        const progress* pr = c.progress.find(id);
        if (pr == nullptr) return init_progress(c, id, true);
        if (pr->is_learner) return;
        remove(c, id, /*keep_progress=*/true);
        if (c.config.voters.outgoing.contains(id)) {
            c.config.learners_next.insert(id);
        } else {
            c.progress.find(id)->is_learner = true;
            c.config.learners.insert(id);
        }
    }

    // Removes id as a voter or learner of the incoming configuration. Its progress goes too,
    // unless it is still an outgoing voter (or the caller keeps it).
    void remove(changed& c, node_id id, bool keep_progress = false) const {
        if (!c.progress.contains(id)) return;
        c.config.voters.incoming.erase(id);
        c.config.learners.erase(id);
        c.config.learners_next.erase(id);
        if (!keep_progress && !c.config.voters.outgoing.contains(id)) c.progress.erase(id);
    }

    void init_progress(changed& c, node_id id, bool is_learner) const {
        if (is_learner) c.config.learners.insert(id);
        else c.config.voters.incoming.insert(id);
        // Probing from the last index is optimistic (the follower likely needs a snapshot),
        // but a rejection walks next back. max(..., 1) keeps match < next.
        progress pr = tracker.make_progress(std::max<index_t>(last_index, 1), is_learner);
        pr.recent_active = true;
        c.progress.insert_or_assign(id, std::move(pr));
    }
};

// etcd's confchange.Restore: the configuration a conf_state describes (from a snapshot),
// built from an empty one with the changes that would have produced it: the outgoing voters
// added one by one, then (if joint) enter_joint with the incoming voters and learners.
// Only the tracker's inflight limits are used; its configuration is ignored. Unlike etcd,
// which panics later, a conf_state that does not come out as given (duplicates, id 0, a
// learner that is also a voter, auto_leave outside a joint configuration) is invalid_config.
inline result<changed> restore(const progress_tracker& tracker, index_t last_index,
                               const conf_state& cs, std::string* reason = nullptr) {
    // Example: voters=(1 2 3) learners=(5) outgoing=(1 2 4 6) learners_next=(4) becomes
    //   out = add 1, add 2, add 4, add 6                               -> (1 2 4 6)
    //   in  = remove 1 2 4 6, add 1 2 3, add_learner 5, add_learner 4  -> (1 2 3)&&(1 2 4 6)
    std::vector<conf_change_single> out, in;
    for (node_id id : cs.voters_outgoing) out.push_back({conf_change_type::add_node, id});
    for (node_id id : cs.voters_outgoing) in.push_back({conf_change_type::remove_node, id});
    for (node_id id : cs.voters) in.push_back({conf_change_type::add_node, id});
    for (node_id id : cs.learners) in.push_back({conf_change_type::add_learner_node, id});
    for (node_id id : cs.learners_next) in.push_back({conf_change_type::add_learner_node, id});

    progress_tracker t(tracker.max_inflight(), tracker.max_inflight_bytes());
    auto step = [&](result<changed> r) {
        if (r) t.apply_conf(std::move(r->config), std::move(r->progress));
        return r.has_value();
    };
    const changer chg{t, last_index, reason};
    if (out.empty()) {
        for (const auto& cc : in)
            if (!step(chg.simple({&cc, 1}))) return errc::invalid_config;
    } else {
        for (const auto& cc : out)
            if (!step(chg.simple({&cc, 1}))) return errc::invalid_config;
        if (!step(chg.enter_joint(cs.auto_leave, in))) return errc::invalid_config;
    }

    auto sorted = [](std::vector<node_id> v) {
        std::sort(v.begin(), v.end());
        return v;
    };
    const conf_state want{sorted(cs.voters), sorted(cs.learners), sorted(cs.voters_outgoing),
                          sorted(cs.learners_next), cs.auto_leave};
    if (t.conf_state() != want) {
        if (reason != nullptr) *reason = "conf_state is not a valid configuration";
        return errc::invalid_config;
    }
    return changed{std::move(t.config()), std::move(t.progresses())};
}

// --- whole-tracker conveniences for the raft core ------------------------------------------

// etcd's raft.applyConfChange minus the switch: a copy of tracker (limits and votes kept)
// carrying the configuration cc leads to: leave_joint for an empty automatic change,
// enter_joint if cc asks for a joint configuration, simple otherwise.
inline result<progress_tracker> apply_conf_change(const progress_tracker& tracker,
                                                  index_t last_index, const conf_change_v2& cc,
                                                  std::string* reason = nullptr) {
    const changer chg{tracker, last_index, reason};
    bool auto_leave = false;
    result<changed> r = cc.leave_joint()               ? chg.leave_joint()
                        : cc.enter_joint(&auto_leave) ? chg.enter_joint(auto_leave, cc.changes)
                                                      : chg.simple(cc.changes);
    if (!r) return r.error();
    progress_tracker next = tracker;
    next.apply_conf(std::move(r->config), std::move(r->progress));
    return next;
}

// restore() as a copy of tracker (limits and votes kept) carrying the restored configuration.
inline result<progress_tracker> restore_config(const progress_tracker& tracker,
                                               index_t last_index, const conf_state& cs,
                                               std::string* reason = nullptr) {
    auto r = restore(tracker, last_index, cs, reason);
    if (!r) return r.error();
    progress_tracker next = tracker;
    next.apply_conf(std::move(r->config), std::move(r->progress));
    return next;
}

}  // namespace raftpp::detail
