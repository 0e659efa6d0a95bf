import type { InterfaceNames } from '../kernel/interfaces.ts';
import { DecodeError, type Decoder } from './decoder.ts';

/**
 * `ifname`: a u32 ifindex → the interface name in this process's network
 * namespace ("eth0"); `unknown:<index>` when there is none, not cached
 * (ebpf_exporter decoder/ifname.go: same strings; it caches known names
 * forever, we re-check them, see InterfaceNames). Like it, an 8-byte label
 * reads its first 4 bytes.
 */
export function ifnameDecoder(interfaces: () => InterfaceNames): Decoder {
  return {
    name: 'ifname',
    decode(input) {
      if (typeof input === 'string')
        throw new DecodeError('ifname', 'expects a raw 4-byte ifindex; put it first in the chain');
      if (input.length !== 4 && input.length !== 8) {
        throw new DecodeError(
          'ifname',
          `expects a 4-byte ifindex (or 8 bytes, low half used), got ${input.length} bytes`,
        );
      }
      const index = new DataView(input.buffer, input.byteOffset, 4).getUint32(0, true);
      return interfaces().lookup(index) ?? `unknown:${index}`;
    },
  };
}
