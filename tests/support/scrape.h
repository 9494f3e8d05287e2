// Reading a Prometheus text exposition in tests: GET (or another method on) a path from a
// loopback HTTP port, a reply's status and headers, a gzip body inflated, and the samples of an
// exposition as "name{labels}" -> value.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <zlib.h>

#include <cstdint>
#include <map>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "gtest/gtest.h"

namespace vmmd::testing {

// The whole reply (status line, headers, body) to an HTTP/1.0 `method` `path` on
// 127.0.0.1:`port`, with `headers` ("Name: value\r\n" lines) and `body` added to the request;
// "" when nothing listens there.
inline std::string HttpRequest(int port, const std::string& method, const std::string& path,
                               const std::string& headers = "", const std::string& body = "") {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return "";
  // A server that accepts and never answers fails the caller's checks within 10 s instead of
  // hanging the test until its ctest timeout (a reply cut short reads as "" or a partial one).
  const timeval limit{.tv_sec = 10, .tv_usec = 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof(limit));
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof(limit));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return "";
  }
  const std::string request =
      absl::StrCat(method, " ", path, " HTTP/1.0\r\nHost: localhost\r\n", headers, "\r\n", body);
  if (::write(fd, request.data(), request.size()) != static_cast<ssize_t>(request.size())) {
    ::close(fd);
    return "";
  }
  std::string out;
  char buf[65536];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof(buf))) > 0) out.append(buf, static_cast<size_t>(n));
  ::close(fd);
  return out;
}

inline std::string HttpGet(int port, const std::string& path, const std::string& headers = "") {
  return HttpRequest(port, "GET", path, headers);
}

// The status code of an HTTP reply (0 when it has no status line).
inline int HttpStatus(absl::string_view reply) {
  int status = 0;
  if (!absl::StartsWith(reply, "HTTP/1.") || reply.size() < 12 ||
      !absl::SimpleAtoi(reply.substr(9, 3), &status)) {
    return 0;
  }
  return status;
}

// The value of header `name` (case as sent) in an HTTP reply; "" when absent.
inline std::string HttpHeader(absl::string_view reply, absl::string_view name) {
  const absl::string_view head = reply.substr(0, reply.find("\r\n\r\n"));
  for (absl::string_view line : absl::StrSplit(head, "\r\n")) {
    if (absl::StartsWith(line, absl::StrCat(name, ": "))) {
      return std::string(line.substr(name.size() + 2));
    }
  }
  return "";
}

// Every sample of a text exposition (comments skipped; anything else that is not
// "<series> <value>" is a test failure).
inline std::map<std::string, double> Samples(absl::string_view text) {
  std::map<std::string, double> out;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (line.empty() || line[0] == '#') continue;
    const size_t space = line.rfind(' ');
    double v = 0;
    if (space == absl::string_view::npos || !absl::SimpleAtod(line.substr(space + 1), &v)) {
      ADD_FAILURE() << "not a sample: " << line;
      continue;
    }
    out[std::string(line.substr(0, space))] = v;
  }
  return out;
}

// `in` inflated from gzip (RFC 1952); a test failure unless it is exactly one whole gzip stream.
inline std::string Gunzip(absl::string_view in) {
  z_stream zs{};
  if (inflateInit2(&zs, MAX_WBITS + 16) != Z_OK) {
    ADD_FAILURE() << "inflateInit2";
    return "";
  }
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  std::string out;
  char buf[16384];
  int rc = Z_OK;
  while (rc == Z_OK) {
    zs.next_out = reinterpret_cast<Bytef*>(buf);
    zs.avail_out = sizeof(buf);
    rc = inflate(&zs, Z_NO_FLUSH);
    out.append(buf, sizeof(buf) - zs.avail_out);
  }
  inflateEnd(&zs);
  EXPECT_EQ(rc, Z_STREAM_END) << "not a whole gzip stream";
  EXPECT_EQ(zs.avail_in, 0u) << "bytes after the gzip stream";
  return out;
}

// The body of an HTTP reply ("" without one).
inline absl::string_view HttpBody(absl::string_view reply) {
  const size_t end = reply.find("\r\n\r\n");
  return end == absl::string_view::npos ? absl::string_view() : reply.substr(end + 4);
}

}  // namespace vmmd::testing
