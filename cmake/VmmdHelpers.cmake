# Project-wide compile flags and the helpers every directory uses:
#   vmmd_library(NAME SRCS ... DEPS ...)   a static library of project code (-Werror), on the
#                                          floor of its folder (cmake/Floors.cmake)
#   vmmd_test(NAME SRCS ... DEPS ...)      a GoogleTest binary registered with CTest (label "unit")
#   vmmd_check_floor_links()               after every library is defined: fails the configure
#                                          when a library links one its floor may not use
include(${CMAKE_CURRENT_LIST_DIR}/Floors.cmake)

# -Wno-restrict: g++ 12 reports impossible overlaps inside std::string's operator+ at -O2/-O3
# (GCC bug 105329), in code that is correct.
set(VMMD_WARNINGS -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wcast-align
    -Wconversion -Wno-sign-conversion -Wimplicit-fallthrough -Wno-restrict -Werror)
# VMMD_SANITIZE: ASan + UBSan on every project target (any finding aborts the test). With clang
# (the tree `make test` builds as build/sanitize) every target also carries libFuzzer's coverage
# instrumentation and the libFuzzer targets of tests/fuzz are built (VMMD_FUZZ). System libraries
# (gRPC, protobuf, Abseil, GoogleTest) stay uninstrumented.
set(VMMD_FUZZ OFF)
if(VMMD_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-sanitize-recover=all
                      -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined)
  if(CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    set(VMMD_FUZZ ON)
    add_compile_options(-fsanitize=fuzzer-no-link)
    # The warning gate is the g++ tree (build/native); clang's warning set differs, so here
    # warnings are reported, not fatal. -Wno-restrict is g++-only.
    list(REMOVE_ITEM VMMD_WARNINGS -Werror -Wno-restrict)
  else()
    # g++ 12 reports maybe-uninitialized inside std::variant under ASan instrumentation.
    list(APPEND VMMD_WARNINGS -Wno-maybe-uninitialized)
  endif()
endif()

function(vmmd_library name)
  cmake_parse_arguments(ARG "" "" "SRCS;DEPS" ${ARGN})
  add_library(${name} STATIC ${ARG_SRCS})
  target_compile_options(${name} PRIVATE ${VMMD_WARNINGS})
  target_link_libraries(${name} PUBLIC ${ARG_DEPS})
  file(RELATIVE_PATH folder "${PROJECT_SOURCE_DIR}" "${CMAKE_CURRENT_SOURCE_DIR}")
  set_property(TARGET ${name} PROPERTY VMMD_FOLDER "${folder}")
  set_property(GLOBAL APPEND PROPERTY VMMD_LIBRARIES ${name})
endfunction()

function(vmmd_check_floor_links)
  get_property(libraries GLOBAL PROPERTY VMMD_LIBRARIES)
  set(errors "")
  foreach(lib IN LISTS libraries)
    get_target_property(folder ${lib} VMMD_FOLDER)
    get_target_property(deps ${lib} LINK_LIBRARIES)
    foreach(dep IN LISTS deps)
      if(NOT TARGET ${dep})
        continue()
      endif()
      get_target_property(dep_folder ${dep} VMMD_FOLDER)
      if(NOT dep_folder)
        continue()  # not a project library (absl::, vmmd_proto, vmmd_libfdt, ...)
      endif()
      vmmd_floor_check("${folder}/CMakeLists.txt" "${dep_folder}/CMakeLists.txt" FALSE error)
      if(error)
        list(APPEND errors "${lib} (${folder}) links ${dep} (${dep_folder})")
      endif()
    endforeach()
  endforeach()
  if(errors)
    string(REPLACE ";" "\n  " text "${errors}")
    message(FATAL_ERROR "floor guard: a library links a higher floor (rules: cmake/Floors.cmake):"
                        "\n  ${text}")
  endif()
endfunction()

# Test code is built for quick compiles: the headers every test uses are precompiled once
# (vmmd_test_pch, shared by every vmmd_test), and in the g++ tree tests get line tables only
# and -O1 (the code under test keeps its own -O2 -g; failures still show file:line). Together
# they take a test file's compile from ~11 s to ~4 s on this project's 2-core machines.
set(VMMD_TEST_OPTIONS ${VMMD_WARNINGS} -Wno-conversion)
if(NOT VMMD_SANITIZE)
  list(APPEND VMMD_TEST_OPTIONS -O1 -g1)
endif()

# Called once, by the top-level CMakeLists.txt, before any vmmd_test.
function(vmmd_test_pch)
  file(WRITE ${CMAKE_BINARY_DIR}/vmmd_test_pch.cc "// The precompiled test headers' owner.\n")
  add_library(vmmd_test_pch OBJECT ${CMAKE_BINARY_DIR}/vmmd_test_pch.cc)
  target_compile_options(vmmd_test_pch PRIVATE ${VMMD_TEST_OPTIONS})
  target_link_libraries(vmmd_test_pch PRIVATE GTest::gmock GTest::gtest absl::status
                        absl::statusor absl::strings)
  if(CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    # No modification time in the PCH, so ccache can reuse the compiles that include it.
    target_compile_options(vmmd_test_pch PRIVATE "SHELL:-Xclang -fno-pch-timestamp")
  endif()
  target_precompile_headers(vmmd_test_pch PRIVATE
    <gmock/gmock.h> <gtest/gtest.h> <absl/status/status.h> <absl/status/statusor.h>
    <absl/strings/str_cat.h> <absl/strings/string_view.h> <cstdint> <cstring> <functional>
    <map> <memory> <optional> <string> <utility> <vector>)
endfunction()

function(vmmd_test name)
  if(NOT VMMD_BUILD_TESTS)
    return()
  endif()
  cmake_parse_arguments(ARG "" "" "SRCS;DEPS" ${ARGN})
  add_executable(${name} ${ARG_SRCS})
  target_compile_options(${name} PRIVATE ${VMMD_TEST_OPTIONS})
  target_precompile_headers(${name} REUSE_FROM vmmd_test_pch)
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} GTest::gmock GTest::gtest_main)
  add_test(NAME ${name} COMMAND ${name})
  set_tests_properties(${name} PROPERTIES LABELS unit TIMEOUT 120)
  if(VMMD_SANITIZE)
    set_tests_properties(${name} PROPERTIES ENVIRONMENT "UBSAN_OPTIONS=print_stacktrace=1")
  endif()
  add_dependencies(vmmd_test_binaries ${name})
endfunction()
