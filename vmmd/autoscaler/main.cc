// vmm-autoscaler: grows and shrinks the vCPUs of vmmd's VMs from their measured load, by the
// policy each VM carries in vmmd (docs/autoscaling.md). Uses only vmmd's public gRPC API.
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <exception>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/time/time.h"
#include "core/common/log.h"
#include "core/common/log_level.h"
#include "core/common/signals.h"
#include "core/common/thread.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "vmmd/autoscaler/autoscaler_metrics.h"
#include "vmmd/autoscaler/controller.h"
#include "vmmd/endpoint/defaults.h"
#include "vmmd/endpoint/transport.h"
#include "vmmd/http/server.h"

ABSL_FLAG(std::string, socket, vmmd::endpoint::kDefaultSocketPath, "vmmd's API socket");
ABSL_FLAG(std::string, server, "",
          "vmmd's API: unix:PATH or tcp://HOST:PORT (instead of --socket); over TCP mutual TLS "
          "with --tls_ca, --tls_cert and --tls_key, or --insecure to a loopback address");
ABSL_FLAG(std::string, tls_cert, "", "tcp: this client's certificate (PEM)");
ABSL_FLAG(std::string, tls_key, "", "tcp: this client's private key (PEM)");
ABSL_FLAG(std::string, tls_ca, "", "tcp: the CA that signed vmmd's certificate (PEM)");
ABSL_FLAG(bool, insecure, false, "tcp: plaintext, to a loopback address only");
ABSL_FLAG(std::string, metrics_address, "",
          "HOST:PORT to serve this autoscaler's Prometheus metrics on at /metrics, with "
          "/healthz and /readyz (ready while vmmd's API answers), e.g. 127.0.0.1:9478. Empty: "
          "off");
ABSL_FLAG(absl::Duration, interval, absl::Seconds(5),
          "how often each autoscaled VM is sampled and decided on (1s..10m)");
ABSL_FLAG(double, max_steal, 0.2,
          "no scale-up while the VM's online vCPUs wait for a host CPU more than this fraction "
          "of the time (0..1): the host is contended, more vCPUs would not help");
ABSL_FLAG(bool, dry_run, false, "treat every AUTO policy as RECOMMEND: publish, never scale");
ABSL_FLAG(absl::Duration, scale_timeout, absl::Seconds(60),
          "how long one ScaleVCPUs may wait for the guest to bring the vCPUs online (1s..1h)");
ABSL_FLAG(absl::Duration, startup_delay, absl::Seconds(60),
          "no decision for a VM this soon after it started (its boot keeps the vCPUs busy); "
          "0s..1h");
ABSL_FLAG(std::string, log_level, "info", "Minimum log level: debug, info, warning or error");

namespace {

int UsageError(const std::string& problem) {
  std::fprintf(stderr, "vmm-autoscaler: %s (see --help)\n", problem.c_str());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  absl::FlagsUsageConfig usage_config;
  usage_config.contains_help_flags = [](absl::string_view path) {
    return absl::EndsWith(path, "vmmd/autoscaler/main.cc");
  };
  usage_config.contains_helpshort_flags = usage_config.contains_help_flags;
  absl::SetFlagsUsageConfig(usage_config);
  absl::SetProgramUsageMessage(
      "Autoscales the vCPUs of vmmd's VMs by the policy each carries.\n"
      "Usage: vmm-autoscaler [--socket=PATH | --server=unix:PATH|tcp://HOST:PORT\n"
      "                       [--tls_ca=FILE --tls_cert=FILE --tls_key=FILE | --insecure]]\n"
      "                      [--metrics_address=HOST:PORT] [--interval=5s]\n"
      "                      [--max_steal=0.2] [--dry_run] [--scale_timeout=60s]\n"
      "                      [--startup_delay=60s]");
  const std::vector<char*> rest = absl::ParseCommandLine(argc, argv);
  if (rest.size() > 1) return UsageError(std::string("unexpected argument '") + rest[1] + "'");
  vmmd::LogLevel level = vmmd::LogLevel::kInfo;
  if (!vmmd::ParseLogLevel(absl::GetFlag(FLAGS_log_level), &level)) {
    return UsageError("--log_level must be debug, info, warning or error");
  }
  vmmd::SetMinLogLevel(level);
  vmmd::autoscaler::ControllerOptions options;
  options.interval = absl::GetFlag(FLAGS_interval);
  options.max_steal = absl::GetFlag(FLAGS_max_steal);
  options.dry_run = absl::GetFlag(FLAGS_dry_run);
  options.scale_timeout = absl::GetFlag(FLAGS_scale_timeout);
  options.startup_delay = absl::GetFlag(FLAGS_startup_delay);
  if (options.startup_delay < absl::ZeroDuration() || options.startup_delay > absl::Hours(1)) {
    return UsageError("--startup_delay must be between 0s and 1h");
  }
  if (options.interval < absl::Seconds(1) || options.interval > absl::Minutes(10)) {
    return UsageError("--interval must be between 1s and 10m");
  }
  if (!(options.max_steal >= 0 && options.max_steal <= 1)) {
    return UsageError("--max_steal must be between 0 and 1");
  }
  if (options.scale_timeout < absl::Seconds(1) || options.scale_timeout > absl::Hours(1)) {
    return UsageError("--scale_timeout must be between 1s and 1h");
  }
  char host[256] = {};
  if (gethostname(host, sizeof(host) - 1) != 0) host[0] = '\0';
  options.reporter = std::string("vmm-autoscaler/") + host;
  const std::string server_flag = absl::GetFlag(FLAGS_server);
  if (!server_flag.empty() && absl::GetFlag(FLAGS_socket) != vmmd::endpoint::kDefaultSocketPath) {
    return UsageError("--server and --socket name the same thing: give one");
  }
  absl::StatusOr<vmmd::endpoint::Address> api =
      server_flag.empty() ? vmmd::endpoint::ParseAddress(absl::GetFlag(FLAGS_socket), "--socket")
                          : vmmd::endpoint::ParseAddress(server_flag, "--server");
  if (!api.ok()) return UsageError(std::string(api.status().message()));
  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> credentials =
      vmmd::endpoint::ChannelCredentialsFor(*api,
                                            {.cert = absl::GetFlag(FLAGS_tls_cert),
                                             .key = absl::GetFlag(FLAGS_tls_key),
                                             .ca = absl::GetFlag(FLAGS_tls_ca)},
                                            absl::GetFlag(FLAGS_insecure));
  if (!credentials.ok()) return UsageError(std::string(credentials.status().message()));
  const std::string socket = api->ToString();

  // SIGINT/SIGTERM are taken by sigwait below; every thread started after this inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  // vmmd going away mid-call must cost a write EPIPE, not this process its life.
  if (absl::Status s = vmmd::IgnoreSigpipe(); !s.ok()) {
    std::fprintf(stderr, "vmm-autoscaler: %s\n", s.ToString().c_str());
    return 1;
  }

  vmmd::autoscaler::AutoscalerMetrics metrics;
  vmmd::autoscaler::Controller controller(grpc::CreateChannel(api->GrpcTarget(), *credentials),
                                          options, &metrics);
  std::unique_ptr<vmmd::http::MetricsServer> server;
  const std::string address = absl::GetFlag(FLAGS_metrics_address);
  if (!address.empty()) {
    auto started = vmmd::http::MetricsServer::Start(
        address, metrics.registry(), [&controller]() -> absl::Status {
          if (controller.connected()) return absl::OkStatus();
          return absl::UnavailableError("vmmd's API does not answer");
        });
    if (!started.ok()) {
      std::fprintf(stderr, "vmm-autoscaler: %s\n", std::string(started.status().message()).c_str());
      return started.status().code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
    }
    server = *std::move(started);
  }
  vmmd::LogInfo("vmm-autoscaler: watching %s every %s%s", socket,
                absl::FormatDuration(options.interval), options.dry_run ? " (dry run)" : "");
  absl::StatusOr<std::thread> loop = vmmd::StartThread(
      "autoscaler loop", [&controller] { controller.Run(); }, "loop");
  if (!loop.ok()) {
    std::fprintf(stderr, "vmm-autoscaler: %s\n", loop.status().ToString().c_str());
    return 1;
  }
  int sig = 0;
  sigwait(&signals, &sig);
  vmmd::LogInfo("vmm-autoscaler: signal %d, stopping", sig);
  controller.Stop();
  loop->join();
  return 0;
}
