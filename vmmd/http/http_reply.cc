#include "vmmd/http/http_reply.h"

// zlib's z_stream.next_in is const with ZLIB_CONST.
#define ZLIB_CONST
#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <optional>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace vmmd::http {
namespace {

// Room kept in front of a body for the head. vmmd's heads are about 150 bytes; a longer one is
// still sent whole (Finish moves the body).
constexpr size_t kHeadRoom = 256;

// What a StringAppender adds at least when the string is full.
constexpr size_t kMinGrowth = 4096;

// gzip framing around deflate (zlib's windowBits + 16), zlib's default memory level.
constexpr int kGzipWindowBits = MAX_WBITS + 16;
constexpr int kMemLevel = 8;

}  // namespace

Reply::Reply(size_t body_capacity, ReplyStorage storage)
    : buffer_(std::move(storage.body)), spare_(std::move(storage.spare)), body_offset_(kHeadRoom) {
  buffer_.clear();
  buffer_.reserve(kHeadRoom + body_capacity);
  buffer_.resize(kHeadRoom);
}

absl::string_view Reply::body() const { return absl::string_view(buffer_).substr(body_offset_); }

absl::Status Reply::Gzip() {
  const absl::string_view in = body();
  if (in.size() > std::numeric_limits<uInt>::max() / 2) {
    return absl::ResourceExhaustedError(absl::StrCat("a body of ", in.size(), " bytes"));
  }
  z_stream zs{};
  if (const int rc = deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, kGzipWindowBits,
                                  kMemLevel, Z_DEFAULT_STRATEGY);
      rc != Z_OK) {
    return absl::InternalError(absl::StrCat("deflateInit2: ", zError(rc)));
  }
  absl::Cleanup end = [&zs] { deflateEnd(&zs); };
  zs.next_in = reinterpret_cast<const Bytef*>(in.data());
  zs.avail_in = static_cast<uInt>(in.size());
  // Room for what text as repetitive as an exposition compresses to; more if need be.
  std::string& out = spare_;
  out.clear();
  out.resize(kHeadRoom + std::max<size_t>(in.size() / 8, kMinGrowth));
  int rc = Z_OK;
  while (rc == Z_OK) {
    const size_t done = kHeadRoom + zs.total_out;
    if (done == out.size()) out.resize(out.size() * 2);
    zs.next_out = reinterpret_cast<Bytef*>(out.data() + done);
    zs.avail_out = static_cast<uInt>(std::min<size_t>(out.size() - done, in.size() + kMinGrowth));
    rc = deflate(&zs, Z_FINISH);
  }
  if (rc != Z_STREAM_END) return absl::InternalError(absl::StrCat("deflate: ", zError(rc)));
  out.resize(kHeadRoom + zs.total_out);
  std::swap(buffer_, spare_);
  body_offset_ = kHeadRoom;
  return absl::OkStatus();
}

absl::string_view Reply::Finish(int status, absl::Span<const Header> headers, bool head_only) {
  std::string head = absl::StrCat("HTTP/1.1 ", status, " ", ReasonPhrase(status), "\r\n");
  for (const auto& [name, value] : headers) absl::StrAppend(&head, name, ": ", value, "\r\n");
  absl::StrAppend(&head, "Content-Length: ", buffer_.size() - body_offset_, "\r\n\r\n");
  size_t start = 0;
  if (head.size() <= body_offset_) {
    start = body_offset_ - head.size();
    std::memcpy(buffer_.data() + start, head.data(), head.size());
  } else {
    buffer_.replace(0, body_offset_, head);
    body_offset_ = head.size();
  }
  const absl::string_view all(buffer_);
  return head_only ? all.substr(start, body_offset_ - start) : all.substr(start);
}

absl::string_view ReasonPhrase(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 500:
      return "Internal Server Error";
    case 503:
      return "Service Unavailable";
    default:
      return "Unknown";
  }
}

bool AcceptsGzip(absl::string_view accept_encoding) {
  std::optional<bool> gzip;  // what the header says of gzip by name
  bool any = false;          // "*" with q > 0
  for (absl::string_view item : absl::StrSplit(accept_encoding, ',')) {
    std::vector<absl::string_view> parts = absl::StrSplit(item, ';');
    const absl::string_view coding = absl::StripAsciiWhitespace(parts[0]);
    bool accepted = true;
    for (size_t i = 1; i < parts.size(); ++i) {
      const absl::string_view param = absl::StripAsciiWhitespace(parts[i]);
      double q = 1;
      if (absl::StartsWithIgnoreCase(param, "q=") && absl::SimpleAtod(param.substr(2), &q)) {
        accepted = q > 0;
      }
    }
    if (absl::EqualsIgnoreCase(coding, "gzip") || absl::EqualsIgnoreCase(coding, "x-gzip")) {
      gzip = gzip.value_or(false) || accepted;
    } else if (coding == "*") {
      any = any || accepted;
    }
  }
  return gzip.value_or(any);
}

StringAppender::StringAppender(std::string* out) : out_(out) {
  const size_t used = out->size();
  out->resize(std::max(out->capacity(), used + kMinGrowth));
  setp(out->data() + used, out->data() + out->size());
}

void StringAppender::Finish() {
  if (finished_) return;
  out_->resize(written());
  setp(nullptr, nullptr);
  finished_ = true;
}

void StringAppender::Grow(size_t more) {
  const size_t used = written();
  out_->resize(std::max({out_->size() * 2, used + more, used + kMinGrowth}));
  setp(out_->data() + used, out_->data() + out_->size());
}

StringAppender::int_type StringAppender::overflow(int_type c) {
  if (finished_) return traits_type::eof();
  if (traits_type::eq_int_type(c, traits_type::eof())) return traits_type::not_eof(c);
  if (pptr() == epptr()) Grow(1);
  *pptr() = traits_type::to_char_type(c);
  pbump(1);
  return c;
}

}  // namespace vmmd::http
