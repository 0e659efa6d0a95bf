import type { PciDb } from '../kernel/pciids.ts';
import type { Decoder } from './decoder.ts';
import { goHex, parseGoInt } from './numeric.ts';

/**
 * `pci_vendor`, `pci_device`, `pci_class`, `pci_subclass`: decimal ids (chain
 * after `uint`) → names from pci.ids; output strings as ebpf_exporter's
 * decoder/pci_*.go, including how they format the lookup key with Go's %02x /
 * %04x (so a vendor id below 0x1000 formats to 3 hex digits and is never found,
 * exactly as there). Without a database every input gives `missing pci.ids db`;
 * non-numeric input is a DecodeError even then (ebpf_exporter checks the
 * database first).
 */
export const missingPciIdsText = 'missing pci.ids db';

type DbSource = () => PciDb | undefined;

export function pciVendorDecoder(db: DbSource): Decoder {
  return {
    name: 'pci_vendor',
    pure: true,
    decode(input) {
      const key = goHex(parseGoInt('pci_vendor', input), 2);
      const pci = db();
      if (!pci) return missingPciIdsText;
      return pci.vendors.get(key) ?? `unknown pci vendor: 0x${key}`;
    },
  };
}

/** Input is (vendor << 16 | device), concatenated on the BPF side. */
export function pciDeviceDecoder(db: DbSource): Decoder {
  return {
    name: 'pci_device',
    pure: true,
    decode(input) {
      const key = goHex(parseGoInt('pci_device', input), 4);
      const pci = db();
      if (!pci) return missingPciIdsText;
      return pci.products.get(key) ?? `unknown pci device: 0x${key}`;
    },
  };
}

export function pciClassDecoder(db: DbSource): Decoder {
  return {
    name: 'pci_class',
    pure: true,
    decode(input) {
      const key = goHex(parseGoInt('pci_class', input), 2);
      const pci = db();
      if (!pci) return missingPciIdsText;
      return pci.classes.get(key)?.name ?? `unknown pci class: 0x${key}`;
    },
  };
}

/** Input is (class << 8 | subclass). */
export function pciSubclassDecoder(db: DbSource): Decoder {
  return {
    name: 'pci_subclass',
    pure: true,
    decode(input) {
      const n = parseGoInt('pci_subclass', input);
      const classId = goHex(n >> 8n, 2);
      const pci = db();
      if (!pci) return missingPciIdsText;
      const cls = pci.classes.get(classId);
      if (!cls) return `unknown pci class: 0x${classId}`;
      const subclassId = goHex(n & 0xffn, 2);
      return cls.subclasses.get(subclassId) ?? `unknown pci subclass: 0x${subclassId} (class 0x${classId})`;
    },
  };
}
