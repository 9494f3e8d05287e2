# The floor plan of the house: which folder may use (include, link) which. Floors point down:
#
#   vmmd (daemon main)  vmmd/vmmctl            top: the programs
#   vmmd/autoscaler                            vmm-autoscaler: a client of vmmd.v1 only
#   vmmd/metrics                               the /metrics collector (prometheus-cpp)
#   vmmd/http                                  /metrics, /healthz, /readyz over civetweb
#   vmmd/api            vmmd/endpoint          the gRPC edge; the API socket
#   vmmd/sandbox                               seccomp filters (main installs them)
#   vmmd/vmm                                   VM controller, composition root, device table
#   hw/<device>                                one device per folder (may describe itself in acpi;
#                                              hw/virtio: what the virtio devices share)
#   acpi                                       AML and tables
#   core/{common,hypervisor,memory,bus,arch,vcpu,kvm,net}   the ground floor
#
# Used at configure time (vmmd_library: a library may link only what its folder may use) and at
# build time (cmake/CheckFloors.cmake: every #include in the tree), so both fail the build.
#
# A rule is "FROM=TO1,TO2,...". FROM is a folder or a file; a file belongs to the rule with the
# longest FROM that prefixes its path ("hw/*" stands for each folder under hw/). TO entries are
# path prefixes of what it may include besides its own folder. "*" allows everything.
set(VMMD_FLOOR_RULES
  "core/common="
  "core/hypervisor=core/common"
  "core/memory=core/common"
  "core/bus=core/common"
  "core/arch=core/common,core/memory,core/hypervisor"
  "core/vcpu=core/common,core/hypervisor,core/bus"
  "core/kvm=core/common,core/hypervisor"
  "core/net=core/common"
  "acpi=core/common"
  # hw/primecell and hw/virtio are shared by the devices of their kind (no device of their own).
  "hw/*=core/common,core/hypervisor,core/memory,core/bus,core/arch,core/vcpu,core/net,acpi,hw/primecell,hw/virtio"
  "vmmd/vmm=core/common,core/hypervisor,core/memory,core/bus,core/arch,core/vcpu,core/net,acpi,hw"
  "vmmd/api=core/common,core/vcpu,vmmd/vmm,vmmd/v1"
  "vmmd/http=core/common"
  "vmmd/metrics=core/common,core/vcpu,vmmd/vmm,vmmd/api,vmmd/http,vmmd/v1"
  "vmmd/endpoint=core/common"
  # seccomp filters; the ioctls a vCPU thread makes (core/kvm's header-only list, core/net's).
  "vmmd/sandbox=core/common,core/kvm,core/net"
  "vmmd/vmmctl=core/common,vmmd/v1,vmmd/endpoint"
  # Any orchestrator's controller could replace it: it sees vmmd through the API alone.
  "vmmd/autoscaler=core/common,vmmd/v1,vmmd/endpoint,vmmd/http"
  "vmmd=core/common,core/hypervisor,vmmd/vmm,vmmd/api,vmmd/http,vmmd/metrics,vmmd/endpoint,vmmd/v1"
  # main() alone opens the KVM backend.
  "vmmd/main.cc=core/common,core/hypervisor,core/kvm,vmmd/vmm,vmmd/api,vmmd/http,vmmd/metrics,vmmd/endpoint,vmmd/sandbox,vmmd/v1"
  "tests=*"
)
# Test code (foo_test.cc, foo_fixture.h, anything in a testing/ folder) may also use these.
set(VMMD_FLOOR_TEST_EXTRAS "tests/support,tests/fakes")
# The only folder that may include the KVM UAPI.
set(VMMD_FLOOR_KVM_UAPI_FOLDER "core/kvm")

# vmmd_floor_of(PATH OUT_RULE_FROM OUT_SELF OUT_ALLOWED): the rule PATH (relative to the source
# root) falls under. OUT_SELF is its own folder (hw/* expanded); "" when no rule applies.
function(vmmd_floor_of path out_from out_self out_allowed)
  set(best_from "")
  set(best_self "")
  set(best_allowed "")
  set(best_len -1)
  foreach(rule IN LISTS VMMD_FLOOR_RULES)
    string(FIND "${rule}" "=" eq)
    string(SUBSTRING "${rule}" 0 ${eq} from)
    math(EXPR after "${eq} + 1")
    string(SUBSTRING "${rule}" ${after} -1 allowed)
    set(self "${from}")
    if(from MATCHES "^(.*)/\\*$")
      set(parent "${CMAKE_MATCH_1}")
      if(NOT path MATCHES "^${parent}/([^/]+)/")
        continue()
      endif()
      set(self "${parent}/${CMAKE_MATCH_1}")
    elseif(NOT (path STREQUAL from OR path MATCHES "^${from}/"))
      continue()
    endif()
    string(LENGTH "${self}" len)
    if(len GREATER best_len)
      set(best_len ${len})
      set(best_from "${from}")
      set(best_self "${self}")
      set(best_allowed "${allowed}")
    endif()
  endforeach()
  if(best_self MATCHES "\\.(cc|h)$")  # a file rule: its folder is its own
    get_filename_component(best_self "${best_self}" DIRECTORY)
  endif()
  set(${out_from} "${best_from}" PARENT_SCOPE)
  set(${out_self} "${best_self}" PARENT_SCOPE)
  string(REPLACE "," ";" best_allowed "${best_allowed}")
  set(${out_allowed} "${best_allowed}" PARENT_SCOPE)
endfunction()

# vmmd_floor_check(FROM_PATH TO_PATH IS_TEST OUT_ERROR): OUT_ERROR is "" when FROM_PATH may use
# TO_PATH (a project path such as "hw/ged/ged.h" or a folder such as "hw/ged"), else why not.
function(vmmd_floor_check from_path to_path is_test out_error)
  set(${out_error} "" PARENT_SCOPE)
  if(NOT to_path MATCHES "^(core|hw|acpi|vmmd|tests|proto)/")
    return()  # not ours (absl/, grpcpp/, ...)
  endif()
  vmmd_floor_of("${from_path}" from self allowed)
  if(from STREQUAL "")
    set(${out_error} "${from_path} is on no floor (add a rule to cmake/Floors.cmake)" PARENT_SCOPE)
    return()
  endif()
  if(is_test)
    string(REPLACE "," ";" extras "${VMMD_FLOOR_TEST_EXTRAS}")
    list(APPEND allowed ${extras})
  endif()
  list(APPEND allowed "${self}")
  foreach(prefix IN LISTS allowed)
    if(prefix STREQUAL "*")
      return()
    endif()
    if(to_path STREQUAL prefix OR to_path MATCHES "^${prefix}/")
      return()
    endif()
  endforeach()
  set(floor "${from}")
  if(from MATCHES "\\*$")
    set(floor "${self}")
  endif()
  set(${out_error} "${from_path} (floor ${floor}) may not use ${to_path}" PARENT_SCOPE)
endfunction()

# True for test code: foo_test.cc, foo_fixture.h, anything in a testing/ folder.
function(vmmd_floor_is_test path out)
  if(path MATCHES "(_test\\.cc|_fixture\\.h)$" OR path MATCHES "(^|/)testing/")
    set(${out} TRUE PARENT_SCOPE)
  else()
    set(${out} FALSE PARENT_SCOPE)
  endif()
endfunction()
