// virtio-hostile: a hostile guest driver for one virtio-mmio block device, run as root in the
// L2 test guest (tests/e2e/guest/init, vmmd.e2e.vhostile). The device must be unbound from
// Linux's driver first (its register window is then free for /dev/mem; run the kernel with
// iomem=relaxed). For each case below it brings the device up as a driver would — reset,
// ACKNOWLEDGE, DRIVER, VERSION_1 (+ INDIRECT_DESC when offered), FEATURES_OK, queue 0 of 8
// entries, DRIVER_OK — with its rings in this process's own locked pages (their physical
// addresses from /proc/self/pagemap: root sees them), hands the device one malformed request
// and notifies it; the device must set DEVICE_NEEDS_RESET (status bit 64) and complete nothing.
// Then it checks the device works again after a reset: a well-formed GET_ID request returns
// the disk's serial.
//
// Output, one line each:
//   @@VHOSTILE case=<name> status=0x<status> needs_reset=<0|1> used=<used index>
//   @@VHOSTILE recovered=<0|1> id=<serial the device returned>
//   @@VHOSTILE done cases=<n> needs_reset=<n> recovered=<0|1>
// Exit status 0 when every case ended in NEEDS_RESET with nothing completed and the device
// recovered; 1 otherwise; 2 when it could not run (usage, /dev/mem, pagemap, no such device).
//
// usage: virtio-hostile BASE        (BASE: the device's MMIO base, e.g. 0xa000200)
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

enum {
  kMagic = 0x000, kVersion = 0x004, kDeviceId = 0x008, kDeviceFeatures = 0x010,
  kDeviceFeaturesSel = 0x014, kDriverFeatures = 0x020, kDriverFeaturesSel = 0x024,
  kQueueSel = 0x030, kQueueNumMax = 0x034, kQueueNum = 0x038, kQueueReady = 0x044,
  kQueueNotify = 0x050, kInterruptStatus = 0x060, kInterruptAck = 0x064, kStatus = 0x070,
  kQueueDescLow = 0x080, kQueueDescHigh = 0x084, kQueueDriverLow = 0x090,
  kQueueDriverHigh = 0x094, kQueueDeviceLow = 0x0a0, kQueueDeviceHigh = 0x0a4,
};
enum { kAck = 1, kDriver = 2, kDriverOk = 4, kFeaturesOk = 8, kNeedsReset = 64 };
enum { kNext = 1, kWrite = 2, kIndirect = 4 };
#define QSIZE 8u
#define FAR_AWAY 0x10000000000ull  // 1 TiB: far beyond any test guest's RAM

struct desc {
  uint64_t addr;
  uint32_t len;
  uint16_t flags;
  uint16_t next;
};
struct avail {
  uint16_t flags, idx, ring[QSIZE], used_event;
};
struct used {
  uint16_t flags, idx;
  struct {
    uint32_t id, len;
  } ring[QSIZE];
  uint16_t avail_event;
};

static volatile uint32_t* regs;
static uint32_t rd(unsigned off) { return regs[off / 4]; }
static void wr(unsigned off, uint32_t v) { regs[off / 4] = v; }
static void barrier(void) { __asm__ volatile("dsb sy" ::: "memory"); }

// One page per structure: pages of this process are not contiguous in guest RAM.
enum { kPageDesc, kPageAvail, kPageUsed, kPageData, kPageTable, kPages };
static uint8_t* page[kPages];
static uint64_t phys[kPages];
static int indirect;  // VIRTIO_F_INDIRECT_DESC offered (and then negotiated)

static int map_pages(void) {
  long ps = sysconf(_SC_PAGESIZE);
  uint8_t* mem = mmap(NULL, ps * kPages, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE | MAP_LOCKED, -1, 0);
  if (mem == MAP_FAILED) return perror("mmap"), -1;
  int pm = open("/proc/self/pagemap", O_RDONLY);
  if (pm < 0) return perror("/proc/self/pagemap"), -1;
  for (int i = 0; i < kPages; ++i) {
    page[i] = mem + i * ps;
    page[i][0] = 1;  // faulted in (MAP_POPULATE did, but be sure)
    uint64_t e = 0;
    off_t at = (off_t)((uintptr_t)page[i] / ps) * 8;
    if (pread(pm, &e, 8, at) != 8 || !(e >> 63) || (e & ((1ull << 55) - 1)) == 0) {
      fprintf(stderr, "pagemap: no frame for page %d (entry 0x%" PRIx64 "; root?)\n", i, e);
      return -1;
    }
    phys[i] = (e & ((1ull << 55) - 1)) * (uint64_t)ps;
  }
  close(pm);
  return 0;
}

static struct desc* D(void) { return (struct desc*)page[kPageDesc]; }
static struct avail* A(void) { return (struct avail*)page[kPageAvail]; }
static struct used* U(void) { return (struct used*)page[kPageUsed]; }

// Resets the device and brings it up with queue 0 at `desc_pa` (the descriptor table's
// physical address: a case may pass one outside RAM). Returns the status it then reads.
static uint32_t bring_up(uint64_t desc_pa) {
  long ps = sysconf(_SC_PAGESIZE);
  for (int i = 0; i < kPages; ++i) memset(page[i], 0, ps);
  barrier();
  wr(kStatus, 0);
  wr(kStatus, kAck);
  wr(kStatus, kAck | kDriver);
  wr(kDeviceFeaturesSel, 0);
  indirect = (rd(kDeviceFeatures) >> 28) & 1;
  wr(kDriverFeaturesSel, 0);
  wr(kDriverFeatures, indirect ? 1u << 28 : 0);
  wr(kDriverFeaturesSel, 1);
  wr(kDriverFeatures, 1);  // VIRTIO_F_VERSION_1 (bit 32)
  wr(kStatus, kAck | kDriver | kFeaturesOk);
  wr(kQueueSel, 0);
  wr(kQueueNum, QSIZE);
  wr(kQueueDescLow, (uint32_t)desc_pa);
  wr(kQueueDescHigh, (uint32_t)(desc_pa >> 32));
  wr(kQueueDriverLow, (uint32_t)phys[kPageAvail]);
  wr(kQueueDriverHigh, (uint32_t)(phys[kPageAvail] >> 32));
  wr(kQueueDeviceLow, (uint32_t)phys[kPageUsed]);
  wr(kQueueDeviceHigh, (uint32_t)(phys[kPageUsed] >> 32));
  wr(kQueueReady, 1);
  wr(kStatus, kAck | kDriver | kFeaturesOk | kDriverOk);
  return rd(kStatus);
}

// Makes `n` ring entries available (heads from `heads`), publishes index `idx` and notifies.
static void post(const uint16_t* heads, unsigned n, uint16_t idx) {
  for (unsigned i = 0; i < n; ++i) A()->ring[i % QSIZE] = heads[i];
  barrier();
  A()->idx = idx;
  barrier();
  wr(kQueueNotify, 0);
}

static void sleep_ms(long ms) {
  struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&t, NULL);
}

// Waits up to 3 s for NEEDS_RESET or a used element; returns the status.
static uint32_t settle(void) {
  uint32_t s = rd(kStatus);
  for (int i = 0; i < 300 && !(s & kNeedsReset) && U()->idx == 0; ++i) {
    sleep_ms(10);
    s = rd(kStatus);
  }
  wr(kInterruptAck, rd(kInterruptStatus));
  return s;
}

static void chain(unsigned i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next) {
  D()[i] = (struct desc){addr, len, flags, next};
}

// The malformed requests. Each fills the rings after bring_up and posts.
static void loop_chain(void) {
  chain(0, phys[kPageData], 16, kNext, 1);
  chain(1, phys[kPageData] + 64, 16, kNext, 0);
  post((uint16_t[]){0}, 1, 1);
}
static void buffer_outside_ram(void) {
  chain(0, FAR_AWAY, 512, 0, 0);
  post((uint16_t[]){0}, 1, 1);
}
static void buffer_wraps(void) {
  chain(0, 0xfffffffffffff000ull, 0x2000, 0, 0);  // addr + len overflows 64 bits
  post((uint16_t[]){0}, 1, 1);
}
static void next_beyond_queue(void) {
  chain(0, phys[kPageData], 16, kNext, QSIZE + 1);
  post((uint16_t[]){0}, 1, 1);
}
static void head_beyond_queue(void) {
  chain(0, phys[kPageData], 16, 0, 0);
  post((uint16_t[]){QSIZE + 3}, 1, 1);
}
static void index_far_ahead(void) {
  chain(0, phys[kPageData], 16, 0, 0);
  post((uint16_t[]){0}, 1, QSIZE + 5);
}
static void readable_after_writable(void) {
  chain(0, phys[kPageData], 16, kWrite | kNext, 1);
  chain(1, phys[kPageData] + 64, 16, 0, 0);
  post((uint16_t[]){0}, 1, 1);
}
static void indirect_outside_ram(void) {
  chain(0, FAR_AWAY, 32, kIndirect, 0);
  post((uint16_t[]){0}, 1, 1);
}
static void indirect_loop(void) {
  struct desc* t = (struct desc*)page[kPageTable];
  t[0] = (struct desc){phys[kPageData], 16, kNext, 1};
  t[1] = (struct desc){phys[kPageData] + 64, 16, kNext, 0};
  chain(0, phys[kPageTable], 2 * sizeof(struct desc), kIndirect, 0);
  post((uint16_t[]){0}, 1, 1);
}
static void indirect_odd_length(void) {
  chain(0, phys[kPageTable], 24, kIndirect, 0);  // not a multiple of 16
  post((uint16_t[]){0}, 1, 1);
}

struct hostile_case {
  const char* name;
  void (*make)(void);
  int needs_indirect;
  int rings_outside_ram;  // the descriptor table itself is put outside RAM
};
static const struct hostile_case kCases[] = {
    {"loop", loop_chain, 0, 0},
    {"buffer-outside-ram", buffer_outside_ram, 0, 0},
    {"buffer-wraps", buffer_wraps, 0, 0},
    {"next-beyond-queue", next_beyond_queue, 0, 0},
    {"head-beyond-queue", head_beyond_queue, 0, 0},
    {"index-far-ahead", index_far_ahead, 0, 0},
    {"readable-after-writable", readable_after_writable, 0, 0},
    {"indirect-outside-ram", indirect_outside_ram, 1, 0},
    {"indirect-loop", indirect_loop, 1, 0},
    {"indirect-odd-length", indirect_odd_length, 1, 0},
    {"rings-outside-ram", NULL, 0, 1},
};

// A well-formed VIRTIO_BLK_T_GET_ID (8): header, 20 bytes of ID, status byte. Returns 1 when
// the device completed it with VIRTIO_BLK_S_OK and copies the ID to `id`.
static int get_id(char id[21]) {
  uint32_t s = bring_up(phys[kPageDesc]);
  if ((s & kNeedsReset) || !(s & kDriverOk)) return 0;
  uint8_t* data = page[kPageData];
  const uint32_t hdr[4] = {8, 0, 0, 0};  // type, reserved, sector (64-bit)
  memcpy(data, hdr, sizeof(hdr));
  data[128] = 0xff;  // the status byte, overwritten by the device
  chain(0, phys[kPageData], 16, kNext, 1);
  chain(1, phys[kPageData] + 64, 20, kWrite | kNext, 2);
  chain(2, phys[kPageData] + 128, 1, kWrite, 0);
  post((uint16_t[]){0}, 1, 1);
  s = settle();
  barrier();
  if ((s & kNeedsReset) || U()->idx != 1 || U()->ring[0].id != 0 || data[128] != 0) return 0;
  memcpy(id, data + 64, 20);
  id[20] = 0;
  return 1;
}

int main(int argc, char** argv) {
  if (argc != 2) return fprintf(stderr, "usage: virtio-hostile BASE\n"), 2;
  uint64_t base = strtoull(argv[1], NULL, 0);
  int fd = open("/dev/mem", O_RDWR | O_SYNC);
  if (fd < 0) return perror("/dev/mem"), 2;
  // Windows are 0x200 apart: map the page that holds this one.
  const uint64_t in_page = base & 0xfff;
  uint8_t* m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)(base - in_page));
  if (m == MAP_FAILED) return perror("mmap /dev/mem (the device unbound? iomem=relaxed?)"), 2;
  regs = (volatile uint32_t*)(m + in_page);
  if (rd(kMagic) != 0x74726976 || rd(kVersion) != 2 || rd(kDeviceId) != 2) {
    fprintf(stderr, "no virtio-mmio v2 block device at 0x%" PRIx64 " (magic 0x%x version %u id %u)\n",
            base, rd(kMagic), rd(kVersion), rd(kDeviceId));
    return 2;
  }
  if (rd(kQueueNumMax) < QSIZE) return fprintf(stderr, "queue too small\n"), 2;
  if (map_pages() != 0) return 2;

  int cases = 0, reset = 0, clean = 1;
  for (size_t i = 0; i < sizeof(kCases) / sizeof(kCases[0]); ++i) {
    const struct hostile_case* c = &kCases[i];
    uint32_t s = bring_up(c->rings_outside_ram ? FAR_AWAY : phys[kPageDesc]);
    if (c->needs_indirect && !indirect) continue;
    if (!c->rings_outside_ram) {
      if (s & kNeedsReset) {  // the set-up itself failed: not this case's doing
        printf("@@VHOSTILE case=%s status=0x%x set-up-failed\n", c->name, s);
        clean = 0;
        continue;
      }
      c->make();
    }
    s = settle();
    barrier();
    const int nr = (s & kNeedsReset) != 0;
    printf("@@VHOSTILE case=%s status=0x%x needs_reset=%d used=%u\n", c->name, s, nr, U()->idx);
    fflush(stdout);
    ++cases;
    reset += nr;
    if (!nr || U()->idx != 0) clean = 0;
  }
  char id[21] = "";
  const int ok = get_id(id);
  wr(kStatus, 0);  // leave it reset for the kernel's driver
  printf("@@VHOSTILE recovered=%d id=%s\n", ok, ok ? id : "-");
  printf("@@VHOSTILE done cases=%d needs_reset=%d recovered=%d\n", cases, reset, ok);
  return clean && ok ? 0 : 1;
}
