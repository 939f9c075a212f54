// wal_storage: a raft node's state survives a restart from disk — hard state, entries,
// snapshots — including a three-node cluster whose members are restarted from their data
// directories mid-run; identity checks and snapshot fallback at open.
#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <raftpp/raw_node.hpp>
#include <raftpp/testing/cluster.hpp>
#include <raftpp/wal/wal_storage.hpp>

#include "wal_test_util.hpp"

using namespace raftpp;
using raftpp::test::make_entries;
using raftpp::test::recording_logger;
using raftpp::test::temp_dir;
namespace fs = std::filesystem;

namespace {

wal_storage_options small_segments() {
    wal_storage_options o;
    o.wal.segment_size = 16 * 1024;
    return o;
}

config node_config(node_id id) {
    config cfg;
    cfg.id = id;
    return cfg;
}

// Runs ready cycles until idle; returns the payloads applied.
template <class Node>
std::vector<std::string> run(Node& node) {
    std::vector<std::string> applied;
    while (node.process_ready([&](const entry& e) {
        if (e.type == entry_type::normal && !e.data.empty()) applied.push_back(e.data.str());
    }).value()) {
    }
    return applied;
}

}  // namespace

TEST_CASE("a single node's log, hard state and commit survive a restart", "[wal_storage]") {
    temp_dir t;
    const wal::metadata md{.id = 1, .cluster_id = 5, .user = {}};
    term_t term = 0;
    {
        auto st = wal_storage<>::open_or_create(t / "data", md);
        raw_node<wal_storage<>> node(node_config(1), st);
        REQUIRE(node.bootstrap({{.id = 1, .learner = false, .context = {}}}));
        run(node);
        REQUIRE(node.campaign());
        run(node);
        REQUIRE(node.propose(buffer("hello")));
        CHECK(run(node) == std::vector<std::string>{"hello"});
        CHECK(st.log_file().stats().syncs > 0);
        term = node.raft().term();
    }
    auto st = wal_storage<>::open_or_create(t / "data", md);
    CHECK(st.metadata() == md);
    CHECK(st.hard_state().commit == st.last_index().value());
    CHECK(st.hard_state().term == term);
    CHECK(st.hard_state().vote == 1);
    const auto ents = st.raw_entries();
    REQUIRE(ents.size() >= 3);
    CHECK(ents.back().data == buffer("hello"));
    // A node restarted over it re-applies the committed log (applied starts at 0).
    raw_node<wal_storage<>> node(node_config(1), st);
    CHECK(run(node) == std::vector<std::string>{"hello"});
    REQUIRE(node.campaign());
    run(node);
    CHECK(node.raft().term() == term + 1);
    REQUIRE(node.propose(buffer("again")));
    CHECK(run(node) == std::vector<std::string>{"again"});
}

TEST_CASE("the ready cycle syncs only when the ready must_sync", "[wal_storage]") {
    temp_dir t;
    auto st = wal_storage<>::create(t / "data", {.id = 1, .cluster_id = 1, .user = {}});
    raw_node<wal_storage<>> node(node_config(1), st);
    REQUIRE(node.bootstrap({{.id = 1, .learner = false, .context = {}}}));
    run(node);
    REQUIRE(node.campaign());
    run(node);
    const auto syncs = st.log_file().stats().syncs;
    for (int i = 0; i < 10; ++i) REQUIRE(node.propose(buffer("p")));
    REQUIRE(node.has_ready());
    auto& rd = node.ready();
    REQUIRE(rd.must_sync);
    REQUIRE(node.persist(rd));
    node.advance();
    CHECK(st.log_file().stats().syncs == syncs + 1);  // ten proposals, one fdatasync
    run(node);
}

TEST_CASE("async storage writes of many ready cycles share one fdatasync", "[wal_storage]") {
    temp_dir t;
    auto st = wal_storage<>::create(t / "data", {.id = 1, .cluster_id = 1, .user = {}});
    config cfg = node_config(1);
    cfg.async_storage_writes = true;
    raw_node<wal_storage<>> node(cfg, st);
    REQUIRE(node.bootstrap({{.id = 1, .learner = false, .context = {}}}));
    run(node);
    REQUIRE(node.campaign());
    run(node);
    REQUIRE(node.raft().role() == role::leader);

    // Eight ready cycles hand out eight writes; the storage thread would batch them.
    std::vector<storage_write> writes;
    for (int i = 0; i < 8; ++i) {
        REQUIRE(node.propose(buffer("p" + std::to_string(i))));
        auto& rd = node.ready();
        REQUIRE(rd.write.has_value());
        writes.push_back(std::move(*rd.write));
        node.advance();
    }
    const auto syncs = st.log_file().stats().syncs;
    for (const auto& w : writes) REQUIRE(node.persist(w, /*sync=*/false));
    REQUIRE(st.sync());
    CHECK(st.log_file().stats().syncs == syncs + 1);
    for (auto& w : writes) node.on_write_complete(std::move(w));
    const auto applied = run(node);
    CHECK(applied == std::vector<std::string>{"p0", "p1", "p2", "p3", "p4", "p5", "p6", "p7"});
    // And all of it is on disk.
    const auto last = st.last_index().value();
    st.~wal_storage();
    new (&st) wal_storage<>(wal_storage<>::open(t / "data"));
    CHECK(st.last_index().value() == last);
    CHECK(st.raw_entries().back().data == buffer("p7"));
}

TEST_CASE("open refuses a WAL that belongs to another member or cluster", "[wal_storage]") {
    temp_dir t;
    { auto st = wal_storage<>::create(t / "data", {.id = 1, .cluster_id = 7, .user = {}}); }
    try {
        (void)wal_storage<>::open(t / "data", {.id = 2, .cluster_id = 7});
        FAIL("opened another member's WAL");
    } catch (const wal::wal_error& e) {
        CHECK(e.code() == errc::metadata_mismatch);
        CHECK_THAT(e.what(), Catch::Contains("member 1 of cluster 7") &&
                                 Catch::Contains("member 2 of cluster 7"));
    }
    CHECK_THROWS_AS(wal_storage<>::open(t / "data", {.id = 1, .cluster_id = 8}), wal::wal_error);
    CHECK_NOTHROW(wal_storage<>::open(t / "data", {.id = 1, .cluster_id = 7}));
    CHECK_NOTHROW(wal_storage<>::open(t / "data"));  // zeros are not checked
}

TEST_CASE("snapshots: restart from the newest, release old segments, fall back when damaged",
          "[wal_storage]") {
    temp_dir t;
    const wal::metadata md{.id = 1, .cluster_id = 1, .user = {}};
    const conf_state cs{{1}, {}, {}, {}, false};
    auto write_log = [&](wal_storage<recording_logger>& st, index_t from, index_t to) {
        REQUIRE(st.append(make_entries(from, to, 1)));
        REQUIRE(st.set_hard_state({1, 1, to}));
        REQUIRE(st.sync());
    };
    recording_logger log;
    std::size_t segments_before = 0;
    {
        auto st = wal_storage<recording_logger>::create(t / "data", md, small_segments(), log);
        write_log(st, 1, 1000);
        REQUIRE(st.create_snapshot(400, &cs, buffer("state@400")));
        REQUIRE(st.compact(400));
        write_log(st, 1001, 1500);
        segments_before = st.log_file().segments().size();
        REQUIRE(st.create_snapshot(1200, &cs, buffer("state@1200")));
        REQUIRE(st.compact(1200));
        // Two snapshots kept: the WAL keeps what the one at 400 needs, no more.
        CHECK(st.log_file().segments().front().first_index <= 400);
        write_log(st, 1501, 1600);
        REQUIRE(st.create_snapshot(1550, &cs, buffer("state@1550")));
        CHECK(st.log_file().segments().size() < segments_before + 1);
        CHECK(st.log_file().segments().front().first_index <= 1200);
        CHECK(st.log_file().segments().front().first_index > 400);
    }
    {
        auto st = wal_storage<>::open(t / "data", {1, 1});
        CHECK(st.snapshot()->metadata.index == 1550);
        CHECK(st.snapshot()->data == buffer("state@1550"));
        CHECK(st.snapshot()->metadata.conf_state == cs);
        CHECK(st.first_index().value() == 1551);
        CHECK(st.last_index().value() == 1600);
        CHECK(st.hard_state().commit == 1600);
    }
    // Damage the newest snapshot file: the restart falls back to the one at 1200.
    fs::path newest;
    for (auto& p : fs::directory_iterator(t / "data" / "snap"))
        if (p.path().extension() == ".snap" && p.path().filename().string() > newest.filename().string())
            newest = p.path();
    {
        std::fstream f(newest, std::ios::in | std::ios::out | std::ios::binary);
        f.seekp(-3, std::ios::end);
        f.put('#');
    }
    recording_logger log2;
    auto st = wal_storage<recording_logger>::open(t / "data", {1, 1}, {}, log2);
    CHECK(st.snapshot()->metadata.index == 1200);
    CHECK(st.snapshot()->data == buffer("state@1200"));
    CHECK(st.first_index().value() == 1201);
    CHECK(st.last_index().value() == 1600);
    CHECK(st.raw_entries().back() == make_entries(1600, 1600, 1)[0]);
    CHECK(log2.contains(log_level::warning, newest.filename().string()));
}

TEST_CASE("a snapshot saved in steps counts once a sync after its marker returned; only then "
          "do older files and segments go", "[wal_storage]") {
    temp_dir t;
    const conf_state cs{{1}, {}, {}, {}, false};
    wal_storage_options one_kept = small_segments();
    one_kept.snapshots_to_keep = 1;  // the strictest: nothing older to fall back to
    auto write_log = [&](wal_storage<>& st, index_t from, index_t to) {
        REQUIRE(st.append(make_entries(from, to, 1)));
        REQUIRE(st.set_hard_state({1, 1, to}));
        REQUIRE(st.sync());
    };
    auto snap_files = [&] {
        std::vector<std::string> names;
        for (auto& p : fs::directory_iterator(t / "data" / "snap"))
            names.push_back(p.path().filename());
        std::sort(names.begin(), names.end());
        return names;
    };
    // Steps 1-3 (the file written on another thread); the marker is left in the WAL's buffer.
    auto save_unsynced = [&](wal_storage<>& st, index_t i, const char* data) {
        auto s = st.begin_snapshot(i, &cs, buffer(data));
        REQUIRE(s);
        result<void> written = errc::io_error;
        std::thread([&] { written = st.write_snapshot_file(*s); }).join();
        REQUIRE(written);
        const auto records = st.log_file().stats().records;
        REQUIRE(st.mark_snapshot(s->metadata));
        CHECK(st.log_file().stats().records == records + 1);
    };
    {
        auto st = wal_storage<>::create(t / "data", {.id = 1, .cluster_id = 1, .user = {}}, one_kept);
        write_log(st, 1, 1000);
        REQUIRE(st.create_snapshot(400, &cs, buffer("state@400")));
        write_log(st, 1001, 1500);
        save_unsynced(st, 1200, "state@1200");
        // In memory at once: a follower far behind is sent it.
        CHECK(st.snapshot()->metadata.index == 1200);
        // Nothing older is let go before the marker is durable.
        CHECK(snap_files().size() == 2);
        CHECK(st.log_file().segments().front().first_index <= 400);
        st.discard_unwritten();  // killed before the sync
    }
    {
        // The file at 1200 has no durable marker: the restart takes the one at 400.
        auto st = wal_storage<>::open(t / "data", {1, 1}, one_kept);
        CHECK(st.snapshot()->metadata.index == 400);
        CHECK(st.last_index().value() == 1500);
        save_unsynced(st, 1200, "state@1200");
        REQUIRE(st.sync());
        REQUIRE(st.release_snapshots());
        CHECK(snap_files() == std::vector<std::string>{wal::detail::snapshot_file_name(1, 1200)});
        CHECK(st.log_file().segments().front().first_index > 400);
        // A snapshot from the leader overtakes one being written: the older gets no marker.
        auto mine = st.begin_snapshot(1300, &cs, buffer("state@1300"));
        REQUIRE(mine);
        REQUIRE(st.write_snapshot_file(*mine));
        REQUIRE(st.apply_snapshot(snapshot{buffer("leader@2000"), {cs, 2000, 2}}));
        const auto records = st.log_file().stats().records;
        REQUIRE(st.mark_snapshot(mine->metadata));
        CHECK(st.log_file().stats().records == records);
        CHECK_FALSE(fs::exists(t / "data" / "snap" / wal::detail::snapshot_file_name(1, 1300)));
    }
    auto st = wal_storage<>::open(t / "data", {1, 1}, one_kept);
    CHECK(st.snapshot()->metadata.index == 2000);
    CHECK(st.snapshot()->data == buffer("leader@2000"));
}

TEST_CASE("a file left without its marker by a crash is removed at the next release, not kept "
          "in place of the snapshot in use", "[wal_storage]") {
    temp_dir t;
    const conf_state cs{{1}, {}, {}, {}, false};
    wal_storage_options one_kept = small_segments();
    one_kept.snapshots_to_keep = 1;
    {
        auto st = wal_storage<>::create(t / "data", {.id = 1, .cluster_id = 1, .user = {}}, one_kept);
        REQUIRE(st.append(make_entries(1, 1500, 1)));
        REQUIRE(st.set_hard_state({1, 1, 1500}));
        REQUIRE(st.sync());
        REQUIRE(st.create_snapshot(400, &cs, buffer("state@400")));
        auto s = st.begin_snapshot(1200, &cs, buffer("state@1200"));
        REQUIRE(s);
        REQUIRE(st.write_snapshot_file(*s));
        REQUIRE(st.mark_snapshot(s->metadata));
        st.discard_unwritten();  // killed before the marker's sync
    }
    {
        auto st = wal_storage<>::open(t / "data", {1, 1}, one_kept);
        REQUIRE(st.snapshot()->metadata.index == 400);
        // The next snapshot lands below the orphan at 1200 (apply batches differ by run).
        REQUIRE(st.create_snapshot(1100, &cs, buffer("state@1100")));
        std::vector<std::string> names;
        for (auto& p : fs::directory_iterator(t / "data" / "snap"))
            names.push_back(p.path().filename());
        CHECK(names == std::vector<std::string>{wal::detail::snapshot_file_name(1, 1100)});
    }
    auto st = wal_storage<>::open(t / "data", {1, 1}, one_kept);
    CHECK(st.snapshot()->metadata.index == 1100);
    CHECK(st.snapshot()->data == buffer("state@1100"));
    CHECK(st.last_index().value() == 1500);
}

TEST_CASE("a snapshot file the WAL has no marker for is skipped", "[wal_storage]") {
    temp_dir t;
    const conf_state cs{{1}, {}, {}, {}, false};
    {
        auto st = wal_storage<>::create(t / "data", {.id = 1, .cluster_id = 1, .user = {}});
        REQUIRE(st.append(make_entries(1, 10, 1)));
        REQUIRE(st.set_hard_state({1, 1, 10}));
        REQUIRE(st.sync());
    }
    // A crash between writing a snapshot file and its WAL marker leaves this behind.
    wal::snapshotter<> snaps(t / "data" / "snap");
    REQUIRE(snaps.save(snapshot{buffer("orphan"), {cs, 8, 1}}));
    auto st = wal_storage<>::open(t / "data");
    CHECK(is_empty(*st.snapshot()));
    CHECK(st.raw_entries().size() == 11);  // the dummy and entries 1..10
}

TEST_CASE("a snapshot from the leader is durable before the log is replaced", "[wal_storage]") {
    temp_dir t;
    const conf_state cs{{1, 2, 3}, {}, {}, {}, false};
    {
        auto st = wal_storage<>::create(t / "data", {.id = 2, .cluster_id = 1, .user = {}});
        REQUIRE(st.append(make_entries(1, 5, 1)));
        REQUIRE(st.sync());
        REQUIRE(st.apply_snapshot(snapshot{buffer("leader state"), {cs, 100, 3}}));
        REQUIRE(st.set_hard_state({3, 0, 100}));
        REQUIRE(st.append(make_entries(101, 102, 3)));
        REQUIRE(st.sync());
        CHECK(st.apply_snapshot(snapshot{buffer("old"), {cs, 50, 2}}).error() ==
              errc::snap_out_of_date);
    }
    auto st = wal_storage<>::open(t / "data", {2, 1});
    CHECK(st.snapshot()->metadata.index == 100);
    CHECK(st.snapshot()->data == buffer("leader state"));
    CHECK(st.first_index().value() == 101);
    CHECK(st.last_index().value() == 102);
    CHECK(st.hard_state() == hard_state{3, 0, 100});
}

// -------------------------------------------------------------------------------------------
// A cluster whose members keep their state in wal_storage directories. The harness builds
// storages with Storage{}; crash() drops what the process had not written and reopens the
// directory, so every restart rebuilds the member from disk.

namespace {

fs::path* cluster_root = nullptr;
int cluster_dirs = 0;

class disk_storage {
public:
    disk_storage()
        : dir_(*cluster_root / ("member-" + std::to_string(cluster_dirs++))),
          st_(std::make_unique<wal_storage<>>(wal_storage<>::create(dir_, {}, small_segments()))) {}

    result<initial_state_t> initial_state() const { return st_->initial_state(); }
    result<std::vector<entry>> entries(index_t lo, index_t hi, std::uint64_t max) const {
        return st_->entries(lo, hi, max);
    }
    result<term_t> term(index_t i) const { return st_->term(i); }
    result<index_t> first_index() const { return st_->first_index(); }
    result<index_t> last_index() const { return st_->last_index(); }
    result<raftpp::snapshot> snapshot() const { return st_->snapshot(); }
    result<void> append(std::span<const entry> es) { return st_->append(es); }
    result<void> set_hard_state(const raftpp::hard_state& hs) { return st_->set_hard_state(hs); }
    result<void> apply_snapshot(const raftpp::snapshot& s) { return st_->apply_snapshot(s); }
    result<void> sync() { return st_->sync(); }
    const raftpp::hard_state& hard_state() const { return st_->hard_state(); }
    wal_storage<>::log_view raw_log() const { return st_->raw_log(); }
    result<raftpp::snapshot> create_snapshot(index_t i, const conf_state* cs, buffer data) {
        return st_->create_snapshot(i, cs, std::move(data));
    }
    result<void> compact(index_t i) { return st_->compact(i); }

    void on_crash() {
        st_->discard_unwritten();
        st_.reset();  // closes the WAL, releasing its lock
        st_ = std::make_unique<wal_storage<>>(wal_storage<>::open(dir_, {}, small_segments()));
        ++reopened;
    }
    int reopened = 0;

private:
    fs::path dir_;
    std::unique_ptr<wal_storage<>> st_;
};
static_assert(testing::cluster_storage<disk_storage>);

}  // namespace

TEST_CASE("a three-node cluster on wal_storage keeps every acknowledged entry across restarts "
          "from disk", "[wal_storage][cluster]") {
    for (std::uint64_t seed : {11u, 12u, 13u}) {
        CAPTURE(seed);
        temp_dir t;
        fs::path root = t.path();
        cluster_root = &root;
        testing::basic_cluster_options<disk_storage> opts;
        opts.voters = {1, 2, 3};
        opts.seed = seed;
        opts.base.pre_vote = true;
        opts.snapshot_interval = 40;
        opts.compaction_retain = 0;
        testing::cluster<null_logger, disk_storage> c(opts);
        REQUIRE(c.bootstrap());
        c.net().drop(testing::any_node, testing::any_node, 0.05);
        int next = 0;
        for (int round = 0; round < 6; ++round) {
            const node_id victim = 1 + static_cast<node_id>((seed + round) % 3);
            for (int k = 0; k < 30; ++k) {
                if (auto l = c.leader()) {
                    const std::string p = "v" + std::to_string(next);
                    if (c.propose(*l, buffer(p))) ++next;
                }
                c.run_ticks(1);
            }
            c.crash(victim);
            c.run_ticks(30);
            c.restart(victim);
        }
        c.net().heal();
        REQUIRE(c.wait_for_leader(500));
        REQUIRE(c.propose(*c.leader(), buffer("final")));
        for (int k = 0; k < 500; ++k) {
            bool done = true;
            for (node_id id : c.ids()) {
                const auto& d = c.applied_data(id);
                done = done && std::find(d.begin(), d.end(), "final") != d.end();
            }
            if (done) break;
            c.run_ticks(1);
        }
        // Every member applied the same sequence, which ends with "final".
        const auto& reference = c.applied_data(*c.leader());
        REQUIRE(!reference.empty());
        CHECK(reference.back() == "final");
        for (node_id id : c.ids()) CHECK(c.applied_data(id) == reference);
        CHECK(c.stats().restarts == 6);
        int reopened = 0;
        for (node_id id : c.ids()) reopened += c.storage(id).reopened;
        CHECK(reopened == 6);  // every restart rebuilt the member from its directory
        CHECK(c.stats().snapshots_created > 0);
        for (const auto& v : c.violations()) UNSCOPED_INFO(v);
        CHECK(c.violations().empty());
        cluster_root = nullptr;
    }
}
