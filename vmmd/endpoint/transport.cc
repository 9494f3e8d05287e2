#include "vmmd/endpoint/transport.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstdint>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "core/common/errno_status.h"
#include "core/common/scoped_fd.h"

namespace vmmd::endpoint {
namespace {

constexpr size_t kMaxTlsFileBytes = 1 << 20;

absl::Status TcpRules(const Address& address, const TlsFiles& tls, bool insecure, bool server,
                      absl::string_view ca_flag) {
  const bool any_tls = !tls.cert.empty() || !tls.key.empty() || !tls.ca.empty();
  if (address.kind == Address::Kind::kUnix) {
    if (insecure || any_tls) {
      return absl::InvalidArgumentError(
          absl::StrCat(address.ToString(),
                       ": --insecure and the --tls_* flags apply to tcp:// only (a Unix "
                       "socket is protected by its file mode)"));
    }
    return absl::OkStatus();
  }
  if (insecure) {
    if (any_tls) {
      return absl::InvalidArgumentError(
          "--insecure (plaintext) and the --tls_* flags exclude each other");
    }
    if (!IsLoopbackHost(address.host)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "plaintext TCP (--insecure) is allowed only on a loopback address (127.0.0.1, ::1, "
          "localhost), not on ",
          address.ToString(), ": use mutual TLS (--tls_cert, --tls_key, ", ca_flag, ")"));
    }
    return absl::OkStatus();
  }
  if (tls.ca.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        address.ToString(), " needs ", ca_flag,
        server ? " (the CA client certificates must chain to)" : " (the CA of vmmd's certificate)",
        ", or --insecure on a loopback address"));
  }
  if (server && (tls.cert.empty() || tls.key.empty())) {
    return absl::InvalidArgumentError(
        absl::StrCat(address.ToString(), " needs --tls_cert and --tls_key (vmmd's certificate)"));
  }
  if (tls.cert.empty() != tls.key.empty()) {
    return absl::InvalidArgumentError("--tls_cert and --tls_key go together: set both or neither");
  }
  return absl::OkStatus();
}

}  // namespace

std::string Address::GrpcTarget() const {
  if (kind == Kind::kUnix) return absl::StrCat("unix:", path);
  if (absl::StrContains(host, ':')) return absl::StrCat("[", host, "]:", port);
  return absl::StrCat(host, ":", port);
}

std::string Address::ToString() const {
  if (kind == Kind::kUnix) return absl::StrCat("unix:", path);
  return absl::StrCat("tcp://", GrpcTarget());
}

absl::StatusOr<Address> ParseAddress(absl::string_view text, absl::string_view flag) {
  Address out;
  const absl::string_view given = text;
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat(
        flag, " \"", absl::CHexEscape(given.substr(0, 200)), given.size() > 200 ? "..." : "",
        "\": ", why, " (use unix:PATH or tcp://HOST:PORT)"));
  };
  if (absl::ConsumePrefix(&text, "tcp://")) {
    out.kind = Address::Kind::kTcp;
    absl::string_view host;
    absl::string_view port;
    if (absl::ConsumePrefix(&text, "[")) {
      const size_t close = text.find(']');
      if (close == absl::string_view::npos || text.substr(close + 1, 1) != ":") {
        return bad("an IPv6 address is written [ADDRESS]:PORT");
      }
      host = text.substr(0, close);
      port = text.substr(close + 2);
    } else {
      const size_t colon = text.rfind(':');
      if (colon == absl::string_view::npos) return bad("no :PORT");
      host = text.substr(0, colon);
      port = text.substr(colon + 1);
      if (absl::StrContains(host, ':')) return bad("an IPv6 address is written [ADDRESS]:PORT");
    }
    int port_number = 0;
    if (host.empty()) return bad("no host");
    if (!absl::SimpleAtoi(port, &port_number) || port_number < 0 || port_number > 65535) {
      return bad("the port must be a number 0..65535");
    }
    out.host = std::string(host);
    out.port = port_number;
    return out;
  }
  if (absl::StrContains(text, "://")) return bad("unknown scheme");
  absl::ConsumePrefix(&text, "unix:");
  if (text.empty()) return bad("the socket path is empty");
  out.path = std::string(text);
  return out;
}

bool IsLoopbackHost(absl::string_view host) {
  if (host == "localhost") return true;
  in_addr v4{};
  const std::string h(host);
  if (::inet_pton(AF_INET, h.c_str(), &v4) == 1) {
    return (ntohl(v4.s_addr) >> 24) == 127;
  }
  in6_addr v6{};
  if (::inet_pton(AF_INET6, h.c_str(), &v6) == 1) return IN6_IS_ADDR_LOOPBACK(&v6);
  return false;
}

absl::StatusOr<std::string> ReadSmallFile(const std::string& path, absl::string_view flag) {
  ScopedFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    const int err = errno;
    return ErrnoStatus(err, absl::StrCat(flag, ": open ", path));
  }
  std::string out;
  char buf[16384];
  while (true) {
    const ssize_t n = ::read(fd.get(), buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      return ErrnoStatus(err, absl::StrCat(flag, ": read ", path));
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > kMaxTlsFileBytes) {
      return absl::InvalidArgumentError(
          absl::StrCat(flag, ": ", path, " is larger than 1 MiB; it is not a PEM file"));
    }
  }
  if (out.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(flag, ": ", path, " is empty"));
  }
  return out;
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ServerCredentialsFor(
    const Address& address, const TlsFiles& tls, bool insecure) {
  if (absl::Status s = TcpRules(address, tls, insecure, true, "--tls_client_ca"); !s.ok()) return s;
  if (address.kind == Address::Kind::kUnix || insecure) return grpc::InsecureServerCredentials();
  grpc::SslServerCredentialsOptions options(
      GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  absl::StatusOr<std::string> ca = ReadSmallFile(tls.ca, "--tls_client_ca");
  if (!ca.ok()) return ca.status();
  absl::StatusOr<std::string> cert = ReadSmallFile(tls.cert, "--tls_cert");
  if (!cert.ok()) return cert.status();
  absl::StatusOr<std::string> key = ReadSmallFile(tls.key, "--tls_key");
  if (!key.ok()) return key.status();
  options.pem_root_certs = *std::move(ca);
  options.pem_key_cert_pairs.push_back({*std::move(key), *std::move(cert)});
  return grpc::SslServerCredentials(options);
}

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> ChannelCredentialsFor(
    const Address& address, const TlsFiles& tls, bool insecure) {
  if (absl::Status s = TcpRules(address, tls, insecure, false, "--tls_ca"); !s.ok()) return s;
  if (address.kind == Address::Kind::kUnix || insecure) return grpc::InsecureChannelCredentials();
  grpc::SslCredentialsOptions options;
  absl::StatusOr<std::string> ca = ReadSmallFile(tls.ca, "--tls_ca");
  if (!ca.ok()) return ca.status();
  options.pem_root_certs = *std::move(ca);
  if (!tls.cert.empty()) {
    absl::StatusOr<std::string> cert = ReadSmallFile(tls.cert, "--tls_cert");
    if (!cert.ok()) return cert.status();
    absl::StatusOr<std::string> key = ReadSmallFile(tls.key, "--tls_key");
    if (!key.ok()) return key.status();
    options.pem_cert_chain = *std::move(cert);
    options.pem_private_key = *std::move(key);
  }
  return grpc::SslCredentials(options);
}

}  // namespace vmmd::endpoint
