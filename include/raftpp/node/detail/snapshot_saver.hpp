// raftpp::node's snapshot files, written off its strand. A storage that splits its
// create_snapshot (wal_storage: begin, write the file, mark, release) has the file written
// and fsynced on a thread of its own, as etcd saves its snapshots off its apply loop: the
// cycle pays for the state machine's snapshot() and the copy into memory, and every proposal
// in flight no longer waits for two fsyncs. One snapshot is in the pipeline at a time:
//   writing  the file is being written on the saver's thread;
//   marking  the file is durable and its WAL marker is in the WAL's buffer, waiting for a
//            sync that began after it (the node's next fdatasync carries it);
//   idle     released: older files and WAL segments let go, the next one may begin.
// A crash in any stage restarts from the newest snapshot whose marker is durable.
#pragma once

#include <concepts>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <utility>

#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>

#include <raftpp/buffer.hpp>
#include <raftpp/error.hpp>
#include <raftpp/types.hpp>

namespace raftpp::detail {

template <class Storage>
concept split_snapshots = requires(Storage& st, const snapshot& s, const snapshot_metadata& m,
                                   const conf_state* cs, buffer b) {
    { st.begin_snapshot(index_t{}, cs, b) } -> std::same_as<result<snapshot>>;
    { st.write_snapshot_file(s) } -> std::same_as<result<void>>;
    { st.mark_snapshot(m) } -> std::same_as<result<void>>;
    { st.release_snapshots() } -> std::same_as<result<void>>;
};

// Touched on the node's strand only, but for the job the saver's thread runs.
template <class Storage>
class snapshot_saver {
public:
    snapshot_saver() : pool_(1) {}
    snapshot_saver(const snapshot_saver&) = delete;
    snapshot_saver& operator=(const snapshot_saver&) = delete;
    ~snapshot_saver() { pool_.join(); }

    bool idle() const noexcept { return stage_ == stage::idle; }

    // Writes s's file on the saver's thread, then calls written() there: it must post to the
    // strand, which then calls finish_write().
    template <class Written>
    void start(Storage& st, snapshot s, Written written) {
        auto j = std::make_shared<job>();
        job_ = j;
        meta_ = s.metadata;
        stage_ = stage::writing;
        boost::asio::post(pool_, [j, &st, s = std::move(s), written = std::move(written)]() mutable {
            result<void> r = st.write_snapshot_file(s);
            {
                std::lock_guard lock(j->mu);
                j->r = r;
                j->done = true;
            }
            j->cv.notify_all();
            written();
        });
    }

    // On the strand, once the file is written (or right away, waiting for it, when the node
    // needs the directory: a snapshot from the leader, a stop). Marks the snapshot in the WAL
    // when it was written; syncs_begun: the node's count of syncs begun so far, so that
    // ready_to_release() knows which sync carries the marker. A second call is a no-op.
    result<void> finish_write(Storage& st, std::uint64_t syncs_begun) {
        if (stage_ != stage::writing) return {};
        std::unique_lock lock(job_->mu);
        job_->cv.wait(lock, [&] { return job_->done; });
        const result<void> r = job_->r;
        lock.unlock();
        job_.reset();
        if (!r) {
            stage_ = stage::idle;
            return r;
        }
        if (auto m = st.mark_snapshot(meta_); !m) {
            stage_ = stage::idle;
            return m;
        }
        stage_ = stage::marking;
        marked_after_ = syncs_begun;
        return {};
    }

    // Marked, and the marker waits for a sync to begin.
    bool needs_sync(std::uint64_t syncs_begun) const noexcept {
        return stage_ == stage::marking && syncs_begun <= marked_after_;
    }

    // A sync returned: the one begun as number `sync`. Releases when it carried the marker.
    result<void> on_synced(Storage& st, std::uint64_t sync) {
        if (stage_ != stage::marking || sync <= marked_after_) return {};
        stage_ = stage::idle;
        return st.release_snapshots();
    }

    // The stop waits for the file and joins the thread: nothing runs after it.
    void join() { pool_.join(); }

private:
    enum class stage { idle, writing, marking };
    struct job {
        std::mutex mu;
        std::condition_variable cv;
        bool done = false;
        result<void> r;
    };

    boost::asio::thread_pool pool_;
    stage stage_ = stage::idle;
    std::shared_ptr<job> job_;
    snapshot_metadata meta_;
    std::uint64_t marked_after_ = 0;
};

}  // namespace raftpp::detail
