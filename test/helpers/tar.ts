/** A minimal deterministic ustar writer for building image layers in tests (no timestamps, uid 0). */

export type TarEntry =
  | { type: 'dir'; path: string; mode?: number }
  | { type: 'file'; path: string; data: Uint8Array; mode?: number }
  | { type: 'symlink'; path: string; target: string };

function header(path: string, mode: number, size: number, typeflag: string, linkname = ''): Buffer {
  if (Buffer.byteLength(path) > 100 || Buffer.byteLength(linkname) > 100) {
    throw new Error(`tar: name too long: ${path}`);
  }
  const h = Buffer.alloc(512);
  const put = (s: string, off: number, len: number) => h.write(s, off, len, 'utf8');
  put(path, 0, 100);
  put(mode.toString(8).padStart(7, '0') + '\0', 100, 8);
  put('0000000\0', 108, 8); // uid
  put('0000000\0', 116, 8); // gid
  put(size.toString(8).padStart(11, '0') + '\0', 124, 12);
  put('00000000000\0', 136, 12); // mtime 0: reproducible digests
  put('        ', 148, 8); // checksum placeholder (spaces)
  put(typeflag, 156, 1);
  put(linkname, 157, 100);
  put('ustar\0', 257, 6);
  put('00', 263, 2);
  let sum = 0;
  for (const byte of h) sum += byte;
  put(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8);
  return h;
}

/** Serialises entries, in order, into an uncompressed tar archive (with the two zero end blocks). */
export function createTar(entries: TarEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    if (e.type === 'dir') {
      parts.push(header(e.path.endsWith('/') ? e.path : `${e.path}/`, e.mode ?? 0o755, 0, '5'));
    } else if (e.type === 'symlink') {
      parts.push(header(e.path, 0o777, 0, '2', e.target));
    } else {
      parts.push(header(e.path, e.mode ?? 0o644, e.data.length, '0'));
      parts.push(Buffer.from(e.data));
      const pad = (512 - (e.data.length % 512)) % 512;
      if (pad) parts.push(Buffer.alloc(pad));
    }
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}
