// Where and how the vmmd.v1 API is reached, shared by vmmd (server side), vmmctl and
// vmm-autoscaler (client side):
//   unix:PATH            a Unix socket; its file mode is the access control (vmmd: 0600, or
//                        0660 with a group).
//   tcp://HOST:PORT      TCP with mutual TLS: the server presents --tls_cert/--tls_key and
//                        requires a client certificate signed by --tls_client_ca; a client
//                        verifies the server against --tls_ca and presents its own certificate.
//                        Plaintext only with --insecure, and only on a loopback address.
#pragma once

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/security/server_credentials.h"

namespace vmmd::endpoint {

struct Address {
  enum class Kind { kUnix, kTcp };
  Kind kind = Kind::kUnix;
  std::string path;  // kUnix
  std::string host;  // kTcp: a name, an IPv4 address or an IPv6 address (without brackets)
  int port = 0;      // kTcp: 0 ..= 65535 (0: any free port, server side)

  // What gRPC's builder and channels take: "unix:PATH", "HOST:PORT" or "[V6]:PORT".
  std::string GrpcTarget() const;
  // As the user writes it: "unix:PATH" or "tcp://HOST:PORT".
  std::string ToString() const;
};

// "unix:PATH" (PATH absolute or relative, not empty), "tcp://HOST:PORT" ("tcp://[::1]:7443"
// for IPv6), or a bare path (as --socket took it). INVALID_ARGUMENT naming `flag` otherwise.
absl::StatusOr<Address> ParseAddress(absl::string_view text, absl::string_view flag);

// localhost, 127.0.0.0/8, ::1.
bool IsLoopbackHost(absl::string_view host);

// The TLS files of one side. Server: cert, key and ca (the CA client certificates must chain
// to). Client: ca (verifies the server), and cert/key (its own certificate; both or neither).
struct TlsFiles {
  std::string cert;
  std::string key;
  std::string ca;
};

// Credentials to serve `address` with. unix: none needed (insecure credentials; `tls` and
// `insecure` must be unset). tcp: mTLS from `tls` (every file set, readable, at most 1 MiB), or
// plaintext if `insecure` and the host is a loopback address. INVALID_ARGUMENT (naming the
// flag) for any other combination, NOT_FOUND / PERMISSION_DENIED for a file.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ServerCredentialsFor(
    const Address& address, const TlsFiles& tls, bool insecure);

// Credentials to reach `address` with, by the same rules from the client's side.
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> ChannelCredentialsFor(
    const Address& address, const TlsFiles& tls, bool insecure);

// A whole small file (a certificate or key): at most 1 MiB.
absl::StatusOr<std::string> ReadSmallFile(const std::string& path, absl::string_view flag);

}  // namespace vmmd::endpoint
