// A minimal arm64 Image for VMs on the fake hypervisor: the 64-byte header (text_offset 0,
// image_size 2 MiB, little-endian, 4 KiB pages, the "ARM\x64" magic) and zero padding to 8 KiB.
#pragma once

#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

namespace vmmd::testing {

// Writes it as `dir`/Image and returns that path.
inline std::string WriteFakeArm64Image(const std::string& dir) {
  std::vector<uint8_t> image(8192, 0);
  auto put64 = [&](size_t off, uint64_t v) {
    for (int i = 0; i < 8; ++i) image[off + i] = static_cast<uint8_t>(v >> (8 * i));
  };
  put64(8, 0);          // text_offset
  put64(16, 2u << 20);  // image_size
  put64(24, 0x2);       // flags: LE, 4K pages
  image[0x38] = 'A';
  image[0x39] = 'R';
  image[0x3a] = 'M';
  image[0x3b] = 0x64;
  const std::string path = dir + "/Image";
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(image.data()),
             static_cast<std::streamsize>(image.size()));
  return path;
}

}  // namespace vmmd::testing
