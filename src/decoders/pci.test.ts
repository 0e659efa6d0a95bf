import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { loadPciDb, parsePciIds } from '../kernel/pciids.ts';
import { DecodeError, type Decoder } from './decoder.ts';
import {
  missingPciIdsText,
  pciClassDecoder,
  pciDeviceDecoder,
  pciSubclassDecoder,
  pciVendorDecoder,
} from './pci.ts';

const real = loadPciDb();
const haveDb = real !== undefined;
const run = (d: Decoder, s: string): string => d.decode(s, { name: d.name }) as string;

test(
  'pci_vendor / pci_device / pci_class / pci_subclass: cases of ebpf_exporter decoder/pci_*_test.go on the Debian pci.ids',
  { skip: !haveDb && 'no pci.ids on this machine' },
  () => {
    const db = () => real;
    const vendor = pciVendorDecoder(db);
    assert.equal(run(vendor, '32902'), 'Intel Corporation');
    assert.equal(run(vendor, '4098'), 'Advanced Micro Devices, Inc. [AMD/ATI]');
    assert.equal(run(vendor, '4318'), 'NVIDIA Corporation');
    assert.equal(run(vendor, '5555'), 'Mellanox Technologies');
    assert.equal(run(vendor, '48879'), 'unknown pci vendor: 0xbeef');
    const device = pciDeviceDecoder(db);
    assert.equal(run(device, '2156269568'), '82542 Gigabit Ethernet Controller (Fiber)');
    assert.equal(run(device, '364056607'), 'MT2894 Family [ConnectX-6 Lx]');
    assert.equal(run(device, '3735928559'), 'unknown pci device: 0xdeadbeef');
    const cls = pciClassDecoder(db);
    assert.equal(run(cls, '1'), 'Mass storage controller');
    assert.equal(run(cls, '2'), 'Network controller');
    assert.equal(run(cls, '12'), 'Serial bus controller');
    assert.equal(run(cls, '253'), 'unknown pci class: 0xfd');
    const sub = pciSubclassDecoder(db);
    assert.equal(run(sub, '5'), 'Image coprocessor');
    assert.equal(run(sub, '264'), 'Non-Volatile memory controller');
    assert.equal(run(sub, '512'), 'Ethernet controller');
    assert.equal(run(sub, '1540'), 'PCI bridge');
    assert.equal(run(sub, '64768'), 'unknown pci class: 0xfd');
    assert.equal(run(sub, '267'), 'unknown pci subclass: 0x0b (class 0x01)');
    assert.equal(run(sub, '3'), 'unknown pci subclass: 0x03 (class 0x00)');
    assert.ok(existsSync(real?.path ?? ''));
  },
);

test('pci: Go %02x/%04x key formatting quirks are kept (vendor ids below 0x1000 never match)', () => {
  const db = parsePciIds(
    '# comment\n0e11  Compaq Computer Corporation\n\t0001  PCI to EISA Bridge\n\t\t0e11 4091  Smart Array 6i\n8086  Intel\n\t1000  NIC\nC 01  Mass storage controller\n\t00  SCSI storage controller\n\t\t00  prog-if\n\t00  duplicate ignored\n',
  );
  const src = () => db;
  assert.equal(run(pciVendorDecoder(src), String(0x0e11)), 'unknown pci vendor: 0xe11');
  assert.equal(run(pciVendorDecoder(src), String(0x8086)), 'Intel');
  assert.equal(run(pciDeviceDecoder(src), String(0x80861000)), 'NIC');
  assert.equal(run(pciDeviceDecoder(src), String(0x0e110001)), 'unknown pci device: 0xe110001');
  assert.equal(run(pciDeviceDecoder(src), '5'), 'unknown pci device: 0x0005');
  assert.equal(run(pciSubclassDecoder(src), String(0x0100)), 'SCSI storage controller');
  assert.equal(run(pciClassDecoder(src), '256'), 'unknown pci class: 0x100');
  assert.equal(
    run(pciVendorDecoder(src), '-5'),
    'unknown pci vendor: 0x-5',
    'Atoi accepts a sign; %02x prints it',
  );
  assert.equal(db.products.size, 2, 'subsystems are not products');
});

test('pci: without a database every decoder answers "missing pci.ids db"', () => {
  const none = () => undefined;
  assert.equal(loadPciDb(['/nonexistent/pci.ids']), undefined);
  for (const d of [
    pciVendorDecoder(none),
    pciDeviceDecoder(none),
    pciClassDecoder(none),
    pciSubclassDecoder(none),
  ]) {
    assert.equal(run(d, '1'), missingPciIdsText);
  }
});

test('pci: malformed input is a DecodeError (with or without a database)', () => {
  for (const db of [() => undefined, () => parsePciIds('8086  Intel\n')]) {
    for (const d of [
      pciVendorDecoder(db),
      pciDeviceDecoder(db),
      pciClassDecoder(db),
      pciSubclassDecoder(db),
    ]) {
      for (const bad of ['', 'abc', '0x10', '9223372036854775808'])
        assert.throws(() => run(d, bad), DecodeError, `${d.name} ${bad}`);
    }
  }
});
