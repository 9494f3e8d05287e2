// HTTP/1.1 replies of vmmd's HTTP endpoint (server.h), built with no copy of the body: the body
// is written (or gzip-compressed) into one buffer after room kept for the head, and the status
// line and headers are placed in that room once the body is complete, so that the whole reply
// is one contiguous block, sent with one write. The buffers can be handed on to the next reply.
#pragma once

#include <cstddef>
#include <streambuf>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace vmmd::http {

// The memory a reply is built in: the buffer of its body and a second one for the body's gzip
// encoding. A server hands the storage of one reply to the next (Reply::Release), so that a
// large body is written into memory that is already mapped: glibc gives large freed blocks back
// to the kernel, and faulting a megabyte back in at every scrape costs more than encoding it.
struct ReplyStorage {
  std::string body;
  std::string spare;
};

// One reply: its status, its headers (Content-Length is added) and its body.
class Reply {
 public:
  using Header = std::pair<absl::string_view, absl::string_view>;

  // `body_capacity`: bytes to reserve for the body (an estimate; it grows as needed).
  // `storage`: memory to build it in (what it holds is dropped).
  explicit Reply(size_t body_capacity = 0, ReplyStorage storage = {});

  // The buffer: head room, then the body. Append the body to it (see StringAppender); never
  // touch the head room.
  std::string* buffer() { return &buffer_; }
  absl::string_view body() const;

  // Replaces the body with its gzip encoding (RFC 1952, zlib's default level), written into the
  // spare buffer (which then holds the plain body). On failure the body is unchanged.
  absl::Status Gzip();

  // Writes the head in front of the body: "HTTP/1.1 <status> <reason>", `headers`, and
  // Content-Length (the body's size). Returns the bytes to send: head and body, or the head
  // alone for a HEAD request. The view lives as long as the reply, until the next call.
  absl::string_view Finish(int status, absl::Span<const Header> headers, bool head_only);

  // The memory, for another reply (this one is empty afterwards).
  ReplyStorage Release() { return ReplyStorage{std::move(buffer_), std::move(spare_)}; }

 private:
  std::string buffer_;
  std::string spare_;
  size_t body_offset_;  // where the body starts: after the head room, or after a head too long
};

// The text of a status code ("Service Unavailable" for 503).
absl::string_view ReasonPhrase(int status);

// Whether an Accept-Encoding header value accepts gzip: the coding `gzip` (or `x-gzip`, or
// `*`), not refused with q=0.
bool AcceptsGzip(absl::string_view accept_encoding);

// A std::streambuf that appends to a std::string in place: the stream writes straight into the
// string's storage (std::ostringstream would copy its buffer out once more at the end). Finish()
// (or the destructor) cuts the string to what was written.
class StringAppender : public std::streambuf {
 public:
  explicit StringAppender(std::string* out);
  ~StringAppender() override { Finish(); }
  StringAppender(const StringAppender&) = delete;
  StringAppender& operator=(const StringAppender&) = delete;

  void Finish();

 protected:
  // The put area is the string's free end; when it is full, the string grows.
  int_type overflow(int_type c) override;

 private:
  // Grows the string so that at least `more` bytes fit after what was written.
  void Grow(size_t more);
  size_t written() const { return static_cast<size_t>(pptr() - out_->data()); }

  std::string* out_;
  bool finished_ = false;
};

}  // namespace vmmd::http
