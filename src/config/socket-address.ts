import { isAbsolute, resolve } from 'node:path';
import { CriguardError } from '../errors/criguard-error.js';

/**
 * Turns a socket address (a path, or a `unix://` URL such as `unix:///run/containerd/containerd.sock`)
 * into an absolute path. Throws CG_ERR_CONFIG for any other scheme or an empty value.
 */
export function toSocketPath(value: string, cwd: string): string {
  const trimmed = value.trim();
  let path = trimmed;
  if (/^[a-z][a-z0-9+.-]*:/i.test(trimmed)) {
    if (!trimmed.startsWith('unix://')) {
      throw configError(`"${value}" is not a unix socket (use a path or a unix:// URL)`);
    }
    path = trimmed.slice('unix://'.length);
  }
  if (path === '') throw configError('a socket path must not be empty');
  if (path.includes('\0')) throw configError('a socket path must not contain NUL');
  return isAbsolute(path) ? path : resolve(cwd, path);
}

export function configError(message: string): Error {
  return new CriguardError('CG_ERR_CONFIG', message);
}
