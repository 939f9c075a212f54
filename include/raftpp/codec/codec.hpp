// raftpp's binary codec: Boost.Serialization binary archives (archive.hpp) carrying the
// encodings of types.hpp (and of any type registered with RAFTPP_CODEC_TYPE, fields.hpp),
// shared by the WAL and the network. docs/codec.md describes the format.
//
// An encoder and a decoder each hold one archive, built once and reused for every record: an
// encode appends to the caller's vector and allocates only when that vector grows; a decode
// allocates only what the decoded value owns (a payload buffer, id lists). Decoding never
// trusts its input: anything that is not exactly one valid encoding is
// errc::malformed_message, and no length field can make it allocate more than the input holds.
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <vector>

#include <boost/archive/archive_exception.hpp>
#include <boost/serialization/level.hpp>
#include <boost/serialization/tracking.hpp>

#include <raftpp/codec/archive.hpp>
#include <raftpp/codec/fields.hpp>
#include <raftpp/codec/types.hpp>
#include <raftpp/error.hpp>

namespace raftpp::codec {

// True for the types registered with RAFTPP_CODEC_TYPE (no class info, never tracked).
template <class T>
inline constexpr bool is_codec_type =
    boost::serialization::implementation_level<T>::value ==
        boost::serialization::object_serializable &&
    boost::serialization::tracking_level<T>::value == boost::serialization::track_never;

namespace detail {
template <class T>
constexpr void check_codec_type() {
    static_assert(is_codec_type<T>,
                  "T is not a codec type: define save(codec::oarchive&, const T&, unsigned) and "
                  "load(codec::iarchive&, T&, unsigned), then RAFTPP_CODEC_TYPE(T) at global "
                  "scope; see docs/codec.md#adding-a-type");
}
}  // namespace detail

// Encodes values, appending each to a vector the caller chooses per call. Movable, not
// copyable; one per thread.
class encoder {
public:
    encoder() : ar_(std::make_unique<oarchive>()) {}

    // Appends the encoding of `value` to `out`. If it throws (std::bad_alloc, or whatever a
    // type's save throws), `out` is left as it was.
    template <class T>
    void encode(const T& value, std::vector<std::byte>& out) {
        detail::check_codec_type<T>();
        const std::size_t size = out.size();
        try {
            ar_->redirect(&out);
            *ar_ << value;
            ar_->redirect(nullptr);  // flushes into out
        } catch (...) {
            ar_->discard();
            ar_->redirect(nullptr);
            out.resize(size);
            throw;
        }
    }

private:
    std::unique_ptr<oarchive> ar_;  // never null (except moved-from)
};

// Decodes values, one whole span each. Movable, not copyable; one per thread.
class decoder {
public:
    decoder() : ar_(std::make_unique<iarchive>()) {}

    // Decodes exactly one T from all of `in`. Anything else (short input, trailing bytes, an
    // unknown version or enum value, a term or index above 2^63 - 1, a length beyond the input)
    // is errc::malformed_message, and `out` is then left valid but unspecified.
    template <class T>
    result<void> decode(std::span<const std::byte> in, T& out) {
        detail::check_codec_type<T>();
        ar_->reset(in);
        bool ok = true;
        try {
            *ar_ >> out;
        } catch (const malformed_input&) {
            ok = false;
        } catch (const boost::archive::archive_exception&) {
            ok = false;
        }
        ok = ok && ar_->remaining() == 0;
        ar_->reset({});
        if (!ok) return errc::malformed_message;
        return {};
    }

private:
    std::unique_ptr<iarchive> ar_;  // never null (except moved-from)
};

// One-off forms. Each builds an archive (a few allocations): keep an encoder or a decoder for
// repeated use.
template <class T>
std::vector<std::byte> encode(const T& value) {
    std::vector<std::byte> out;
    encoder().encode(value, out);
    return out;
}

template <class T>
result<T> decode(std::span<const std::byte> in) {
    T value{};
    if (auto r = decoder().decode(in, value); !r) return r.error();
    return value;
}

}  // namespace raftpp::codec
