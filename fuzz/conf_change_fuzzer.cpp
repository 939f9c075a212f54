// libFuzzer target: every byte decoder raftpp has and what consumes their output. The whole
// input is the encoded bytes, handed to each decoder (their tags tell them apart), so the seed
// corpus is simply encodings (fuzz/make_corpus.cpp).
//   conf_change.hpp: decode_conf_change, decode_conf_change_v2, decode_conf_change_entry;
//     a decoded change goes on to the membership changer and, read as a conf_state, to
//     restore_config (what a snapshot's configuration goes through).
//   testing/kv.hpp: decode_kv_command (the test KV's log entries);
//   testing/sim_state_machine.hpp: state_machine::decode (the simulator's snapshot data).
// Checked: decoding never crashes; it fails cleanly or yields a value that encodes back to
// the input (conf changes, snapshots: fixed-width, so canonical) or at least decodes back to
// itself (kv: varints); a decoded change applied to a few typical configurations is refused
// or keeps the tracker's invariants; restore_config refuses a conf_state or restores it
// exactly, never asserts.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <raftpp/conf_change.hpp>
#include <raftpp/detail/confchange.hpp>
#include <raftpp/detail/progress_tracker.hpp>
#include <raftpp/logger.hpp>
#include <raftpp/testing/kv.hpp>
#if __has_include(<raftpp/testing/sim_state_machine.hpp>)
#include <raftpp/testing/sim_state_machine.hpp>
#define RAFTPP_FUZZ_HAS_SIM_STATE_MACHINE 1
#endif

namespace raftpp::fuzz {
namespace {

template <class... A>
[[noreturn]] void fail(const A&... parts) {
    std::fprintf(stderr, "raftpp-fuzz: invariant violated: %s\n", detail::concat(parts...).c_str());
    std::fflush(stderr);
    std::abort();
}

// Progress for exactly the members, each flagged learner exactly when it is one.
void check_tracker(const detail::progress_tracker& t, const char* what) {
    const auto& cfg = t.config();
    if (auto why = detail::confchange_impl::check_invariants(cfg, t.progresses()); !why.empty())
        fail(what, ": ", why, " in ", cfg.to_string());
    for (const auto& [id, pr] : t.progresses()) {
        const bool voter = cfg.voters.incoming.contains(id) || cfg.voters.outgoing.contains(id);
        const bool learner = cfg.learners.contains(id) || cfg.learners_next.contains(id);
        if (!voter && !learner)
            fail(what, ": progress for non-member ", id, " in ", cfg.to_string());
        if (id == none) fail(what, ": node 0 became a member in ", cfg.to_string());
    }
    if (cfg.voters.incoming.empty() && !t.progresses().empty())
        fail(what, ": members without incoming voters in ", cfg.to_string());
}

detail::progress_tracker from_changes(std::initializer_list<conf_change_v2> ccs) {
    detail::progress_tracker t(4);
    for (const auto& cc : ccs) {
        auto next = detail::apply_conf_change(t, 10, cc);
        if (!next) fail("starting configuration refused");
        t = std::move(*next);
    }
    return t;
}

conf_change_v2 simple(std::initializer_list<conf_change_single> cs) {
    conf_change_v2 cc;
    cc.changes = cs;
    return cc;
}

// Typical configurations a change may meet: plain, with a learner, joint, single voter.
const std::vector<detail::progress_tracker>& starting_configs() {
    using T = conf_change_type;
    static const std::vector<detail::progress_tracker> configs = [] {
        std::vector<detail::progress_tracker> v;
        v.push_back(from_changes(
            {simple({{T::add_node, 1}}), simple({{T::add_node, 2}}), simple({{T::add_node, 3}})}));
        v.push_back(from_changes({simple({{T::add_node, 1}}), simple({{T::add_node, 2}}),
                                  simple({{T::add_node, 3}}), simple({{T::add_learner_node, 4}})}));
        conf_change_v2 joint{conf_change_transition::joint_implicit,
                             {{T::remove_node, 3}, {T::add_node, 4}, {T::add_learner_node, 2}},
                             {}};
        v.push_back(from_changes({simple({{T::add_node, 1}}), simple({{T::add_node, 2}}),
                                  simple({{T::add_node, 3}}), joint}));
        v.push_back(from_changes({simple({{T::add_node, 1}})}));
        return v;
    }();
    return configs;
}

// The change read as the conf_state of a snapshot: add_node -> voters, add_learner_node ->
// learners, remove_node -> voters_outgoing, update_node -> learners_next.
conf_state as_conf_state(const conf_change_v2& cc) {
    conf_state cs;
    for (const auto& c : cc.changes) {
        switch (c.type) {
        case conf_change_type::add_node: cs.voters.push_back(c.node); break;
        case conf_change_type::add_learner_node: cs.learners.push_back(c.node); break;
        case conf_change_type::remove_node: cs.voters_outgoing.push_back(c.node); break;
        case conf_change_type::update_node: cs.learners_next.push_back(c.node); break;
        }
    }
    cs.auto_leave = cc.transition == conf_change_transition::joint_implicit;
    return cs;
}

std::vector<node_id> sorted(std::vector<node_id> v) {
    std::sort(v.begin(), v.end());
    return v;
}

void exercise(const conf_change_v2& cc) {
    for (const auto& start : starting_configs()) {
        std::string reason;
        auto next = detail::apply_conf_change(start, 10, cc, &reason);
        if (!next) {
            if (next.error() != errc::invalid_config) fail("apply_conf_change: ", next.error());
            continue;
        }
        check_tracker(*next, "apply_conf_change");
        // A joint configuration can always be left (what auto_leave relies on).
        if (next->is_joint()) {
            auto left = detail::apply_conf_change(*next, 10, conf_change_v2{});
            if (!left) fail("cannot leave joint configuration ", next->config().to_string());
            check_tracker(*left, "leave_joint");
        }
    }
    const conf_state cs = as_conf_state(cc);
    detail::progress_tracker empty(4);
    auto restored = detail::restore_config(empty, 10, cs);
    if (!restored) {
        if (restored.error() != errc::invalid_config) fail("restore_config: ", restored.error());
        return;
    }
    check_tracker(*restored, "restore_config");
    const conf_state want{sorted(cs.voters), sorted(cs.learners), sorted(cs.voters_outgoing),
                          sorted(cs.learners_next), cs.auto_leave};
    if (restored->conf_state() != want) fail("restore_config did not restore what it was given");
}

}  // namespace
}  // namespace raftpp::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace raftpp;
    using namespace raftpp::fuzz;
    const buffer in(data, size);

    if (auto cc = decode_conf_change(in)) {
        if (encode(*cc) != in) fail("decode_conf_change accepted a non-canonical encoding");
        exercise(cc->as_v2());
    } else if (cc.error() != errc::malformed_message) {
        fail("decode_conf_change: unexpected error ", cc.error());
    }

    if (auto cc = decode_conf_change_v2(in)) {
        if (encode(*cc) != in) fail("decode_conf_change_v2 accepted a non-canonical encoding");
        bool auto_leave = false;
        (void)cc->enter_joint(&auto_leave);
        (void)cc->leave_joint();
        exercise(*cc);
    } else if (cc.error() != errc::malformed_message) {
        fail("decode_conf_change_v2: unexpected error ", cc.error());
    }

    // The test KV's commands: what decodes re-encodes to something that decodes the same.
    if (auto c = testing::decode_kv_command(in.bytes())) {
        const buffer again = testing::encode_kv_command(*c);
        auto back = testing::decode_kv_command(again.bytes());
        if (!back || !(*back == *c)) fail("decode_kv_command does not round-trip");
    }
#ifdef RAFTPP_FUZZ_HAS_SIM_STATE_MACHINE
    // The simulator's snapshot data.
    if (auto sm = testing::state_machine::decode(in)) {
        if (sm->encode() != in) fail("state_machine::decode accepted a non-canonical encoding");
    }
#endif

    // The entry decoder agrees with the typed decoders, and refuses normal entries.
    for (auto t : {entry_type::normal, entry_type::conf_change, entry_type::conf_change_v2}) {
        const entry e{1, 1, t, in};
        auto cc = decode_conf_change_entry(e);
        if (t == entry_type::normal) {
            if (cc || cc.error() != errc::invalid_argument)
                fail("decode_conf_change_entry(normal)");
            continue;
        }
        const bool typed_ok = t == entry_type::conf_change ? decode_conf_change(in).has_value()
                                                           : decode_conf_change_v2(in).has_value();
        if (cc.has_value() != typed_ok) fail("decode_conf_change_entry disagrees with its decoder");
    }
    return 0;
}
