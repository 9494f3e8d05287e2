// Reading a Prometheus text exposition in tests: GET a path from a loopback HTTP port, and the
// samples of an exposition as "name{labels}" -> value.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <map>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "gtest/gtest.h"

namespace vmmd::testing {

// The whole HTTP/1.0 reply (status line, headers, body) to GET `path` on 127.0.0.1:`port`,
// with `headers` ("Name: value\r\n" lines) added to the request; "" when nothing listens there.
inline std::string HttpGet(int port, const std::string& path, const std::string& headers = "") {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return "";
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return "";
  }
  const std::string request =
      absl::StrCat("GET ", path, " HTTP/1.0\r\nHost: localhost\r\n", headers, "\r\n");
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

// The body of an HTTP reply ("" without one).
inline absl::string_view HttpBody(absl::string_view reply) {
  const size_t end = reply.find("\r\n\r\n");
  return end == absl::string_view::npos ? absl::string_view() : reply.substr(end + 4);
}

}  // namespace vmmd::testing
