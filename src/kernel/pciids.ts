import { readFileSync } from 'node:fs';

/**
 * The PCI ID database (pci.ids, Debian package `pci.ids`), parsed the way
 * jaypipes/pcidb parses it (ebpf_exporter's pci decoders use it), so names
 * come out byte for byte the same: fixed column offsets, names not trimmed,
 * products keyed by vendor id + device id as written in the file ("80861000"),
 * a later duplicate id replacing an earlier one.
 */
export interface PciClass {
  readonly name: string;
  /** Subclass id ("00".."ff") → name, first definition wins as in pcidb's list search. */
  readonly subclasses: ReadonlyMap<string, string>;
}

export interface PciDb {
  readonly path: string;
  /** "8086" → "Intel Corporation" */
  readonly vendors: ReadonlyMap<string, string>;
  /** "80861000" → "82542 Gigabit Ethernet Controller (Fiber)" */
  readonly products: ReadonlyMap<string, string>;
  /** "02" → Network controller */
  readonly classes: ReadonlyMap<string, PciClass>;
}

/** Where pcidb looks, in its order (minus its ~/.cache copy). */
export const pciIdsPaths: readonly string[] = ['/usr/share/hwdata/pci.ids', '/usr/share/misc/pci.ids'];

/** Parse the first readable file of `paths`; undefined when none is. */
export function loadPciDb(paths: readonly string[] = pciIdsPaths): PciDb | undefined {
  for (const path of paths) {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch {
      continue;
    }
    return parsePciIds(text, path);
  }
  return undefined;
}

export function parsePciIds(text: string, path = '<text>'): PciDb {
  const vendors = new Map<string, string>();
  const products = new Map<string, string>();
  const classes = new Map<string, { name: string; subclasses: Map<string, string> }>();
  let inClass = false;
  let vendor: string | undefined;
  let cls: { name: string; subclasses: Map<string, string> } | undefined;
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    if (line[0] === 'C') {
      inClass = true;
      cls = { name: line.slice(6), subclasses: new Map() };
      classes.set(line.slice(2, 4), cls);
      continue;
    }
    if (line[0] !== '\t') {
      inClass = false;
      vendor = line.slice(0, 4);
      vendors.set(vendor, line.slice(6));
      continue;
    }
    if (line.length > 1 && line[1] !== '\t') {
      if (inClass) {
        const id = line.slice(1, 3);
        if (cls && !cls.subclasses.has(id)) cls.subclasses.set(id, line.slice(5));
      } else if (vendor !== undefined) {
        products.set(vendor + line.slice(1, 5), line.slice(7));
      }
    }
    // Two tabs: programming interfaces and subsystems, which no decoder uses.
  }
  return { path, vendors, products, classes };
}
