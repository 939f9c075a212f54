// raftkv's flags (examples/raftkv/flags.hpp) and metrics (examples/raftkv/metrics.hpp): every
// flag form, the derived defaults, one error line per bad input naming its flag, and the
// Prometheus text a small registry renders.
#include <raftkv/flags.hpp>
#include <raftkv/metrics.hpp>

#include <catch2/catch.hpp>

#include <cstring>
#include <initializer_list>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

using namespace raftkv;

namespace {

parse_result parse(std::initializer_list<const char*> args) {
    std::vector<const char*> argv{"raftkv"};
    argv.insert(argv.end(), args);
    return parse_flags(static_cast<int>(argv.size()), argv.data());
}

bool contains(std::string_view text, std::string_view part) {
    return text.find(part) != std::string_view::npos;
}

}  // namespace

TEST_CASE("no flags gives etcd-like defaults, derived from the name", "[raftkv][flags]") {
    auto r = parse({});
    REQUIRE(r.error.empty());
    const auto& o = r.opts;
    CHECK(o.name == "default");
    CHECK(o.data_dir == "default.raftkv");
    CHECK(o.listen_peer == "http://127.0.0.1:2380");
    CHECK(o.listen_client == "http://127.0.0.1:2379");
    CHECK(o.initial_cluster == "default=http://127.0.0.1:2380");
    CHECK(o.initial_cluster_state == "new");
    CHECK(o.initial_cluster_token == "raftkv-cluster");
    CHECK(o.snapshot_count == 10000);
    CHECK(o.heartbeat_interval_ms == 100);
    CHECK(o.election_timeout_ms == 1000);
    CHECK(o.max_request_bytes == 1572864);
    CHECK(o.threads == 1);
    CHECK(o.max_key_bytes == 4096);
    CHECK_FALSE(o.help);
    CHECK(election_ticks(o) == 10);
}

TEST_CASE("data dir and initial cluster follow --name and --listen-peer whatever their order",
          "[raftkv][flags]") {
    auto r = parse({"--listen-peer", "10.0.0.1:2380", "--name", "n1"});
    REQUIRE(r.error.empty());
    CHECK(r.opts.data_dir == "n1.raftkv");
    CHECK(r.opts.initial_cluster == "n1=10.0.0.1:2380");

    auto explicit_dir = parse({"--data-dir=/var/lib/kv", "--name=n2"});
    REQUIRE(explicit_dir.error.empty());
    CHECK(explicit_dir.opts.data_dir == "/var/lib/kv");
}

TEST_CASE("every flag in both forms, --flag=value and --flag value", "[raftkv][flags]") {
    const char* cluster = "a=http://127.0.0.1:1,b=http://[::1]:2,c=localhost:3";
    auto joined = parse({"--name=a", "--data-dir=d", "--listen-peer=http://127.0.0.1:1",
                         "--listen-client=http://0.0.0.0:9", "--initial-cluster=a=http://127.0.0.1:1,b=http://[::1]:2,c=localhost:3",
                         "--initial-cluster-state=existing", "--initial-cluster-token=t",
                         "--snapshot-count=5", "--heartbeat-interval=50", "--election-timeout=500",
                         "--max-request-bytes=8192", "--max-key-bytes=100", "--threads=3",
                         "--snapshot-catchup-entries=7"});
    auto spaced = parse({"--name", "a", "--data-dir", "d", "--listen-peer", "http://127.0.0.1:1",
                         "--listen-client", "http://0.0.0.0:9", "--initial-cluster", cluster,
                         "--initial-cluster-state", "existing", "--initial-cluster-token", "t",
                         "--snapshot-count", "5", "--heartbeat-interval", "50",
                         "--election-timeout", "500", "--max-request-bytes", "8192",
                         "--max-key-bytes", "100", "--threads", "3",
                         "--snapshot-catchup-entries", "7"});
    for (const auto* r : {&joined, &spaced}) {
        REQUIRE(r->error.empty());
        const auto& o = r->opts;
        CHECK(o.name == "a");
        CHECK(o.data_dir == "d");
        CHECK(o.listen_peer == "http://127.0.0.1:1");
        CHECK(o.listen_client == "http://0.0.0.0:9");
        CHECK(o.initial_cluster == cluster);
        CHECK(o.initial_cluster_state == "existing");
        CHECK(o.initial_cluster_token == "t");
        CHECK(o.snapshot_count == 5);
        CHECK(o.snapshot_catchup_entries == 7);
        CHECK(o.heartbeat_interval_ms == 50);
        CHECK(o.election_timeout_ms == 500);
        CHECK(o.max_request_bytes == 8192);
        CHECK(o.threads == 3);
        CHECK(o.max_key_bytes == 100);
        CHECK(election_ticks(o) == 10);
    }
}

TEST_CASE("etcd's URL flag names are accepted as aliases", "[raftkv][flags]") {
    auto r = parse({"--listen-peer-urls=http://127.0.0.1:7001", "--listen-client-urls",
                    "http://127.0.0.1:7002"});
    REQUIRE(r.error.empty());
    CHECK(r.opts.listen_peer == "http://127.0.0.1:7001");
    CHECK(r.opts.listen_client == "http://127.0.0.1:7002");
}

TEST_CASE("--help and -h stop parsing and ask for help", "[raftkv][flags]") {
    for (const char* h : {"--help", "-h"}) {
        CAPTURE(h);
        auto r = parse({"--snapshot-count=1", h, "--no-such-flag"});
        CHECK(r.error.empty());
        CHECK(r.opts.help);
    }
}

TEST_CASE("a later flag overrides an earlier one", "[raftkv][flags]") {
    auto r = parse({"--snapshot-count=1", "--snapshot-count", "2"});
    REQUIRE(r.error.empty());
    CHECK(r.opts.snapshot_count == 2);
}

TEST_CASE("each bad input is one error line that starts with its flag", "[raftkv][flags]") {
    struct {
        std::string_view name;
        std::vector<const char*> args;
        std::string_view flag;    // the error starts with this
        std::string_view reason;  // and contains this
    } cases[] = {
        {"unknown flag", {"--bogus=1"}, "--bogus", "unknown flag"},
        {"unknown flag without value", {"--bogus"}, "--bogus", "unknown flag"},
        {"missing value at the end", {"--name"}, "--name", "missing value"},
        {"missing value before a flag", {"--name", "--data-dir", "x"}, "--name", "missing value"},
        {"empty value", {"--data-dir="}, "--data-dir", "missing value"},
        {"not a number", {"--snapshot-count=ten"}, "--snapshot-count", "not a number"},
        {"trailing junk", {"--heartbeat-interval", "100ms"}, "--heartbeat-interval", "not a number"},
        {"leading plus", {"--snapshot-count=+5"}, "--snapshot-count", "not a number"},
        {"leading space", {"--snapshot-count= 5"}, "--snapshot-count", "not a number"},
        {"negative", {"--election-timeout", "-5"}, "--election-timeout", "negative"},
        {"overflow of 64 bits", {"--max-request-bytes=99999999999999999999999"},
         "--max-request-bytes", "out of range"},
        {"overflow of 32 bits", {"--heartbeat-interval=4294967296"}, "--heartbeat-interval",
         "out of range"},
        {"zero snapshot count", {"--snapshot-count=0"}, "--snapshot-count", "at least 1"},
        {"zero heartbeat", {"--heartbeat-interval=0"}, "--heartbeat-interval", "at least 1"},
        {"zero threads", {"--threads=0"}, "--threads", "at least 1"},
        {"too many threads", {"--threads=257"}, "--threads", "at most 256"},
        {"election timeout over 50 s", {"--election-timeout=50001"}, "--election-timeout",
         "at most 50000"},
        {"bad cluster state", {"--initial-cluster-state=old"}, "--initial-cluster-state",
         "\"new\" or \"existing\""},
        {"https scheme", {"--listen-peer=https://127.0.0.1:2380"}, "--listen-peer", "http://"},
        {"no port", {"--listen-client=http://127.0.0.1"}, "--listen-client", "port"},
        {"port zero", {"--listen-client=127.0.0.1:0"}, "--listen-client", "1..65535"},
        {"port too big", {"--listen-client=127.0.0.1:65536"}, "--listen-client", "1..65535"},
        {"port junk", {"--listen-client=127.0.0.1:80x"}, "--listen-client", "1..65535"},
        {"a path after the port", {"--listen-peer=http://127.0.0.1:2380/"}, "--listen-peer", "1..65535"},
        {"host name", {"--listen-peer=example.com:2380"}, "--listen-peer", "host"},
        {"bad IPv4", {"--listen-peer=256.0.0.1:2380"}, "--listen-peer", "host"},
        {"short IPv4", {"--listen-peer=10.0.1:2380"}, "--listen-peer", "host"},
        {"IPv6 without brackets", {"--listen-peer=::1:2380"}, "--listen-peer", "host"},
        {"bad IPv6", {"--listen-peer=[1:::2]:2380"}, "--listen-peer", "IPv6"},
        {"unclosed bracket", {"--listen-peer=[::1:2380"}, "--listen-peer", "]"},
        {"alias named as typed", {"--listen-peer-urls=nowhere"}, "--listen-peer-urls", "port"},
        {"cluster entry without =", {"--initial-cluster=default"}, "--initial-cluster", "name=url"},
        {"cluster bad url", {"--initial-cluster=default=http://127.0.0.1"}, "--initial-cluster",
         "port"},
        {"cluster duplicate name", {"--initial-cluster=a=127.0.0.1:1,a=127.0.0.1:2"},
         "--initial-cluster", "twice"},
        {"cluster duplicate address", {"--initial-cluster=a=127.0.0.1:1,b=127.0.0.1:1"},
         "--initial-cluster", "same address"},
        {"cluster without this member", {"--name=c", "--initial-cluster=a=127.0.0.1:1"},
         "--initial-cluster", "\"c\""},
        {"name with a comma", {"--name=a,b"}, "--name", "letters"},
        {"key limit above request limit", {"--max-request-bytes=100", "--max-key-bytes=101"},
         "--max-key-bytes", "--max-request-bytes"},
        {"help takes no value", {"--help=yes"}, "--help", "takes no value"},
    };
    for (const auto& tc : cases) {
        CAPTURE(tc.name);
        std::vector<const char*> argv{"raftkv"};
        argv.insert(argv.end(), tc.args.begin(), tc.args.end());
        auto r = parse_flags(static_cast<int>(argv.size()), argv.data());
        CAPTURE(r.error);
        CHECK(std::string_view(r.error).starts_with(tc.flag));
        CHECK(contains(r.error, tc.reason));
        CHECK_FALSE(contains(r.error, "\n"));
    }
}

TEST_CASE("a positional argument is an error", "[raftkv][flags]") {
    auto r = parse({"serve"});
    CHECK(contains(r.error, "unexpected argument \"serve\""));
}

TEST_CASE("election timeout must be at least 5 heartbeats (etcd's rule)", "[raftkv][flags]") {
    auto ok = parse({"--heartbeat-interval=200", "--election-timeout=1000"});
    REQUIRE(ok.error.empty());
    CHECK(election_ticks(ok.opts) == 5);

    auto bad = parse({"--heartbeat-interval=200", "--election-timeout=999"});
    CHECK(bad.error == "--election-timeout (999 ms) must be at least 5 times --heartbeat-interval (200 ms)");

    // 5 * heartbeat must not wrap around in 32 bits.
    auto huge = parse({"--heartbeat-interval=4294967295", "--election-timeout=50000"});
    CHECK(std::string_view(huge.error).starts_with("--election-timeout"));

    auto top = parse({"--heartbeat-interval=10000", "--election-timeout=50000"});
    REQUIRE(top.error.empty());
    CHECK(election_ticks(top.opts) == 5);
}

TEST_CASE("election ticks round down", "[raftkv][flags]") {
    options o;
    o.heartbeat_interval_ms = 150;
    o.election_timeout_ms = 1000;
    CHECK(election_ticks(o) == 6);
    CHECK(heartbeat_ticks == 1);
}

TEST_CASE("endpoints: http://host:port or host:port", "[raftkv][flags]") {
    auto v4 = parse_endpoint("http://10.1.2.3:2380");
    REQUIRE(v4);
    CHECK(v4->host == "10.1.2.3");
    CHECK(v4->port == 2380);
    auto local = parse_endpoint("localhost:65535");
    REQUIRE(local);
    CHECK(local->host == "localhost");
    CHECK(local->port == 65535);
    for (const char* ok : {"[::1]:1", "http://[::]:80", "[fe80::1:2:3]:9", "[2001:db8:0:0:0:0:0:1]:9",
                           "[::ffff:192.0.2.1]:9", "[1::]:9"}) {
        CAPTURE(ok);
        CHECK(parse_endpoint(ok));
    }
    CHECK(parse_endpoint("[::1]:1")->host == "::1");
    for (const char* bad : {"", ":80", "http://:80", "01.2.3.4:5", "1.2.3.4.5:6", "[]:1",
                            "[1:2:3:4:5:6:7:8:9]:1", "[1:2:3:4:5:6:7]:1", "[::1%eth0]:1",
                            "[12345::]:1", "[::1]1", "ftp://1.2.3.4:5", "1.2.3.4:-1"}) {
        CAPTURE(bad);
        CHECK_FALSE(parse_endpoint(bad));
    }
}

TEST_CASE("initial cluster lists members in order", "[raftkv][flags]") {
    auto c = parse_initial_cluster("n1=http://127.0.0.1:2380,n2=127.0.0.2:2381,n3=http://[::1]:2382");
    REQUIRE(c.error.empty());
    REQUIRE(c.peers.size() == 3);
    CHECK(c.peers[0].name == "n1");
    CHECK(c.peers[0].url == "http://127.0.0.1:2380");
    CHECK(c.peers[1].address.host == "127.0.0.2");
    CHECK(c.peers[2].address.host == "::1");
    CHECK(c.peers[2].address.port == 2382);
    CHECK_FALSE(parse_initial_cluster("").error.empty());
    CHECK_FALSE(parse_initial_cluster("n1=127.0.0.1:1,").error.empty());
}

TEST_CASE("usage lists every flag, its default, one line each", "[raftkv][flags]") {
    auto text = usage();
    for (const char* flag : {"--name", "--data-dir", "--listen-peer", "--listen-peer-urls",
                             "--listen-client", "--listen-client-urls", "--initial-cluster",
                             "--initial-cluster-state", "--initial-cluster-token",
                             "--initial-cluster-id", "--snapshot-count", "--snapshot-catchup-entries",
                             "--heartbeat-interval", "--election-timeout",
                             "--max-request-bytes", "--max-key-bytes", "--threads", "--help", "-h"}) {
        CAPTURE(flag);
        auto at = text.find(std::string(" ") + flag);
        REQUIRE(at != std::string::npos);
        CHECK(std::string_view(" ,\n").find(text[at + 1 + std::strlen(flag)]) != std::string_view::npos);
    }
    for (const char* def : {"(default \"default\")", "(default \"<name>.raftkv\")",
                            "(default \"http://127.0.0.1:2380\")", "(default \"http://127.0.0.1:2379\")",
                            "(default \"<name>=<listen-peer>\")", "(default \"new\")",
                            "(default \"raftkv-cluster\")", "(default 10000)", "(default 100)",
                            "(default 1000)", "(default 1572864)", "(default 4096)", "(default 5000)"}) {
        CAPTURE(def);
        CHECK(contains(text, def));
    }
    // Every flag line names exactly one default, except --help's.
    std::size_t lines = 0;
    for (std::size_t at = 0; (at = text.find("\n  --", at)) != std::string::npos; ++at) ++lines;
    CHECK(lines == 16);
}

TEST_CASE("--initial-cluster-id takes a non-zero hexadecimal id", "[raftkv][flags]") {
    const char* ok[] = {"raftkv", "--initial-cluster-id=66484f09f88385e9"};
    auto r = parse_flags(2, ok);
    REQUIRE(r.error.empty());
    CHECK(r.opts.initial_cluster_id == 0x66484f09f88385e9ULL);
    CHECK(parse_flags(1, ok).opts.initial_cluster_id == 0);
    for (const char* bad : {"--initial-cluster-id=0", "--initial-cluster-id=xyz",
                            "--initial-cluster-id=12 ", "--initial-cluster-id=1ffffffffffffffff"}) {
        CAPTURE(bad);
        const char* argv[] = {"raftkv", bad};
        const auto e = parse_flags(2, argv).error;
        CHECK(e.rfind("--initial-cluster-id", 0) == 0);
    }
}

TEST_CASE("counter and gauge values", "[raftkv][metrics]") {
    counter c;
    CHECK(c.value() == 0);
    c.inc();
    c.inc(41);
    CHECK(c.value() == 42);

    gauge g;
    CHECK(g.value() == 0);
    g.set(3.5);
    g.inc();
    g.dec(0.25);
    CHECK(g.value() == 4.25);
    g.set(-2);
    CHECK(g.value() == -2);
}

TEST_CASE("histogram buckets are cumulative with +Inf last", "[raftkv][metrics]") {
    histogram h({0.1, 1, 10});
    for (double v : {0.05, 0.1, 0.5, 1.0, 20.0}) h.observe(v);
    // le is inclusive: 0.1 falls in the 0.1 bucket, 1.0 in the 1 bucket.
    CHECK(h.cumulative_counts() == std::vector<std::uint64_t>{2, 4, 4, 5});
    CHECK(h.count() == 5);
    CHECK(h.sum() == Approx(21.65));
    h.observe(std::nan(""));
    CHECK(h.cumulative_counts() == std::vector<std::uint64_t>{2, 4, 4, 6});

    CHECK_THROWS_AS(histogram({1, 1}), std::invalid_argument);
    CHECK_THROWS_AS(histogram({2, 1}), std::invalid_argument);
    CHECK_THROWS_AS(histogram({1, HUGE_VAL}), std::invalid_argument);
    CHECK(histogram({}).cumulative_counts() == std::vector<std::uint64_t>{0});

    // Counts kept elsewhere are taken as they are: per bucket in, cumulative out.
    histogram loaded({1, 2});
    const std::uint64_t per_bucket[] = {3, 0, 2};
    loaded.load(per_bucket, 7.5);
    CHECK(loaded.cumulative_counts() == std::vector<std::uint64_t>{3, 3, 5});
    CHECK(loaded.sum() == 7.5);
    const std::uint64_t too_few[] = {1, 2};
    CHECK_THROWS_AS(loaded.load(too_few, 0), std::invalid_argument);
}

TEST_CASE("a small registry renders exact 0.0.4 text", "[raftkv][metrics]") {
    registry r;
    auto& proposals = r.add_counter("raftkv_server_proposals_committed_total",
                                    "The total number of consensus proposals committed.");
    auto& leader = r.add_gauge("raftkv_server_is_leader", "Whether or not this member is a leader.");
    auto& fsync = r.add_histogram("raftkv_disk_wal_fsync_duration_seconds",
                                  "The latency distributions of fsync called by WAL.",
                                  {0.001, 0.002, 0.004});
    r.add_gauge("raftkv_escape", "a \\ and a\nnewline");
    r.add_counter("raftkv_no_help_total", "");
    proposals.inc(3);
    leader.set(1);
    fsync.observe(0.0015);
    fsync.observe(0.003);
    fsync.observe(0.5);
    CHECK(r.render() ==
          "# HELP raftkv_server_proposals_committed_total The total number of consensus proposals committed.\n"
          "# TYPE raftkv_server_proposals_committed_total counter\n"
          "raftkv_server_proposals_committed_total 3\n"
          "# HELP raftkv_server_is_leader Whether or not this member is a leader.\n"
          "# TYPE raftkv_server_is_leader gauge\n"
          "raftkv_server_is_leader 1\n"
          "# HELP raftkv_disk_wal_fsync_duration_seconds The latency distributions of fsync called by WAL.\n"
          "# TYPE raftkv_disk_wal_fsync_duration_seconds histogram\n"
          "raftkv_disk_wal_fsync_duration_seconds_bucket{le=\"0.001\"} 0\n"
          "raftkv_disk_wal_fsync_duration_seconds_bucket{le=\"0.002\"} 1\n"
          "raftkv_disk_wal_fsync_duration_seconds_bucket{le=\"0.004\"} 2\n"
          "raftkv_disk_wal_fsync_duration_seconds_bucket{le=\"+Inf\"} 3\n"
          "raftkv_disk_wal_fsync_duration_seconds_sum 0.5045\n"
          "raftkv_disk_wal_fsync_duration_seconds_count 3\n"
          "# HELP raftkv_escape a \\\\ and a\\nnewline\n"
          "# TYPE raftkv_escape gauge\n"
          "raftkv_escape 0\n"
          "# TYPE raftkv_no_help_total counter\n"
          "raftkv_no_help_total 0\n");
    CHECK(registry::content_type == "text/plain; version=0.0.4; charset=utf-8");
}

TEST_CASE("sample values are written as client_golang writes them", "[raftkv][metrics]") {
    struct {
        double v;
        std::string_view text;
    } cases[] = {
        {0, "0"},           {1, "1"},         {-2.5, "-2.5"},         {0.0001, "0.0001"},
        {0.00001, "1e-05"}, {123456, "123456"}, {1234567, "1.234567e+06"}, {1e6, "1e+06"},
        {HUGE_VAL, "+Inf"}, {-HUGE_VAL, "-Inf"}, {std::nan(""), "NaN"}, {0.1 + 0.2, "0.30000000000000004"},
    };
    for (const auto& tc : cases) {
        CAPTURE(tc.text);
        CHECK(format_value(tc.v) == tc.text);
    }
}

TEST_CASE("latency buckets double from 100 us past 10 s", "[raftkv][metrics]") {
    auto b = latency_buckets();
    REQUIRE(b.size() == 18);
    CHECK(b.front() == 0.0001);
    CHECK(b.back() == Approx(13.1072));
    CHECK(b[b.size() - 2] < 10);
    std::string les;
    for (double x : b) les += format_value(x) + " ";
    CHECK(les == "0.0001 0.0002 0.0004 0.0008 0.0016 0.0032 0.0064 0.0128 0.0256 0.0512 0.1024 "
                 "0.2048 0.4096 0.8192 1.6384 3.2768 6.5536 13.1072 ");
    CHECK_NOTHROW(histogram(b));
}

TEST_CASE("concurrent updates from 4 threads all count", "[raftkv][metrics]") {
    registry r;
    auto& c = r.add_counter("raftkv_test_ops_total", "ops");
    auto& g = r.add_gauge("raftkv_test_inflight", "inflight");
    auto& h = r.add_histogram("raftkv_test_seconds", "latency", latency_buckets());
    constexpr int threads = 4, per_thread = 100000;
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t)
        workers.emplace_back([&] {
            for (int i = 0; i < per_thread; ++i) {
                c.inc();
                g.inc();
                h.observe(0.001);
                if (i % 1000 == 0) (void)r.render();  // scrapes race with updates
            }
        });
    for (auto& w : workers) w.join();
    CHECK(c.value() == threads * per_thread);
    CHECK(g.value() == threads * per_thread);
    CHECK(h.count() == threads * per_thread);
    CHECK(h.sum() == Approx(0.001 * threads * per_thread));
    CHECK(contains(r.render(), "raftkv_test_ops_total 400000\n"));
}

TEST_CASE("bad or taken metric names are rejected", "[raftkv][metrics]") {
    registry r;
    for (const char* bad : {"", "1abc", "a-b", "a b", "raftkv.x", "é", "__reserved"}) {
        CAPTURE(bad);
        CHECK_THROWS_AS(r.add_counter(bad, "h"), std::invalid_argument);
        CHECK_THROWS_AS(r.add_gauge(bad, "h"), std::invalid_argument);
        CHECK_THROWS_AS(r.add_histogram(bad, "h", {1}), std::invalid_argument);
    }
    CHECK_NOTHROW(r.add_counter("a:b_C9", "ok"));
    CHECK_THROWS_AS(r.add_gauge("a:b_C9", "dup"), std::invalid_argument);
    r.add_histogram("lat", "h", {1});
    CHECK_THROWS_AS(r.add_counter("lat_count", "collides with the histogram"), std::invalid_argument);
    CHECK_THROWS_AS(r.add_histogram("bounds", "h", {2, 1}), std::invalid_argument);
    // A histogram refused for its bounds leaves its name free.
    CHECK_NOTHROW(r.add_histogram("bounds", "h", {1, 2}));
    CHECK(is_valid_metric_name("_x:y1"));
    CHECK_FALSE(is_valid_metric_name("9"));
}
