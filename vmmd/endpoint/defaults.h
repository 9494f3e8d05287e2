// Defaults shared by vmmd and vmmctl.
#pragma once

namespace vmmd::endpoint {

// Where vmmd serves its API and where vmmctl looks for it.
inline constexpr char kDefaultSocketPath[] = "/run/vmmd/vmmd.sock";

}  // namespace vmmd::endpoint
