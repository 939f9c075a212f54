// Tests for raftpp::detail quorum arithmetic and progress_tracker. The tables are the cases of
// etcd's quorum/testdata/{majority,joint}_{commit,vote}.txt, written in the same notation:
// cfg=(voters) cfgj=(outgoing voters | zero) idx=(acked index per voter, _ = not reported)
// votes=(y | n | _ per voter); values are given per distinct voter in order of appearance.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <map>
#include <new>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include <raftpp/detail/progress_tracker.hpp>
#include <raftpp/detail/quorum.hpp>

using namespace raftpp;
using namespace raftpp::detail;

// Counts heap allocations (the benchmarks' counter) so that the paths that must not
// allocate can be checked.
#include "../benchmarks/alloc_counter.hpp"

namespace {

constexpr index_t inf = max_index;

struct spec {
    std::vector<node_id> cfg, cfgj;
    bool joint = false;
    std::vector<std::string> values;  // idx or votes, "_" = none
};

std::vector<std::string> split_list(std::string_view s) {
    std::vector<std::string> out;
    while (!s.empty()) {
        const auto comma = s.find(',');
        out.emplace_back(s.substr(0, comma));
        if (comma == std::string_view::npos) break;
        s.remove_prefix(comma + 1);
    }
    return out;
}

spec parse(std::string_view s) {
    spec p;
    while (!s.empty()) {
        const auto eq = s.find('=');
        REQUIRE(eq != std::string_view::npos);
        const std::string_view key = s.substr(0, eq);
        s.remove_prefix(eq + 1);
        std::vector<std::string> list;
        if (s.substr(0, 4) == "zero") {
            s.remove_prefix(4);
        } else {
            REQUIRE(s.front() == '(');
            const auto close = s.find(')');
            list = split_list(s.substr(1, close - 1));
            s.remove_prefix(close + 1);
        }
        while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
        if (key == "cfg" || key == "cfgj") {
            auto& ids = key == "cfg" ? p.cfg : p.cfgj;
            for (const auto& v : list) ids.push_back(std::stoull(v));
            p.joint = p.joint || key == "cfgj";
        } else {
            REQUIRE((key == "idx" || key == "votes"));
            p.values = list;
        }
    }
    return p;
}

// Assigns values to voters in order of first appearance in (cfg, cfgj); "_" assigns nothing.
std::map<node_id, std::string> assign(const spec& p) {
    std::map<node_id, std::string> by_id;
    std::size_t next = 0;
    std::vector<node_id> all = p.cfg;
    all.insert(all.end(), p.cfgj.begin(), p.cfgj.end());
    for (node_id id : all) {
        if (by_id.count(id) != 0) continue;
        REQUIRE(next < p.values.size());
        by_id[id] = p.values[next++];
    }
    REQUIRE(next == p.values.size());
    std::erase_if(by_id, [](const auto& kv) { return kv.second == "_"; });
    return by_id;
}

using acked_map = std::map<node_id, index_t>;
using votes_map = std::map<node_id, bool>;

auto lookup(const acked_map& m) {
    return [&m](node_id id) -> std::optional<index_t> {
        auto it = m.find(id);
        return it == m.end() ? std::nullopt : std::optional<index_t>(it->second);
    };
}
auto lookup(const votes_map& m) {
    return [&m](node_id id) -> std::optional<bool> {
        auto it = m.find(id);
        return it == m.end() ? std::nullopt : std::optional<bool>(it->second);
    };
}

// The naive reference: sort all acked indexes (missing = 0) descending, take the middle one.
index_t naive_committed(const majority_config& c, const acked_map& acked) {
    if (c.empty()) return inf;
    std::vector<index_t> v;
    for (node_id id : c) v.push_back(acked.count(id) ? acked.at(id) : 0);
    std::sort(v.rbegin(), v.rend());
    return v[c.size() / 2];
}

vote_result naive_vote(const majority_config& c, const votes_map& votes) {
    if (c.empty()) return vote_result::won;
    std::size_t yes = 0, no = 0;
    for (node_id id : c) {
        if (!votes.count(id)) continue;
        ++(votes.at(id) ? yes : no);
    }
    if (2 * yes > c.size()) return vote_result::won;
    if (2 * no >= c.size()) return vote_result::lost;
    return vote_result::pending;
}

struct commit_case {
    std::string_view spec;
    index_t want;
};
struct vote_case {
    std::string_view spec;
    vote_result want;
};

// Runs one committed-index case, with the extra checks etcd's test harness makes.
void check_commit(const commit_case& tc) {
    CAPTURE(tc.spec);
    const spec p = parse(tc.spec);
    acked_map acked;
    for (const auto& [id, v] : assign(p)) acked[id] = std::stoull(v);
    const majority_config c(p.cfg), cj(p.cfgj);
    if (!p.joint) {
        const index_t idx = committed_index(c, lookup(acked));
        CHECK(idx == tc.want);
        CHECK(naive_committed(c, acked) == idx);
        CHECK(committed_index(joint_config{c, {}}, lookup(acked)) == idx);  // zero-joint
        CHECK(committed_index(joint_config{c, c}, lookup(acked)) == idx);   // self-joint
        // Lowering an index that is below the result must not change it.
        for (node_id id : c) {
            if (!acked.count(id) || acked[id] == 0 || acked[id] >= idx) continue;
            for (index_t lower : {acked[id] - 1, index_t{0}}) {
                acked_map overlay = acked;
                overlay[id] = lower;
                CHECK(committed_index(c, lookup(overlay)) == idx);
            }
        }
    } else {
        const index_t idx = committed_index(joint_config{c, cj}, lookup(acked));
        CHECK(idx == tc.want);
        CHECK(committed_index(joint_config{cj, c}, lookup(acked)) == idx);  // symmetry
        CHECK(idx == std::min(naive_committed(c, acked), naive_committed(cj, acked)));
    }
}

void check_vote(const vote_case& tc) {
    CAPTURE(tc.spec);
    const spec p = parse(tc.spec);
    votes_map votes;
    for (const auto& [id, v] : assign(p)) {
        REQUIRE((v == "y" || v == "n"));
        votes[id] = v == "y";
    }
    const majority_config c(p.cfg), cj(p.cfgj);
    if (!p.joint) {
        CHECK(vote_result_of(c, lookup(votes)) == tc.want);
        CHECK(vote_result_of(joint_config{c, {}}, lookup(votes)) == tc.want);
    } else {
        CHECK(vote_result_of(joint_config{c, cj}, lookup(votes)) == tc.want);
        CHECK(vote_result_of(joint_config{cj, c}, lookup(votes)) == tc.want);  // symmetry
    }
}

}  // namespace

TEST_CASE("majority commit index (etcd quorum/testdata/majority_commit.txt)", "[quorum]") {
    const commit_case cases[] = {
        {"", inf},  // the empty quorum commits everything (useful for joint quorums)
        {"cfg=(1) idx=(_)", 0},
        {"cfg=(1) idx=(12)", 12},
        {"cfg=(1,2) idx=(_,_)", 0},
        {"cfg=(1,2) idx=(12,_)", 0},
        {"cfg=(1,2) idx=(12,5)", 5},
        {"cfg=(1,2,3) idx=(_,_,_)", 0},
        {"cfg=(1,2,3) idx=(12,_,_)", 0},
        {"cfg=(1,2,3) idx=(12,5,_)", 5},
        {"cfg=(1,2,3) idx=(12,5,6)", 6},
        {"cfg=(1,2,3) idx=(12,5,4)", 5},
        {"cfg=(1,2,3) idx=(5,5,_)", 5},
        {"cfg=(1,2,3) idx=(5,5,12)", 5},
        {"cfg=(1,2,3) idx=(100,101,103)", 101},
        {"cfg=(1,2,3,4,5) idx=(101,104,103,103,_)", 103},
        {"cfg=(1,2,3,4,5) idx=(101,102,103,103,_)", 102},
        // Beyond etcd's file: the sizes past the on-stack fast path.
        {"cfg=(1,2,3,4,5,6,7) idx=(7,6,5,4,3,2,1)", 4},
        {"cfg=(1,2,3,4,5,6,7,8) idx=(8,7,6,5,4,3,2,1)", 4},
        {"cfg=(1,2,3,4,5,6,7,8,9) idx=(1,2,3,4,5,6,7,8,_)", 4},
    };
    for (const auto& tc : cases) check_commit(tc);
}

TEST_CASE("joint commit index (etcd quorum/testdata/joint_commit.txt)", "[quorum][joint]") {
    const commit_case cases[] = {
        {"cfg=(1,2,3) cfgj=zero idx=(100,101,99)", 100},
        // Non-overlapping singletons: nothing commits until both halves do, then the lower.
        {"cfg=(1) cfgj=(2) idx=(_,_)", 0},
        {"cfg=(1) cfgj=(2) idx=(100,_)", 0},
        {"cfg=(1) cfgj=(2) idx=(13,100)", 13},
        {"cfg=(1) cfgj=(1) idx=(_)", 0},
        {"cfg=(1) cfgj=(1) idx=(100)", 100},
        {"cfg=(1,3) cfgj=(2) idx=(_,_,_)", 0},
        {"cfg=(1,3) cfgj=(2) idx=(100,_,_)", 0},
        {"cfg=(1,3) cfgj=(2) idx=(100,_,50)", 0},
        {"cfg=(1,3) cfgj=(2) idx=(100,45,50)", 45},
        {"cfg=(1,2) cfgj=(2) idx=(_,_)", 0},
        {"cfg=(1,2) cfgj=(2) idx=(100,_)", 0},
        {"cfg=(1,2) cfgj=(2) idx=(_,100)", 0},
        {"cfg=(1,2) cfgj=(2) idx=(50,100)", 50},
        {"cfg=(1,2) cfgj=(2) idx=(100,50)", 50},
        {"cfg=(1,2) cfgj=(3,4) idx=(50,_,_,_)", 0},
        {"cfg=(1,2) cfgj=(3,4) idx=(50,_,49,_)", 0},
        {"cfg=(1,2) cfgj=(3,4) idx=(50,48,49,_)", 0},
        {"cfg=(1,2) cfgj=(3,4) idx=(50,48,49,47)", 47},
        {"cfg=(1,2) cfgj=(2,3) idx=(_,_,_)", 0},
        {"cfg=(1,2) cfgj=(2,3) idx=(100,_,_)", 0},
        {"cfg=(1,2) cfgj=(2,3) idx=(_,100,_)", 0},
        {"cfg=(1,2) cfgj=(2,3) idx=(_,100,99)", 0},
        {"cfg=(1,2) cfgj=(2,3) idx=(101,100,99)", 99},
        {"cfg=(1,2) cfgj=(1,2) idx=(_,_)", 0},
        {"cfg=(1,2) cfgj=(1,2) idx=(_,40)", 0},
        {"cfg=(1,2) cfgj=(1,2) idx=(41,40)", 40},
        {"cfg=(1,2,3) cfgj=(4,5,6) idx=(_,_,_,_,_,_)", 0},
        {"cfg=(1,2,3) cfgj=(4,5,6) idx=(100,_,_,_,_,_)", 0},
        {"cfg=(1,2,3) cfgj=(4,5,6) idx=(100,_,_,90,_,_)", 0},
        {"cfg=(1,2,3) cfgj=(4,5,6) idx=(100,99,_,_,_,_)", 0},
        // First quorum <= 99, second <= 97: both guarantee 90.
        {"cfg=(1,2,3) cfgj=(4,5,6) idx=(_,99,90,97,95,_)", 90},
        {"cfg=(1,2,3) cfgj=(4,5,6) idx=(92,99,90,97,95,_)", 92},
        {"cfg=(1,2,3) cfgj=(4,5,6) idx=(92,99,90,97,95,77)", 92},
        {"cfg=(1,2,3) cfgj=(1,4,5) idx=(_,_,_,_,_)", 0},
        {"cfg=(1,2,3) cfgj=(1,4,5) idx=(100,_,_,_,_)", 0},
        {"cfg=(1,2,3) cfgj=(1,4,5) idx=(100,101,_,_,_)", 0},
        {"cfg=(1,2,3) cfgj=(1,4,5) idx=(100,101,100,_,_)", 0},
        {"cfg=(1,2,3) cfgj=(1,4,5) idx=(_,100,_,99,98)", 0},
        {"cfg=(1,2,3) cfgj=(1,4,5) idx=(_,100,99,99,98)", 98},
        {"cfg=(1,2,3) cfgj=(1,4,5) idx=(1,100,99,99,98)", 98},
        {"cfg=(1,2,3) cfgj=(1,4,5) idx=(100,100,99,99,98)", 99},
        {"cfg=(1,2,3) cfgj=(2,3,4) idx=(_,_,_,_)", 0},
        {"cfg=(1,2,3) cfgj=(2,3,4) idx=(_,100,99,_)", 99},
        {"cfg=(1,2,3) cfgj=(2,3,4) idx=(98,100,99,_)", 99},
        {"cfg=(1,2,3) cfgj=(2,3,4) idx=(100,100,99,_)", 99},
        {"cfg=(1,2,3) cfgj=(2,3,4) idx=(100,100,99,98)", 99},
        {"cfg=(1,2,3) cfgj=(2,3,4) idx=(100,_,_,101)", 0},
        {"cfg=(1,2,3) cfgj=(2,3,4) idx=(100,99,_,101)", 99},
        {"cfg=(1,2,3) cfgj=(1,2,3) idx=(50,45,_)", 45},
        {"cfgj=zero", inf},
    };
    for (const auto& tc : cases) check_commit(tc);
}

TEST_CASE("majority vote result (etcd quorum/testdata/majority_vote.txt)", "[quorum][vote]") {
    const vote_case cases[] = {
        {"", vote_result::won},  // the empty config always wins
        {"cfg=(1) votes=(_)", vote_result::pending},
        {"cfg=(1) votes=(n)", vote_result::lost},
        {"cfg=(123) votes=(y)", vote_result::won},
        {"cfg=(4,8) votes=(_,_)", vote_result::pending},
        {"cfg=(4,8) votes=(n,_)", vote_result::lost},  // one rejection of two loses
        {"cfg=(4,8) votes=(y,_)", vote_result::pending},
        {"cfg=(4,8) votes=(n,y)", vote_result::lost},
        {"cfg=(4,8) votes=(y,y)", vote_result::won},
        {"cfg=(2,4,7) votes=(_,_,_)", vote_result::pending},
        {"cfg=(2,4,7) votes=(n,_,_)", vote_result::pending},
        {"cfg=(2,4,7) votes=(y,_,_)", vote_result::pending},
        {"cfg=(2,4,7) votes=(n,n,_)", vote_result::lost},
        {"cfg=(2,4,7) votes=(y,n,_)", vote_result::pending},
        {"cfg=(2,4,7) votes=(y,y,_)", vote_result::won},
        {"cfg=(2,4,7) votes=(y,y,n)", vote_result::won},
        {"cfg=(2,4,7) votes=(n,y,n)", vote_result::lost},
        {"cfg=(1,2,3,4,5,6,7) votes=(y,y,n,y,_,_,_)", vote_result::pending},
        {"cfg=(1,2,3,4,5,6,7) votes=(_,y,y,_,n,y,n)", vote_result::pending},
        {"cfg=(1,2,3,4,5,6,7) votes=(y,y,n,y,_,n,y)", vote_result::won},
        {"cfg=(1,2,3,4,5,6,7) votes=(y,y,_,n,y,n,n)", vote_result::pending},
        {"cfg=(1,2,3,4,5,6,7) votes=(y,y,n,y,n,n,n)", vote_result::lost},
    };
    for (const auto& tc : cases) check_vote(tc);
}

TEST_CASE("joint vote result (etcd quorum/testdata/joint_vote.txt)", "[quorum][joint][vote]") {
    const vote_case cases[] = {
        {"cfgj=zero", vote_result::won},
        {"cfg=(1) cfgj=zero votes=(_)", vote_result::pending},
        {"cfg=(1) cfgj=zero votes=(y)", vote_result::won},
        {"cfg=(1) cfgj=zero votes=(n)", vote_result::lost},
        {"cfg=(1) cfgj=(1) votes=(_)", vote_result::pending},
        {"cfg=(1) cfgj=(1) votes=(y)", vote_result::won},
        {"cfg=(1) cfgj=(1) votes=(n)", vote_result::lost},
        {"cfg=(1) cfgj=(2) votes=(_,_)", vote_result::pending},
        {"cfg=(1) cfgj=(2) votes=(y,_)", vote_result::pending},
        {"cfg=(1) cfgj=(2) votes=(y,y)", vote_result::won},
        {"cfg=(1) cfgj=(2) votes=(y,n)", vote_result::lost},
        {"cfg=(1) cfgj=(2) votes=(n,_)", vote_result::lost},
        {"cfg=(1) cfgj=(2) votes=(n,n)", vote_result::lost},
        {"cfg=(1) cfgj=(2) votes=(n,y)", vote_result::lost},
        {"cfg=(1,2) cfgj=(3,4) votes=(_,_,_,_)", vote_result::pending},
        {"cfg=(1,2) cfgj=(3,4) votes=(y,_,_,_)", vote_result::pending},
        {"cfg=(1,2) cfgj=(3,4) votes=(y,y,_,_)", vote_result::pending},
        {"cfg=(1,2) cfgj=(3,4) votes=(y,y,n,_)", vote_result::lost},
        {"cfg=(1,2) cfgj=(3,4) votes=(y,y,n,n)", vote_result::lost},
        {"cfg=(1,2) cfgj=(3,4) votes=(y,y,y,n)", vote_result::lost},
        {"cfg=(1,2) cfgj=(3,4) votes=(y,y,y,y)", vote_result::won},
        {"cfg=(1,2) cfgj=(2,3) votes=(_,_,_)", vote_result::pending},
        {"cfg=(1,2) cfgj=(2,3) votes=(_,n,_)", vote_result::lost},
        {"cfg=(1,2) cfgj=(2,3) votes=(y,y,_)", vote_result::pending},
        {"cfg=(1,2) cfgj=(2,3) votes=(y,y,n)", vote_result::lost},
        {"cfg=(1,2) cfgj=(2,3) votes=(y,y,y)", vote_result::won},
        {"cfg=(1,2) cfgj=(1,2) votes=(_,_)", vote_result::pending},
        {"cfg=(1,2) cfgj=(1,2) votes=(y,_)", vote_result::pending},
        {"cfg=(1,2) cfgj=(1,2) votes=(y,n)", vote_result::lost},
        {"cfg=(1,2) cfgj=(1,2) votes=(n,_)", vote_result::lost},
        {"cfg=(1,2) cfgj=(1,2) votes=(n,n)", vote_result::lost},
        {"cfg=(1,2,3) cfgj=(2,3,4) votes=(_,_,_,_)", vote_result::pending},
        {"cfg=(1,2,3) cfgj=(2,3,4) votes=(_,n,_,_)", vote_result::pending},
        {"cfg=(1,2,3) cfgj=(2,3,4) votes=(_,n,n,_)", vote_result::lost},
        {"cfg=(1,2,3) cfgj=(2,3,4) votes=(_,y,y,_)", vote_result::won},
        {"cfg=(1,2,3) cfgj=(2,3,4) votes=(y,y,_,_)", vote_result::pending},
        {"cfg=(1,2,3) cfgj=(2,3,4) votes=(y,y,n,_)", vote_result::pending},
        {"cfg=(1,2,3) cfgj=(2,3,4) votes=(y,y,n,n)", vote_result::lost},
        {"cfg=(1,2,3) cfgj=(2,3,4) votes=(y,y,n,y)", vote_result::won},
    };
    for (const auto& tc : cases) check_vote(tc);
}

TEST_CASE("committed index and votes agree with naive references on random inputs",
          "[quorum][random]") {
    // etcd's quorum/quick_test.go, with a seed to replay a failure: --rng-seed <seed>.
    const auto seed = static_cast<std::uint64_t>(
        Catch::rngSeed() != 0 ? Catch::rngSeed() : std::random_device{}());
    CAPTURE(seed);
    std::mt19937_64 rng(seed);
    auto below = [&](std::uint64_t n) {
        return std::uniform_int_distribution<std::uint64_t>(0, n - 1)(rng);
    };
    auto random_config = [&](std::size_t max_voters) {
        majority_config c;
        const std::size_t n = below(max_voters + 1);
        while (c.size() < n) c.insert(1 + below(2 * max_voters));
        return c;
    };
    for (int iter = 0; iter < 20000; ++iter) {
        CAPTURE(iter);
        const majority_config a = random_config(11), b = random_config(11);
        acked_map acked;
        votes_map votes;
        for (node_id id = 1; id <= 22; ++id) {
            if (below(5) != 0) acked[id] = below(12);
            if (below(3) != 0) votes[id] = below(2) == 0;
        }
        CAPTURE(a.to_string(), b.to_string());
        const index_t ca = committed_index(a, lookup(acked));
        REQUIRE(ca == naive_committed(a, acked));
        REQUIRE(committed_index(joint_config{a, b}, lookup(acked)) ==
                std::min(ca, naive_committed(b, acked)));
        REQUIRE(vote_result_of(a, lookup(votes)) == naive_vote(a, votes));
        const vote_result ra = naive_vote(a, votes), rb = naive_vote(b, votes);
        const vote_result want = ra == rb ? ra
                                 : (ra == vote_result::lost || rb == vote_result::lost)
                                     ? vote_result::lost
                                     : vote_result::pending;
        REQUIRE(vote_result_of(joint_config{a, b}, lookup(votes)) == want);
    }
}

TEST_CASE("node_set is a sorted set without duplicates", "[quorum]") {
    node_set s{3, 1, 2, 3};
    CHECK(s.ids() == std::vector<node_id>{1, 2, 3});
    CHECK(s.to_string() == "(1 2 3)");
    CHECK_FALSE(s.insert(2));
    CHECK(s.insert(0));
    CHECK(s.erase(3));
    CHECK_FALSE(s.erase(3));
    CHECK(s.ids() == std::vector<node_id>{0, 1, 2});
    CHECK(node_set{}.to_string() == "()");

    const joint_config j{{1, 2, 3}, {2, 4}};
    CHECK(j.is_joint());
    CHECK(j.to_string() == "(1 2 3)&&(2 4)");
    CHECK(j.ids().ids() == std::vector<node_id>{1, 2, 3, 4});
    CHECK(j.contains(4));
    CHECK_FALSE(j.contains(5));
    CHECK(joint_config{{1}, {}}.to_string() == "(1)");
}

// ---------------------------------------------------------------------------------------
// progress_tracker

namespace {
progress_tracker make_tracker(std::initializer_list<node_id> incoming,
                              std::initializer_list<node_id> outgoing = {},
                              std::initializer_list<node_id> learners = {}) {
    progress_tracker t(256);
    t.config().voters = joint_config{node_set(incoming), node_set(outgoing)};
    t.config().learners = node_set(learners);
    for (node_id id : t.voter_nodes()) t.insert_progress(id, 1);
    for (node_id id : learners) t.insert_progress(id, 1, true);
    return t;
}
}  // namespace

TEST_CASE("progress_tracker commits by the voters' match, jointly", "[tracker]") {
    auto t = make_tracker({1, 2, 3}, {3, 4, 5}, {6});
    auto set_match = [&](node_id id, index_t m) { t.progress(id)->match = m; };
    set_match(1, 10);
    set_match(2, 10);
    set_match(6, 50);  // learners never count
    CHECK(t.committed() == 0);  // the outgoing half has nothing yet
    set_match(4, 8);
    set_match(5, 9);
    CHECK(t.committed() == 8);
    set_match(3, 12);
    CHECK(t.committed() == 9);

    // Leaving the joint configuration: the incoming half alone decides.
    t.config().voters.outgoing.clear();
    CHECK(t.committed() == 10);
}

TEST_CASE("progress_tracker quorum_active reads recent_active of voters only", "[tracker]") {
    auto t = make_tracker({1, 2, 3}, {}, {4});
    t.visit([](node_id, progress& pr) { pr.recent_active = false; });
    t.progress(4)->recent_active = true;
    t.progress(1)->recent_active = true;
    CHECK_FALSE(t.quorum_active());
    t.progress(2)->recent_active = true;
    CHECK(t.quorum_active());
    CHECK(t.quorum_active());  // resets nothing
    CHECK(t.progress(2)->recent_active);
}

TEST_CASE("progress_tracker vote_won_by needs a quorum of both halves", "[tracker]") {
    auto t = make_tracker({1, 2, 3}, {3, 4, 5}, {6});
    CHECK(t.is_joint());
    CHECK_FALSE(t.vote_won_by(std::vector<node_id>{1, 2, 6}));  // outgoing half missing
    CHECK_FALSE(t.vote_won_by(std::vector<node_id>{3, 6, 1}));
    CHECK(t.vote_won_by(std::vector<node_id>{4, 3, 1}));
    CHECK_FALSE(make_tracker({1, 2, 3}).is_joint());
    CHECK(make_tracker({1, 2, 3}).vote_won_by(std::vector<node_id>{2, 3}));
}

TEST_CASE("progress_tracker tallies the first vote of each node", "[tracker][vote]") {
    auto t = make_tracker({1, 2, 3, 4, 5}, {}, {6});
    t.record_vote(1, true);
    t.record_vote(2, false);
    t.record_vote(2, true);  // ignored: 2 already voted
    t.record_vote(6, true);  // a learner: not counted
    t.record_vote(9, true);  // not tracked: not counted
    auto r = t.tally_votes();
    CHECK(r.granted == 1);
    CHECK(r.rejected == 1);
    CHECK(r.result == vote_result::pending);
    CHECK(t.vote(2) == std::optional<bool>(false));
    t.record_vote(3, true);
    t.record_vote(4, true);
    CHECK(t.tally_votes().result == vote_result::won);

    t.reset_votes();
    CHECK(t.tally_votes().granted == 0);
    t.record_vote(3, false);
    t.record_vote(4, false);
    t.record_vote(5, false);
    r = t.tally_votes();
    CHECK(r.rejected == 3);
    CHECK(r.result == vote_result::lost);
}

TEST_CASE("progress_tracker visits and lists nodes in id order", "[tracker]") {
    auto t = make_tracker({5, 1, 3}, {7, 1}, {9, 2});
    std::vector<node_id> seen;
    t.visit([&](node_id id, progress&) { seen.push_back(id); });
    CHECK(seen == std::vector<node_id>{1, 2, 3, 5, 7, 9});
    CHECK(t.voter_nodes() == std::vector<node_id>{1, 3, 5, 7});
    CHECK(t.learner_nodes() == std::vector<node_id>{2, 9});
    CHECK(t.progress(2)->is_learner);
    CHECK(t.progress(4) == nullptr);
    CHECK_FALSE(t.is_singleton());
    CHECK(make_tracker({1}).is_singleton());
    CHECK_FALSE(make_tracker({1}, {1}).is_singleton());
}

TEST_CASE("progress_tracker conf_state and config round trip", "[tracker]") {
    auto t = make_tracker({3, 1, 2}, {1, 2, 4}, {5});
    t.config().learners_next.insert(4);
    t.config().auto_leave = true;
    const conf_state cs = t.conf_state();
    CHECK(cs.voters == std::vector<node_id>{1, 2, 3});
    CHECK(cs.voters_outgoing == std::vector<node_id>{1, 2, 4});
    CHECK(cs.learners == std::vector<node_id>{5});
    CHECK(cs.learners_next == std::vector<node_id>{4});
    CHECK(cs.auto_leave);
    CHECK(t.auto_leave());
    CHECK(t.config().to_string() ==
          "voters=(1 2 3)&&(1 2 4) learners=(5) learners_next=(4) autoleave");
}

TEST_CASE("progress_tracker inserts and removes progress with its inflight limits",
          "[tracker]") {
    progress_tracker t(8, 4096);
    progress& pr = t.insert_progress(2, 11);
    CHECK(pr.next == 11);
    CHECK(pr.match == 0);
    CHECK(pr.recent_active);
    CHECK(pr.state == progress_state::probe);
    CHECK(pr.inflights.size() == 8);
    CHECK(pr.inflights.max_bytes() == 4096);
    t.insert_progress(1, 11, true);
    CHECK(t.progresses().size() == 2);
    CHECK(t.progresses().begin()->first == 1);
    CHECK(t.remove_progress(2));
    CHECK_FALSE(t.remove_progress(2));
    CHECK(t.progress(2) == nullptr);

    // apply_conf swaps in a configuration computed elsewhere.
    tracker_config cfg;
    cfg.voters.incoming = {7};
    progress_map prs;
    prs.insert_or_assign(7, t.make_progress(3));
    t.apply_conf(cfg, prs);
    CHECK(t.voter_nodes() == std::vector<node_id>{7});
    REQUIRE(t.progress(7) != nullptr);
    CHECK(t.progress(7)->next == 3);
    CHECK(t.progress(1) == nullptr);
    CHECK(t.is_singleton());
}

TEST_CASE("progress_tracker's committed() is the quorum's match for every small size",
          "[tracker]") {
    // committed() takes shortcuts for one majority of up to seven voters (a merge walk, the
    // median of three without sorting): it must agree with sorting the voters' matches.
    std::mt19937_64 rng(20261207);
    for (std::size_t n = 1; n <= 9; ++n) {
        for (int trial = 0; trial < 200; ++trial) {
            std::vector<node_id> ids;
            for (node_id id = 1; ids.size() < n; ++id)
                if (rng() % 3 != 0) ids.push_back(id);  // gaps between the ids
            progress_tracker t(256);
            t.config().voters = joint_config{node_set(ids), node_set()};
            // A learner sorts between the voters and never counts.
            t.config().learners = node_set({ids.back() + 1});
            std::vector<index_t> matches;
            for (node_id id : ids) {
                t.insert_progress(id, 1);
                matches.push_back(rng() % 4 == 0 ? 0 : rng() % 20);
                t.progress(id)->match = matches.back();
            }
            t.insert_progress(ids.back() + 1, 1, true);
            t.progress(ids.back() + 1)->match = 1000;
            std::sort(matches.begin(), matches.end());
            CAPTURE(n, trial);
            CHECK(t.committed() == matches[n - (n / 2 + 1)]);
        }
    }
}

TEST_CASE("quorum hot paths do not allocate", "[tracker][alloc]") {
    auto t = make_tracker({1, 2, 3, 4, 5}, {4, 5, 6, 7, 8}, {9});
    t.visit([](node_id id, progress& pr) {
        pr.match = id * 10;
        pr.recent_active = true;
        pr.become_replicate();
    });
    // Warm up: the votes storage and the inflight buffers reach their working size.
    for (node_id id = 1; id <= 9; ++id) t.record_vote(id, true);
    t.reset_votes();
    t.visit([](node_id, progress& pr) {
        for (index_t i = 1; i <= 256; ++i) pr.inflights.add(i, 1);
        pr.inflights.reset();
    });

    const std::size_t before = raftpp_bench::allocation_count();
    index_t committed = 0;
    bool active = false;
    vote_tally tally;
    for (int round = 0; round < 100; ++round) {
        committed += t.committed();
        active = t.quorum_active();
        t.reset_votes();
        for (node_id id = 1; id <= 9; ++id) t.record_vote(id, id % 2 == 0);
        tally = t.tally_votes();
        t.visit([&](node_id, progress& pr) {
            pr.inflights.add(pr.next, 100);
            pr.optimistic_update(pr.next);
            pr.inflights.free_le(pr.next);
            pr.maybe_update(pr.next - 1);
        });
        if (auto* pr = t.progress(3)) pr->recent_active = true;
    }
    const std::size_t allocations = raftpp_bench::allocation_count() - before;
    CHECK(allocations == 0);
    CHECK(committed > 0);
    CHECK(active);
    CHECK(tally.granted == 4);
}
