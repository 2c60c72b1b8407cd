import { isMap, parseDocument } from 'yaml';
import { InstallError } from './errors.js';

/**
 * Where a kubelet's CRI endpoints are set: its KubeletConfiguration file (`containerRuntimeEndpoint`,
 * `imageServiceEndpoint`) or a flags file (`--container-runtime-endpoint`, `--image-service-endpoint`; flags
 * win over the config file). Pure text transforms: the installer does the file I/O.
 */
export type KubeletSourceKind = 'config' | 'flags';

/** The values a patch replaced, by key or flag name; null when the key was absent (kubelet default). */
export type EndpointOriginals = Record<string, string | null>;

/** A patch: the new text and what it replaced. `changed` is false when the text already pointed at criguard. */
export interface EndpointPatch {
  readonly text: string;
  readonly changed: boolean;
  readonly originals: EndpointOriginals;
}

const CONFIG_KEYS = ['containerRuntimeEndpoint', 'imageServiceEndpoint'] as const;
const FLAG_PATTERN = /(--(container-runtime-endpoint|image-service-endpoint)(?:=|[ \t]+))([^\s"'\\]+)/g;

/**
 * Points both endpoints of a KubeletConfiguration at `endpoint`, keeping comments and other fields.
 * Throws CG_ERR_KUBELET_CONFIG_INVALID when the text is not a YAML mapping.
 */
export function patchKubeletConfig(text: string, endpoint: string): EndpointPatch {
  const doc = parseConfig(text);
  const originals: EndpointOriginals = {};
  for (const key of CONFIG_KEYS) {
    const current = doc.get(key);
    if (current === endpoint) continue;
    originals[key] = typeof current === 'string' ? current : null;
    doc.set(key, endpoint);
  }
  const changed = Object.keys(originals).length > 0;
  return { text: changed ? doc.toString() : text, changed, originals };
}

/**
 * Puts back `originals` in a KubeletConfiguration, but only for keys that still point at `endpoint`
 * (someone else's later change wins). A null original deletes the key. Returns the text and the keys
 * that were not restored because they had been changed since.
 */
export function restoreKubeletConfig(
  text: string,
  endpoint: string,
  originals: EndpointOriginals,
): { text: string; skipped: string[] } {
  const doc = parseConfig(text);
  const skipped: string[] = [];
  let changed = false;
  for (const [key, original] of Object.entries(originals)) {
    if (doc.get(key) !== endpoint) {
      skipped.push(key);
      continue;
    }
    if (original === null) doc.delete(key);
    else doc.set(key, original);
    changed = true;
  }
  return { text: changed ? doc.toString() : text, skipped };
}

/** Points every endpoint flag in a flags file (e.g. kubeadm-flags.env) at `endpoint`; other text untouched. */
export function patchKubeletFlags(text: string, endpoint: string): EndpointPatch {
  const originals: EndpointOriginals = {};
  const patched = text.replace(FLAG_PATTERN, (_all, prefix: string, name: string, value: string) => {
    if (value === endpoint) return `${prefix}${value}`;
    originals[name] ??= value;
    return `${prefix}${endpoint}`;
  });
  const changed = patched !== text;
  return { text: patched, changed, originals };
}

/** Puts back the flag values in `originals` where they still point at `endpoint`. */
export function restoreKubeletFlags(
  text: string,
  endpoint: string,
  originals: EndpointOriginals,
): { text: string; skipped: string[] } {
  const restored = new Set<string>();
  const out = text.replace(FLAG_PATTERN, (all, prefix: string, name: string, value: string) => {
    const original = originals[name];
    if (value !== endpoint || typeof original !== 'string') return all;
    restored.add(name);
    return `${prefix}${original}`;
  });
  return { text: out, skipped: Object.keys(originals).filter((name) => !restored.has(name)) };
}

/** True when the text (either kind) points any endpoint at `endpoint`. */
export function pointsAt(kind: KubeletSourceKind, text: string, endpoint: string): boolean {
  if (kind === 'config') {
    const doc = parseConfig(text);
    return CONFIG_KEYS.some((key) => doc.get(key) === endpoint);
  }
  return [...text.matchAll(FLAG_PATTERN)].some((m) => m[3] === endpoint);
}

/** The `unix://` endpoint URL of a listen setting (`PATH` or `unix://PATH`). */
export function toEndpointUrl(listen: string): string {
  return listen.startsWith('unix://') ? listen : `unix://${listen}`;
}

function parseConfig(text: string) {
  const doc = parseDocument(text);
  if (doc.errors.length > 0 || !(isMap(doc.contents) || doc.contents === null)) {
    throw new InstallError(
      'CG_ERR_KUBELET_CONFIG_INVALID',
      `the kubelet configuration is not a YAML mapping${doc.errors[0] ? `: ${doc.errors[0].message}` : ''}`,
    );
  }
  return doc;
}
