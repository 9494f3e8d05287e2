#!/usr/bin/env python3
"""Writes the seed corpus of every fuzz target (tests/fuzz/corpus/<target>/), in the input format
each target's header comment describes: realistic guest sequences (what edk2 and Linux do) plus
the known edge cases. The seeds are committed; rerun this after changing it or an input format:
    tests/fuzz/make_seeds.py
"""
import hashlib
import os
import shutil
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
SIZE_CODE = {1: 0, 2: 1, 4: 2, 8: 3}


def acc(op, offset, size, value):
    """One access (fuzz_input.h): op u8, offset u32, size code u8, value u64, little-endian."""
    return struct.pack('<BIBQ', op, offset, SIZE_CODE[size], value & (2**64 - 1))


def rd(offset, size, op=0):
    return acc(op, offset, size, 0)


def wr(offset, size, value, op=1):
    return acc(op, offset, size, value)


def be_as_le(value, size):
    """The access value whose little-endian bytes are `value` big-endian (fw_cfg registers)."""
    return int.from_bytes(value.to_bytes(size, 'big'), 'little')


def write_corpus(target, seeds):
    out = os.path.join(HERE, 'corpus', target)
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    for name, data in seeds.items():
        digest = hashlib.sha1(data).hexdigest()[:12]
        with open(os.path.join(out, f'{name}-{digest}'), 'wb') as f:
            f.write(data)


def cfi_flash():
    dbl = lambda b: b | (b << 16)  # both chips get the command
    return {
        'erase': b'\xff' + wr(0x40000, 4, dbl(0x20)) + wr(0x40000, 4, dbl(0xD0)) + rd(0x40000, 4)
                 + wr(0, 4, dbl(0xFF)) + rd(0x40000, 8),
        'word-program': b'\xff' + wr(0x100, 4, dbl(0x40)) + wr(0x100, 4, 0x12345678)
                        + rd(0x100, 4) + wr(0x100, 4, dbl(0x50)) + rd(0x100, 4),
        'buffered-program': b'\xff' + wr(0x1000, 4, dbl(0xE8)) + rd(0x1000, 4)
                            + wr(0x1000, 4, dbl(3)) + b''.join(
                                wr(0x1000 + 4 * i, 4, 0xA5A50000 + i) for i in range(4))
                            + wr(0x1000, 4, dbl(0xD0)) + rd(0x1000, 4) + wr(0, 4, dbl(0xFF))
                            + rd(0x1000, 8),
        'id-query': b'\x00' + wr(0, 4, dbl(0x90)) + rd(0, 4) + rd(4, 4) + rd(8, 4)
                    + wr(0, 4, dbl(0x98)) + rd(0x40, 4) + rd(0x44, 2) + wr(0, 4, dbl(0xFF)),
        'lock-unlock': b'\x00' + wr(0, 4, dbl(0x60)) + wr(0, 4, dbl(0xD0)) + rd(0, 4)
                       + wr(0, 4, dbl(0x60)) + wr(0, 4, dbl(0xFF)) + rd(0, 4),
        'sequence-error': b'\x00' + wr(0, 4, 0x00200040) + rd(0, 4) + wr(0, 4, dbl(0x50)),
        # One 64-bit store: program command in the first bank word, data in the second.
        'wide-store-in-read-array': b'\xff' + wr(0x200, 8, dbl(0x40)) + rd(0x200, 8),
        'straddling-store': b'\xff' + wr(0x302, 4, dbl(0x40)) + rd(0x300, 8),
        'code-bank-store': b'\x00' + wr(0x1CB20, 4, 0x17384, op=3) + rd(0x1CB20, 4, op=2),
    }


def fw_cfg():
    base = 0x4000_0000

    def select(key):
        return wr(0x08, 2, be_as_le(key, 2))

    def descriptor(at, control, length, address_offset):
        # op 0x10: control = value low 32, length = (value >> 32) % 0x1000, address = base + raw.
        return acc(0x10, at, 8, control | (length << 32)) + struct.pack('<Q', address_offset)

    doorbell = lambda at: acc(0x20, at, 8, 0)
    return {
        'signature': select(0) + rd(0, 4) + rd(0, 4) + rd(0x10, 8) + rd(0x14, 4) + rd(1, 1),
        'legacy-keys': select(0x08) + rd(0, 4) + select(0x14) + rd(0, 4) + select(0x15)
                       + rd(0, 8) * 5 + select(0x01) + rd(0, 4),
        'dma-file-dir': descriptor(0x100, (0x19 << 16) | 8 | 2, 64, 0x200) + doorbell(0x100)
                        + rd(0, 4),
        'dma-skip-read': descriptor(0x100, (0x11 << 16) | 8 | 4, 100, 0) + doorbell(0x100)
                         + descriptor(0x100, 2, 300, 0x400) + doorbell(0x100),
        'dma-32bit-halves': descriptor(0x80, (0x20 << 16) | 8 | 2, 36, 0x800)
                            + wr(0x10, 4, 0) + wr(0x14, 4, be_as_le(base + 0x80, 4)),
        'dma-write-rejected': descriptor(0x100, (0x20 << 16) | 8 | 16, 16, 0x300)
                              + doorbell(0x100),
        'dma-descriptor-at-ram-end': acc(0x22, 0x1000, 8, 0) + doorbell(0xFF8),
        'reset': select(0x15) + rd(0, 4) + acc(0x30, 0, 1, 0) + rd(0, 4),
    }


def pl011():
    enqueue = lambda data: acc(0x10, 0, len(data), int.from_bytes(data, 'little'))
    return {
        'edk2-init': wr(0x30, 4, 0) + wr(0x24, 4, 13) + wr(0x28, 4, 1) + wr(0x2C, 4, 0x70)
                     + wr(0x30, 4, 0x301) + rd(0x18, 4) + wr(0, 1, ord('U')) + wr(0, 1, ord('E')),
        'linux-irq': wr(0x2C, 4, 0x70) + wr(0x34, 4, 0x12) + wr(0x38, 4, 0x50) + enqueue(b'hello!!!')
                     + rd(0x40, 4) + rd(0x18, 4) + rd(0, 4) * 9 + wr(0x44, 4, 0x7FF) + rd(0x3C, 4),
        'overrun-no-fifo': enqueue(b'ab') + rd(0x04, 4) + rd(0x3C, 4) + wr(0x04, 4, 0) + rd(0, 4),
        'loopback': wr(0x30, 4, 0x381) + wr(0, 4, 0x41) + rd(0x18, 4) + rd(0, 4),
        'primecell-id': b''.join(rd(0xFE0 + i, 1) for i in range(0, 32, 4)) + rd(0xFE1, 2),
        'reset': wr(0x38, 4, 0x20) + acc(0x20, 0, 1, 0) + rd(0x40, 4),
    }


def pl031():
    clock = struct.pack('<Q', 1_700_000_000)
    tick = lambda s: acc(0x10, 0, 2, s)
    return {
        'edk2-gettime': clock + rd(0xFE0, 1) + rd(0xFE4, 1) + rd(0xFF0, 1) + rd(0, 4) + rd(0x0C, 4),
        'set-time-alarm': clock + wr(0x08, 4, 1000) + rd(0, 4) + wr(0x04, 4, 1005) + wr(0x10, 4, 1)
                          + tick(10) + rd(0x14, 4) + rd(0x18, 4) + wr(0x1C, 4, 1) + rd(0x18, 4),
        'wrap': clock + wr(0x08, 4, 0xFFFFFFFE) + wr(0x04, 4, 1) + wr(0x10, 4, 1) + tick(5)
                + acc(0x20, 0, 1, 0) + rd(0x14, 4),
        'clock-steps-back': clock + wr(0x04, 4, 0) + tick(0xFFF0) + rd(0, 4) + rd(0x14, 4),
        'reset': clock + wr(0x10, 4, 1) + wr(0x04, 4, 0) + acc(0x40, 0, 1, 0) + rd(0x10, 4),
    }


def ged():
    raise_ = lambda bits: acc(0x10, 0, 4, bits)
    return {
        'hotplug-event': raise_(8) + rd(0, 4) + rd(0, 4),
        'two-events': raise_(2) + raise_(8) + rd(0, 1) + rd(0, 4) + wr(0, 4, 0xFFFFFFFF),
        'odd-sizes': raise_(8) + rd(2, 2) + rd(0, 8) + rd(0, 4),
    }


def cpu_hotplug():
    shape = bytes([3, 1])  # 4 possible vCPUs, 2 boot
    scale = lambda n: acc(0x10, 0, 4, n)
    cmd = lambda c: wr(0x05, 1, c)
    return {
        # Linux's CSCN after a hot-add, then _OST(Device Check, success) and _STA.
        'hot-add-scan': shape + scale(4) + cmd(0) + rd(0x08, 4) + rd(0x04, 1) + wr(0x04, 1, 2)
                        + cmd(0) + rd(0x08, 4) + rd(0x04, 1) + wr(0x04, 1, 2)
                        + wr(0x00, 4, 2) + cmd(1) + wr(0x08, 4, 1) + cmd(2) + wr(0x08, 4, 0)
                        + rd(0x04, 1),
        'hot-remove-eject': shape + scale(3) + cmd(0) + wr(0x04, 1, 2) + wr(0x00, 4, 2)
                            + cmd(1) + wr(0x08, 4, 1) + cmd(2) + wr(0x08, 4, 0) + scale(2)
                            + cmd(0) + rd(0x08, 4) + wr(0x04, 1, 4) + wr(0x04, 1, 8) + rd(0x04, 1),
        'cpu-id': shape + wr(0x00, 4, 1) + cmd(3) + rd(0x08, 4) + rd(0x00, 4) + rd(0x04, 4),
        'bad-selector': shape + wr(0x00, 4, 7) + rd(0x04, 1) + wr(0x04, 1, 8) + wr(0x00, 4, 0)
                        + wr(0x00, 8, 1) + rd(0x00, 8),
        'boot-eject': shape + wr(0x00, 4, 0) + wr(0x04, 1, 8) + rd(0x04, 1),
    }


def vcpu():
    # State machine: op = vCPU | event << 2 (vcpu_state.h order: Plug, Unplug, InsertTaken,
    # RemoveTaken, Ost, CpuOn, CpuOff, Ejected, GraceExpired).
    ev = lambda cpu, e, value=0x0001_0000_0000_0000: acc(cpu | (e << 2), 0, 1, value)
    hot_add = (ev(2, 0) + ev(2, 2) + acc(2 | (4 << 2), 0, 1, 3)  # _OST(Device Check, 0)
               + ev(2, 5) + ev(2, 6) + ev(2, 1) + ev(2, 3) + ev(2, 7))
    # Manager: op = (id << 1) | action << 3 (0/1 PSCI call, 2 CPU_OFF, 3 Scale, 4 acks,
    # 5 _OST/_EJ0); op bit 0 picks SMC32 for CPU_ON.
    m = lambda cpu, action, value=0, smc32=0: acc((cpu << 1) | (action << 3) | smc32, 0, 1, value)
    return {
        'state-hot-add-remove': b'\x00\x01' + hot_add,
        'state-boot-vcpu': b'\x00\x03' + ev(0, 5) + ev(0, 6) + ev(0, 1) + ev(0, 7) + ev(0, 5),
        'state-withdraw': b'\x00\x01' + ev(3, 0) + ev(3, 1) + ev(3, 0) + ev(3, 2) + ev(3, 8)
                          + ev(3, 5),
        'manager-cpu-on-boot': b'\x01' + m(0, 0, 1) + m(0, 0, 1) + m(1, 0, 0) + m(0, 0, 2, 1),
        'manager-hot-add-online': b'\x01' + m(0, 0, 1) + m(0, 3, 4) + m(2, 4) + m(2, 5, 2)
                                  + m(0, 0, 2) + m(3, 4) + m(3, 5, 2) + m(0, 0, 3),
        'manager-offline-remove': b'\x01' + m(0, 0, 1) + m(0, 3, 3) + m(2, 4) + m(2, 5, 2)
                                  + m(0, 0, 2) + m(0, 3, 2) + m(2, 4) + m(2, 2) + m(2, 5, 1),
        'manager-other-psci': b'\x01' + m(0, 0, 0x8400_0000_0000_0300) + m(0, 2),
    }


def kernel_loader():
    def header(text_offset=0, image_size=0x100_0000, flags=0xA, magic=b'ARM\x64', n=64):
        h = bytearray(max(n, 64))
        struct.pack_into('<QQQ', h, 8, text_offset, image_size, flags)
        h[0x38:0x3C] = magic
        return bytes(h[:n])

    def plan(pages, ram_mib, ram_shift, file_size, initrd, fdt, head):
        return struct.pack('<BIIQQI', pages, ram_mib, ram_shift, file_size, initrd, fdt) + head

    mib = 1 << 20
    return {
        'debian-6.1': plan(7, 1023, 0, 30 * mib, 40 * mib, 0x200000, header()),
        'legacy-no-image-size': plan(7, 511, 0, 8 * mib, 0, 0x200000,
                                     header(text_offset=0x80000, image_size=0)),
        'initrd-above-dtb': plan(7, 4095, 0, 30 * mib, 1000 * mib, 0x200000, header()),
        '64k-pages-unsupported': plan(1, 1023, 0, 30 * mib, 0, 0x200000, header(flags=0x6)),
        'gzip': plan(7, 1023, 0, 30 * mib, 0, 0x200000, b'\x1f\x8b\x08\x00' + bytes(60)),
        'short': plan(7, 1023, 0, 30 * mib, 0, 0x200000, header()[:40]),
        'ram-odd-base': plan(7, 0x0300, 0x4001, 2 * mib, 3 * mib, 0x1000, header()),
    }


def pb_varint(v):
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        out.append(b | (0x80 if v else 0))
        if not v:
            return bytes(out)


def pb_field(num, value):
    if isinstance(value, int):
        return pb_varint(num << 3) + pb_varint(value)
    if isinstance(value, str):
        value = value.encode()
    return pb_varint((num << 3) | 2) + pb_varint(len(value)) + value


def api():
    def req(method, body):
        return bytes([method]) + struct.pack('<H', len(body)) + body

    spec = (pb_field(1, 'vm1') + pb_field(2, '/images/kernel') + pb_field(3, '/images/initrd')
            + pb_field(4, 'console=ttyAMA0') + pb_field(6, 128) + pb_field(7, 1) + pb_field(8, 4))
    create = req(0, pb_field(1, spec))
    name = pb_field(1, 'vm1')
    duration = lambda s: pb_field(1, s)
    return {
        'create-start-scale-stop': create + req(1, name) + req(7, name + pb_field(2, 3) + pb_field(3, 1))
                                   + req(6, name) + req(2, name) + req(3, name),
        'create-bad-specs': req(0, pb_field(1, pb_field(1, 'VM_1') + pb_field(2, 'kernel')))
                            + req(0, pb_field(1, spec.replace(b'/images/kernel', b'/etc/passwd!!')))
                            + req(0, b''),
        'scale-wait-timeout': create + req(1, name)
                              + req(7, name + pb_field(2, 2) + pb_field(3, 2) + pb_field(4, duration(7200))),
        'autoscale': create + req(8, name + pb_field(2, pb_field(1, 3) + pb_field(2, 1) + pb_field(3, 4)))
                     + req(9, name + pb_field(2, pb_field(1, 2) + pb_field(4, 'busy'))) + req(4, name)
                     + req(5, b''),
        'unknown-vm': req(4, pb_field(1, 'nope')) + req(1, b'') + req(3, pb_field(1, 'x' * 80)),
    }


def virtqueue():
    """virtqueue_fuzz: size code, features, then 64 KiB of RAM (descriptors at 0, available ring
    at 0x1000, used ring at 0x2000; the RAM base is 0x4000_0000)."""
    base = 0x4000_0000

    def desc(addr, length, flags, nxt):
        return struct.pack('<QIHH', addr, length, flags, nxt)

    def ram(descs, heads, extra=()):
        mem = bytearray(0x3000)
        for i, d in descs.items():
            mem[16 * i:16 * i + 16] = d
        mem[0x1002:0x1004] = struct.pack('<H', len(heads))
        for i, h in enumerate(heads):
            mem[0x1004 + 2 * i:0x1006 + 2 * i] = struct.pack('<H', h)
        for off, data in extra:
            mem[off:off + len(data)] = data
        return bytes(mem)

    # A block-style request (header, data, status byte) as Linux makes them, two in flight.
    blk = ram({0: desc(base + 0x4000, 16, 1, 1), 1: desc(base + 0x5000, 4096, 3, 2),
               2: desc(base + 0x6000, 1, 2, 0), 3: desc(base + 0x7000, 64, 0, 0)}, [0, 3])
    # An indirect table of three entries, with event index.
    table = desc(base + 0x4000, 16, 1, 1) + desc(base + 0x5000, 512, 3, 2) + \
        desc(base + 0x6000, 1, 2, 0)
    ind = ram({0: desc(base + 0x8000, 48, 4, 0)}, [0], [(0x8000, table)])
    # A loop, and a next index beyond the queue.
    loop = ram({0: desc(base + 0x4000, 8, 1, 1), 1: desc(base + 0x4000, 8, 1, 0)}, [0])
    far = ram({0: desc(base + 0x4000, 8, 1, 200)}, [0])
    return {'block-request': bytes([3, 0]) + blk, 'indirect-event-idx': bytes([3, 3]) + ind,
            'loop': bytes([3, 0]) + loop, 'next-beyond': bytes([3, 0]) + far}


def virtio_blk():
    """virtio_blk_fuzz: one-byte ops (0 register access, 1 RAM write, 2 serve queue 0, 3 a
    correct set-up: descriptors at RAM+0, available ring at +0x1000, used ring at +0x2000)."""
    base = 0x4000_0000

    def ram_write(at, data):
        out = b''
        for i in range(0, len(data), 64):
            chunk = data[i:i + 64]
            out += bytes([1]) + struct.pack('<HB', at + i, len(chunk)) + chunk
        return out

    def desc(addr, length, flags, nxt):
        return struct.pack('<QIHH', addr, length, flags, nxt)

    def request(kind, sector, data_len, data_flags):
        header = struct.pack('<IIQ', kind, 0, sector)
        descs = desc(base + 0x4000, 16, 1, 1) + desc(base + 0x5000, data_len, data_flags, 2) + \
            desc(base + 0x6000, 1, 2, 0)
        avail = struct.pack('<HHH', 0, 1, 0)
        return ram_write(0x4000, header) + ram_write(0x5000, bytes(range(64))) + \
            ram_write(0, descs) + ram_write(0x1000, avail) + bytes([2])

    def access(write, offset, size_code, value):
        return bytes([0, 1 if write else 0]) + struct.pack('<IBQ', offset, size_code, value)

    return {
        'write-then-serve': bytes([3]) + request(1, 2, 512, 1),
        'read-then-serve': bytes([3]) + request(0, 0, 512, 3),
        'flush': bytes([3]) + request(4, 0, 0, 1),
        'reset-mid-way': bytes([3]) + access(True, 0x70, 2, 0) + request(0, 0, 512, 3),
        'config-reads': bytes([3]) + access(False, 0x100, 3, 0) + access(False, 0x13a, 1, 0) +
        access(False, 0x1fc, 2, 0),
    }


def virtio_net():
    """virtio_net_fuzz: one-byte ops (0 register access, 1 RAM write, 2 serve the receive queue,
    3 serve the transmit queue, 4 the host sends a frame, 5 a correct set-up: receive queue with
    descriptors at RAM+0, available ring at +0x1000, used ring at +0x2000; transmit queue at
    +0x3000, +0x4000, +0x5000)."""
    base = 0x4000_0000
    hdr = 12

    def ram_write(at, data):
        out = b''
        for i in range(0, len(data), 64):
            chunk = data[i:i + 64]
            out += bytes([1]) + struct.pack('<HB', at + i, len(chunk)) + chunk
        return out

    def desc(addr, length, flags, nxt):
        return struct.pack('<QIHH', addr, length, flags, nxt)

    def post(rings, descs):
        """Descriptors at `rings`, each its own chain made available at rings + 0x1000."""
        avail = struct.pack('<HH', 0, len(descs)) + b''.join(
            struct.pack('<H', i) for i in range(len(descs)))
        return ram_write(rings, b''.join(descs)) + ram_write(rings + 0x1000, avail)

    def host_frame(payload, header=bytes(hdr), kind=2):
        return bytes([4, kind]) + struct.pack('<H', len(payload)) + header + payload

    def large_frame(n):  # a pattern payload of 0x8000 + n bytes (n < 0x801A)
        return bytes([4, 1]) + struct.pack('<H', n) + bytes(hdr)

    def short_frame(data):
        return bytes([4, 0]) + struct.pack('<H', len(data)) + data

    def access(write, offset, size_code, value):
        return bytes([0, 1 if write else 0]) + struct.pack('<IBQ', offset, size_code, value)

    setup, serve_rx, serve_tx = bytes([5]), bytes([2]), bytes([3])
    ping = bytes.fromhex('525400123456 02564d000001 0800') + bytes(range(46))
    rx_buffers = post(0, [desc(base + 0x8000 + 0x800 * i, 0x800, 2, 0) for i in range(4)])
    # 16 buffers of 8 KiB (overlapping in the 40 KiB past the rings) for a 64 KiB segment.
    rx_pages = post(0, [desc(base + 0x6000 + 0x1000 * (i % 8), 0x2000, 2, 0) for i in range(16)])
    # A receive buffer of two segments, the header alone in the first.
    rx_split = ram_write(0, desc(base + 0x8000, hdr, 3, 1) + desc(base + 0x9000, 0x1000, 2, 0)) \
        + ram_write(0x1000, struct.pack('<HHH', 0, 1, 0))
    frame = bytes(hdr) + ping
    tx_one = ram_write(0x8000, frame) + post(0x3000, [desc(base + 0x8000, len(frame), 0, 0)])
    # Header and frame in two descriptors (what Linux does), then a header alone (dropped).
    split = desc(base + 0x8000, hdr, 1, 1) + desc(base + 0x8000 + hdr, len(ping), 0, 0)
    tx_two = ram_write(0x8000, frame) + ram_write(0x3000, split + desc(base + 0x9000, hdr, 0, 0)) \
        + ram_write(0x4000, struct.pack('<HHHH', 0, 2, 0, 2))
    # The same two descriptors in an indirect table.
    tx_indirect = ram_write(0x8000, frame) + ram_write(0xA000, split) \
        + post(0x3000, [desc(base + 0xA000, 32, 4, 0)])
    return {
        'rx-frame': setup + rx_buffers + host_frame(ping) + serve_rx,
        'rx-frame-before-buffers': setup + host_frame(ping) + serve_rx + rx_buffers + serve_rx,
        'rx-large-mergeable': setup + rx_pages + large_frame(0x7FFF) + serve_rx,
        'rx-split-buffer': setup + rx_split + host_frame(ping) + serve_rx,
        'rx-short-then-frame': setup + rx_buffers + short_frame(b'\x01\x02\x03')
        + host_frame(ping) + serve_rx,
        'tx-frame': setup + tx_one + serve_tx,
        'tx-two-descriptors': setup + tx_two + serve_tx,
        'tx-indirect': setup + tx_indirect + serve_tx,
        # Reset while the device holds buffers and a frame too large for them.
        'reset-mid-way': setup + large_frame(0) + rx_buffers + serve_rx + access(True, 0x70, 2, 0)
        + serve_rx + setup + rx_buffers + host_frame(ping) + serve_rx + tx_one + serve_tx,
        'config-reads': setup + access(False, 0x100, 3, 0) + access(False, 0x106, 1, 0)
        + access(False, 0x108, 2, 0),
    }


def main():
    for target, seeds in {
        'cfi_flash_fuzz': cfi_flash(),
        'fw_cfg_fuzz': fw_cfg(),
        'pl011_fuzz': pl011(),
        'pl031_fuzz': pl031(),
        'ged_fuzz': ged(),
        'cpu_hotplug_fuzz': cpu_hotplug(),
        'vcpu_fuzz': vcpu(),
        'kernel_loader_fuzz': kernel_loader(),
        'api_fuzz': api(),
        'virtqueue_fuzz': virtqueue(),
        'virtio_blk_fuzz': virtio_blk(),
        'virtio_net_fuzz': virtio_net(),
    }.items():
        write_corpus(target, seeds)


if __name__ == '__main__':
    main()
