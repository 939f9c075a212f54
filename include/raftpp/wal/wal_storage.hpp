// raftpp::wal_storage — a durable storage policy: the log served from memory (memory_storage,
// as etcd's server keeps a MemoryStorage over its WAL), every write persisted through the WAL
// (wal.hpp) and the snapshots in files (snapshotter.hpp). A directory holds one member:
//   <dir>/wal/   segment files        <dir>/snap/   <term>-<index>.snap files
//
//   auto st = wal_storage<>::open_or_create(dir, {.id = 1, .cluster_id = 7});
//   raw_node<wal_storage<>> node(cfg, st);   // process_ready persists, syncs, then sends
//
// Durability follows the ready cycle, which calls append(), then set_hard_state(), then
// sync() when the ready must_sync: append() buffers entry records; set_hard_state() adds the
// hard state after them and writes the buffer to the file (so a killed process loses no
// commit index, though only a sync survives power loss); sync() writes what is left and
// fdatasyncs once for the whole cycle. Snapshots are written to their file and marked in the
// WAL (both synced) before the log forgets what they cover.
//
// Restart: open() loads the newest snapshot that the WAL has a marker for (falling back to an
// older one when the newest file is damaged), then replays the WAL after it.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <raftpp/concepts.hpp>
#include <raftpp/error.hpp>
#include <raftpp/logger.hpp>
#include <raftpp/memory_storage.hpp>
#include <raftpp/types.hpp>
#include <raftpp/wal/snapshotter.hpp>
#include <raftpp/wal/wal.hpp>
#include <raftpp/wal/wal_error.hpp>

namespace raftpp {

struct wal_storage_options {
    wal::options wal;
    // Snapshot files kept (etcd keeps 5). The WAL keeps the segments the oldest of them
    // needs, so a restart can fall back to it if the newest file is damaged.
    std::size_t snapshots_to_keep = 2;
};

// The identity open() expects to find in the WAL; a zero field is not checked.
struct wal_identity {
    node_id id = 0;
    std::uint64_t cluster_id = 0;
};

template <logger Logger = null_logger>
class wal_storage {
public:
    using log_view = memory_storage::log_view;

    // Whether dir holds a member's WAL.
    static bool exists(const std::filesystem::path& dir) { return wal::exists(dir / "wal"); }

    // A new member's storage in dir (created if missing): an empty log and a WAL whose
    // metadata is md. Throws wal::wal_error (errc::wal_exists when dir already has a WAL).
    static wal_storage create(const std::filesystem::path& dir, const wal::metadata& md,
                              wal_storage_options opts = {}, Logger logger = Logger{}) {
        auto w = wal::write_ahead_log<Logger>::create(dir / "wal", md, opts.wal, logger);
        return wal_storage(dir, std::move(w), opts, std::move(logger));
    }

    // Rebuilds the storage in dir from its newest usable snapshot and the WAL after it.
    // Throws wal::wal_error: errc::metadata_mismatch naming both ids when `expect` disagrees
    // with the WAL, errc::corrupt_record naming file and offset for a damaged WAL, ...
    static wal_storage open(const std::filesystem::path& dir, wal_identity expect = {},
                            wal_storage_options opts = {}, Logger logger = Logger{});

    // open() when dir has a WAL, create() otherwise.
    static wal_storage open_or_create(const std::filesystem::path& dir, const wal::metadata& md,
                                      wal_storage_options opts = {}, Logger logger = Logger{}) {
        if (exists(dir)) return open(dir, {md.id, md.cluster_id}, opts, std::move(logger));
        return create(dir, md, opts, std::move(logger));
    }

    wal_storage(wal_storage&&) noexcept = default;
    wal_storage& operator=(wal_storage&&) noexcept = default;
    // A clean shutdown writes what is buffered (the last hard state included).
    ~wal_storage() = default;

    // storage_reader: served from memory -----------------------------------------------------
    result<initial_state_t> initial_state() const { return mem_.initial_state(); }
    result<std::vector<entry>> entries(index_t lo, index_t hi, std::uint64_t max_size) const {
        return mem_.entries(lo, hi, max_size);
    }
    result<void> entries_into(index_t lo, index_t hi, std::uint64_t max_size,
                              std::vector<entry>& out) const {
        return mem_.entries_into(lo, hi, max_size, out);
    }
    result<term_t> term(index_t i) const { return mem_.term(i); }
    result<index_t> first_index() const { return mem_.first_index(); }
    result<index_t> last_index() const { return mem_.last_index(); }
    result<raftpp::snapshot> snapshot() const { return mem_.snapshot(); }

    // storage_writer: memory, then the WAL's buffer ------------------------------------------
    result<void> append(std::span<const entry> es) {
        if (auto r = mem_.append(es); !r) return r;
        return wal_.append(es);
    }
    // Call after this cycle's append(), as raw_node does: the hard state record must follow
    // the entries its commit index covers.
    result<void> set_hard_state(const raftpp::hard_state& hs) {
        if (auto r = mem_.set_hard_state(hs); !r) return r;
        if (auto r = wal_.append(hs); !r) return r;
        return wal_.flush();
    }
    // A snapshot from the leader: its file and WAL marker are durable before the log is
    // replaced (etcd's order), so a crash in between restarts from the old state.
    result<void> apply_snapshot(const raftpp::snapshot& snap) {
        if (mem_.snapshot()->metadata.index >= snap.metadata.index) return errc::snap_out_of_date;
        if (auto r = save_snapshot(snap); !r) return r;
        return mem_.apply_snapshot(snap);
    }
    // Writes what is buffered and fdatasyncs (the optional ability raw_node::persist uses).
    result<void> sync() { return wal_.sync(); }
    // sync() with the fdatasync left to the caller, on any thread (raftpp::node overlaps it
    // with its next cycles); see write_ahead_log::prepare_sync.
    result<wal::sync_ticket> prepare_sync() { return wal_.prepare_sync(); }

    // Application side, as memory_storage's ----------------------------------------------------
    // A snapshot of the state machine at i, written to its file and marked in the WAL; older
    // snapshot files beyond snapshots_to_keep are removed and the WAL segments that no kept
    // snapshot needs are released.
    result<raftpp::snapshot> create_snapshot(index_t i, const conf_state* cs, buffer data) {
        auto s = mem_.create_snapshot(i, cs, std::move(data));
        if (!s) return s;
        if (auto r = save_snapshot(*s); !r) return r.error();
        return s;
    }
    // create_snapshot in steps, for an owner that keeps the snapshot file's fsyncs off its
    // own thread (raftpp::node does; etcd saves its snapshots off the apply loop too):
    //   1. begin_snapshot(i, cs, data): the snapshot in memory, served to followers at once;
    //   2. write_snapshot_file(s), on any one other thread: the file, durable;
    //   3. mark_snapshot(s.metadata): the WAL's marker, into the WAL's buffer (when a newer
    //      snapshot has come in since step 1: no marker, and the file is removed);
    //   4. release_snapshots(), once a sync() or prepare_sync() ticket begun after step 3 has
    //      returned: older files and WAL segments let go.
    // Steps 1, 3 and 4 run on the owner's thread. While step 2 runs, the owner calls none of
    // apply_snapshot, create_snapshot and release_snapshots: they use the directory too.
    // A crash at any point restarts from the newest snapshot whose marker is durable.
    result<raftpp::snapshot> begin_snapshot(index_t i, const conf_state* cs, buffer data) {
        return mem_.create_snapshot(i, cs, std::move(data));
    }
    result<void> write_snapshot_file(const raftpp::snapshot& s) noexcept { return snap_.save(s); }
    result<void> mark_snapshot(const snapshot_metadata& m) {
        // Overtaken: never marked, the file would only take a kept place.
        if (m.index < mem_.snapshot()->metadata.index) return snap_.remove(m.term, m.index);
        return wal_.append_snapshot_marker(m);
    }
    // Older snapshot files beyond snapshots_to_keep removed, and the WAL segments that no
    // kept snapshot needs.
    result<void> release_snapshots() { return release_through(mem_.snapshot()->metadata.index); }

    // Drops entries before compact_index from memory (the WAL already let go of what no kept
    // snapshot needs).
    result<void> compact(index_t compact_index) { return mem_.compact(compact_index); }

    const raftpp::hard_state& hard_state() const noexcept { return mem_.hard_state(); }
    log_view raw_log() const noexcept { return mem_.raw_log(); }
    std::vector<entry> raw_entries() const { return mem_.raw_entries(); }

    // Drops what was buffered and not yet written, as a killed process would (crash tests).
    void discard_unwritten() noexcept { wal_.discard_unwritten(); }

    const wal::metadata& metadata() const noexcept { return wal_.metadata(); }
    const std::filesystem::path& dir() const noexcept { return dir_; }
    wal::write_ahead_log<Logger>& log_file() noexcept { return wal_; }
    const wal::write_ahead_log<Logger>& log_file() const noexcept { return wal_; }
    const memory_storage& memory() const noexcept { return mem_; }

private:
    wal_storage(std::filesystem::path dir, wal::write_ahead_log<Logger> w,
                wal_storage_options opts, Logger logger)
        : dir_(std::move(dir)), opts_(opts), wal_(std::move(w)),
          snap_(dir_ / "snap", logger), logger_(std::move(logger)) {}

    result<void> save_snapshot(const raftpp::snapshot& s) {
        if (auto r = snap_.save(s); !r) return r;
        if (auto r = wal_.save_snapshot(s.metadata); !r) return r;
        return release_through(s.metadata.index);
    }

    // newest: the snapshot in use, its marker durable. A file above it has no durable
    // marker (a crash came between the file and its marker's sync, and the restart fell
    // back): it goes too, or it would take a kept place, and the WAL would be released up
    // to it, leaving nothing a restart can use.
    result<void> release_through(index_t newest) {
        if (auto r = snap_.purge(std::max<std::size_t>(opts_.snapshots_to_keep, 1), newest); !r)
            return r;
        // The WAL keeps what the oldest kept snapshot needs to restart from it.
        std::optional<index_t> oldest;
        try {
            for (const auto& [term, index] : snap_.list())
                oldest = std::min(oldest.value_or(index), index);
        } catch (const wal::wal_error& e) {
            return e.code();
        }
        return oldest ? wal_.release_to(*oldest) : result<void>{};
    }

    std::filesystem::path dir_;
    wal_storage_options opts_;
    wal::write_ahead_log<Logger> wal_;
    wal::snapshotter<Logger> snap_;
    Logger logger_;
    memory_storage mem_;
};

template <logger Logger>
wal_storage<Logger> wal_storage<Logger>::open(const std::filesystem::path& dir,
                                              wal_identity expect, wal_storage_options opts,
                                              Logger logger) {
    wal::snapshotter<Logger> snaps(dir / "snap", logger);
    // The newest snapshot below `limit` whose file checks out. A damaged file, or one the WAL
    // has no marker for (a crash between writing the file and the marker), gives way to the
    // next older one.
    auto newest_below = [&](index_t limit) -> std::optional<raftpp::snapshot> {
        for (const auto& [term, index] : snaps.list()) {
            if (index >= limit) continue;
            const auto name = wal::detail::snapshot_file_name(term, index);
            auto s = snaps.load(snaps.dir() / name);
            if (s) return std::move(*s);
            RAFTPP_LOG(logger, log_level::warning, "wal_storage: skipping snapshot ", name, ": ",
                       s.error().message());
        }
        return std::nullopt;
    };
    std::optional<raftpp::snapshot> snap = newest_below(no_limit);
    for (;;) {
        const snapshot_metadata at = snap ? snap->metadata : snapshot_metadata{};
        try {
            auto w = wal::write_ahead_log<Logger>::open(dir / "wal", at, opts.wal, logger);
            auto c = w.read_all();
            const auto& md = c.metadata;
            if ((expect.id != 0 && expect.id != md.id) ||
                (expect.cluster_id != 0 && expect.cluster_id != md.cluster_id))
                throw wal::wal_error(
                    errc::metadata_mismatch, dir / "wal",
                    "the WAL belongs to member " + std::to_string(md.id) + " of cluster " +
                        std::to_string(md.cluster_id) + ", but member " +
                        std::to_string(expect.id) + " of cluster " +
                        std::to_string(expect.cluster_id) + " was expected");
            const index_t last = c.entries.empty() ? at.index : c.entries.back().index;
            if (c.hard_state.commit > last)
                throw wal::wal_error(errc::corrupt_record, dir / "wal",
                                     "the hard state commits index " +
                                         std::to_string(c.hard_state.commit) +
                                         " beyond the last entry " + std::to_string(last));
            wal_storage st(dir, std::move(w), opts, logger);
            if (snap) wal::value_or_throw(st.mem_.apply_snapshot(*snap), dir, "load the snapshot");
            wal::value_or_throw(st.mem_.set_hard_state(c.hard_state), dir, "load the hard state");
            wal::value_or_throw(st.mem_.append(c.entries), dir, "load the entries");
            return st;
        } catch (const wal::wal_error& e) {
            if (!snap || (e.code() != errc::snapshot_not_found && e.code() != errc::wal_not_found))
                throw;
            RAFTPP_LOG(logger, log_level::warning, "wal_storage: the WAL cannot start from ",
                       "snapshot ", at.index, " (", e.what(), "); trying an older one");
            snap = newest_below(at.index);
        }
    }
}

static_assert(storage<wal_storage<>>);

}  // namespace raftpp
