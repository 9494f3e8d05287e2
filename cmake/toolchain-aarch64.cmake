# Cross build for arm64 hosts with Debian's g++-aarch64-linux-gnu and :arm64 multiarch libraries.
# VMMD_CROSS_SYSROOT (a folder holding arm64 packages unpacked with dpkg-deb -x: libfdt,
# prometheus-cpp, civetweb, which cannot be co-installed as :arm64) and VMMD_UAPI_INCLUDE (the
# 6.12 UAPI headers from linux-libc-dev/trixie) are passed by the Makefile.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)

set(CMAKE_FIND_ROOT_PATH "${VMMD_CROSS_SYSROOT}" /usr/lib/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE BOTH)
set(CMAKE_PREFIX_PATH "${VMMD_CROSS_SYSROOT}/usr" /usr)

# pkg-config: arm64 .pc files (multiarch and the unpacked sysroot); host protoc/grpc plugin.
set(ENV{PKG_CONFIG_LIBDIR} "/usr/lib/aarch64-linux-gnu/pkgconfig:${VMMD_CROSS_SYSROOT}/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig")
set(ENV{PKG_CONFIG_SYSROOT_DIR} "")

if(VMMD_UAPI_INCLUDE)
  # 6.12 UAPI headers first (SMCCC filter constants are not in bookworm's 6.1 headers).
  include_directories(BEFORE SYSTEM "${VMMD_UAPI_INCLUDE}/aarch64-linux-gnu" "${VMMD_UAPI_INCLUDE}")
endif()
if(VMMD_CROSS_SYSROOT)
  include_directories(SYSTEM "${VMMD_CROSS_SYSROOT}/usr/include")
  link_directories("${VMMD_CROSS_SYSROOT}/usr/lib/aarch64-linux-gnu")
  set(CMAKE_EXE_LINKER_FLAGS_INIT "-Wl,-rpath-link,${VMMD_CROSS_SYSROOT}/usr/lib/aarch64-linux-gnu")
endif()
