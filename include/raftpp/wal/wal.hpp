// raftpp::wal::write_ahead_log — the durable log of a raft node (etcd's wal.WAL): a directory
// of segment files holding hard states, entries and snapshot markers as CRC-chained records
// (record.hpp), with group commit and crash recovery. It knows records, not Raft rules: the
// storage policy on top (wal_storage.hpp) decides what to write when.
//
//   auto w = wal::create(dir, {.id = 1, .cluster_id = 7});   // once, for a new member
//   auto w = wal::open(dir, snapshot.metadata);              // after a restart...
//   auto c = w.read_all();                                   // ...metadata, hard state, entries
//   w.save(hs, entries, must_sync);                          // every ready cycle
//
// Group commit: append() buffers records and write()s them in batches; sync() writes what is
// buffered and fdatasyncs once, so any number of ready cycles (or async storage writes) can
// share one sync.
//
// Recovery (read_all): a record that fails its checks in the last segment ends the log when
// no valid record header follows it — a write torn by a crash, or zeros preallocated and never
// written — and the segment is truncated there, with a warning through the logger. Anywhere
// else, or when a valid record follows the damage, the WAL is corrupt: read_all throws a
// wal_error naming the file and byte offset, and nothing is truncated.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <raftpp/codec/codec.hpp>
#include <raftpp/error.hpp>
#include <raftpp/logger.hpp>
#include <raftpp/types.hpp>
#include <raftpp/wal/file.hpp>
#include <raftpp/wal/metadata.hpp>
#include <raftpp/wal/record.hpp>
#include <raftpp/wal/segment.hpp>
#include <raftpp/wal/wal_error.hpp>

namespace raftpp::wal {

struct options {
    // A segment is cut once it holds this many bytes (etcd's SegmentSizeBytes).
    std::uint64_t segment_size = std::uint64_t{64} << 20;
    // Reserve each segment's segment_size bytes on disk when it is created.
    bool preallocate = true;
    // Buffered records are written (not synced) once they exceed this many bytes.
    std::size_t write_buffer_size = std::size_t{1} << 20;
};

// What read_all() recovers.
struct contents {
    wal::metadata metadata;
    raftpp::hard_state hard_state;
    // The entries after the snapshot open() was given, overwritten suffixes replaced.
    std::vector<entry> entries;
    // Every snapshot marker read (the snapshots this WAL can start from, in order).
    std::vector<snapshot_metadata> snapshots;
};

// Counters for metrics and tests.
struct wal_stats {
    std::uint64_t syncs = 0;          // fdatasync calls made by sync()
    std::uint64_t sync_nanoseconds = 0;
    std::uint64_t writes = 0;         // write syscalls of buffered records
    std::uint64_t bytes_written = 0;
    std::uint64_t records = 0;
    std::uint64_t segments_cut = 0;
};

// A pending fdatasync of a WAL's tail file (write_ahead_log::prepare_sync). Movable; run()
// may be called on any thread, once.
class sync_ticket {
public:
    sync_ticket() = default;
    explicit sync_ticket(file f) noexcept : f_(std::move(f)) {}
    result<void> run() {
        auto r = f_.datasync();
        f_ = file{};
        return r;
    }

private:
    file f_;
};

template <logger Logger = null_logger>
class write_ahead_log {
public:
    write_ahead_log(write_ahead_log&&) noexcept = default;
    write_ahead_log& operator=(write_ahead_log&&) noexcept = default;
    // Writes what is buffered (a clean shutdown loses nothing written; only a sync makes it
    // durable against power loss).
    ~write_ahead_log() {
        if (tail_.is_open() && !buf_.empty()) (void)flush();
    }

    // Creates a WAL in dir, which must not hold one (errc::wal_exists). The first segment is
    // written in a temporary directory beside dir, synced, and renamed into place, so a crash
    // leaves either no WAL or a complete one. Throws wal_error.
    static write_ahead_log create(const std::filesystem::path& dir, const wal::metadata& md,
                                  options opts = {}, Logger logger = Logger{});

    // Opens the WAL in dir to read it from the snapshot `at` (metadata of the snapshot the
    // state machine restarts from; {} when there is none). Takes an exclusive lock on the
    // directory (errc::wal_locked names it when another process or handle holds it). Call
    // read_all() next; nothing can be written before. Throws wal_error.
    static write_ahead_log open(const std::filesystem::path& dir, const snapshot_metadata& at = {},
                                options opts = {}, Logger logger = Logger{});

    // Reads every record from the segment holding `at` on, repairs a torn tail (see the top of
    // this file) and makes the WAL ready to append. errc::snapshot_not_found when the WAL has
    // no marker for `at` (errc::metadata_mismatch when it has one with another term).
    contents read_all();

    // Write path --------------------------------------------------------------------------
    // Buffers records; written by flush(), made durable by sync(). errc::invalid_argument
    // before read_all() on an opened WAL.
    result<void> append(std::span<const entry> es);
    result<void> append(const hard_state& hs);  // an empty hard state is not written
    // etcd's Save: the entries, then the hard state (so a hard state never commits entries
    // that did not reach the file before it), then a sync when must_sync.
    result<void> save(const hard_state& hs, std::span<const entry> es, bool must_sync);
    // Records that a snapshot at m exists (after its file is durable), and syncs.
    result<void> save_snapshot(const snapshot_metadata& m);
    // The same record into the buffer only: durable with the next sync, which the caller
    // must wait for before it lets go of anything older (raftpp::node's next fdatasync).
    result<void> append_snapshot_marker(const snapshot_metadata& m);
    result<void> flush();
    result<void> sync();
    // sync() in two halves, so the fdatasync can run on another thread while this WAL goes on
    // appending: prepare_sync() writes what is buffered and returns a ticket on the file it
    // went to; once the ticket's run() succeeds, every record written before prepare_sync()
    // is durable (a segment cut since then synced the older file itself).
    result<sync_ticket> prepare_sync();
    // Drops the records appended but not yet written, as a killed process would lose them
    // (for crash tests; a running node never needs it).
    void discard_unwritten() noexcept { buf_.clear(); }
    // False for a moved-from WAL.
    bool is_open() const noexcept { return tail_.is_open(); }

    // Unlinks the segments that hold only entries before index (kept: the last segment
    // starting at or before index, and every later one). Call after a snapshot at index is
    // durable. The directory is not synced (etcd's purge does not either): a segment that a
    // crash brings back lies before the one a restart starts from, and is never read.
    result<void> release_to(index_t index);

    const wal::metadata& metadata() const noexcept { return md_; }
    const std::filesystem::path& dir() const noexcept { return dir_; }
    const wal_stats& stats() const noexcept { return stats_; }
    // Segment files currently in the WAL (oldest first).
    const std::vector<segment_info>& segments() const noexcept { return segments_; }
    // The last entry index written (0 when none).
    index_t last_index() const noexcept { return last_index_; }

private:
    write_ahead_log(std::filesystem::path dir, options opts, Logger logger)
        : dir_(std::move(dir)), opts_(opts), logger_(std::move(logger)) {}

    // What read_all() carries from one segment to the next.
    struct replay {
        bool chain_known = false;  // a segment was read: the next must continue its chain
        std::uint32_t chain_crc = 0;
        bool have_metadata = false;
        bool found = false;        // the marker of the snapshot read_all() starts from
    };

    void lock_directory(const std::filesystem::path& dir);
    // The last segment starting at or before index: it holds the entries after a snapshot
    // at index (later segments start after it, earlier ones end before it: a name carries
    // the next index at cut time, and an overwrite only writes lower indexes into later
    // segments). nullopt when every segment starts after index.
    std::optional<std::size_t> first_segment_for(index_t index) const noexcept {
        for (std::size_t k = segments_.size(); k-- > 0;)
            if (segments_[k].first_index <= index) return k;
        return std::nullopt;
    }
    // Creates a segment file at path (preallocated) holding a segment's head: a crc record,
    // the metadata, then the hard state and the snapshot marker when given; synced. Leaves
    // tail_offset_ after the head.
    result<file> start_segment(const std::filesystem::path& path, const hard_state* hs,
                               const snapshot_metadata* marker);
    result<void> cut();
    void read_segment(std::size_t k, contents& c, replay& r);

    std::filesystem::path dir_;
    options opts_;
    Logger logger_;
    file dir_lock_;                     // the directory, flock'ed while this WAL is open
    wal::metadata md_;
    std::vector<segment_info> segments_;
    file tail_;                         // the last segment, open for appending
    std::uint64_t tail_offset_ = 0;     // where the next record goes in tail_
    std::vector<std::byte> buf_;        // records framed, not yet written
    record_encoder enc_;
    hard_state hs_;                     // the last hard state appended (written at each cut)
    index_t last_index_ = 0;
    snapshot_metadata start_;           // open(): where reading starts
    bool writable_ = false;             // create(), or open() + read_all()
    wal_stats stats_;
};

template <logger Logger = null_logger>
write_ahead_log<Logger> create(const std::filesystem::path& dir, const metadata& md,
                               options opts = {}, Logger logger = Logger{}) {
    return write_ahead_log<Logger>::create(dir, md, opts, std::move(logger));
}

template <logger Logger = null_logger>
write_ahead_log<Logger> open(const std::filesystem::path& dir, const snapshot_metadata& at = {},
                             options opts = {}, Logger logger = Logger{}) {
    return write_ahead_log<Logger>::open(dir, at, opts, std::move(logger));
}

}  // namespace raftpp::wal

#include <raftpp/wal/impl/wal.ipp>
