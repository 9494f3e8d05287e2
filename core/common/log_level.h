// The names of the log levels, as the programs' --log_level flags take them.
#pragma once

#include <string_view>

#include "core/common/log.h"

namespace vmmd {

// "debug", "info", "warning" or "error" into *level; false (and *level untouched) otherwise.
bool ParseLogLevel(std::string_view text, LogLevel* level);

}  // namespace vmmd
