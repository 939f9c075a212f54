// Template bodies of write_ahead_log (wal.hpp): create/open, recovery, the write path, cuts.
#pragma once

namespace raftpp::wal {

template <logger Logger>
void write_ahead_log<Logger>::lock_directory(const std::filesystem::path& dir) {
    auto d = file::open_directory(dir);
    if (!d) throw wal_error(d.error(), dir, "cannot open the WAL directory: " + d.error().message());
    if (auto r = d->lock_exclusive(); !r) {
        if (r.error() == std::errc::resource_unavailable_try_again)
            throw wal_error(errc::wal_locked, dir,
                            "the WAL is in use: another process (or handle) holds its lock");
        throw wal_error(r.error(), dir, "cannot lock the WAL directory: " + r.error().message());
    }
    dir_lock_ = std::move(*d);
}

template <logger Logger>
write_ahead_log<Logger> write_ahead_log<Logger>::create(const std::filesystem::path& dir,
                                                        const wal::metadata& md, options opts,
                                                        Logger logger) {
    namespace fs = std::filesystem;
    if (wal::exists(dir))
        throw wal_error(errc::wal_exists, dir, "a WAL already exists in this directory");
    fs::path target = dir.lexically_normal();
    if (!target.has_filename()) target = target.parent_path();
    const fs::path tmp = target.string() + ".tmp";
    std::error_code ec;
    fs::remove_all(tmp, ec);  // left by a create() that crashed midway
    if (target.has_parent_path()) fs::create_directories(target.parent_path(), ec);
    ec.clear();
    if (!fs::create_directory(tmp, ec) || ec)
        throw wal_error(ec ? ec : std::make_error_code(std::errc::file_exists), tmp,
                        "cannot create the temporary WAL directory");

    write_ahead_log w(target, opts, std::move(logger));
    w.lock_directory(tmp);  // the lock belongs to the directory and follows it through rename
    w.md_ = md;
    const std::string name = segment_file_name(0, 0);
    const snapshot_metadata none{};  // etcd starts every WAL with a {0, 0} snapshot marker
    w.tail_ = value_or_throw(w.start_segment(tmp / name, nullptr, &none), tmp / name,
                             "create the first segment");
    value_or_throw(sync_directory(tmp), tmp, "fsync");
    // rename(2) replaces dir when it is missing or an empty directory.
    if (auto r = rename_durable(tmp, target); !r) {
        fs::remove_all(tmp, ec);
        throw wal_error(r.error(), target,
                        "cannot move the new WAL into place: " + r.error().message());
    }
    w.segments_.push_back({0, 0, target / name});
    w.writable_ = true;
    return w;
}

template <logger Logger>
write_ahead_log<Logger> write_ahead_log<Logger>::open(const std::filesystem::path& dir,
                                                      const snapshot_metadata& at, options opts,
                                                      Logger logger) {
    write_ahead_log w(dir, opts, std::move(logger));
    w.segments_ = list_segments(dir);  // first: a missing directory is errc::wal_not_found
    // A gap from the segment a replay starts at on is a lost segment (etcd checks the same
    // range); one before it, segments a crash half brought back after their release.
    check_no_gap(w.segments_, w.first_segment_for(at.index).value_or(0), dir);
    w.lock_directory(dir);
    w.start_ = at;
    return w;
}

template <logger Logger>
contents write_ahead_log<Logger>::read_all() {
    if (writable_) throw wal_error(errc::invalid_argument, dir_, "read_all() after writing");
    const std::size_t first = first_segment_for(start_.index).value_or(segments_.size());
    if (first == segments_.size())
        throw wal_error(errc::wal_not_found, dir_,
                        "no segment holds index " + std::to_string(start_.index) +
                            " (the oldest starts at " + std::to_string(segments_[0].first_index) +
                            ")");
    contents c;
    replay r;
    for (std::size_t k = first; k < segments_.size(); ++k) read_segment(k, c, r);
    if (!r.found)
        throw wal_error(errc::snapshot_not_found, dir_,
                        "no snapshot marker for index " + std::to_string(start_.index) +
                            " term " + std::to_string(start_.term));
    md_ = c.metadata;
    hs_ = c.hard_state;
    if (!c.entries.empty()) last_index_ = c.entries.back().index;
    last_index_ = std::max(last_index_, start_.index);
    writable_ = true;
    return c;
}

template <logger Logger>
void write_ahead_log<Logger>::read_segment(std::size_t k, contents& c, replay& r) {
    const auto& path = segments_[k].path;
    const bool last = k + 1 == segments_.size();
    auto f = value_or_throw(file::open(path, last ? O_RDWR : O_RDONLY), path, "open");
    auto map = value_or_throw(mapped_file::map(f), path, "mmap");
    record_decoder dec(map.bytes());
    codec::decoder values;
    auto corrupt = [&](const std::string& what, std::uint64_t off) {
        return wal_error(errc::corrupt_record, path, what, off);
    };
    auto decode = [&](const record_view& rec, auto& out) {
        if (!values.decode(rec.payload, out))
            throw corrupt("record payload does not decode", rec.offset);
    };
    std::uint64_t records = 0;
    record_view rec;
    for (;;) {
        const read_status st = dec.next(rec);
        if (st == read_status::ok) {
            if (records++ == 0 && rec.type != record_type::crc)
                throw corrupt("the segment does not start with a crc record", rec.offset);
            switch (rec.type) {
            case record_type::crc:
                // The chain goes on from the segment read before (none for the first read).
                if (r.chain_known && detail::get_u32(rec.payload.data()) != r.chain_crc)
                    throw corrupt("crc chain broken: the segment does not follow the one before",
                                  rec.offset);
                break;
            case record_type::metadata: {
                wal::metadata md;
                decode(rec, md);
                if (!r.have_metadata) {
                    c.metadata = std::move(md);
                    r.have_metadata = true;
                } else if (!(md == c.metadata)) {
                    throw wal_error(errc::metadata_mismatch, path,
                                    "metadata differs from the earlier segments'", rec.offset);
                }
                break;
            }
            case record_type::entry: {
                entry e;
                decode(rec, e);
                last_index_ = e.index;
                if (e.index <= start_.index) break;
                const index_t up = e.index - start_.index - 1;  // its position in c.entries
                if (up > c.entries.size())
                    throw corrupt("entry " + std::to_string(e.index) + " leaves a gap after " +
                                      std::to_string(start_.index + c.entries.size()),
                                  rec.offset);
                c.entries.resize(static_cast<std::size_t>(up));  // a new leader's suffix wins
                c.entries.push_back(std::move(e));
                break;
            }
            case record_type::hard_state: decode(rec, c.hard_state); break;
            case record_type::snapshot: {
                snapshot_metadata m;
                decode(rec, m);
                if (m.index == start_.index) {
                    if (m.term != start_.term)
                        throw wal_error(errc::metadata_mismatch, path,
                                        "the snapshot marker at index " + std::to_string(m.index) +
                                            " has term " + std::to_string(m.term) + ", not " +
                                            std::to_string(start_.term),
                                        rec.offset);
                    r.found = true;
                }
                last_index_ = std::max(last_index_, m.index);
                c.snapshots.push_back(std::move(m));
                break;
            }
            }
            continue;
        }
        const std::uint64_t off = dec.offset();
        if (st == read_status::end) {
            // Zeros where a header should be: the unwritten end of the segment, unless valid
            // records follow (then zeros replaced records: damage, not a tail).
            if (dec.valid_header_after(off + record_alignment))
                throw corrupt("zeroed bytes followed by more records", off);
            break;
        }
        // Only the end of the last segment can be torn, and only if nothing valid follows.
        if (!last || !dec.looks_torn() || dec.valid_header_after(dec.resume_offset()))
            throw corrupt(dec.reason(), off);
        // A torn tail: cut it off, and restore the zeros after it so that later appends
        // cannot leave a stale fragment behind them.
        const std::uint64_t size = map.bytes().size();
        RAFTPP_LOG(logger_, log_level::warning, "wal: ", path.string(), ": torn tail at offset ",
                   off, " (", dec.reason(), "): truncated ", size - off, " bytes");
        value_or_throw(f.truncate(off), path, "truncate the torn tail");
        if (opts_.preallocate)
            value_or_throw(f.preallocate(std::max(size, opts_.segment_size)), path, "preallocate");
        value_or_throw(f.sync(), path, "fsync");
        break;
    }
    // A segment is renamed into place only with its head written and synced.
    if (records == 0) throw corrupt("the segment holds no record", 0);
    r.chain_known = true;
    r.chain_crc = dec.crc();
    if (last) {
        tail_offset_ = dec.offset();
        enc_.reset(dec.crc());
        tail_ = std::move(f);
    }
}

template <logger Logger>
result<file> write_ahead_log<Logger>::start_segment(const std::filesystem::path& path,
                                                    const hard_state* hs,
                                                    const snapshot_metadata* marker) {
    auto f = file::open(path, O_CREAT | O_RDWR | O_TRUNC);
    if (!f) return f.error();
    if (opts_.preallocate)
        if (auto r = f->preallocate(opts_.segment_size); !r) return r.error();
    std::vector<std::byte> head;
    enc_.append_crc(head);
    enc_.append(record_type::metadata, md_, head);
    if (hs != nullptr && !is_empty(*hs)) enc_.append(record_type::hard_state, *hs, head);
    if (marker != nullptr) enc_.append(record_type::snapshot, *marker, head);
    if (auto r = f->write_at(head, 0); !r) return r.error();
    if (auto r = f->sync(); !r) return r.error();
    tail_offset_ = head.size();
    return f;
}

template <logger Logger>
result<void> write_ahead_log<Logger>::cut() {
    // Finish the segment: drop its unused preallocated end and make it durable as it is.
    if (auto r = tail_.truncate(tail_offset_); !r) return r;
    if (auto r = tail_.sync(); !r) return r;
    const std::uint64_t seq = segments_.back().seq + 1;
    const index_t first = last_index_ + 1;
    const auto path = dir_ / segment_file_name(seq, first);
    const auto tmp = std::filesystem::path(path.string() + ".tmp");
    auto f = start_segment(tmp, &hs_, nullptr);
    if (!f) return f.error();
    if (auto r = rename_durable(tmp, path); !r) return r;
    tail_ = std::move(*f);
    segments_.push_back({seq, first, path});
    ++stats_.segments_cut;
    RAFTPP_LOG(logger_, log_level::info, "wal: segment ", path.filename().string(), " started");
    return {};
}

template <logger Logger>
result<void> write_ahead_log<Logger>::append(std::span<const entry> es) {
    if (!writable_) return errc::invalid_argument;
    for (const entry& e : es) {
        enc_.append(record_type::entry, e, buf_);
        if (buf_.size() >= opts_.write_buffer_size)
            if (auto r = flush(); !r) return r;
    }
    if (!es.empty()) last_index_ = es.back().index;
    stats_.records += es.size();
    return {};
}

template <logger Logger>
result<void> write_ahead_log<Logger>::append(const hard_state& hs) {
    if (!writable_) return errc::invalid_argument;
    if (is_empty(hs)) return {};
    enc_.append(record_type::hard_state, hs, buf_);
    hs_ = hs;
    ++stats_.records;
    return {};
}

template <logger Logger>
result<void> write_ahead_log<Logger>::save(const hard_state& hs, std::span<const entry> es,
                                           bool must_sync) {
    if (auto r = append(es); !r) return r;
    if (auto r = append(hs); !r) return r;
    if (must_sync) return sync();
    if (buf_.size() >= opts_.write_buffer_size) return flush();
    return {};
}

template <logger Logger>
result<void> write_ahead_log<Logger>::save_snapshot(const snapshot_metadata& m) {
    if (auto r = append_snapshot_marker(m); !r) return r;
    return sync();
}

template <logger Logger>
result<void> write_ahead_log<Logger>::append_snapshot_marker(const snapshot_metadata& m) {
    if (!writable_) return errc::invalid_argument;
    enc_.append(record_type::snapshot, m, buf_);
    ++stats_.records;
    last_index_ = std::max(last_index_, m.index);
    return {};
}

template <logger Logger>
result<void> write_ahead_log<Logger>::flush() {
    if (buf_.empty()) return {};
    if (!writable_) return errc::invalid_argument;
    if (auto r = tail_.write_at(buf_, tail_offset_); !r) return r;
    tail_offset_ += buf_.size();
    ++stats_.writes;
    stats_.bytes_written += buf_.size();
    buf_.clear();
    // One huge batch must not pin its buffer forever.
    if (buf_.capacity() > 4 * opts_.write_buffer_size) std::vector<std::byte>().swap(buf_);
    if (tail_offset_ >= opts_.segment_size) return cut();
    return {};
}

template <logger Logger>
result<void> write_ahead_log<Logger>::sync() {
    if (auto r = flush(); !r) return r;
    if (!writable_) return errc::invalid_argument;
    const auto t0 = std::chrono::steady_clock::now();
    if (auto r = tail_.datasync(); !r) return r;
    ++stats_.syncs;
    stats_.sync_nanoseconds += static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0)
            .count());
    return {};
}

template <logger Logger>
result<sync_ticket> write_ahead_log<Logger>::prepare_sync() {
    if (auto r = flush(); !r) return r.error();
    if (!writable_) return errc::invalid_argument;
    auto f = tail_.duplicate();
    if (!f) return f.error();
    ++stats_.syncs;
    return sync_ticket(std::move(*f));
}

template <logger Logger>
result<void> write_ahead_log<Logger>::release_to(index_t index) {
    std::size_t keep = 0;  // the last segment starting at or before index
    for (std::size_t k = segments_.size(); k-- > 0;) {
        if (segments_[k].first_index <= index) {
            keep = k;
            break;
        }
    }
    // The tail is never released.
    keep = std::min(keep, segments_.size() - 1);
    if (keep == 0) return {};
    for (std::size_t k = 0; k < keep; ++k) {
        if (::unlink(segments_[k].path.c_str()) != 0 && errno != ENOENT) return last_errno();
    }
    segments_.erase(segments_.begin(), segments_.begin() + static_cast<std::ptrdiff_t>(keep));
    return {};
}

}  // namespace raftpp::wal
