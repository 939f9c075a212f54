// raftpp::wal::snapshotter on real files in temp directories: round trips, the choice of the
// newest snapshot, corrupt files skipped and renamed to .broken, the usable filter, purge, and
// the on-disk format as documented at the top of snapshotter.hpp (checked by a hand-built file).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <span>
#include <string>
#include <vector>

#include <unistd.h>

#include <raftpp/codec/codec.hpp>
#include <raftpp/codec/crc32c.hpp>
#include <raftpp/wal/snapshotter.hpp>

namespace fs = std::filesystem;
using namespace raftpp;
using raftpp::wal::snapshotter;

namespace {

// A fresh directory under the system temp dir, removed with everything in it on scope exit
// (also when a REQUIRE fails and unwinds).
class temp_dir {
public:
    temp_dir() {
        std::string tmpl = (fs::temp_directory_path() / "raftpp-snap-XXXXXX").string();
        REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
        path_ = tmpl;
    }
    ~temp_dir() {
        std::error_code ec;
        fs::remove_all(path_, ec);
    }
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;
    const fs::path& path() const { return path_; }

private:
    fs::path path_;
};

struct log_line {
    log_level level;
    std::string text;
};

// Records every line; copies (the snapshotter holds one) share the record.
struct recording_logger {
    std::shared_ptr<std::vector<log_line>> lines = std::make_shared<std::vector<log_line>>();
    bool enabled(log_level) const noexcept { return true; }
    void write(log_level lv, std::string_view text) const {
        lines->push_back({lv, std::string(text)});
    }
    std::vector<log_line> warnings() const {
        std::vector<log_line> out;
        for (const auto& l : *lines)
            if (l.level == log_level::warning) out.push_back(l);
        return out;
    }
};

constexpr std::uint64_t seed = 0x5eed'0f'5a'b5;

buffer random_bytes(std::size_t n, std::uint64_t s = seed) {
    std::mt19937_64 rng(s);
    buffer b = buffer::uninitialized(n);
    for (std::size_t i = 0; i < n; ++i) b.mutable_data()[i] = static_cast<std::byte>(rng());
    return b;
}

snapshot make_snapshot(term_t term, index_t index, buffer data = buffer("state")) {
    snapshot s;
    s.data = std::move(data);
    s.metadata.term = term;
    s.metadata.index = index;
    s.metadata.conf_state.voters = {1, 2, 3};
    return s;
}

std::string name_of(term_t term, index_t index) {
    return wal::detail::snapshot_file_name(term, index);
}

std::set<std::string> files_in(const fs::path& dir) {
    std::set<std::string> out;
    for (const auto& e : fs::directory_iterator(dir)) out.insert(e.path().filename().string());
    return out;
}

std::vector<std::byte> read_all(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    REQUIRE(in);
    std::vector<char> chars((std::istreambuf_iterator<char>(in)),
                            std::istreambuf_iterator<char>());
    std::vector<std::byte> out(chars.size());
    std::memcpy(out.data(), chars.data(), chars.size());
    return out;
}

void write_all(const fs::path& p, std::span<const std::byte> bytes) {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    REQUIRE(out);
    out.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
    REQUIRE(out);
}

void put_le(std::vector<std::byte>& v, std::size_t at, std::uint64_t x, int bytes) {
    for (int i = 0; i < bytes; ++i) v[at + std::size_t(i)] = std::byte(x >> (8 * i));
}

// A snapshot file built by hand from the format documented in snapshotter.hpp.
std::vector<std::byte> build_file(std::span<const std::byte> meta,
                                  std::span<const std::byte> data, std::uint32_t version = 1) {
    std::vector<std::byte> f(32);
    const char magic[8] = {'R', 'P', 'P', 'S', 'N', 'A', 'P', '\0'};
    std::memcpy(f.data(), magic, 8);
    put_le(f, 8, version, 4);
    put_le(f, 16, meta.size(), 8);
    put_le(f, 24, data.size(), 8);
    // Sized once and copied in: GCC 12 at -O3 warns (-Warray-bounds) on the range inserts.
    f.resize(32 + meta.size() + data.size());
    if (!meta.empty()) std::memcpy(f.data() + 32, meta.data(), meta.size());
    if (!data.empty()) std::memcpy(f.data() + 32 + meta.size(), data.data(), data.size());
    put_le(f, 12, crc32c(std::span<const std::byte>(f).subspan(16)), 4);
    return f;
}

bool contains(const std::string& s, std::string_view part) {
    return s.find(part) != std::string::npos;
}

}  // namespace

TEST_CASE("a saved snapshot loads back equal: joint conf_state, empty and large data",
          "[snapshotter]") {
    const std::size_t size = GENERATE(std::size_t{0}, std::size_t{1} << 20,
                                      (std::size_t{3} << 20) + 5);
    CAPTURE(size, seed);
    temp_dir tmp;
    snapshotter snap(tmp.path());
    snapshot s = make_snapshot(0x2a, 0x1234, random_bytes(size));
    s.metadata.conf_state = {.voters = {1, 2, 3},
                             .learners = {7},
                             .voters_outgoing = {1, 2, 4},
                             .learners_next = {4},
                             .auto_leave = true};

    REQUIRE(snap.save(s));

    const std::string name = "000000000000002a-0000000000001234.snap";
    CHECK(files_in(tmp.path()) == std::set<std::string>{name});  // no .tmp left behind
    auto loaded = snap.load(tmp.path() / name);
    REQUIRE(loaded);
    CHECK(loaded->metadata == s.metadata);
    CHECK(loaded->data == s.data);
    auto newest = snap.load_newest();
    REQUIRE(newest);
    CHECK(*newest == s);
    CHECK(snap.list() == std::vector<std::pair<term_t, index_t>>{{0x2a, 0x1234}});

    // The layout: 32-byte header, metadata as codec encodes it, then the data.
    const auto bytes = read_all(tmp.path() / name);
    const auto meta = codec::encode(s.metadata);
    REQUIRE(bytes.size() == 32 + meta.size() + size);
    CHECK(std::memcmp(bytes.data(), "RPPSNAP\0", 8) == 0);
    CHECK(bytes == build_file(meta, s.data.bytes()));
}

TEST_CASE("a file built by hand from the documented format loads", "[snapshotter][format]") {
    temp_dir tmp;
    snapshotter snap(tmp.path());
    const snapshot s = make_snapshot(3, 99, buffer("hand made"));
    write_all(tmp.path() / name_of(3, 99), build_file(codec::encode(s.metadata), s.data.bytes()));
    auto loaded = snap.load(tmp.path() / name_of(3, 99));
    REQUIRE(loaded);
    CHECK(*loaded == s);
}

TEST_CASE("save creates a missing directory; the constructor does not touch the disk",
          "[snapshotter]") {
    temp_dir tmp;
    const fs::path dir = tmp.path() / "a" / "b";
    snapshotter snap(dir);
    CHECK(snap.dir() == dir);
    CHECK_FALSE(fs::exists(tmp.path() / "a"));
    CHECK_FALSE(snap.load_newest());  // a missing directory holds no snapshot
    CHECK(snap.list().empty());
    REQUIRE(snap.save(make_snapshot(1, 5)));
    CHECK(files_in(dir) == std::set<std::string>{name_of(1, 5)});
}

TEST_CASE("saving an empty snapshot (index 0) writes nothing", "[snapshotter]") {
    temp_dir tmp;
    snapshotter snap(tmp.path() / "snap");
    REQUIRE(snap.save(make_snapshot(4, 0)));
    CHECK_FALSE(fs::exists(tmp.path() / "snap"));
}

TEST_CASE("load_newest picks the highest index, then the highest term", "[snapshotter]") {
    temp_dir tmp;
    snapshotter snap(tmp.path());
    const std::vector<std::pair<term_t, index_t>> saved = {{1, 10}, {2, 30}, {1, 20},
                                                           {3, 25}, {1, 30}, {5, 2}};
    for (auto [t, i] : saved)
        REQUIRE(snap.save(make_snapshot(t, i, buffer(std::to_string(t * 1000 + i)))));
    auto newest = snap.load_newest();
    REQUIRE(newest);
    CHECK(newest->metadata.term == 2);
    CHECK(newest->metadata.index == 30);
    CHECK(newest->data == buffer("2030"));
    CHECK(snap.list() == std::vector<std::pair<term_t, index_t>>{
                             {2, 30}, {1, 30}, {3, 25}, {1, 20}, {1, 10}, {5, 2}});
}

TEST_CASE("saving over an existing snapshot of the same name replaces it", "[snapshotter]") {
    temp_dir tmp;
    snapshotter snap(tmp.path());
    REQUIRE(snap.save(make_snapshot(1, 10, buffer("first version, longer"))));
    REQUIRE(snap.save(make_snapshot(1, 10, buffer("second"))));
    CHECK(files_in(tmp.path()) == std::set<std::string>{name_of(1, 10)});
    auto newest = snap.load_newest();
    REQUIRE(newest);
    CHECK(newest->data == buffer("second"));
}

namespace {
struct corruption {
    std::string_view name;
    std::string_view why;  // expected in the warning
    void (*apply)(const fs::path& newer, const fs::path& older);
};

void flip_bit(const fs::path& p, std::size_t from_end) {
    auto b = read_all(p);
    b[b.size() - 1 - from_end] ^= std::byte{0x10};
    write_all(p, b);
}

const corruption corruptions[] = {
    {"bit flipped in the data", "CRC mismatch", [](const fs::path& p, const fs::path&) {
         flip_bit(p, 0);
     }},
    {"bit flipped in the first data chunk", "CRC mismatch",
     [](const fs::path& p, const fs::path&) { flip_bit(p, (std::size_t{2} << 20) + 3); }},
    {"bit flipped in the metadata", "CRC mismatch", [](const fs::path& p, const fs::path&) {
         auto b = read_all(p);
         b[33] ^= std::byte{1};
         write_all(p, b);
     }},
    {"truncated by one byte", "length mismatch", [](const fs::path& p, const fs::path&) {
         fs::resize_file(p, fs::file_size(p) - 1);
     }},
    {"truncated inside the header", "shorter than the 32-byte header",
     [](const fs::path& p, const fs::path&) { fs::resize_file(p, 20); }},
    {"zero length", "shorter than the 32-byte header",
     [](const fs::path& p, const fs::path&) { fs::resize_file(p, 0); }},
    {"garbage", "bad magic", [](const fs::path& p, const fs::path&) {
         write_all(p, random_bytes(4096, 7).bytes());
     }},
    {"one byte appended", "length mismatch", [](const fs::path& p, const fs::path&) {
         auto b = read_all(p);
         b.push_back(std::byte{0});
         write_all(p, b);
     }},
    {"data length beyond the file (must not be allocated)", "length mismatch",
     [](const fs::path& p, const fs::path&) {
         auto b = read_all(p);
         put_le(b, 24, std::uint64_t{1} << 62, 8);
         write_all(p, b);
     }},
    {"metadata length beyond the file", "length mismatch", [](const fs::path& p, const fs::path&) {
         auto b = read_all(p);
         put_le(b, 16, ~std::uint64_t{0}, 8);
         write_all(p, b);
     }},
    {"unknown format version", "unsupported format version 2",
     [](const fs::path& p, const fs::path&) {
         auto b = read_all(p);
         put_le(b, 8, 2, 4);
         write_all(p, b);
     }},
    {"undecodable metadata under a valid CRC", "metadata does not decode",
     [](const fs::path& p, const fs::path&) {
         const std::byte junk[3] = {std::byte{0xff}, std::byte{0xff}, std::byte{0xff}};
         write_all(p, build_file(junk, {}));
     }},
    {"a valid file under a name that disagrees with its metadata",
     "the name says term 1 index 20", [](const fs::path& p, const fs::path& older) {
         fs::copy_file(older, p, fs::copy_options::overwrite_existing);
     }},
};
}  // namespace

TEST_CASE("a corrupt newest snapshot is skipped with a warning and renamed to .broken",
          "[snapshotter][corruption]") {
    for (const auto& c : corruptions) {
        CAPTURE(c.name);
        temp_dir tmp;
        recording_logger log;
        snapshotter snap(tmp.path(), log);
        const snapshot older = make_snapshot(1, 10, buffer("older"));
        REQUIRE(snap.save(older));
        REQUIRE(snap.save(make_snapshot(1, 20, random_bytes((std::size_t{5} << 19) + 11))));
        const fs::path newer = tmp.path() / name_of(1, 20);
        c.apply(newer, tmp.path() / name_of(1, 10));

        auto direct = snap.load(newer);
        REQUIRE_FALSE(direct);
        CHECK(direct.error() == errc::corrupt_record);
        CHECK(log.lines->empty());  // load() only reports

        auto newest = snap.load_newest();
        REQUIRE(newest);
        CHECK(*newest == older);
        const auto warnings = log.warnings();
        REQUIRE(warnings.size() == 1);
        CAPTURE(warnings[0].text);
        CHECK(contains(warnings[0].text, newer.string()));
        CHECK(contains(warnings[0].text, c.why));
        CHECK(contains(warnings[0].text, name_of(1, 20) + ".broken"));
        CHECK(files_in(tmp.path()) ==
              std::set<std::string>{name_of(1, 10), name_of(1, 20) + ".broken"});

        // The broken file is not looked at again.
        REQUIRE(snap.load_newest());
        CHECK(log.warnings().size() == 1);
    }
}

TEST_CASE("when every snapshot is corrupt load_newest returns none", "[snapshotter][corruption]") {
    temp_dir tmp;
    recording_logger log;
    snapshotter snap(tmp.path(), log);
    REQUIRE(snap.save(make_snapshot(1, 10)));
    REQUIRE(snap.save(make_snapshot(1, 20)));
    flip_bit(tmp.path() / name_of(1, 10), 0);
    fs::resize_file(tmp.path() / name_of(1, 20), 0);
    CHECK_FALSE(snap.load_newest());
    CHECK(log.warnings().size() == 2);
    CHECK(files_in(tmp.path()) ==
          std::set<std::string>{name_of(1, 10) + ".broken", name_of(1, 20) + ".broken"});
    CHECK(snap.list().empty());
}

TEST_CASE("a snapshot that cannot be read is skipped but not renamed", "[snapshotter]") {
    temp_dir tmp;
    recording_logger log;
    snapshotter snap(tmp.path(), log);
    REQUIRE(snap.save(make_snapshot(1, 10)));
    fs::create_directory(tmp.path() / name_of(1, 20));  // open() works, read() fails: EISDIR
    auto direct = snap.load(tmp.path() / name_of(1, 20));
    REQUIRE_FALSE(direct);
    CHECK(direct.error() != errc::corrupt_record);
    auto newest = snap.load_newest();
    REQUIRE(newest);
    CHECK(newest->metadata.index == 10);
    REQUIRE(log.warnings().size() == 1);
    CHECK(contains(log.warnings()[0].text, name_of(1, 20)));
    CHECK(fs::is_directory(tmp.path() / name_of(1, 20)));
}

TEST_CASE("load of a missing file returns its errno", "[snapshotter]") {
    temp_dir tmp;
    snapshotter snap(tmp.path());
    auto r = snap.load(tmp.path() / name_of(1, 1));
    REQUIRE_FALSE(r);
    CHECK(r.error() == std::errc::no_such_file_or_directory);
}

TEST_CASE("load_newest(usable) considers only the snapshots the WAL knows", "[snapshotter]") {
    temp_dir tmp;
    recording_logger log;
    snapshotter snap(tmp.path(), log);
    for (auto [t, i] : std::vector<std::pair<term_t, index_t>>{{1, 10}, {1, 20}, {2, 30}})
        REQUIRE(snap.save(make_snapshot(t, i)));
    auto md = [](term_t t, index_t i) {
        snapshot_metadata m;
        m.term = t;
        m.index = i;
        return m;
    };
    struct {
        std::string_view name;
        std::vector<snapshot_metadata> usable;
        std::optional<index_t> want;
    } cases[] = {
        {"all usable", {md(1, 10), md(1, 20), md(2, 30)}, 30},
        {"newest not usable", {md(1, 10), md(1, 20)}, 20},
        {"only the oldest", {md(1, 10)}, 10},
        {"order of usable does not matter", {md(1, 20), md(0, 0), md(1, 10)}, 20},
        {"the term must match too", {md(1, 30), md(2, 20)}, std::nullopt},
        {"nothing usable", {}, std::nullopt},
    };
    for (const auto& tc : cases) {
        CAPTURE(tc.name);
        auto got = snap.load_newest(tc.usable);
        REQUIRE(got.has_value() == tc.want.has_value());
        if (got) CHECK(got->metadata.index == *tc.want);
    }

    // A corrupt file outside `usable` is not opened, so neither reported nor renamed.
    flip_bit(tmp.path() / name_of(2, 30), 0);
    const snapshot_metadata usable[] = {md(1, 10)};
    REQUIRE(snap.load_newest(usable));
    CHECK(log.warnings().empty());
    CHECK(fs::exists(tmp.path() / name_of(2, 30)));
}

TEST_CASE("purge keeps the newest N snapshots and removes leftover temp files",
          "[snapshotter][purge]") {
    temp_dir tmp;
    snapshotter snap(tmp.path());
    for (index_t i = 1; i <= 5; ++i) REQUIRE(snap.save(make_snapshot(1, i * 10)));
    const std::string stray_tmp = name_of(1, 60) + ".tmp";
    write_all(tmp.path() / stray_tmp, buffer("half written").bytes());
    write_all(tmp.path() / "notes.txt", buffer("not ours").bytes());
    write_all(tmp.path() / (name_of(1, 5) + ".broken"), buffer("evidence").bytes());

    REQUIRE(snap.purge(2));
    CHECK(files_in(tmp.path()) == std::set<std::string>{name_of(1, 50), name_of(1, 40),
                                                        "notes.txt", name_of(1, 5) + ".broken"});
    REQUIRE(snap.purge(2));  // nothing more to do
    CHECK(snap.list().size() == 2);
    REQUIRE(snap.purge(0));
    CHECK(snap.list().empty());
    CHECK(files_in(tmp.path()) == std::set<std::string>{"notes.txt", name_of(1, 5) + ".broken"});

    snapshotter missing(tmp.path() / "none");
    CHECK(missing.purge(1));
}

TEST_CASE("files that are not snapshots are ignored", "[snapshotter]") {
    temp_dir tmp;
    recording_logger log;
    snapshotter snap(tmp.path(), log);
    REQUIRE(snap.save(make_snapshot(1, 10)));
    for (std::string name : {std::string("notes.txt"), std::string("0000.snap"),
                             std::string("zzzzzzzzzzzzzzzz-0000000000000063.snap"),
                             std::string("000000000000000A-0000000000000063.snap"),
                             std::string("0000000000000001-0000000000000063.snap.x"),
                             name_of(1, 99) + ".tmp", name_of(1, 98) + ".broken"})
        write_all(tmp.path() / name, random_bytes(64, 3).bytes());
    fs::create_directory(tmp.path() / "db");

    CHECK(snap.list() == std::vector<std::pair<term_t, index_t>>{{1, 10}});
    auto newest = snap.load_newest();
    REQUIRE(newest);
    CHECK(newest->metadata.index == 10);
    CHECK(log.lines->empty());
}

TEST_CASE("an unusable directory: save and purge return the error, listing throws",
          "[snapshotter]") {
    temp_dir tmp;
    const fs::path not_a_dir = tmp.path() / "file";
    write_all(not_a_dir, buffer("x").bytes());
    snapshotter snap(not_a_dir);
    auto r = snap.save(make_snapshot(1, 1));
    REQUIRE_FALSE(r);
    CHECK(r.error() == std::errc::not_a_directory);
    CHECK_FALSE(snap.purge(1));
    CHECK_THROWS_AS(snap.list(), wal::wal_error);
    try {
        (void)snap.load_newest();
        FAIL("load_newest did not throw");
    } catch (const wal::wal_error& e) {
        CHECK(e.path() == not_a_dir);
        CHECK(e.code() == std::errc::not_a_directory);
    }
}
