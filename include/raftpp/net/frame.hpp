// Frames on a byte stream: how the connection handshake and raftpp::messages travel over TCP
// (docs/net.md). A frame is a 16-byte header, little-endian, then its payload, which is one
// codec encoding (codec/message.hpp, or the handshake below):
//   offset  size  field
//   0       4     magic     the bytes 'R' 'P' 'F' 'R'
//   4       1     version   1
//   5       1     kind      frame_kind
//   6       2     reserved  0
//   8       4     length    payload bytes; at most the receiver's max_frame
//   12      4     crc       CRC32C of the payload
// A message whose encoding is longer than max_frame (a large snapshot) goes as message_part
// frames of max_frame bytes each and a final message frame with the rest; the receiver
// concatenates the payloads. Nothing off the wire is trusted: any deviation is
// errc::malformed_message with a reason, and no length field makes the decoder allocate
// before the bytes it announces have arrived (a frame's length is checked against max_frame
// as soon as its header is in).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include <boost/archive/archive_exception.hpp>

#include <raftpp/codec/codec.hpp>
#include <raftpp/codec/crc32c.hpp>
#include <raftpp/codec/message.hpp>
#include <raftpp/error.hpp>
#include <raftpp/types.hpp>

namespace raftpp::net {

enum class frame_kind : std::uint8_t { handshake = 1, message = 2, message_part = 3 };
inline constexpr std::size_t frame_header_size = 16;
inline constexpr std::size_t default_max_frame = std::size_t{64} << 20;
// The bounds of max_frame on either side: a handshake (25 bytes) and the fixed part of a
// message fit in the smallest frame; a frame's length is a u32.
inline constexpr std::size_t min_max_frame = 64;
inline constexpr std::size_t max_max_frame = 0xFFFFFFFF;
inline constexpr std::uint8_t frame_version = 1;

// Sent first on every connection, by the connecting side; the accepting side checks it.
struct handshake {
    std::uint64_t cluster_id = 0;
    node_id from = none;
    node_id to = none;
    friend bool operator==(const handshake&, const handshake&) = default;
};

// A handshake of zeros asks the accepting side who it is (net::identify): it answers with one
// handshake naming its cluster and itself (to = none), then closes the connection.
inline constexpr handshake identity_probe{};

// handshake: version u8, cluster_id u64, from u64, to u64 (25 bytes).
inline constexpr std::uint8_t handshake_version = 1;
inline void save(codec::oarchive& ar, const handshake& h, unsigned) {
    codec::save_version(ar, handshake_version);
    codec::save_int(ar, h.cluster_id);
    codec::save_int(ar, h.from);
    codec::save_int(ar, h.to);
}
inline void load(codec::iarchive& ar, handshake& h, unsigned) {
    codec::load_version(ar, handshake_version);
    h.cluster_id = codec::load_int<std::uint64_t>(ar);
    h.from = codec::load_int<node_id>(ar);
    h.to = codec::load_int<node_id>(ar);
}

}  // namespace raftpp::net

RAFTPP_CODEC_TYPE(raftpp::net::handshake)

namespace raftpp::net {

namespace detail {
inline constexpr std::byte frame_magic[4] = {std::byte{'R'}, std::byte{'P'}, std::byte{'F'},
                                             std::byte{'R'}};
inline void put_u32(std::byte* p, std::uint32_t v) noexcept { std::memcpy(p, &v, 4); }
inline std::uint32_t get_u32(const std::byte* p) noexcept {
    std::uint32_t v;
    std::memcpy(&v, p, 4);
    return v;
}
// Fills the header at h for the `len` payload bytes that follow it.
inline void finish_frame(std::byte* h, frame_kind kind, std::size_t len) noexcept {
    std::memcpy(h, frame_magic, 4);
    h[4] = std::byte{frame_version};
    h[5] = static_cast<std::byte>(kind);
    h[6] = h[7] = std::byte{0};
    put_u32(h + 8, static_cast<std::uint32_t>(len));
    put_u32(h + 12, crc32c(h + frame_header_size, len));
}
inline void check_max_frame(std::size_t max_frame) {
    RAFTPP_ASSERT(max_frame >= min_max_frame && max_frame <= max_max_frame,
                  "max_frame must be in [min_max_frame, max_max_frame] (docs/net.md)");
}
}  // namespace detail

// Appends frames to a caller's vector. Reusable and cheap per call: one codec encoder, no
// allocation once `out` has the capacity (an encode grows it at most once, geometrically).
class frame_encoder {
public:
    explicit frame_encoder(std::size_t max_frame = default_max_frame) : max_frame_(max_frame) {
        detail::check_max_frame(max_frame);
    }

    // Appends the frames of m to out: one `message` frame, or — when the encoded message is
    // larger than max_frame (a big snapshot) — `message_part` frames of exactly max_frame
    // payload bytes each, ending with a `message` frame holding the last part. The encoder
    // does not validate m (docs/codec.md): the receiver's decoder does. On an exception
    // (std::bad_alloc) out is left as it was.
    void encode(const message& m, std::vector<std::byte>& out) {
        const std::size_t start = out.size();
        const std::uint64_t size = codec::encoded_size(m);
        const std::uint64_t frames = size <= max_frame_ ? 1 : (size + max_frame_ - 1) / max_frame_;
        reserve(out, static_cast<std::size_t>(frames * frame_header_size + size));
        encode_payload(m, out, start);
        const std::size_t n = out.size() - start - frame_header_size;
        if (n <= max_frame_) {
            detail::finish_frame(out.data() + start, frame_kind::message, n);
            return;
        }
        try {
            split(out, start, n);  // within the capacity reserved above
        } catch (...) {
            out.resize(start);
            throw;
        }
    }
    void encode(const handshake& h, std::vector<std::byte>& out) {
        const std::size_t start = out.size();
        encode_payload(h, out, start);
        detail::finish_frame(out.data() + start, frame_kind::handshake,
                             out.size() - start - frame_header_size);
    }

    std::size_t max_frame() const noexcept { return max_frame_; }

private:
    // Appends a header's room and the value's encoding after it.
    template <class T>
    void encode_payload(const T& value, std::vector<std::byte>& out, std::size_t start) {
        try {
            out.resize(start + frame_header_size);
            enc_.encode(value, out);
        } catch (...) {
            out.resize(start);
            throw;
        }
    }
    static void reserve(std::vector<std::byte>& out, std::size_t extra) {
        if (out.capacity() - out.size() < extra)
            out.reserve(std::max(out.size() + extra, 2 * out.capacity()));
    }
    // The n payload bytes after the header at `start` become k frames of max_frame bytes (the
    // last one shorter), moved in place: part i moves i headers further on, so moving the last
    // part first never overwrites a part not yet moved, and no second buffer is needed.
    void split(std::vector<std::byte>& out, std::size_t start, std::size_t n) {
        const std::size_t k = (n + max_frame_ - 1) / max_frame_;
        out.resize(start + k * frame_header_size + n);
        std::byte* base = out.data() + start;
        for (std::size_t i = k; i-- > 0;) {
            const bool last = i + 1 == k;
            const std::size_t len = last ? n - i * max_frame_ : max_frame_;
            std::byte* frame = base + i * (frame_header_size + max_frame_);
            std::memmove(frame + frame_header_size, base + frame_header_size + i * max_frame_, len);
            detail::finish_frame(frame, last ? frame_kind::message : frame_kind::message_part, len);
        }
    }

    std::size_t max_frame_;  // in [min_max_frame, max_max_frame]
    codec::encoder enc_;
};

// Reads frames from one connection's byte stream: prepare() space, read into it, commit() what
// was read, then next() until it returns nullopt. Memory: the read buffer holds at most one
// incomplete frame plus a read (about max_frame + the read size; consumed bytes are compacted
// away and a large buffer shrinks again once drained); the parts of a message accumulate as
// they arrive, up to max_message. A decoded message allocates only what it owns.
class frame_decoder {
public:
    using item = std::variant<handshake, message>;

    // max_message bounds a message reassembled from parts (and any message); a frame's payload
    // length above max_frame is refused before anything is allocated for it.
    explicit frame_decoder(std::size_t max_frame = default_max_frame,
                           std::uint64_t max_message = std::uint64_t{4} << 30)
        : max_frame_(max_frame),
          max_message_(max_message),
          ar_(std::make_unique<codec::iarchive>()) {
        detail::check_max_frame(max_frame);
    }

    // Space for the next read (at least min_size bytes); then commit(n) the bytes read into it.
    std::span<std::byte> prepare(std::size_t min_size = 64 * 1024) {
        min_size = std::max<std::size_t>(min_size, 1);
        const std::size_t used = end_ - begin_;
        const std::size_t need = used + min_size;
        const bool shrink = cap_ > shrink_above && need <= cap_ / 4;
        if (cap_ - end_ < min_size || shrink) {
            if (need <= cap_ && !shrink) {
                if (used != 0) std::memmove(buf_.get(), buf_.get() + begin_, used);
            } else {
                // Everything but a frame still coming is consumed by next(), so the buffer
                // needs at most one frame plus a read.
                const std::size_t limit = frame_header_size + max_frame_ + min_size;
                const std::size_t cap = shrink ? std::max(need, 2 * min_size)
                                               : std::max(need, std::min(2 * cap_, limit));
                auto bigger = std::make_unique_for_overwrite<std::byte[]>(cap);
                if (used != 0) std::memcpy(bigger.get(), buf_.get() + begin_, used);
                buf_ = std::move(bigger);
                cap_ = cap;
            }
            begin_ = 0;
            end_ = used;
        }
        return {buf_.get() + end_, cap_ - end_};
    }
    void commit(std::size_t n) {
        RAFTPP_ASSERT(n <= cap_ - end_, "commit(n) beyond the space prepare() gave");
        end_ += n;
        bytes_in_ += n;
    }

    // The next complete handshake or message; nullopt when more bytes are needed;
    // errc::malformed_message when the input is bad (reason() says what). After an error the
    // decoder stays failed (the connection must be closed).
    result<std::optional<item>> next() {
        if (failed_) return errc::malformed_message;
        for (;;) {
            const std::size_t avail = end_ - begin_;
            if (avail < frame_header_size) return std::optional<item>{};
            const std::byte* h = buf_.get() + begin_;
            header fh;
            if (const char* why = check_header(h, fh)) return fail(why);
            if (avail - frame_header_size < fh.length) return std::optional<item>{};
            const std::span<const std::byte> payload(h + frame_header_size, fh.length);
            if (crc32c(payload) != fh.crc) return fail("CRC mismatch");
            begin_ += frame_header_size + fh.length;
            if (begin_ == end_) begin_ = end_ = 0;  // the next read starts at the front
            switch (fh.kind) {
            case frame_kind::message_part: append_part(payload); continue;
            case frame_kind::handshake: return decode_handshake(payload);
            case frame_kind::message: return decode_message(payload);
            }
        }
    }

    const std::string& reason() const noexcept { return reason_; }
    // Whether bytes of an incomplete frame are buffered, or parts of an incomplete message (a
    // peer that stalls mid-frame or between parts: the transport's read deadline uses this).
    bool mid_frame() const noexcept { return end_ != begin_ || !parts_.empty(); }
    std::uint64_t bytes_in() const noexcept { return bytes_in_; }  // committed so far

private:
    // Above this, a read buffer that drained (holds less than a quarter) is reallocated smaller.
    static constexpr std::size_t shrink_above = std::size_t{1} << 20;

    struct header {
        frame_kind kind{};
        std::uint32_t length = 0;
        std::uint32_t crc = 0;
    };

    // Everything a header alone tells, checked before its payload is waited for.
    const char* check_header(const std::byte* h, header& fh) const noexcept {
        if (std::memcmp(h, detail::frame_magic, 4) != 0) return "bad magic";
        if (h[4] != std::byte{frame_version}) return "unknown frame version";
        const auto kind = std::to_integer<std::uint8_t>(h[5]);
        if (kind < 1 || kind > 3) return "unknown frame kind";
        if (h[6] != std::byte{0} || h[7] != std::byte{0}) return "reserved bits set";
        fh.kind = static_cast<frame_kind>(kind);
        fh.length = detail::get_u32(h + 8);
        fh.crc = detail::get_u32(h + 12);
        if (fh.length > max_frame_) return "frame too long";
        if (fh.kind == frame_kind::handshake) {
            if (!parts_.empty()) return "handshake between message parts";
            return nullptr;
        }
        if (fh.kind == frame_kind::message_part && fh.length == 0) return "empty message part";
        if (parts_.size() + std::uint64_t{fh.length} > max_message_) return "message too long";
        return nullptr;
    }

    // Adds a part's bytes (within max_message: check_header saw to it), growing geometrically
    // but never past max_message.
    void append_part(std::span<const std::byte> payload) {
        const std::size_t size = parts_.size();
        const std::size_t need = size + payload.size();
        if (need > parts_.capacity()) {
            const auto cap = std::min<std::uint64_t>(std::max(need, 2 * parts_.capacity()),
                                                     max_message_);
            parts_.reserve(static_cast<std::size_t>(cap));
        }
        parts_.resize(need);
        if (!payload.empty()) std::memcpy(parts_.data() + size, payload.data(), payload.size());
    }

    result<std::optional<item>> decode_handshake(std::span<const std::byte> payload) {
        handshake h;
        if (const char* why = decode_payload(payload, h))
            return fail("undecodable handshake: ", why);
        return std::optional<item>(std::in_place, std::in_place_type<handshake>, h);
    }
    result<std::optional<item>> decode_message(std::span<const std::byte> payload) {
        message m;
        const char* why = nullptr;
        if (parts_.empty()) {
            why = decode_payload(payload, m);
        } else {
            append_part(payload);
            why = decode_payload(parts_, m);
            std::vector<std::byte>().swap(parts_);  // a big snapshot's bytes go now
        }
        if (why) return fail("undecodable message: ", why);
        return std::optional<item>(std::in_place, std::in_place_type<message>, std::move(m));
    }
    // Decodes exactly one T from all of `in`; null, or why not.
    template <class T>
    const char* decode_payload(std::span<const std::byte> in, T& out) {
        ar_->reset(in);
        const char* why = nullptr;
        try {
            *ar_ >> out;
            if (ar_->remaining() != 0) why = "trailing bytes";
        } catch (const codec::malformed_input& e) {
            why = e.what();
        } catch (const boost::archive::archive_exception&) {
            why = "input ends early";
        }
        ar_->reset({});
        return why;
    }

    errc fail(const char* why, const char* detail = nullptr) {
        failed_ = true;
        reason_ = why;
        if (detail) reason_ += detail;
        std::vector<std::byte>().swap(parts_);
        return errc::malformed_message;
    }

    std::size_t max_frame_;       // in [min_max_frame, max_max_frame]
    std::uint64_t max_message_;
    // The read buffer: [begin_, end_) committed and not consumed, [end_, cap_) free. Holds at
    // most one incomplete frame once next() has returned nullopt.
    std::unique_ptr<std::byte[]> buf_;
    std::size_t cap_ = 0, begin_ = 0, end_ = 0;
    // The payloads of the message_part frames of the message being reassembled (nonempty
    // exactly while one is); parts_.size() <= max_message_.
    std::vector<std::byte> parts_;
    std::unique_ptr<codec::iarchive> ar_;  // never null (except moved-from)
    std::uint64_t bytes_in_ = 0;
    bool failed_ = false;  // sticky; reason_ says why
    std::string reason_;
};

}  // namespace raftpp::net
