// The rules for a VM's network interfaces (VmSpec.nics): how many, which names and MAC
// addresses are acceptable, and the MAC a NIC gets when the spec names none.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "vmmd/vmm/vm_types.h"

namespace vmmd::vmm {

inline constexpr size_t kMaxNics = 4;

using Mac = std::array<uint8_t, 6>;

// "aa:bb:cc:dd:ee:ff" (hex, either case) → its bytes; nullopt for anything else.
std::optional<Mac> ParseMac(absl::string_view text);
// Lower-case, colon-separated.
std::string FormatMac(const Mac& mac);

// The MAC the guest sees on NIC `index`: the spec's, or one derived from the VM's name and the
// index — locally administered, unicast (02:xx:...), the same on every start and every host.
Mac NicMac(const VmSpec& spec, size_t index);

// INVALID_ARGUMENT naming the field: more than kMaxNics NICs, a TAP name that is no interface
// name or that two NICs share, a MAC that is not "xx:xx:xx:xx:xx:xx", is multicast or all
// zeros, or that two NICs share.
absl::Status ValidateNics(const VmSpec& spec);

}  // namespace vmmd::vmm
