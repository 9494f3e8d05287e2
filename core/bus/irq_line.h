// One interrupt line from a device to the interrupt controller.
#pragma once

namespace vmmd::core {

class IrqLine {
 public:
  virtual ~IrqLine() = default;
  virtual void SetLevel(bool high) = 0;
  // Edge-triggered delivery: raise then lower.
  void Pulse() {
    SetLevel(true);
    SetLevel(false);
  }
};

}  // namespace vmmd::core
