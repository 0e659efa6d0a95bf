/**
 * The container image, as one fact: the Debian packages of its runtime layer, the files it
 * takes from a built checkout, where they go, and its configuration (entrypoint, command,
 * user, labels, port). Read by the local build (scripts/image.ts), by the Containerfile's
 * build stage (through deploy/image/stage.ts), and by the tests that compare the Containerfile
 * and the built image with it.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as {
  name: string;
  version: string;
  description: string;
  license: string;
};

/** Local name of the image (`npm run image` loads it into podman's storage under this name). */
export const IMAGE_NAME = 'localhost/ebpf-collector';
export const IMAGE_VERSION = pkg.version;

/** The architectures the image is built for, in Debian's and the OCI platform's spelling. */
export type Arch = 'amd64' | 'arm64';
export const ARCHES: readonly Arch[] = ['amd64', 'arm64'];

/** GNU triplets: Debian's multiarch directories and the cross binutils' prefixes. */
export const GNU_TRIPLET: Readonly<Record<Arch, string>> = {
  amd64: 'x86_64-linux-gnu',
  arm64: 'aarch64-linux-gnu',
};

/** The architecture of the machine this runs on (Node's `x64` is Debian's `amd64`). */
export function hostArch(): Arch {
  if (process.arch === 'x64') return 'amd64';
  if (process.arch === 'arm64') return 'arm64';
  throw new Error(`no image for ${process.arch}: the image is built for ${ARCHES.join(' and ')}`);
}

/** One architecture's image: `localhost/ebpf-collector:<version>-<arch>`. */
export function imageRef(arch: Arch): string {
  return `${IMAGE_NAME}:${IMAGE_VERSION}-${arch}`;
}

/**
 * The multi-arch manifest list over the architectures' images (`podman manifest`): the one
 * reference users run — podman and registries pick the image of the machine's architecture.
 */
export const IMAGE_REF = `${IMAGE_NAME}:${IMAGE_VERSION}`;

/** Debian release of the runtime layer (`debian:bookworm-slim` in the Containerfile). */
export const DEBIAN_SUITE = 'bookworm';

/**
 * What the runtime layer installs on top of Debian's base. libbpf1 and libelf1 (and zlib1g)
 * for the addon; libstdc++6 for the npm Node binary; pci.ids for PCI device names.
 */
export const RUNTIME_PACKAGES: readonly string[] = ['libbpf1', 'libelf1', 'zlib1g', 'libstdc++6', 'pci.ids'];

/** What must never be in the runtime image: compilers, headers, npm (checked on the built image). */
export const FORBIDDEN_PACKAGES: readonly string[] = [
  'clang',
  'llvm',
  'gcc',
  'g++',
  'make',
  'libbpf-dev',
  'libelf-dev',
  'zlib1g-dev',
  'linux-libc-dev',
  'nodejs',
  'npm',
  'python3',
];

/** dpkg's path filters (docs, man pages, locales, headers); the file both builds hand to dpkg. */
export const DPKG_TRIM_FILE = 'deploy/image/dpkg-trim.cfg';

/** Where the agent lives in the image. */
export const APP_DIR = '/opt/ebpf-collector';
/** Where the Node binary (the npm package `node`'s, debug info stripped) goes. */
export const NODE_PATH = '/usr/local/bin/node';

/**
 * PID 1: the agent's init (native/init.c) — it holds signals from its first instant (Node
 * as PID 1 loses a SIGTERM sent during its ~50 ms bootstrap), forwards them to the agent,
 * reaps orphans and keeps no capability.
 */
export const INIT_PATH = '/usr/local/bin/ebpf-collector-init';
export const ENTRYPOINT: readonly string[] = [INIT_PATH, NODE_PATH, `${APP_DIR}/bin/ebpf-collector.js`];
export const CMD: readonly string[] = ['run', '--config', `${APP_DIR}/pipelines/default.yaml`];
/**
 * Root: loading BPF programs needs CAP_BPF and CAP_PERFMON (CAP_SYS_ADMIN for USDT probes) in the
 * initial user namespace, and a non-root user cannot hold them across exec without file
 * capabilities. The container is given only the capabilities `ebpf-collector caps` derives,
 * and the agent drops the ones it no longer needs after attach.
 */
export const USER = '0:0';
export const WORKDIR = APP_DIR;
export const PORT = '9435/tcp';
export const LABELS: Readonly<Record<string, string>> = {
  'org.opencontainers.image.title': pkg.name,
  'org.opencontainers.image.description': pkg.description,
  'org.opencontainers.image.version': pkg.version,
  'org.opencontainers.image.licenses': pkg.license,
  'org.opencontainers.image.base.name': `docker.io/library/debian:${DEBIAN_SUITE}-slim`,
};

/** One file or tree of the image: `from` relative to the checkout, `to` absolute in the image. */
export interface ImageFile {
  readonly from: string;
  readonly to: string;
}

/**
 * File names left out of node_modules, never loaded at run time: types, sources, source maps,
 * docs, and the Bare runtime's addons (`*.bare`: tar-fs's optional bare-fs and friends ship them
 * for 13 platforms; Node never loads them, and they would put android/darwin/win binaries in the image).
 */
export const NODE_MODULES_EXCLUDE: readonly RegExp[] = [/\.(?:c|m)?ts$/, /\.map$/, /\.md$/i, /\.bare$/];

/** The shipped BPF programs: bpf/<name>.bpf.c (test objects in build/bpf stay out). */
export function shippedPrograms(root = repoRoot): string[] {
  return readdirSync(join(root, 'bpf'))
    .filter((f) => f.endsWith('.bpf.c'))
    .map((f) => f.slice(0, -'.bpf.c'.length))
    .sort();
}

/** Production dependencies: package-lock entries that are neither dev nor links, one folder each. */
export function productionModules(root = repoRoot): string[] {
  const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, { dev?: boolean; devOptional?: boolean; link?: boolean; optional?: boolean }>;
  };
  return Object.entries(lock.packages)
    .filter(([k, v]) => k.startsWith('node_modules/') && !v.dev && !v.devOptional && !v.link)
    .filter(([k, v]) => !v.optional || existsSync(join(root, k)))
    .map(([k]) => k)
    .sort();
}

/** Where the addon is in a checkout and in the image (src/native/addon.ts loads it from there). */
const ADDON_REL = 'native/build/Release/ebpf_native.node';

/**
 * The architecture-specific build outputs of a checkout, relative to it: the host's own build
 * (`scripts/setup.sh`: npm's Node, node-gyp, `make -C bpf`) or, for another architecture, the
 * cross build (`npm run build:arm64` into build/<arch>/, `make -C bpf ARCH=arm64` into
 * build/bpf-<arch>/). Each goes to the same place in every architecture's image.
 */
export function archOutputs(arch: Arch): { node: string; init: string; addon: string; bpf: string } {
  if (arch === hostArch())
    return {
      node: 'node_modules/node/bin/node',
      init: 'native/build/Release/ebpf-collector-init',
      addon: ADDON_REL,
      bpf: 'build/bpf',
    };
  return {
    node: `build/${arch}/node/bin/node`,
    init: `build/${arch}/native/ebpf-collector-init`,
    addon: `build/${arch}/native/ebpf_native.node`,
    bpf: `build/bpf-${arch}`,
  };
}

/**
 * Every file and tree the image for `arch` takes from a built checkout (after `scripts/setup.sh`,
 * and `npm run build:arm64` with `make -C bpf ARCH=arm64` for arm64 on an amd64 machine).
 * Trees are copied whole except node_modules folders (each package on its own, without its
 * nested node_modules, which are listed as packages of their own).
 */
export function imageFiles(root = repoRoot, arch: Arch = hostArch()): ImageFile[] {
  const app = (rel: string): ImageFile => ({ from: rel, to: `${APP_DIR}/${rel}` });
  const out = archOutputs(arch);
  const files: ImageFile[] = [
    { from: out.node, to: NODE_PATH },
    { from: out.init, to: INIT_PATH },
    app('package.json'),
    app('bin/ebpf-collector.js'),
    app('build/js'),
    app('build/tables'),
    { from: out.addon, to: `${APP_DIR}/${ADDON_REL}` },
    app('pipelines'),
  ];
  const bpf = (name: string): ImageFile => ({
    from: `${out.bpf}/${name}`,
    to: `${APP_DIR}/build/bpf/${name}`,
  });
  for (const p of shippedPrograms(root)) {
    files.push(bpf(`${p}.bpf.o`));
    // Each definition beside its object too, as bpf/Makefile copies it (build/bpf is a --config.dir).
    if (existsSync(join(root, 'bpf', `${p}.yaml`)))
      files.push(app(`bpf/${p}.yaml`), { from: `bpf/${p}.yaml`, to: `${APP_DIR}/build/bpf/${p}.yaml` });
  }
  for (const m of productionModules(root)) files.push(app(m));
  return files;
}
