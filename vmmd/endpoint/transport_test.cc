#include "vmmd/endpoint/transport.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/status_matchers.h"

namespace vmmd::endpoint {
namespace {

using ::testing::HasSubstr;
using ::vmmd::testing::IsOk;
using ::vmmd::testing::StatusIs;

TEST(ParseAddressTest, UnixTcpAndBarePaths) {
  absl::StatusOr<Address> a = ParseAddress("unix:/run/vmmd/vmmd.sock", "--listen");
  ASSERT_THAT(a.status(), IsOk());
  EXPECT_EQ(a->kind, Address::Kind::kUnix);
  EXPECT_EQ(a->path, "/run/vmmd/vmmd.sock");
  EXPECT_EQ(a->GrpcTarget(), "unix:/run/vmmd/vmmd.sock");
  a = ParseAddress("/tmp/x.sock", "--server");
  ASSERT_THAT(a.status(), IsOk());
  EXPECT_EQ(a->ToString(), "unix:/tmp/x.sock");
  a = ParseAddress("tcp://10.0.0.5:7443", "--listen");
  ASSERT_THAT(a.status(), IsOk());
  EXPECT_EQ(a->kind, Address::Kind::kTcp);
  EXPECT_EQ(a->host, "10.0.0.5");
  EXPECT_EQ(a->port, 7443);
  EXPECT_EQ(a->GrpcTarget(), "10.0.0.5:7443");
  a = ParseAddress("tcp://[::1]:0", "--listen");
  ASSERT_THAT(a.status(), IsOk());
  EXPECT_EQ(a->host, "::1");
  EXPECT_EQ(a->ToString(), "tcp://[::1]:0");
}

TEST(ParseAddressTest, RefusesWithTheFlagNamed) {
  EXPECT_THAT(ParseAddress("tcp://host", "--listen").status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "--listen \"tcp://host\": no :PORT (use unix:PATH or tcp://HOST:PORT)"));
  EXPECT_THAT(ParseAddress("tcp://h:70000", "--listen").status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("0..65535")));
  EXPECT_THAT(ParseAddress("tcp://::1:80", "--listen").status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("[ADDRESS]:PORT")));
  EXPECT_THAT(ParseAddress("http://h:1", "--server").status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("unknown scheme")));
  EXPECT_THAT(ParseAddress("unix:", "--server").status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("the socket path is empty")));
}

TEST(TransportTest, Loopback) {
  EXPECT_TRUE(IsLoopbackHost("127.0.0.1"));
  EXPECT_TRUE(IsLoopbackHost("127.1.2.3"));
  EXPECT_TRUE(IsLoopbackHost("::1"));
  EXPECT_TRUE(IsLoopbackHost("localhost"));
  EXPECT_FALSE(IsLoopbackHost("0.0.0.0"));
  EXPECT_FALSE(IsLoopbackHost("10.0.0.1"));
  EXPECT_FALSE(IsLoopbackHost("::"));
  EXPECT_FALSE(IsLoopbackHost("example.com"));
}

TEST(TransportTest, PlaintextTcpOnlyOnLoopbackAndOnlyWhenAsked) {
  Address any = *ParseAddress("tcp://0.0.0.0:7443", "--listen");
  EXPECT_THAT(ServerCredentialsFor(any, {}, /*insecure=*/true).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "plaintext TCP (--insecure) is allowed only on a loopback address "
                       "(127.0.0.1, ::1, localhost), not on tcp://0.0.0.0:7443: use mutual TLS "
                       "(--tls_cert, --tls_key, --tls_client_ca)"));
  EXPECT_THAT(ServerCredentialsFor(any, {}, /*insecure=*/false).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("needs --tls_client_ca")));
  EXPECT_THAT(
      ServerCredentialsFor(any, {.cert = "", .key = "", .ca = "/ca.pem"}, false).status(),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("needs --tls_cert and --tls_key")));
  Address local = *ParseAddress("tcp://127.0.0.1:7443", "--listen");
  EXPECT_THAT(ServerCredentialsFor(local, {}, true).status(), IsOk());
  EXPECT_THAT(ServerCredentialsFor(local, {.cert = "", .key = "", .ca = "/ca.pem"}, true).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("exclude each other")));
  EXPECT_THAT(ChannelCredentialsFor(any, {}, true).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("--tls_ca")));
  EXPECT_THAT(
      ChannelCredentialsFor(any, {.cert = "/c.pem", .key = "", .ca = "/ca.pem"}, false).status(),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("go together")));
  Address unix_socket = *ParseAddress("unix:/s", "--listen");
  EXPECT_THAT(ServerCredentialsFor(unix_socket, {}, true).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("apply to tcp:// only")));
  EXPECT_THAT(ChannelCredentialsFor(unix_socket, {}, false).status(), IsOk());
}

TEST(TransportTest, MissingFilesAreNamed) {
  Address any = *ParseAddress("tcp://0.0.0.0:7443", "--listen");
  EXPECT_THAT(
      ServerCredentialsFor(any, {.cert = "/nope/c", .key = "/nope/k", .ca = "/nope/ca"}, false)
          .status(),
      StatusIs(absl::StatusCode::kNotFound, HasSubstr("--tls_client_ca: open /nope/ca")));
}

}  // namespace
}  // namespace vmmd::endpoint
