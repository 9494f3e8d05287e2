#include "acpi/tables/spcr.h"

#include "acpi/tables/table_writer.h"

namespace vmmd::acpi {
namespace {

constexpr uint8_t kInterfaceArmPl011 = 3;
constexpr uint8_t kInterruptTypeGic = 1u << 3;
constexpr uint8_t kBaud9600 = 3;

}  // namespace

absl::StatusOr<std::vector<uint8_t>> BuildSpcr(const AcpiConsole& console) {
  TableWriter w("SPCR", kSpcrRevision);
  w.U8(kInterfaceArmPl011);                                       // 36 Interface Type
  w.Zeros(3);                                                     // 37 reserved
  w.Gas(kGasSystemMemory, 32, 0, kGasAccessDWord, console.base);  // 40 Base Address
  w.U8(kInterruptTypeGic);                                        // 52 Interrupt Type
  w.U8(0);                                                        // 53 IRQ (PC-AT): none
  w.U32(console.gsiv);                                            // 54 Global System Interrupt
  w.U8(kBaud9600);                                                // 58 Configured Baud Rate
  w.U8(0);                                                        // 59 Parity: none
  w.U8(1);                                                        // 60 Stop Bits: 1
  w.U8(0);                                                        // 61 Flow Control: none
  w.U8(0);                                                        // 62 Terminal Type: VT100
  w.U8(0);                                                        // 63 Language: reserved
  w.U16(0xFFFF);  // 64 PCI Device ID: not a PCI device
  w.U16(0xFFFF);  // 66 PCI Vendor ID
  w.U8(0);        // 68 PCI Bus
  w.U8(0);        // 69 PCI Device
  w.U8(0);        // 70 PCI Function
  w.U32(0);       // 71 PCI Flags
  w.U8(0);        // 75 PCI Segment
  w.U32(0);       // 76 reserved (UART clock frequency from revision 3)
  return std::move(w).Finish();
}

}  // namespace vmmd::acpi
