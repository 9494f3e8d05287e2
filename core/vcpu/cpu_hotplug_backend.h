// What the CPU-hotplug register block asks of the vCPU lifecycle owner (the vCPU manager). The
// block keeps no lifecycle state of its own: every status bit a guest reads comes from here, so
// there is exactly one source of truth for "is vCPU n enabled / has an event pending".
//
// Thread safety: every method may be called concurrently from several vCPU threads (each MMIO
// access to the block is one call chain). Implementations must not call back into the
// CpuHotplug device and must not block waiting for another vCPU.
#pragma once

#include <cstdint>

namespace vmmd::core {

struct CpuHotplugStatus {
  bool enabled = false;         // _STA Enabled: the guest may bring the vCPU online
  bool insert_pending = false;  // a hot-add the guest has not acknowledged yet
  bool remove_pending = false;  // an eject request the guest has not acknowledged yet
};

class CpuHotplugBackend {
 public:
  virtual ~CpuHotplugBackend() = default;
  // The number of possible vCPUs (constant for the VM's life); valid indices are below it.
  virtual uint32_t PossibleCpus() const = 0;
  // The methods below are only called with cpu < PossibleCpus().
  virtual CpuHotplugStatus Status(uint32_t cpu) const = 0;
  // Status() as the guest reads it from the status byte: a pending event the guest has read
  // counts as seen (its scan may act on it next), atomically with the answer, so that no later
  // request withdraws a change the guest is about to carry out.
  virtual CpuHotplugStatus ReadStatus(uint32_t cpu) = 0;
  virtual uint64_t ArchId(uint32_t cpu) const = 0;  // MPIDR
  // The guest cleared the insert / remove event (it has issued the Notify). Spurious calls
  // (no event pending) must be tolerated: the guest is not trusted.
  virtual void AckInsert(uint32_t cpu) = 0;
  virtual void AckRemove(uint32_t cpu) = 0;
  // _EJ0: when the VMM's policy allows it (an eject was requested, not a boot vCPU), Status()
  // must report enabled == false by the time this returns: Linux re-reads _STA right after
  // _EJ0 and keeps the CPU registered ("Eject incomplete") if Enabled is still set.
  virtual void Eject(uint32_t cpu) = 0;
  // _OST(event, status) for the vCPU (ACPI 6.5 section 6.3.5): e.g. 0x103 (eject) with status
  // 0 success, 0x80 OS failure.
  virtual void Ost(uint32_t cpu, uint32_t event, uint32_t status) = 0;
  // Called by the register block after every guest write, with no lock of the block's held:
  // the calls above run under the block's lock (and the backend's own), so they only collect
  // what is to be logged, and this writes it.
  virtual void FlushLog() {}
};

}  // namespace vmmd::core
