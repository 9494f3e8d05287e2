# Project-wide compile flags and the two helpers every directory uses:
#   vmmd_library(NAME SRCS ... DEPS ...)   a static library of project code (-Werror)
#   vmmd_test(NAME SRCS ... DEPS ...)      a GoogleTest binary registered with CTest (label "unit")

# -Wno-restrict: g++ 12 reports impossible overlaps inside std::string's operator+ at -O2/-O3
# (GCC bug 105329), in code that is correct.
set(VMMD_WARNINGS -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wcast-align
    -Wconversion -Wno-sign-conversion -Wimplicit-fallthrough -Wno-restrict -Werror)
if(VMMD_SANITIZE)
  # g++ 12 reports maybe-uninitialized inside std::variant under ASan instrumentation.
  list(APPEND VMMD_WARNINGS -Wno-maybe-uninitialized)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined)
endif()

function(vmmd_library name)
  cmake_parse_arguments(ARG "" "" "SRCS;DEPS" ${ARGN})
  add_library(${name} STATIC ${ARG_SRCS})
  target_compile_options(${name} PRIVATE ${VMMD_WARNINGS})
  target_link_libraries(${name} PUBLIC ${ARG_DEPS})
endfunction()

function(vmmd_test name)
  if(NOT VMMD_BUILD_TESTS)
    return()
  endif()
  cmake_parse_arguments(ARG "" "" "SRCS;DEPS" ${ARGN})
  add_executable(${name} ${ARG_SRCS})
  target_compile_options(${name} PRIVATE ${VMMD_WARNINGS} -Wno-conversion)
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} GTest::gmock GTest::gtest_main)
  add_test(NAME ${name} COMMAND ${name})
  set_tests_properties(${name} PROPERTIES LABELS unit TIMEOUT 120)
endfunction()
