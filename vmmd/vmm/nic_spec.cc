#include "vmmd/vmm/nic_spec.h"

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_format.h"
#include "core/common/bounded_echo.h"
#include "core/net/tap.h"

namespace vmmd::vmm {
namespace {

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  c = absl::ascii_tolower(static_cast<unsigned char>(c));
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

}  // namespace

std::optional<Mac> ParseMac(absl::string_view text) {
  if (text.size() != 17) return std::nullopt;
  Mac out{};
  for (size_t i = 0; i < 6; ++i) {
    const int hi = HexDigit(text[3 * i]);
    const int lo = HexDigit(text[3 * i + 1]);
    if (hi < 0 || lo < 0 || (i < 5 && text[3 * i + 2] != ':')) return std::nullopt;
    out[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return out;
}

std::string FormatMac(const Mac& m) {
  return absl::StrFormat("%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
}

Mac NicMac(const VmSpec& spec, size_t index) {
  if (index < spec.nics.size()) {
    if (std::optional<Mac> mac = ParseMac(spec.nics[index].mac); mac.has_value()) return *mac;
  }
  // FNV-1a over "<name>/<index>": stable across builds and hosts (std::hash is not promised
  // to be).
  uint64_t h = 0xcbf29ce484222325ULL;
  for (char c : absl::StrFormat("%s/%u", spec.name, index)) {
    h ^= static_cast<uint8_t>(c);
    h *= 0x100000001b3ULL;
  }
  Mac mac{0x02};  // locally administered, unicast
  for (size_t i = 1; i < 6; ++i) mac[i] = static_cast<uint8_t>(h >> (8 * (i - 1)));
  return mac;
}

absl::Status ValidateNics(const VmSpec& spec) {
  if (spec.nics.size() > kMaxNics) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%u nics; a VM has at most %u", spec.nics.size(), kMaxNics));
  }
  for (size_t i = 0; i < spec.nics.size(); ++i) {
    const NicSpec& n = spec.nics[i];
    const std::string field = absl::StrFormat("nics[%u].tap", i);
    if (absl::Status s = core::net::CheckTapName(n.tap, field); !s.ok()) return s;
    for (size_t j = 0; j < i; ++j) {
      if (spec.nics[j].tap == n.tap) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "nics[%u] and nics[%u] name the same TAP \"%s\": give each NIC its own", j, i, n.tap));
      }
    }
    if (n.mac.empty()) continue;
    const std::optional<Mac> mac = ParseMac(n.mac);
    if (!mac.has_value()) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "nics[%u].mac \"%s\" is not a MAC address: write six hex pairs joined by ':' "
          "(02:00:5e:10:00:01)",
          i, absl::CHexEscape(BoundedEcho(n.mac))));
    }
    if (((*mac)[0] & 1) != 0) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "nics[%u].mac %s is a multicast address: the first octet must be even", i, n.mac));
    }
    if (*mac == Mac{}) {
      return absl::InvalidArgumentError(absl::StrFormat("nics[%u].mac is all zeros", i));
    }
    for (size_t j = 0; j < i; ++j) {
      if (ParseMac(spec.nics[j].mac) == mac) {
        return absl::InvalidArgumentError(
            absl::StrFormat("nics[%u] and nics[%u] have the same MAC %s", j, i, n.mac));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace vmmd::vmm
