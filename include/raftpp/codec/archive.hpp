// The codec's Boost.Serialization binary archives over reusable buffers: codec::oarchive
// appends to a caller's std::vector<std::byte>, codec::iarchive reads a std::span and knows how
// many bytes remain (so a loader can check a length field before allocating it). Both are
// built once and reused for any number of records: they are created with no_header,
// no_codecvt and no_tracking, and every codec type is object_serializable + track_never, so
// the archives write no class information and keep no state between records.
//
// Header-only: the Boost archive templates (the .ipp files below, as in Boost's
// portable_binary_archive example) are instantiated implicitly in each translation unit; only
// the archive-independent parts come from libboost_serialization.
#pragma once

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstring>
#include <exception>
#include <span>
#include <streambuf>
#include <string>
#include <vector>

#include <boost/archive/archive_exception.hpp>
#include <boost/archive/basic_archive.hpp>
#include <boost/archive/binary_iarchive_impl.hpp>
#include <boost/archive/binary_oarchive_impl.hpp>
#include <boost/archive/impl/basic_binary_iarchive.ipp>
#include <boost/archive/impl/basic_binary_iprimitive.ipp>
#include <boost/archive/impl/basic_binary_oarchive.ipp>
#include <boost/archive/impl/basic_binary_oprimitive.ipp>
#include <boost/serialization/throw_exception.hpp>

namespace raftpp::codec {

static_assert(std::endian::native == std::endian::little,
              "raftpp's codec writes Boost binary archives, which are native-endian, and its "
              "format is defined as little-endian (docs/codec.md#byte-order-and-fields); a "
              "big-endian target needs a byte-swapping archive");

// Thrown by a loader that meets bytes which are not a valid encoding; decoder::decode turns it
// (and Boost's archive_exception, e.g. on short input) into errc::malformed_message.
class malformed_input final : public std::exception {
public:
    explicit malformed_input(const char* what) noexcept : what_(what) {}
    const char* what() const noexcept override { return what_; }

private:
    const char* what_;  // a string literal
};

// Rejects the input being decoded; `what` (a string literal) says why.
[[noreturn, gnu::cold, gnu::noinline]] inline void fail(const char* what) {
    throw malformed_input(what);
}

// The flags of both archives: no archive header, no locale facet, no object tracking.
inline constexpr unsigned archive_flags =
    boost::archive::no_header | boost::archive::no_codecvt | boost::archive::no_tracking;

namespace detail {

// Appends what the archive writes to *out_, a vector the caller owns, in place: while
// attached, the vector is grown ahead by a zero-filled window that is the put area, and flush()
// trims it back to the bytes written. Each field is stored once, where it ends up (a staging
// array copied out at the end costs more: the copy stalls on the stores it reads back).
// Writes of `direct` bytes or more (payloads) are appended directly.
class vector_streambuf final : public std::streambuf {
public:
    static constexpr std::size_t window = 128;
    static constexpr std::size_t direct = 128;

    vector_streambuf() noexcept = default;
    vector_streambuf(const vector_streambuf&) = delete;
    vector_streambuf& operator=(const vector_streambuf&) = delete;

    // Flushes into the old target, then appends to *out (nullptr: none; writes then fail).
    void redirect(std::vector<std::byte>* out) {
        flush();
        out_ = out;
    }
    // Trims the window: afterwards the vector holds exactly the bytes written.
    void flush() {
        if (pbase() == nullptr) return;
        out_->resize(static_cast<std::size_t>(pptr() - data()));
        setp(nullptr, nullptr);
    }
    // Forgets the window without trimming it (after a failed encode; the caller resizes).
    void discard() noexcept { setp(nullptr, nullptr); }

    // The inline path of oarchive::save_binary; n is usually a constant (a field's width).
    [[gnu::always_inline]] void write(const void* p, std::size_t n) {
        if (n <= static_cast<std::size_t>(epptr() - pptr())) [[likely]] {
            if (n != 0) std::memcpy(pptr(), p, n);
            pbump(static_cast<int>(n));  // n <= window
        } else {
            write_slow(p, n);
        }
    }

protected:
    std::streamsize xsputn(const char* s, std::streamsize n) override {
        write(s, static_cast<std::size_t>(n));
        return n;
    }
    int_type overflow(int_type c) override {
        if (traits_type::eq_int_type(c, traits_type::eof())) return traits_type::not_eof(c);
        const char ch = traits_type::to_char_type(c);
        write(&ch, 1);
        return c;
    }
    int sync() override {
        flush();
        return 0;
    }

private:
    char* data() noexcept { return reinterpret_cast<char*>(out_->data()); }

    // Opens a new window (or appends a payload directly) at the end of what was written.
    [[gnu::noinline]] void write_slow(const void* p, std::size_t n) {
        if (out_ == nullptr)  // the archive turns this into output_stream_error
            boost::serialization::throw_exception(boost::archive::archive_exception(
                boost::archive::archive_exception::output_stream_error));
        flush();
        const std::size_t used = out_->size();
        if (n >= direct) {
            const auto* b = static_cast<const std::byte*>(p);
            out_->insert(out_->end(), b, b + n);
            return;
        }
        // Stay within the capacity if it has room for this write, so a window never forces a
        // reallocation the bytes themselves would not.
        const std::size_t room = out_->capacity() - used;
        out_->resize(used + (room >= n ? std::min(room, window) : window));
        setp(data() + used, data() + out_->size());
        std::memcpy(pptr(), p, n);
        pbump(static_cast<int>(n));
    }

    std::vector<std::byte>* out_ = nullptr;
    // Put area: [pbase(), epptr()) is the window at the end of *out_, [pbase(), pptr()) written;
    // all null when no window is open.
};

// Reads a span the caller owns (reset() between records). The get area is the whole span;
// nothing is ever written through it.
class span_streambuf final : public std::streambuf {
public:
    void reset(std::span<const std::byte> in) noexcept {
        auto* p = const_cast<char*>(reinterpret_cast<const char*>(in.data()));
        setg(p, p, p + in.size());
    }
    // Bytes not yet read: the bound for any length field still to be read.
    std::size_t remaining() const noexcept { return static_cast<std::size_t>(egptr() - gptr()); }
    // The inline path of iarchive::load_binary: false, reading nothing, if fewer than n remain.
    [[gnu::always_inline]] bool read(void* p, std::size_t n) noexcept {
        if (n > remaining()) return false;
        if (n != 0) std::memcpy(p, gptr(), n);
        setg(eback(), gptr() + n, egptr());  // gbump takes an int; spans may exceed 2 GiB
        return true;
    }

protected:
    std::streamsize xsgetn(char* s, std::streamsize n) override {
        const auto k = std::min<std::streamsize>(n, egptr() - gptr());
        if (k <= 0) return 0;
        read(s, static_cast<std::size_t>(k));
        return k;
    }
    // underflow() keeps std::streambuf's: the span is all there is (eof).
};

// Base-from-member: the streambufs are built before the Boost archive bases that refer to them.
struct oarchive_sink {
    vector_streambuf sink_;
};
struct iarchive_source {
    span_streambuf source_;
};

}  // namespace detail

// A Boost binary output archive appending to a std::vector<std::byte>. Reusable: redirect() it
// at a vector, write one or more values, redirect it elsewhere.
class oarchive final
    : private detail::oarchive_sink,
      public boost::archive::binary_oarchive_impl<oarchive, char, std::char_traits<char>> {
    using base = boost::archive::binary_oarchive_impl<oarchive, char, std::char_traits<char>>;
    friend class boost::archive::detail::interface_oarchive<oarchive>;
    friend class boost::archive::basic_binary_oarchive<oarchive>;
    friend class boost::archive::save_access;

public:
    oarchive() : base(sink_, archive_flags) { init(archive_flags); }
    oarchive(const oarchive&) = delete;
    oarchive& operator=(const oarchive&) = delete;

    // Finishes with the current vector, then appends what follows to *out (nullptr: none;
    // writing then throws archive_exception). Until the next redirect() or flush() the vector
    // may be longer than what was written (a zero-filled window past the end).
    void redirect(std::vector<std::byte>* out) { sink_.redirect(out); }
    void flush() { sink_.flush(); }
    // Forgets the window without trimming it (after an exception: the caller resizes).
    void discard() noexcept { sink_.discard(); }

    // Hides basic_binary_oprimitive::save_binary with an inline copy into the same streambuf
    // (Boost's goes through the virtual sputn): the same bytes in the same order, faster.
    [[gnu::always_inline]] void save_binary(const void* p, std::size_t n) { sink_.write(p, n); }
};

// A Boost binary input archive over a std::span<const std::byte>. Reusable: reset() it to a
// span, read, reset it to the next.
class iarchive final
    : private detail::iarchive_source,
      public boost::archive::binary_iarchive_impl<iarchive, char, std::char_traits<char>> {
    using base = boost::archive::binary_iarchive_impl<iarchive, char, std::char_traits<char>>;
    friend class boost::archive::detail::interface_iarchive<iarchive>;
    friend class boost::archive::basic_binary_iarchive<iarchive>;
    friend class boost::archive::load_access;

public:
    iarchive() : base(source_, archive_flags) { init(archive_flags); }
    iarchive(const iarchive&) = delete;
    iarchive& operator=(const iarchive&) = delete;

    void reset(std::span<const std::byte> in) noexcept { source_.reset(in); }
    // Bytes of the current span not read yet.
    std::size_t remaining() const noexcept { return source_.remaining(); }

    // Hides basic_binary_iprimitive::load_binary with an inline read of the same streambuf;
    // like Boost's, it throws archive_exception(input_stream_error) on short input.
    [[gnu::always_inline]] void load_binary(void* p, std::size_t n) {
        if (!source_.read(p, n)) [[unlikely]] short_input();
    }

private:
    [[noreturn, gnu::cold, gnu::noinline]] static void short_input() {
        boost::serialization::throw_exception(boost::archive::archive_exception(
            boost::archive::archive_exception::input_stream_error));
    }
};

}  // namespace raftpp::codec
