// The files of a firmware-booted test VM on the fake hypervisor: a temporary directory holding a
// stand-in edk2 image (4096 bytes of 0xAA), kernel (8192 of 0x11) and initrd (1000 of 0x22),
// removed with the object; and the spec of a VM that boots them.
#pragma once

#include <stdlib.h>

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <string>

#include "gtest/gtest.h"
#include "vmmd/vmm/vm_types.h"

namespace vmmd::testing {

class FirmwareVmFiles {
 public:
  FirmwareVmFiles() {
    char tmpl[] = "/tmp/vmmd-fw-vm-XXXXXX";
    EXPECT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    Write("QEMU_EFI.fd", 4096, '\xAA');
    Write("Image", 8192, '\x11');
    Write("initrd", 1000, '\x22');
  }
  ~FirmwareVmFiles() { std::system(("rm -rf " + dir_).c_str()); }
  FirmwareVmFiles(const FirmwareVmFiles&) = delete;
  FirmwareVmFiles& operator=(const FirmwareVmFiles&) = delete;

  // The directory: the image directory to give vmmd, with room for a state directory in it.
  const std::string& dir() const { return dir_; }

  // A 128 MiB VM booting the files through the firmware with ACPI.
  vmm::VmSpec Spec(const std::string& name, uint32_t boot_vcpus, uint32_t max_vcpus) const {
    vmm::VmSpec s;
    s.name = name;
    s.kernel_path = dir_ + "/Image";
    s.initrd_path = dir_ + "/initrd";
    s.firmware_path = dir_ + "/QEMU_EFI.fd";
    s.cmdline = "console=ttyAMA0 acpi=force";
    s.memory_mib = 128;
    s.boot_vcpus = boot_vcpus;
    s.max_vcpus = max_vcpus;
    return s;
  }

 private:
  void Write(const char* name, size_t size, char fill) const {
    std::ofstream(dir_ + "/" + name, std::ios::binary) << std::string(size, fill);
  }
  std::string dir_;
};

}  // namespace vmmd::testing
