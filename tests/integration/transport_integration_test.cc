// The API over TCP with mutual TLS, with certificates made here by the openssl CLI: a CA, a
// server certificate for 127.0.0.1/localhost, a client certificate of that CA and one of
// another CA. Plaintext TCP only on loopback with --insecure. Server reflection over the socket.
#include <grp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "google/protobuf/unknown_field_set.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "tests/integration/daemon_fixture.h"
#include "tests/support/status_matchers.h"
#include "vmmd/endpoint/transport.h"

#ifndef VMMCTL_PATH
#error "VMMCTL_PATH (the built vmmctl) must be defined by CMake"
#endif

namespace vmmd::testing {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;

// CA "vmmd-test-ca" signs server.pem (localhost, 127.0.0.1) and client.pem; "other-ca" signs
// rogue.pem. EC keys: quick to make.
constexpr char kMakeCertificates[] = R"(set -e
key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1.key"; }
key ca; openssl req -x509 -new -key ca.key -out ca.pem -days 2 -subj /CN=vmmd-test-ca
key other-ca; openssl req -x509 -new -key other-ca.key -out other-ca.pem -days 2 -subj /CN=other-ca
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' > server.ext
printf 'extendedKeyUsage=clientAuth\n' > client.ext
sign() {  # name ca ext
  key "$1"; openssl req -new -key "$1.key" -out "$1.csr" -subj "/CN=$1"
  openssl x509 -req -in "$1.csr" -CA "$2.pem" -CAkey "$2.key" -CAcreateserial -out "$1.pem" \
    -days 2 -extfile "$3"
}
sign server ca server.ext
sign client ca client.ext
sign rogue other-ca client.ext
)";

class TlsTest : public DaemonTest {
 protected:
  void SetUp() override {
    certs_ = tmp_.path() + "/certs";
    const ProcessResult made = RunProcess({"/bin/mkdir", "-p", certs_});
    ASSERT_EQ(made.exit_code, 0);
    const ProcessResult r = RunProcess({"/bin/sh", "-c", kMakeCertificates}, certs_);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    DaemonTest::SetUp();
  }
  void Configure(DaemonOptions* options) override {
    options->tcp_listen = {"tcp://127.0.0.1:0"};
    options->tls = {.cert = Cert("server.pem"), .key = Cert("server.key"), .ca = Cert("ca.pem")};
  }
  std::string Cert(const std::string& name) const { return certs_ + "/" + name; }

  // ListVms over TCP as a client presenting `cert` (none if empty).
  grpc::Status CallAs(const std::string& cert, const std::string& key) {
    endpoint::Address address;
    address.kind = endpoint::Address::Kind::kTcp;
    address.host = "127.0.0.1";
    address.port = daemon_->tcp_ports().at(0);
    absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> credentials =
        endpoint::ChannelCredentialsFor(address, {.cert = cert, .key = key, .ca = Cert("ca.pem")},
                                        false);
    if (!credentials.ok()) return grpc::Status(grpc::StatusCode::INTERNAL, "credentials");
    auto stub = v1::Vmm::NewStub(grpc::CreateChannel(address.GrpcTarget(), *credentials));
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    v1::ListVmsResponse response;
    return stub->ListVms(&context, v1::ListVmsRequest(), &response);
  }

  std::string certs_;
};

TEST_F(TlsTest, OnlyClientsOfTheCaAreServed) {
  ASSERT_EQ(daemon_->tcp_ports().size(), 1u);
  ASSERT_NE(daemon_->tcp_ports()[0], 0);
  const grpc::Status known = CallAs(Cert("client.pem"), Cert("client.key"));
  EXPECT_TRUE(known.ok()) << known.error_code() << " " << known.error_message();

  const grpc::Status rogue = CallAs(Cert("rogue.pem"), Cert("rogue.key"));
  EXPECT_EQ(rogue.error_code(), grpc::StatusCode::UNAVAILABLE) << rogue.error_message();
  const grpc::Status anonymous = CallAs("", "");
  EXPECT_EQ(anonymous.error_code(), grpc::StatusCode::UNAVAILABLE) << anonymous.error_message();

  // vmmctl over TCP with the same client certificate.
  const std::string server = "--server=tcp://127.0.0.1:" + std::to_string(daemon_->tcp_ports()[0]);
  ProcessResult ctl =
      RunProcess({VMMCTL_PATH, server, "--tls_ca=" + Cert("ca.pem"),
                  "--tls_cert=" + Cert("client.pem"), "--tls_key=" + Cert("client.key"), "list"});
  EXPECT_EQ(ctl.exit_code, 0) << ctl.err;
  ctl = RunProcess({VMMCTL_PATH, server, "--tls_ca=" + Cert("ca.pem"), "list"});
  EXPECT_EQ(ctl.exit_code, 1);
  EXPECT_THAT(ctl.err, HasSubstr("UNAVAILABLE"));
  ctl = RunProcess({VMMCTL_PATH, "--server=tcp://10.1.2.3:7443", "--insecure", "list"});
  EXPECT_EQ(ctl.exit_code, 2);
  EXPECT_THAT(ctl.err, HasSubstr("plaintext TCP (--insecure) is allowed only on a loopback"));

  // The Unix socket serves next to it.
  v1::ListVmsResponse list;
  grpc::ClientContext context;
  EXPECT_TRUE(stub_->ListVms(&context, v1::ListVmsRequest(), &list).ok());
}

class PlainTcpTest : public DaemonTest {};

class SocketGroupTest : public DaemonTest {
 protected:
  void Configure(DaemonOptions* options) override {
    const group* g = ::getgrgid(::getgid());
    ASSERT_NE(g, nullptr);
    group_ = g->gr_name;
    options->socket_group = group_;
  }
  std::string group_;
};

TEST_F(SocketGroupTest, SocketIs0660OwnedByTheGroup) {
  struct stat st {};
  ASSERT_EQ(::stat(socket_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0660u);
  EXPECT_EQ(st.st_gid, ::getgid());
  DaemonOptions options;
  options.socket_path = tmp_.path() + "/other.sock";
  options.socket_group = "no-such-group-vmmd";
  EXPECT_EQ(Daemon::Start(&hv_, options).status(),
            absl::NotFoundError("--socket_group: no group named no-such-group-vmmd"));
}

TEST_F(PlainTcpTest, PlaintextOnlyOnLoopbackAndOnlyWhenAsked) {
  DaemonOptions options;
  options.socket_path = "";
  options.tcp_listen = {"tcp://0.0.0.0:0"};
  EXPECT_THAT(Daemon::Start(&hv_, options).status(),
              ::vmmd::testing::StatusIs(absl::StatusCode::kInvalidArgument,
                                        HasSubstr("needs --tls_client_ca")));
  options.insecure = true;
  EXPECT_EQ(Daemon::Start(&hv_, options).status(),
            absl::InvalidArgumentError(
                "plaintext TCP (--insecure) is allowed only on a loopback address (127.0.0.1, "
                "::1, localhost), not on tcp://0.0.0.0:0: use mutual TLS (--tls_cert, --tls_key, "
                "--tls_client_ca)"));

  options.tcp_listen = {"tcp://127.0.0.1:0"};
  absl::StatusOr<std::unique_ptr<Daemon>> daemon = Daemon::Start(&hv_, options);
  ASSERT_TRUE(daemon.ok()) << daemon.status();
  auto stub = v1::Vmm::NewStub(
      grpc::CreateChannel("127.0.0.1:" + std::to_string((*daemon)->tcp_ports().at(0)),
                          grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  v1::ListVmsResponse list;
  EXPECT_TRUE(stub->ListVms(&context, v1::ListVmsRequest(), &list).ok());
}

// grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo, spoken with a generic stub
// (Debian ships the service, not its .proto): list_services (field 7) in, and out a
// list_services_response (6) of ServiceResponse (1) names (1).
TEST_F(PlainTcpTest, ReflectionListsTheServices) {
  grpc::GenericStub generic(
      grpc::CreateChannel("unix:" + socket_, grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  grpc::CompletionQueue cq;
  std::unique_ptr<grpc::GenericClientAsyncReaderWriter> call = generic.PrepareCall(
      &context, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", &cq);
  void* tag = nullptr;
  bool ok = false;
  call->StartCall(reinterpret_cast<void*>(1));
  ASSERT_TRUE(cq.Next(&tag, &ok) && ok);
  const std::string request("\x3a\x01*", 3);  // list_services: "*"
  grpc::Slice slice(request);
  grpc::ByteBuffer out(&slice, 1);
  call->Write(out, reinterpret_cast<void*>(2));
  ASSERT_TRUE(cq.Next(&tag, &ok) && ok);
  grpc::ByteBuffer in;
  call->Read(&in, reinterpret_cast<void*>(3));
  ASSERT_TRUE(cq.Next(&tag, &ok) && ok);
  std::vector<grpc::Slice> slices;
  ASSERT_TRUE(in.Dump(&slices).ok());
  std::string bytes;
  for (const grpc::Slice& s : slices)
    bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());

  google::protobuf::UnknownFieldSet response;
  ASSERT_TRUE(response.ParseFromString(bytes));
  std::vector<std::string> names;
  for (int i = 0; i < response.field_count(); ++i) {
    if (response.field(i).number() != 6) continue;
    google::protobuf::UnknownFieldSet list;
    ASSERT_TRUE(list.ParseFromString(response.field(i).length_delimited()));
    for (int j = 0; j < list.field_count(); ++j) {
      google::protobuf::UnknownFieldSet service;
      ASSERT_TRUE(service.ParseFromString(list.field(j).length_delimited()));
      ASSERT_GE(service.field_count(), 1);
      names.push_back(service.field(0).length_delimited());
    }
  }
  EXPECT_THAT(names, Contains("vmmd.v1.Vmm"));
  EXPECT_THAT(names, Contains("grpc.health.v1.Health"));
  call->WritesDone(reinterpret_cast<void*>(4));
  cq.Next(&tag, &ok);
  grpc::Status status;
  call->Finish(&status, reinterpret_cast<void*>(5));
  while (cq.Next(&tag, &ok) && tag != reinterpret_cast<void*>(5)) {
  }
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
}

}  // namespace
}  // namespace vmmd::testing
