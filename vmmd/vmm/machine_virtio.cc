// The machine's virtio devices: the spec's disks, NICs and entropy device on the board's
// virtio-mmio rows, and the VM's one I/O thread that serves them all.
#include "absl/strings/str_format.h"
#include "core/common/status_macros.h"
#include "hw/virtio/virtio_mmio.h"
#include "hw/virtio_blk/virtio_blk.h"
#include "hw/virtio_net/virtio_net.h"
#include "hw/virtio_rng/virtio_rng.h"
#include "vmmd/vmm/board.h"
#include "vmmd/vmm/machine.h"
#include "vmmd/vmm/nic_spec.h"

namespace vmmd::vmm {

absl::StatusOr<const hw::virtio::VirtioMmio*> Machine::AddVirtio(
    size_t slot, std::unique_ptr<hw::virtio::VirtioDevice> device) {
  if (slot >= board::kVirtioSlots) {
    return absl::InvalidArgumentError(
        absl::StrFormat("more virtio devices than the board's %u slots", board::kVirtioSlots));
  }
  absl::Status made;
  const core::GuestMemory* memory = memory_.get();
  absl::StatusOr<std::shared_ptr<hw::virtio::VirtioMmio>> transport = devices_->Add(
      board::kVirtio[slot], [&](const DeviceSite& at) -> std::shared_ptr<hw::virtio::VirtioMmio> {
        absl::StatusOr<std::shared_ptr<hw::virtio::VirtioMmio>> t = hw::virtio::VirtioMmio::Create(
            std::move(device), memory, at.irq, at.placement, static_cast<uint32_t>(slot));
        if (!t.ok()) {
          made = t.status();
          return nullptr;
        }
        return *std::move(t);
      });
  VMMD_RETURN_IF_ERROR(made);
  VMMD_RETURN_IF_ERROR(transport.status());
  for (const hw::virtio::NotifyEvent& e : (*transport)->NotifyEvents()) {
    VMMD_RETURN_IF_ERROR(vm_->AttachIoEventFd(e.gpa, e.len, e.value, e.fd));
  }
  VMMD_RETURN_IF_ERROR((*transport)->AttachTo(*io_));
  return transport->get();
}

absl::Status Machine::AddVirtioDevices(const VmSpec& spec, VmSpecFiles& files) {
  if (files.disks.empty() && files.taps.empty() && !spec.entropy) return absl::OkStatus();
  if (files.disks.size() != spec.disks.size() || files.taps.size() != spec.nics.size()) {
    return absl::InternalError("the spec's files do not match its disks and NICs");
  }
  // One I/O thread per VM serves every virtio queue: the guest's I/O never runs on a vCPU
  // thread, and a VM's devices cost one thread however many there are.
  VMMD_ASSIGN_OR_RETURN(io_, EventLoop::Create());
  size_t slot = 0;
  for (size_t i = 0; i < files.disks.size(); ++i) {
    VMMD_ASSIGN_OR_RETURN(
        std::unique_ptr<hw::virtio::VirtioBlock> block,
        hw::virtio::VirtioBlock::Create(
            std::move(files.disks[i].fd), memory_.get(),
            {.read_only = spec.disks[i].read_only, .serial = DiskSerial(spec, i)}));
    hw::virtio::VirtioBlock* device = block.get();
    VMMD_ASSIGN_OR_RETURN(const hw::virtio::VirtioMmio* transport,
                          AddVirtio(slot++, std::move(block)));
    disks_.push_back({device, transport});
  }
  for (size_t i = 0; i < files.taps.size(); ++i) {
    VMMD_ASSIGN_OR_RETURN(
        std::unique_ptr<hw::virtio::VirtioNet> nic,
        hw::virtio::VirtioNet::Create(std::move(files.taps[i]), memory_.get(), NicMac(spec, i)));
    hw::virtio::VirtioNet* device = nic.get();
    VMMD_ASSIGN_OR_RETURN(const hw::virtio::VirtioMmio* transport,
                          AddVirtio(slot++, std::move(nic)));
    nics_.push_back({device, transport});
  }
  if (spec.entropy) {
    VMMD_ASSIGN_OR_RETURN(std::unique_ptr<hw::virtio::VirtioRng> rng,
                          hw::virtio::VirtioRng::Create(memory_.get()));
    VMMD_RETURN_IF_ERROR(AddVirtio(slot++, std::move(rng)).status());
  }
  return absl::OkStatus();
}

std::vector<DiskStats> Machine::DiskCounters() const {
  std::vector<DiskStats> out;
  for (const auto& [d, transport] : disks_) {
    const hw::virtio::VirtioBlock::Stats s = d->GetStats();
    out.push_back({.reads = s.reads,
                   .writes = s.writes,
                   .read_bytes = s.read_bytes,
                   .write_bytes = s.write_bytes,
                   .flushes = s.flushes,
                   .discards = s.discards,
                   .errors = s.errors,
                   .queue_errors = transport->GetStats().broken});
  }
  return out;
}

std::vector<NicStats> Machine::NicCounters() const {
  std::vector<NicStats> out;
  for (const auto& [n, transport] : nics_) {
    const hw::virtio::VirtioNet::Stats s = n->GetStats();
    out.push_back({.rx_frames = s.rx_frames,
                   .rx_bytes = s.rx_bytes,
                   .tx_frames = s.tx_frames,
                   .tx_bytes = s.tx_bytes,
                   .rx_dropped = s.rx_dropped,
                   .tx_dropped = s.tx_dropped,
                   .queue_errors = transport->GetStats().broken});
  }
  return out;
}

}  // namespace vmmd::vmm
