#!/usr/bin/python3
"""Helpers for scripts/kernels/prepare.sh.

  kernel-files.py vmlinux <vmlinuz> <out>
      Writes the uncompressed kernel ELF embedded in a bzImage (xz, lz4, zstd or gzip payload).
  kernel-files.py modules <lib/modules/RELEASE> <initrd-dir> <module>...
      Copies the named modules and everything they depend on (per modules.dep) into
      <initrd-dir>/lib/modules/ and writes <initrd-dir>/modules.order in load order
      (dependencies first). Modules built into the kernel are skipped.
"""
import lzma
import os
import shutil
import subprocess
import sys

ELF = b"\x7fELF"


def vmlinux(src: str, out: str) -> None:
    data = open(src, "rb").read()
    # (magic, decompressor command); the first candidate that yields an ELF wins.
    formats = [
        (b"\xfd7zXZ\x00", None),
        (b"\x02\x21\x4c\x18", ["lz4", "-dc"]),
        (b"\x28\xb5\x2f\xfd", ["zstd", "-dc"]),
        (b"\x1f\x8b\x08", ["gzip", "-dc"]),
    ]
    for magic, cmd in formats:
        start = 0
        while True:
            i = data.find(magic, start)
            if i < 0:
                break
            start = i + 1
            try:
                if cmd is None:
                    elf = lzma.LZMADecompressor().decompress(data[i:])
                else:
                    elf = subprocess.run(cmd, input=data[i:], capture_output=True).stdout
            except (lzma.LZMAError, FileNotFoundError):
                continue
            if elf.startswith(ELF):
                with open(out, "wb") as f:
                    f.write(elf)
                return
    sys.exit(f"{src}: no compressed ELF kernel found")


def modules(moddir: str, initrd: str, wanted: list[str]) -> None:
    deps: dict[str, list[str]] = {}
    by_name: dict[str, str] = {}
    with open(os.path.join(moddir, "modules.dep")) as f:
        for line in f:
            path, _, rest = line.partition(":")
            deps[path] = rest.split()
            name = os.path.basename(path).split(".ko")[0].replace("-", "_")
            by_name[name] = path
    builtin = set()
    builtin_file = os.path.join(moddir, "modules.builtin")
    if os.path.exists(builtin_file):
        with open(builtin_file) as f:
            builtin = {os.path.basename(l.strip()).split(".ko")[0].replace("-", "_") for l in f}
    order: list[str] = []

    def visit(path: str) -> None:
        if path in order:
            return
        for d in deps.get(path, []):
            visit(d)
        order.append(path)

    for name in wanted:
        key = name.replace("-", "_")
        if key in by_name:
            visit(by_name[key])
        elif key not in builtin:
            sys.exit(f"module {name} is neither in modules.dep nor built in")
    dest = os.path.join(initrd, "lib", "modules")
    os.makedirs(dest, exist_ok=True)
    names = []
    for path in order:
        base = os.path.basename(path)
        if base.endswith(".xz"):
            with open(os.path.join(dest, base[:-3]), "wb") as out:
                out.write(lzma.decompress(open(os.path.join(moddir, path), "rb").read()))
            base = base[:-3]
        else:
            shutil.copy(os.path.join(moddir, path), os.path.join(dest, base))
        names.append(base)
    with open(os.path.join(initrd, "modules.order"), "w") as f:
        f.write("\n".join(names) + "\n")


if __name__ == "__main__":
    if len(sys.argv) >= 4 and sys.argv[1] == "vmlinux":
        vmlinux(sys.argv[2], sys.argv[3])
    elif len(sys.argv) >= 4 and sys.argv[1] == "modules":
        modules(sys.argv[2], sys.argv[3], sys.argv[4:])
    else:
        sys.exit(__doc__)
