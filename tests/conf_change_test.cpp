// Membership changes: the conf_change wire format (include/raftpp/conf_change.hpp) and the
// changer (include/raftpp/detail/confchange.hpp), ported from etcd raft 3.4's confchange
// tests: the datadriven scripts in confchange/testdata, quick_test.go (simple and joint
// changes agree) and restore_test.go (conf_state -> restore -> conf_state is the identity).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <numeric>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include <raftpp/conf_change.hpp>
#include <raftpp/detail/confchange.hpp>

using namespace raftpp;
using detail::changed;
using detail::changer;
using detail::progress_tracker;

// ---- (a) wire format ----------------------------------------------------------------------

namespace {

conf_change_v2 sample_v2() {
    conf_change_v2 v;
    v.transition = conf_change_transition::joint_explicit;
    v.changes = {{conf_change_type::add_node, 1},
                 {conf_change_type::remove_node, ~std::uint64_t{0}},
                 {conf_change_type::update_node, 0},
                 {conf_change_type::add_learner_node, 0x0102030405060708}};
    v.context = buffer("ctx");
    return v;
}

// A copy of b with byte i replaced by v.
buffer patched(const buffer& b, std::size_t i, std::uint8_t v) {
    std::string s = b.str();
    s[i] = static_cast<char>(v);
    return buffer(s);
}

}  // namespace

TEST_CASE("conf_change encodes and decodes to the same value", "[conf_change][codec]") {
    auto type = GENERATE(conf_change_type::add_node, conf_change_type::remove_node,
                         conf_change_type::update_node, conf_change_type::add_learner_node);
    auto ctx = GENERATE(std::string(), std::string("some context"), std::string(300, '\0'));
    conf_change cc{type, 0xfedcba9876543210, buffer(ctx)};
    auto back = decode_conf_change(encode(cc));
    REQUIRE(back);
    CHECK(*back == cc);
    auto v2 = decode_conf_change_entry({1, 2, entry_type::conf_change, encode(cc)});
    REQUIRE(v2);
    CHECK(*v2 == cc.as_v2());
}

TEST_CASE("conf_change_v2 encodes and decodes to the same value", "[conf_change][codec]") {
    auto transition = GENERATE(conf_change_transition::automatic,
                               conf_change_transition::joint_implicit,
                               conf_change_transition::joint_explicit);
    auto n = GENERATE(0u, 1u, 4u);
    auto v = sample_v2();
    v.transition = transition;
    v.changes.resize(n);
    auto back = decode_conf_change_v2(encode(v));
    REQUIRE(back);
    CHECK(*back == v);
    auto e = decode_conf_change_entry({1, 2, entry_type::conf_change_v2, encode(v)});
    REQUIRE(e);
    CHECK(*e == v);
    CHECK(decode_conf_change_entry({1, 2, entry_type::normal, encode(v)}).error() ==
          errc::invalid_argument);
}

TEST_CASE("a truncated or extended conf change is malformed", "[conf_change][codec]") {
    const buffer v1 = encode(conf_change{conf_change_type::add_learner_node, 7, buffer("ab")});
    const buffer v2 = encode(sample_v2());
    for (std::size_t n = 0; n < v1.size(); ++n) {
        CAPTURE(n);
        CHECK(decode_conf_change(buffer(v1.bytes().first(n))).error() == errc::malformed_message);
    }
    for (std::size_t n = 0; n < v2.size(); ++n) {
        CAPTURE(n);
        CHECK(decode_conf_change_v2(buffer(v2.bytes().first(n))).error() ==
              errc::malformed_message);
    }
    CHECK(decode_conf_change(buffer(v1.str() + "x")).error() == errc::malformed_message);
    CHECK(decode_conf_change_v2(buffer(v2.str() + "x")).error() == errc::malformed_message);
}

TEST_CASE("a conf change with a bad tag, type or count is malformed", "[conf_change][codec]") {
    const buffer v1 = encode(conf_change{conf_change_type::remove_node, 7, {}});
    const buffer v2 = encode(sample_v2());
    // The tags are not interchangeable.
    CHECK(decode_conf_change(v2).error() == errc::malformed_message);
    CHECK(decode_conf_change_v2(v1).error() == errc::malformed_message);
    CHECK(decode_conf_change(patched(v1, 0, 0)).error() == errc::malformed_message);
    CHECK(decode_conf_change_v2(patched(v2, 0, 0xff)).error() == errc::malformed_message);
    // conf_change: [tag][type][node u64][ctx len u64][ctx]
    CHECK(decode_conf_change(patched(v1, 1, 4)).error() == errc::malformed_message);
    CHECK(decode_conf_change(patched(v1, 1, 0xff)).error() == errc::malformed_message);
    // A context length past the end, including one that would overflow a naive bound check.
    CHECK(decode_conf_change(patched(v1, 10, 1)).error() == errc::malformed_message);
    CHECK(decode_conf_change(patched(v1, 17, 0xff)).error() == errc::malformed_message);
    // conf_change_v2: [tag][transition][count u64]{[type][node u64]}*[ctx len u64][ctx]
    CHECK(decode_conf_change_v2(patched(v2, 1, 3)).error() == errc::malformed_message);
    CHECK(decode_conf_change_v2(patched(v2, 10, 4)).error() == errc::malformed_message);
    CHECK(decode_conf_change_v2(patched(v2, 10 + 9, 0x80)).error() == errc::malformed_message);
    for (std::size_t byte = 2; byte < 10; ++byte) {
        CAPTURE(byte);  // a huge count must not allocate or read out of bounds
        CHECK(decode_conf_change_v2(patched(v2, byte, 0xff)).error() == errc::malformed_message);
    }
    CHECK(decode_conf_change_v2(patched(v2, 2, 5)).error() == errc::malformed_message);
    CHECK(decode_conf_change_v2(patched(v2, 2, 3)).error() == errc::malformed_message);
    // Every bit of a valid encoding flipped: still valid or malformed, never UB (the
    // sanitizer build checks the "never UB").
    for (std::size_t byte = 0; byte < v2.size(); ++byte) {
        const unsigned orig = std::to_integer<unsigned>(v2.bytes()[byte]);
        for (unsigned bit = 0; bit < 8; ++bit) {
            const auto flipped = static_cast<std::uint8_t>(orig ^ (1u << bit));
            auto r = decode_conf_change_v2(patched(v2, byte, flipped));
            if (!r) CHECK(r.error() == errc::malformed_message);
        }
    }
}

TEST_CASE("enter_joint and leave_joint follow etcd's ConfChangeV2", "[conf_change]") {
    const conf_change_single add1{conf_change_type::add_node, 1};
    const conf_change_single add2{conf_change_type::add_node, 2};
    struct tc {
        std::string_view name;
        conf_change_transition transition;
        std::vector<conf_change_single> changes;
        bool joint, auto_leave, leave;
    };
    const tc cases[] = {
        {"empty automatic leaves", conf_change_transition::automatic, {}, false, false, true},
        {"one automatic change is simple", conf_change_transition::automatic, {add1}, false,
         false, false},
        {"two automatic changes are joint, left automatically",
         conf_change_transition::automatic, {add1, add2}, true, true, false},
        {"implicit joint", conf_change_transition::joint_implicit, {add1}, true, true, false},
        {"empty implicit joint", conf_change_transition::joint_implicit, {}, true, true, false},
        {"explicit joint", conf_change_transition::joint_explicit, {add1, add2}, true, false,
         false},
        {"empty explicit joint", conf_change_transition::joint_explicit, {}, true, false, false},
    };
    for (const auto& c : cases) {
        CAPTURE(c.name);
        conf_change_v2 v{c.transition, c.changes, buffer("context is ignored")};
        bool auto_leave = !c.auto_leave;
        CHECK(v.enter_joint(&auto_leave) == c.joint);
        if (c.joint) CHECK(auto_leave == c.auto_leave);
        CHECK(v.enter_joint(nullptr) == c.joint);
        CHECK(v.leave_joint() == c.leave);
    }
}

// ---- (b) etcd's confchange/testdata scripts ------------------------------------------------

namespace {

// "v1 l2 r3 u4" -> add_node 1, add_learner_node 2, remove_node 3, update_node 4.
std::vector<conf_change_single> parse_changes(std::string_view s) {
    std::vector<conf_change_single> ccs;
    while (!s.empty()) {
        const std::size_t end = std::min(s.find(' '), s.size());
        const std::string_view tok = s.substr(0, end);
        s.remove_prefix(std::min(end + 1, s.size()));
        if (tok.empty()) continue;
        conf_change_single cc;
        switch (tok[0]) {
        case 'v': cc.type = conf_change_type::add_node; break;
        case 'l': cc.type = conf_change_type::add_learner_node; break;
        case 'r': cc.type = conf_change_type::remove_node; break;
        case 'u': cc.type = conf_change_type::update_node; break;
        default: FAIL("unknown token " << tok);
        }
        cc.node = std::stoull(std::string(tok.substr(1)));
        ccs.push_back(cc);
    }
    return ccs;
}

// "1 next=2, 3 next=4 learner": every tracked node, ascending. A match other than 0 or a
// node not recently active would be a bug in a fresh progress, so it shows up too.
std::string describe_progress(const detail::progress_map& prs) {
    std::string s;
    for (const auto& [id, pr] : prs) {
        if (!s.empty()) s += ", ";
        s += std::to_string(id) + " next=" + std::to_string(pr.next);
        if (pr.match != 0) s += " match=" + std::to_string(pr.match);
        if (pr.is_learner) s += " learner";
        if (!pr.recent_active) s += " inactive";
    }
    return s;
}

struct step {
    std::string_view cmd;       // simple | enter-joint | enter-joint-autoleave | leave-joint
    std::string_view input;     // parse_changes
    std::string_view config;    // tracker_config::to_string(), or the reason for refusing
    std::string_view progress;  // describe_progress(); empty when refused
};

struct script {
    std::string_view name;  // the file in etcd's confchange/testdata
    std::vector<step> steps;
};

// Transcribed from etcd 3.4 with one difference: the last index starts at 1, not 0, so every
// next is etcd's plus one (etcd-io/raft now starts new progress at max(last_index, 1)).
// As in etcd, the last index grows by one with every step, refused or not, so a progress's
// next tells in which step it was created.
const script scripts[] = {
    {"simple_safety",
     {
      {"simple", "l1", "removed all voters", ""},
      {"simple", "v1", "voters=(1)", "1 next=2"},
      {"simple", "v2 l3", "voters=(1 2) learners=(3)", "1 next=2, 2 next=3, 3 next=3 learner"},
      {"simple", "r1 v5", "more than one voter changed without entering joint config", ""},
      {"simple", "r1 r2", "removed all voters", ""},
      {"simple", "v3 v4", "more than one voter changed without entering joint config", ""},
      {"simple", "l1 v5", "more than one voter changed without entering joint config", ""},
      {"simple", "l1 l2", "removed all voters", ""},
      {"simple", "l2 l3 l4 l5", "voters=(1) learners=(2 3 4 5)",
       "1 next=2, 2 next=3 learner, 3 next=3 learner, 4 next=9 learner, 5 next=9 learner"},
      {"simple", "r1", "removed all voters", ""},
      {"simple", "r2 r3 r4 r5", "voters=(1)", "1 next=2"}}},
    {"simple_idempotency",
     {
      {"simple", "v1", "voters=(1)", "1 next=1"},
      {"simple", "v1", "voters=(1)", "1 next=1"},
      {"simple", "v2", "voters=(1 2)", "1 next=1, 2 next=3"},
      {"simple", "l1", "voters=(2) learners=(1)", "1 next=1 learner, 2 next=3"},
      {"simple", "l1", "voters=(2) learners=(1)", "1 next=1 learner, 2 next=3"},
      {"simple", "r1", "voters=(2)", "2 next=3"},
      {"simple", "r1", "voters=(2)", "2 next=3"},
      {"simple", "v3", "voters=(2 3)", "2 next=3, 3 next=8"},
      {"simple", "r3", "voters=(2)", "2 next=3"},
      {"simple", "r3", "voters=(2)", "2 next=3"},
      {"simple", "r4", "voters=(2)", "2 next=3"}}},
    {"simple_promote_demote",
     {
      {"simple", "v1", "voters=(1)", "1 next=1"},
      {"simple", "v2", "voters=(1 2)", "1 next=1, 2 next=2"},
      {"simple", "v3", "voters=(1 2 3)", "1 next=1, 2 next=2, 3 next=3"},
      {"simple", "l1 v1", "voters=(1 2 3)", "1 next=1, 2 next=2, 3 next=3"},
      {"simple", "l2", "voters=(1 3) learners=(2)", "1 next=1, 2 next=2 learner, 3 next=3"},
      {"simple", "v2 l2", "voters=(1 3) learners=(2)", "1 next=1, 2 next=2 learner, 3 next=3"},
      {"simple", "v2", "voters=(1 2 3)", "1 next=1, 2 next=2, 3 next=3"}}},
    {"joint_safety",
     {
      {"leave-joint", "", "can't leave a non-joint config", ""},
      {"enter-joint", "", "can't make a zero-voter config joint", ""},
      {"enter-joint", "v1", "can't make a zero-voter config joint", ""},
      {"simple", "v1", "voters=(1)", "1 next=4"},
      {"leave-joint", "", "can't leave a non-joint config", ""},
      {"enter-joint", "", "voters=(1)&&(1)", "1 next=4"},
      {"enter-joint", "", "config is already joint", ""},
      {"leave-joint", "", "voters=(1)", "1 next=4"},
      {"leave-joint", "", "can't leave a non-joint config", ""},
      {"enter-joint", "r1 v2 v3 l4", "voters=(2 3)&&(1) learners=(4)",
       "1 next=4, 2 next=10, 3 next=10, 4 next=10 learner"},
      {"enter-joint", "", "config is already joint", ""},
      {"enter-joint", "v12", "config is already joint", ""},
      {"simple", "l15", "can't apply simple config change in joint config", ""},
      {"leave-joint", "", "voters=(2 3) learners=(4)", "2 next=10, 3 next=10, 4 next=10 learner"},
      {"simple", "l9", "voters=(2 3) learners=(4 9)",
       "2 next=10, 3 next=10, 4 next=10 learner, 9 next=15 learner"}}},
    {"joint_idempotency",
     {
      {"simple", "v1", "voters=(1)", "1 next=1"},
      {"enter-joint", "r1 r2 r9 v2 v3 v4 v2 v3 v4 l2 l2 r4 r4 l1 l1",
       "voters=(3)&&(1) learners=(2) learners_next=(1)",
       "1 next=1, 2 next=2 learner, 3 next=2"},
      {"leave-joint", "", "voters=(3) learners=(1 2)",
       "1 next=1 learner, 2 next=2 learner, 3 next=2"}}},
    {"joint_learners_next",
     {
      {"simple", "v1", "voters=(1)", "1 next=1"},
      {"enter-joint", "v2 l1", "voters=(2)&&(1) learners_next=(1)", "1 next=1, 2 next=2"},
      {"leave-joint", "", "voters=(2) learners=(1)", "1 next=1 learner, 2 next=2"}}},
    {"joint_autoleave",
     {
      {"simple", "v1", "voters=(1)", "1 next=1"},
      {"enter-joint-autoleave", "v2 v3", "voters=(1 2 3)&&(1) autoleave",
       "1 next=1, 2 next=2, 3 next=2"},
      {"enter-joint", "", "config is already joint", ""},
      {"leave-joint", "", "voters=(1 2 3)", "1 next=1, 2 next=2, 3 next=2"}}},
    {"update",
     {
      {"simple", "v1", "voters=(1)", "1 next=1"},
      {"simple", "v2 u1", "voters=(1 2)", "1 next=1, 2 next=2"},
      {"simple", "u1 u2 u3 u1 u2 u3", "voters=(1 2)", "1 next=1, 2 next=2"}}},
    {"zero",
     {
      {"simple", "v1 r0 v0 l0", "voters=(1)", "1 next=1"}}},
};

}  // namespace

TEST_CASE("etcd's confchange scripts", "[confchange]") {
    for (const auto& sc : scripts) {
        progress_tracker tracker(10);
        index_t last_index = 1;
        int n = 0;
        for (const auto& st : sc.steps) {
            CAPTURE(sc.name, ++n, st.cmd, st.input);
            const auto ccs = parse_changes(st.input);
            const std::string before = tracker.to_string();
            std::string reason;
            const changer chg{tracker, last_index++, &reason};
            result<changed> r = errc::invalid_argument;
            if (st.cmd == "simple") r = chg.simple(ccs);
            else if (st.cmd == "enter-joint") r = chg.enter_joint(false, ccs);
            else if (st.cmd == "enter-joint-autoleave") r = chg.enter_joint(true, ccs);
            else if (st.cmd == "leave-joint" && ccs.empty()) r = chg.leave_joint();
            else FAIL("unknown command");
            CHECK(tracker.to_string() == before);  // copy-on-write
            if (!r) {
                CHECK(r.error() == errc::invalid_config);
                CHECK(reason == st.config);
                CHECK(st.progress.empty());
                continue;
            }
            CHECK(reason.empty());
            CHECK(r->config.to_string() == st.config);
            CHECK(describe_progress(r->progress) == st.progress);
            tracker.apply_conf(std::move(r->config), std::move(r->progress));
        }
    }
}

TEST_CASE("new progress probes from the last index with the tracker's limits", "[confchange]") {
    progress_tracker tracker(5, 1000);
    const auto last_index = GENERATE(index_t{0}, index_t{1}, index_t{42});
    const conf_change_single cc[] = {{conf_change_type::add_node, 1},
                                     {conf_change_type::add_learner_node, 2}};
    auto r = changer{tracker, last_index}.simple(cc);
    REQUIRE(r);
    for (node_id id : {1, 2}) {
        CAPTURE(id);
        const detail::progress* pr = r->progress.find(id);
        REQUIRE(pr != nullptr);
        CHECK(pr->next == std::max<index_t>(last_index, 1));  // match < next
        CHECK(pr->match == 0);
        CHECK(pr->state == detail::progress_state::probe);
        CHECK(pr->recent_active);
        CHECK(pr->is_learner == (id == 2));
        CHECK(pr->inflights.size() == 5);
        CHECK(pr->inflights.max_bytes() == 1000);
    }
}

TEST_CASE("a demoted or re-added member keeps its progress", "[confchange]") {
    progress_tracker tracker(10);
    const conf_change_single v1[] = {{conf_change_type::add_node, 1}};
    const conf_change_single v2[] = {{conf_change_type::add_node, 2}};
    auto r = changer{tracker, 1}.simple(v1);
    REQUIRE(r);
    tracker.apply_conf(std::move(r->config), std::move(r->progress));
    r = changer{tracker, 1}.simple(v2);
    REQUIRE(r);
    tracker.apply_conf(std::move(r->config), std::move(r->progress));
    tracker.progress(2)->maybe_update(7);
    tracker.progress(2)->become_replicate();

    const conf_change_single demote[] = {{conf_change_type::add_learner_node, 2}};
    r = changer{tracker, 20}.enter_joint(false, demote);
    REQUIRE(r);
    CHECK(r->config.to_string() == "voters=(1)&&(1 2) learners_next=(2)");
    CHECK(r->progress.find(2)->match == 7);
    CHECK_FALSE(r->progress.find(2)->is_learner);
    tracker.apply_conf(std::move(r->config), std::move(r->progress));
    r = changer{tracker, 20}.leave_joint();
    REQUIRE(r);
    CHECK(r->config.to_string() == "voters=(1) learners=(2)");
    CHECK(r->progress.find(2)->match == 7);
    CHECK(r->progress.find(2)->state == detail::progress_state::replicate);
    CHECK(r->progress.find(2)->is_learner);
}

TEST_CASE("the changer refuses bad input instead of aborting", "[confchange]") {
    progress_tracker tracker(10);
    std::string reason;
    SECTION("an unknown change type") {
        const conf_change_single cc[] = {{static_cast<conf_change_type>(7), 1}};
        CHECK(changer{tracker, 1, &reason}.simple(cc).error() == errc::invalid_config);
        CHECK(reason == "unexpected conf type 7");
    }
    SECTION("a tracker whose voter has no progress") {
        tracker.config().voters.incoming.insert(3);
        CHECK(changer{tracker, 1, &reason}.leave_joint().error() == errc::invalid_config);
        CHECK(reason == "no progress for 3");
    }
    SECTION("a tracker with learners_next outside a joint configuration") {
        tracker.insert_progress(1, 1);
        tracker.insert_progress(2, 1);
        tracker.config().voters.incoming.insert(1);
        tracker.config().learners_next.insert(2);
        CHECK(changer{tracker, 1, &reason}.simple({}).error() == errc::invalid_config);
        CHECK(reason == "2 is in learners_next, but not in the outgoing voters");
    }
    SECTION("a learner that is also a voter") {
        tracker.insert_progress(1, 1, true);
        tracker.config().voters.incoming.insert(1);
        tracker.config().learners.insert(1);
        CHECK(changer{tracker, 1, &reason}.simple({}).error() == errc::invalid_config);
        CHECK(reason == "1 is in learners and the incoming voters");
    }
}

TEST_CASE("apply_conf_change picks simple, enter_joint or leave_joint as etcd's raft does",
          "[confchange]") {
    using enum conf_change_type;
    using enum conf_change_transition;
    progress_tracker tracker(10);
    tracker.record_vote(1, true);
    auto apply = [&](conf_change_v2 cc, std::string_view want) {
        CAPTURE(want);
        std::string reason;
        auto r = detail::apply_conf_change(tracker, 3, cc, &reason);
        if (!r) {
            CHECK(reason == want);
            return;
        }
        CHECK(r->vote(1) == std::optional<bool>(true));  // only the configuration changes
        CHECK(r->max_inflight() == 10);
        tracker = std::move(*r);
        CHECK(tracker.config().to_string() == want);
    };
    apply({automatic, {{add_node, 1}}, {}}, "voters=(1)");
    apply({automatic, {{add_node, 2}, {add_node, 3}}, {}}, "voters=(1 2 3)&&(1) autoleave");
    apply({automatic, {}, buffer("ctx")}, "voters=(1 2 3)");
    apply({automatic, {{add_node, 4}, {add_node, 5}}, {}}, "voters=(1 2 3 4 5)&&(1 2 3) autoleave");
    apply({joint_explicit, {}, {}}, "config is already joint");
    apply({automatic, {}, {}}, "voters=(1 2 3 4 5)");
    apply({joint_explicit, {{remove_node, 5}}, {}}, "voters=(1 2 3 4)&&(1 2 3 4 5)");
    apply({automatic, {{add_node, 6}}, {}}, "can't apply simple config change in joint config");
    apply({automatic, {}, {}}, "voters=(1 2 3 4)");
    apply({joint_implicit, {{add_learner_node, 4}}, {}},
          "voters=(1 2 3)&&(1 2 3 4) learners_next=(4) autoleave");
    apply({automatic, {}, {}}, "voters=(1 2 3) learners=(4)");
    apply({automatic, {}, {}}, "can't leave a non-joint config");
    apply({automatic, {{remove_node, 1}, {remove_node, 2}}, {}},
          "voters=(3)&&(1 2 3) learners=(4) autoleave");

    conf_state cs = tracker.conf_state();
    auto restored = detail::restore_config(progress_tracker(10), 9, cs);
    REQUIRE(restored);
    CHECK(restored->conf_state() == cs);
    CHECK(restored->progress(3)->next == 9);
    cs.learners.push_back(3);
    CHECK(detail::restore_config(progress_tracker(10), 9, cs).error() == errc::invalid_config);
}

TEST_CASE("describe prints changes as etcd's Describe does", "[confchange]") {
    const conf_change_single ccs[] = {{conf_change_type::add_node, 1},
                                      {conf_change_type::remove_node, 2},
                                      {conf_change_type::update_node, 3},
                                      {conf_change_type::add_learner_node, 4}};
    CHECK(detail::describe(ccs) ==
          "add_node(1) remove_node(2) update_node(3) add_learner_node(4)");
    CHECK(detail::describe({}).empty());
}

// etcd's TestConfChangeQuick: applying changes one by one with simple() ends in the same
// configuration and progress as enter_joint() + leave_joint(), with or without auto-leave.
TEST_CASE("simple and joint changes agree", "[confchange][quick]") {
    const auto seed = GENERATE(range(1u, 301u));
    CAPTURE(seed);
    std::mt19937_64 rng(seed);
    auto uniform = [&](unsigned n) { return static_cast<unsigned>(rng() % n); };
    // Node 1 is a voter in every setup and no change touches it, so no step removes all voters.
    std::vector<conf_change_single> setup{{conf_change_type::add_node, 1}};
    for (unsigned i = 0, n = 1 + uniform(5); i < n; ++i)
        setup.push_back({conf_change_type::add_node, 1 + uniform(5)});
    std::vector<conf_change_single> ccs;
    for (unsigned i = 0, n = 1 + uniform(9); i < n; ++i)
        ccs.push_back({static_cast<conf_change_type>(uniform(4)), 2 + uniform(9)});
    CAPTURE(detail::describe(setup), detail::describe(ccs));

    auto run_simple = [](progress_tracker& t, std::span<const conf_change_single> cs) {
        for (const auto& cc : cs) {
            auto r = changer{t, 10}.simple({&cc, 1});
            REQUIRE(r);
            t.apply_conf(std::move(r->config), std::move(r->progress));
        }
    };
    progress_tracker simple(10), joint(10);
    run_simple(simple, setup);
    run_simple(joint, setup);
    run_simple(simple, ccs);

    auto entered = changer{joint, 10}.enter_joint(false, ccs);
    REQUIRE(entered);
    auto entered_auto = changer{joint, 10}.enter_joint(true, ccs);
    REQUIRE(entered_auto);
    CHECK(entered_auto->config.auto_leave);
    entered_auto->config.auto_leave = false;
    CHECK(entered_auto->config == entered->config);
    CHECK(entered_auto->progress.to_string() == entered->progress.to_string());
    joint.apply_conf(std::move(entered->config), std::move(entered->progress));
    auto left = changer{joint, 10}.leave_joint();
    REQUIRE(left);
    joint.apply_conf(std::move(left->config), std::move(left->progress));
    CHECK(joint.to_string() == simple.to_string());
}

// ---- (c) restore ---------------------------------------------------------------------------

namespace {

conf_state sorted(conf_state cs) {
    for (auto* v : {&cs.voters, &cs.learners, &cs.voters_outgoing, &cs.learners_next})
        std::sort(v->begin(), v->end());
    return cs;
}

// A random valid conf_state (etcd's rndConfChange): never empty; voters, learners and removed
// voters disjoint; learners_next only among the removed (demoted) voters.
conf_state random_conf_state(std::mt19937_64& rng) {
    auto uniform = [&](std::size_t n) { return static_cast<std::size_t>(rng() % n); };
    const std::size_t voters = 1 + uniform(5), learners = uniform(5), removed = uniform(3);
    std::vector<node_id> ids(2 * (voters + learners + removed));
    std::iota(ids.begin(), ids.end(), node_id{1});
    std::shuffle(ids.begin(), ids.end(), rng);
    auto take = [&](std::size_t n) {
        std::vector<node_id> v(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(n));
        ids.erase(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(n));
        return v;
    };
    conf_state cs;
    cs.voters = take(voters);
    cs.learners = take(learners);
    // Some incoming voters were voters before too; the removed ones were voters only before.
    const std::size_t retained = uniform(voters + 1);
    cs.voters_outgoing.assign(cs.voters.begin(),
                              cs.voters.begin() + static_cast<std::ptrdiff_t>(retained));
    const auto gone = take(removed);
    cs.voters_outgoing.insert(cs.voters_outgoing.end(), gone.begin(), gone.end());
    if (removed > 0) cs.learners_next.assign(gone.begin(), gone.begin() +
                                                 static_cast<std::ptrdiff_t>(uniform(removed + 1)));
    cs.auto_leave = !cs.voters_outgoing.empty() && uniform(2) == 1;
    return cs;
}

void check_restore(const conf_state& cs) {
    progress_tracker tracker(20, 4096);
    std::string reason;
    auto r = detail::restore(tracker, 10, cs, &reason);
    INFO(reason);
    REQUIRE(r);
    CHECK(detail::to_conf_state(r->config) == sorted(cs));
    tracker.apply_conf(std::move(r->config), std::move(r->progress));
    CHECK(tracker.conf_state() == sorted(cs));
    // Exactly the members are tracked, each fresh and flagged as what it is.
    std::size_t members = 0;
    tracker.voters().visit([&](node_id) { ++members; });
    CHECK(tracker.progresses().size() == members + cs.learners.size());
    for (const auto& [id, pr] : tracker.progresses()) {
        CAPTURE(id);
        CHECK(pr.is_learner == tracker.learners().contains(id));
        CHECK(pr.next == 10);
        CHECK(pr.match == 0);
        CHECK(pr.recent_active);
        CHECK(pr.inflights.size() == 20);
        CHECK(pr.inflights.max_bytes() == 4096);
    }
}

}  // namespace

TEST_CASE("restore builds the configuration a conf_state describes", "[confchange][restore]") {
    using ids = std::vector<node_id>;
    const conf_state cases[] = {
        {},
        {ids{1, 2, 3}, {}, {}, {}, false},
        {ids{1, 2, 3}, ids{4, 5, 6}, {}, {}, false},
        {ids{1, 2, 3}, ids{5}, ids{1, 2, 4, 6}, ids{4}, false},
        {ids{3, 1, 2}, ids{7, 5}, ids{6, 4, 2, 1}, ids{6, 4}, true},  // any order
    };
    for (const auto& cs : cases) check_restore(cs);
}

TEST_CASE("restore round-trips random conf_states", "[confchange][restore]") {
    const auto seed = GENERATE(range(1u, 1001u));
    CAPTURE(seed);
    std::mt19937_64 rng(seed);
    const conf_state cs = random_conf_state(rng);
    CAPTURE(cs.voters, cs.learners, cs.voters_outgoing, cs.learners_next, cs.auto_leave);
    check_restore(cs);
}

TEST_CASE("restore refuses a conf_state that is not a configuration", "[confchange][restore]") {
    using ids = std::vector<node_id>;
    struct tc {
        std::string_view name;
        conf_state cs;
    };
    const tc cases[] = {
        {"a voter that is also a learner", {ids{1, 2}, ids{2}, {}, {}, false}},
        {"only learners", {{}, ids{1}, {}, {}, false}},
        {"a duplicate voter", {ids{1, 1}, {}, {}, {}, false}},
        {"node id 0", {ids{0, 1}, {}, {}, {}, false}},
        {"auto_leave outside a joint configuration", {ids{1}, {}, {}, {}, true}},
        {"learners_next outside a joint configuration", {ids{1}, {}, {}, ids{2}, false}},
        {"learners_next not an outgoing voter", {ids{1}, {}, ids{1}, ids{2}, false}},
        {"learners_next also an incoming voter", {ids{1, 2}, {}, ids{1, 2}, ids{2}, false}},
        {"a joint configuration without incoming voters", {{}, {}, ids{1}, {}, false}},
        {"an outgoing voter that is also a learner", {ids{1}, ids{2}, ids{1, 2}, {}, false}},
    };
    for (const auto& c : cases) {
        CAPTURE(c.name);
        std::string reason;
        auto r = detail::restore(progress_tracker(10), 5, c.cs, &reason);
        CHECK(r.error() == errc::invalid_config);
        CHECK_FALSE(reason.empty());
    }
}
