// CpuHotplug::DescribeAml: the AML that drives the register block (layout in
// cpu_hotplug_regs.h). Written for vmmd after QEMU's documented shape (hw/acpi/cpu.c), with a
// scan loop that starts from vCPU 0, ends when GET_NEXT_CPU_WITH_EVENT finds no event (the
// selected vCPU then has neither event bit set) and is bounded against a backend that never
// clears an event.
#include <string>

#include "absl/strings/str_format.h"
#include "acpi/acpi_platform.h"
#include "acpi/aml.h"
#include "hw/cpu_hotplug/cpu_hotplug.h"

namespace vmmd::hw {
namespace {

using namespace acpi::aml;    // NOLINT(build/namespaces)
using namespace cpu_hotplug;  // NOLINT(build/namespaces)
using acpi::AmlTarget;
using acpi::AmlTerm;

constexpr uint16_t kWaitForever = 0xFFFF;

std::string CpuDeviceName(uint32_t cpu) { return absl::StrFormat("C%03X", cpu); }

// \_SB.PRES.<name>
AmlTarget Reg(std::string_view name) {
  return Path("\\_SB." + std::string(kResourceDevice) + "." + std::string(name));
}

std::vector<AmlTerm> WithLock(std::vector<AmlTerm> body) {
  std::vector<AmlTerm> out{Acquire(Reg("CPLK"), kWaitForever)};
  out.insert(out.end(), body.begin(), body.end());
  out.push_back(Release(Reg("CPLK")));
  return out;
}

// clang-format off
AmlTerm ResourceDevice(uint32_t base) {
  return Device(kResourceDevice, {
      Name("_HID", EisaId("PNP0A06")),
      Name("_UID", String("CPU Hotplug resources")),
      Name("_CRS", ResourceTemplate({Memory32Fixed(base, kBlockSize)})),
      Mutex("CPLK"),
      OperationRegion("PRST", RegionSpace::kSystemMemory, Int(base), Int(kBlockSize)),
      Field("PRST", FieldAccess::kByte, FieldLock::kNoLock, FieldUpdate::kWriteAsZeros, {
          FieldOffset(kStatusOffset),
          FieldUnit("CPEN", 1),  // bit 0: enabled
          FieldUnit("CINS", 1),  // bit 1: insert event / clear it
          FieldUnit("CRMV", 1),  // bit 2: remove event / clear it
          FieldUnit("CEJ0", 1),  // bit 3: eject
          FieldReserved(1),      // bit 4: firmware eject (unused)
          FieldUnit("CPRS", 1),  // bit 5: present
          FieldReserved(2),
          FieldUnit("CCMD", 8),  // offset 5: command
      }),
      Field("PRST", FieldAccess::kDWord, FieldLock::kNoLock, FieldUpdate::kPreserve, {
          FieldUnit("CSEL", 32),  // offset 0: selector
          FieldReserved(32),
          FieldUnit("CDAT", 32),  // offset 8: command data
      }),
  });
}

// CSTA (uid): 0xF if present and enabled, 0xD if present only, 0 otherwise.
AmlTerm StatusMethod() {
  std::vector<AmlTerm> body = WithLock({
      Store(Arg(0), Reg("CSEL")),
      Store(Zero(), Local(0)),
      If(LEqual(Reg("CPRS"), One()), {
          Store(Int(kStaDisabled), Local(0)),
          If(LEqual(Reg("CPEN"), One()), {Store(Int(kStaEnabled), Local(0))}),
      }),
  });
  body.push_back(Return(Local(0)));
  return Method("CSTA", 1, kSerialized, std::move(body));
}

// CTFY (uid, value): Notify (Cxxx, value) for the matching vCPU.
AmlTerm NotifyMethod(uint32_t cpus) {
  std::vector<AmlTerm> body;
  for (uint32_t cpu = 0; cpu < cpus; ++cpu) {
    body.push_back(If(LEqual(Arg(0), Int(cpu)), {Notify(Path(CpuDeviceName(cpu)), Arg(1))}));
  }
  return Method("CTFY", 2, kNotSerialized, std::move(body));
}

// CSCN (): deliver every pending insert (Notify 1) and remove (Notify 3) event.
AmlTerm ScanMethod(uint32_t cpus) {
  // Each round handles one event; 2 per vCPU plus the final empty round is the most a scan
  // needs unless new events keep arriving (those raise the GED again).
  const uint64_t max_rounds = 2 * uint64_t{cpus} + 2;
  std::vector<AmlTerm> body = WithLock({
      Store(Zero(), Reg("CSEL")),
      Store(One(), Local(0)),   // Local0: an event was handled in the last round
      Store(Zero(), Local(1)),  // Local1: rounds
      While(LAnd(Local(0), LLess(Local(1), Int(max_rounds))), {
          Store(Zero(), Local(0)),
          Store(Int(kCmdGetNextCpuWithEvent), Reg("CCMD")),
          Store(Reg("CDAT"), Local(2)),  // the selected vCPU
          IfElse(LEqual(Reg("CINS"), One()), {
              Call("CTFY", {Local(2), Int(kNotifyDeviceCheck)}),
              Store(One(), Reg("CINS")),
              Store(One(), Local(0)),
          }, {
              If(LEqual(Reg("CRMV"), One()), {
                  Call("CTFY", {Local(2), Int(kNotifyEjectRequest)}),
                  Store(One(), Reg("CRMV")),
                  Store(One(), Local(0)),
              }),
          }),
          Increment(Local(1)),
      }),
  });
  return Method("CSCN", 0, kSerialized, std::move(body));
}

AmlTerm CpuDevice(uint32_t cpu) {
  return Device(CpuDeviceName(cpu), {
      Name("_HID", String("ACPI0007")),
      Name("_UID", Int(cpu)),
      Method("_STA", 0, kNotSerialized, {Return(Call("CSTA", {Int(cpu)}))}),
      Method("_EJ0", 1, kNotSerialized, {Call("CEJ0", {Int(cpu)})}),
      Method("_OST", 3, kNotSerialized, {Call("COST", {Int(cpu), Arg(0), Arg(1), Arg(2)})}),
  });
}

}  // namespace
// clang-format on

absl::Status CpuHotplug::DescribeAml(acpi::AmlScope& sb) const {
  if (base_ > 0xFFFF'FFFFu - kBlockSize + 1) {
    return absl::InvalidArgumentError(
        absl::StrFormat("CPU hotplug block at 0x%x is not addressable by Memory32Fixed", base_));
  }
  if (possible_ == 0) return absl::InvalidArgumentError("CPU hotplug block has no possible vCPUs");
  const auto base = static_cast<uint32_t>(base_);
  sb.Add(ResourceDevice(base));

  // clang-format off
  std::vector<AmlTerm> cpus{
      Name("_HID", String("ACPI0010")),
      Name("_CID", EisaId("PNP0A05")),
      StatusMethod(),
      // CEJ0 (uid): eject; the backend clears Enabled before the write completes.
      Method("CEJ0", 1, kSerialized, WithLock({
          Store(Arg(0), Reg("CSEL")),
          Store(One(), Reg("CEJ0")),
      })),
      // COST (uid, event, status, buffer): report _OST.
      Method("COST", 4, kSerialized, WithLock({
          Store(Arg(0), Reg("CSEL")),
          Store(Int(kCmdOstEvent), Reg("CCMD")),
          Store(Arg(1), Reg("CDAT")),
          Store(Int(kCmdOstStatus), Reg("CCMD")),
          Store(Arg(2), Reg("CDAT")),
      })),
      NotifyMethod(possible_),
      ScanMethod(possible_),
  };
  for (uint32_t cpu = 0; cpu < possible_; ++cpu) cpus.push_back(CpuDevice(cpu));
  sb.Add(Device(kContainerDevice, std::move(cpus)));
  // clang-format on
  return absl::OkStatus();
}

}  // namespace vmmd::hw
