// Tests for raftpp::detail::progress: ports of etcd 3.4's tracker/progress_test.go, plus the
// interaction of state changes with the inflight byte budget.
#include <catch2/catch.hpp>

#include <cstdint>
#include <string_view>

#include <raftpp/detail/progress.hpp>

using raftpp::index_t;
using raftpp::detail::inflights;
using raftpp::detail::progress;
using raftpp::detail::progress_state;

TEST_CASE("progress to_string shows state, indexes and flags", "[progress]") {
    inflights ins(1);
    ins.add(123, 0);
    progress pr{.match = 1, .next = 2, .state = progress_state::snapshot,
                .pending_snapshot = 123, .recent_active = false, .probe_sent = true,
                .is_learner = true, .inflights = ins};
    CHECK(pr.to_string() ==
          "snapshot match=1 next=2 learner paused pending_snap=123 inactive inflight=1[full]");

    progress active{.match = 5, .next = 6, .state = progress_state::replicate,
                    .recent_active = true};
    CHECK(active.to_string() == "replicate match=5 next=6");
}

TEST_CASE("progress is_paused depends on the state", "[progress]") {
    struct {
        progress_state state;
        bool probe_sent;
        bool paused;
    } const cases[] = {
        {progress_state::probe, false, false},
        {progress_state::probe, true, true},
        {progress_state::replicate, false, false},
        {progress_state::replicate, true, false},
        {progress_state::snapshot, false, true},
        {progress_state::snapshot, true, true},
    };
    for (const auto& tc : cases) {
        CAPTURE(to_string(tc.state), tc.probe_sent);
        progress pr{.state = tc.state, .probe_sent = tc.probe_sent, .inflights = inflights(256)};
        CHECK(pr.is_paused() == tc.paused);
    }
}

TEST_CASE("progress in replicate state pauses when the inflight window fills", "[progress]") {
    progress pr{.match = 1, .next = 2, .state = progress_state::replicate,
                .inflights = inflights(2, 100)};
    pr.inflights.add(2, 10);
    CHECK_FALSE(pr.is_paused());
    pr.inflights.add(3, 10);
    CHECK(pr.is_paused());  // by count
    pr.inflights.free_le(3);

    pr.inflights.add(4, 150);
    CHECK(pr.is_paused());  // by bytes
    pr.inflights.free_le(4);
    CHECK_FALSE(pr.is_paused());
}

TEST_CASE("progress maybe_update and maybe_decr_to resume a paused probe", "[progress]") {
    progress pr{.next = 2, .probe_sent = true};
    pr.maybe_decr_to(1, 1);
    CHECK_FALSE(pr.probe_sent);
    pr.pause();
    CHECK(pr.probe_sent);
    pr.maybe_update(2);
    CHECK_FALSE(pr.probe_sent);
    pr.pause();
    pr.resume();
    CHECK_FALSE(pr.is_paused());
}

TEST_CASE("progress become_probe restarts after match or after the applied snapshot",
          "[progress]") {
    const index_t match = 1;
    struct {
        std::string_view name;
        progress pr;
        index_t want_next;
    } cases[] = {
        {"from replicate",
         progress{.match = match, .next = 5, .state = progress_state::replicate}, 2},
        {"snapshot finished",
         progress{.match = match, .next = 5, .state = progress_state::snapshot,
                  .pending_snapshot = 10},
         11},
        {"snapshot failed",
         progress{.match = match, .next = 5, .state = progress_state::snapshot,
                  .pending_snapshot = 0},
         2},
    };
    for (auto& tc : cases) {
        CAPTURE(tc.name);
        tc.pr.become_probe();
        CHECK(tc.pr.state == progress_state::probe);
        CHECK(tc.pr.match == match);
        CHECK(tc.pr.next == tc.want_next);
        CHECK(tc.pr.pending_snapshot == 0);
    }
}

TEST_CASE("progress become_replicate sends from match + 1", "[progress]") {
    progress pr{.match = 1, .next = 5, .state = progress_state::probe, .probe_sent = true};
    pr.become_replicate();
    CHECK(pr.state == progress_state::replicate);
    CHECK(pr.match == 1);
    CHECK(pr.next == 2);
    CHECK_FALSE(pr.probe_sent);
}

TEST_CASE("progress become_snapshot records the pending snapshot", "[progress]") {
    progress pr{.match = 1, .next = 5, .state = progress_state::probe};
    pr.become_snapshot(10);
    CHECK(pr.state == progress_state::snapshot);
    CHECK(pr.match == 1);
    CHECK(pr.pending_snapshot == 10);
    CHECK(pr.is_paused());
}

TEST_CASE("progress maybe_update never moves match or next backwards", "[progress]") {
    const index_t prev_m = 3, prev_n = 5;
    struct {
        std::string_view name;
        index_t update;
        index_t want_match;
        index_t want_next;
        bool want_ok;
    } const cases[] = {
        {"do not decrease match, next", prev_m - 1, prev_m, prev_n, false},
        {"do not decrease next", prev_m, prev_m, prev_n, false},
        {"increase match, do not decrease next", prev_m + 1, prev_m + 1, prev_n, true},
        {"increase match, next", prev_m + 2, prev_m + 2, prev_n + 1, true},
    };
    for (const auto& tc : cases) {
        CAPTURE(tc.name);
        progress pr{.match = prev_m, .next = prev_n};
        CHECK(pr.maybe_update(tc.update) == tc.want_ok);
        CHECK(pr.match == tc.want_match);
        CHECK(pr.next == tc.want_next);
    }
}

TEST_CASE("progress optimistic_update moves next past the sent entries", "[progress]") {
    progress pr{.match = 3, .next = 4, .state = progress_state::replicate};
    pr.optimistic_update(10);
    CHECK(pr.next == 11);
    CHECK(pr.match == 3);
}

TEST_CASE("progress maybe_decr_to ignores stale rejections", "[progress]") {
    struct {
        std::string_view name;
        progress_state state;
        index_t match, next, rejected, hint;
        bool want_ok;
        index_t want_next;
    } const cases[] = {
        {"replicate, rejected == match: stale", progress_state::replicate, 5, 10, 5, 5, false, 10},
        {"replicate, rejected < match: stale", progress_state::replicate, 5, 10, 4, 4, false, 10},
        {"replicate, rejected > match: back to match+1", progress_state::replicate, 5, 10, 9, 9,
         true, 6},
        {"probe, next-1 != rejected (next 0)", progress_state::probe, 0, 0, 0, 0, false, 0},
        {"probe, next-1 != rejected", progress_state::probe, 0, 10, 5, 5, false, 10},
        {"probe, next>1: decremented by 1", progress_state::probe, 0, 10, 9, 9, true, 9},
        {"probe, next>1: decremented by 1 to 1", progress_state::probe, 0, 2, 1, 1, true, 1},
        {"probe, next<=1: reset to 1", progress_state::probe, 0, 1, 0, 0, true, 1},
        {"probe, to min(rejected, hint+1)", progress_state::probe, 0, 10, 9, 2, true, 3},
        {"probe, hint 0: to 1", progress_state::probe, 0, 10, 9, 0, true, 1},
        // Deviation from etcd 3.4 (as etcd main): next stays above match even when the hint
        // is below it.
        {"probe, hint below match: to match+1", progress_state::probe, 5, 10, 9, 2, true, 6},
    };
    for (const auto& tc : cases) {
        CAPTURE(tc.name);
        progress pr{.match = tc.match, .next = tc.next, .state = tc.state};
        CHECK(pr.maybe_decr_to(tc.rejected, tc.hint) == tc.want_ok);
        CHECK(pr.match == tc.match);
        CHECK(pr.next == tc.want_next);
    }
}

TEST_CASE("progress state changes release the inflight byte budget", "[progress][bytes]") {
    // A follower whose window is full by bytes falls back to probe and later replicates
    // again: the old bytes must not count any more (etcd-io/raft#54 stalled here).
    auto from = GENERATE(progress_state::probe, progress_state::snapshot);
    CAPTURE(to_string(from));
    progress pr{.match = 10, .next = 11, .state = progress_state::replicate,
                .inflights = inflights(100, 1000)};
    for (index_t i = 11; i <= 20; ++i) {
        pr.inflights.add(i, 100);
        pr.optimistic_update(i);
    }
    REQUIRE(pr.is_paused());
    REQUIRE(pr.inflights.bytes() == 1000);

    if (from == progress_state::probe) pr.become_probe();
    else pr.become_snapshot(30);
    CHECK(pr.inflights.bytes() == 0);
    CHECK(pr.inflights.count() == 0);
    if (from == progress_state::snapshot) {
        pr.maybe_update(30);
        pr.become_probe();
        CHECK(pr.next == 31);
    }
    pr.become_replicate();
    CHECK_FALSE(pr.is_paused());
    CHECK(pr.inflights.bytes() == 0);
}

TEST_CASE("progress reset starts a fresh probe and keeps role and limits", "[progress]") {
    progress pr{.match = 7, .next = 12, .state = progress_state::replicate,
                .pending_snapshot = 0, .recent_active = true, .probe_sent = true,
                .is_learner = true, .inflights = inflights(2, 50)};
    pr.inflights.add(9, 60);
    pr.reset(21);
    CHECK(pr.state == progress_state::probe);
    CHECK(pr.match == 0);
    CHECK(pr.next == 21);
    CHECK_FALSE(pr.recent_active);
    CHECK_FALSE(pr.probe_sent);
    CHECK(pr.is_learner);
    CHECK(pr.inflights.count() == 0);
    CHECK(pr.inflights.bytes() == 0);
    CHECK(pr.inflights.size() == 2);
    CHECK(pr.inflights.max_bytes() == 50);
}

TEST_CASE("progress probe flow: one append per round until an ack", "[progress]") {
    // How the raft core drives a probe: send, pause, learn from the answer.
    progress pr{.match = 0, .next = 11};
    CHECK_FALSE(pr.is_paused());
    pr.pause();  // a probe at next-1 = 10 is in flight
    CHECK(pr.is_paused());
    CHECK(pr.maybe_decr_to(10, 4));  // rejected; the follower's log ends at 4
    CHECK(pr.next == 5);
    CHECK_FALSE(pr.is_paused());
    pr.pause();
    CHECK_FALSE(pr.maybe_decr_to(10, 4));  // a duplicate of the first rejection
    CHECK(pr.is_paused());
    CHECK(pr.maybe_update(4));  // accepted
    CHECK(pr.match == 4);
    CHECK(pr.next == 5);
    CHECK_FALSE(pr.is_paused());
    pr.become_replicate();
    CHECK(pr.next == 5);
}
