import { readFile, rename, writeFile } from 'node:fs/promises';
import { AttestationError } from '../attestations/errors.js';
import {
  parseEvidenceArchive,
  platformsOfManifest,
  serializeEvidenceArchive,
} from '../attestations/evidence-archive.js';
import type { ArchivedImage } from '../attestations/evidence-archive.js';
import { createLocalDirectorySource, writeAttestationFile } from '../attestations/local-directory-source.js';
import { writeStoredManifest } from '../attestations/manifest-store.js';
import { createRegistrySource } from '../attestations/registry-source.js';
import { DEFAULT_SERVE_CONFIG, loadServeConfig } from '../config/serve-config.js';
import type { ServeConfig } from '../config/serve-config.js';
import { createLogger } from '../log/logger.js';
import { InvalidReferenceError } from '../reference/errors.js';
import { parseImageReference } from '../reference/image-reference.js';
import { parseJson } from '../registry/registry-responses.js';
import type { AttestationRecord } from '../verify/attestation.js';
import type { Command } from './command.js';
import { ExitCode, UsageError } from './exit-codes.js';
import { parseOptions, requireOption } from './parse-options.js';
import { createNodeCredentialsFromConfig, createRegistry } from '../daemon/registry-access.js';

/** `criguard attestations export`: everything a node needs to verify IMAGEs offline, in one archive. */
export const attestationsExportCommand: Command = {
  name: 'attestations export',
  summary: 'write the evidence of images (signatures, bundles, platforms) to one archive',
  usage: [
    'Usage: criguard attestations export --output FILE [--config FILE] [--attestations-dir DIR] IMAGE...',
    '',
    'For each IMAGE (tag or digest): its digest, the platform manifests of a multi-arch index, and every',
    "attestation of those digests from the registry (through containerd's mirrors, with the node's",
    'credentials; --config is a criguard serve config file) and from --attestations-dir.',
  ].join('\n'),
  async run(args, io) {
    const { values, positionals } = parseOptions(
      args,
      { output: { type: 'string' }, config: { type: 'string' }, 'attestations-dir': { type: 'string' } },
      true,
    );
    const out = requireOption(values.output, 'output');
    if (positionals.length === 0) throw new UsageError('expected at least one IMAGE');
    const references = positionals.map((p) => {
      try {
        return parseImageReference(p);
      } catch (err) {
        if (err instanceof InvalidReferenceError) throw new UsageError(`invalid image reference ${p}`);
        throw err;
      }
    });
    let config: ServeConfig = DEFAULT_SERVE_CONFIG;
    if (values.config !== undefined) {
      try {
        config = loadServeConfig({ file: values.config, flags: {}, cwd: process.cwd() });
      } catch (err) {
        io.stderr(`criguard attestations export: ${(err as Error).message}\n`);
        return ExitCode.INVALID_INPUT;
      }
    }
    const logger = createLogger('error', process.stderr);
    const nodeCredentials = createNodeCredentialsFromConfig(config, logger);
    const registry = createRegistry(config, logger, nodeCredentials);
    const local =
      values['attestations-dir'] === undefined
        ? undefined
        : createLocalDirectorySource({ dir: values['attestations-dir'] });
    // cosign's `.sig` signatures, then Sigstore bundles: built once, asked with each image's credentials.
    const remotes = (['cosign', 'bundles'] as const).map((format) =>
      createRegistrySource({
        client: registry,
        cosignLegacy: format === 'cosign',
        sigstoreBundles: format === 'bundles',
      }),
    );
    const images: ArchivedImage[] = [];
    const attestations: { digest: string; record: AttestationRecord }[] = [];
    const manifests = new Map<string, Uint8Array>();
    const seen = new Set<string>();
    const signal = AbortSignal.timeout(config.verifyTimeoutSeconds * 1000 * Math.max(1, references.length));
    try {
      for (const ref of references) {
        const credentials = await nodeCredentials.lookup(ref.name, signal);
        const digest =
          ref.digest ??
          (await registry.resolve(ref.canonical, { credentials, signal, verifyContent: true })).digest;
        const manifest = await registry.getManifest(ref.name, digest, { credentials, signal });
        const platforms = platformsOfManifest(parseJson(manifest.bytes));
        images.push({ reference: ref.canonical, name: ref.name, digest, platforms });
        // The exact bytes (hash-checked by the client): an offline node finds its platform in them.
        manifests.set(digest, manifest.bytes);
        for (const p of platforms) {
          if (!manifests.has(p.digest))
            manifests.set(
              p.digest,
              (await registry.getManifest(ref.name, p.digest, { credentials, signal })).bytes,
            );
        }
        for (const d of [digest, ...platforms.map((p) => p.digest)]) {
          const image = { name: ref.name, digest: d };
          const records: AttestationRecord[] = [...((await local?.fetch(image, undefined)) ?? [])];
          for (const remote of remotes) records.push(...(await remote.fetch(image, credentials, signal)));
          for (const record of records) {
            const key = `${d} ${Buffer.from(record.payload).toString('base64')} ${record.signatures
              .map((s) => Buffer.from(s.signature).toString('base64'))
              .join(',')}`;
            if (seen.has(key)) continue;
            seen.add(key);
            attestations.push({ digest: d, record });
          }
        }
      }
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      if (typeof code !== 'string' || !code.startsWith('CG_ERR_')) throw err;
      io.stderr(`criguard attestations export: ${(err as Error).message}\n`);
      return ExitCode.DENIED_OR_FAILED;
    } finally {
      await registry.close();
    }
    const tmp = `${out}.${process.pid}.tmp`;
    await writeFile(
      tmp,
      serializeEvidenceArchive(
        { images, attestations, manifests: [...manifests].map(([d, bytes]) => ({ digest: d, bytes })) },
        new Date(),
      ),
      { mode: 0o644 },
    );
    await rename(tmp, out);
    io.stdout(`${out}: ${images.length} image(s), ${attestations.length} attestation(s)\n`);
    return ExitCode.OK;
  },
};

/** `criguard attestations import`: loads an archive into the node's attestation directory. */
export const attestationsImportCommand: Command = {
  name: 'attestations import',
  summary: "load an evidence archive into the node's attestation directory",
  usage: [
    'Usage: criguard attestations import --attestations-dir DIR FILE',
    '',
    'Validates the whole archive first (an invalid one changes nothing), then writes each attestation to',
    'DIR/sha256-<hex>/ (content-named files: importing twice changes nothing) and each manifest (its bytes',
    "checked against its digest) to DIR/manifests/sha256-<hex>. DIR is the daemon's attestationsDir.",
  ].join('\n'),
  async run(args, io) {
    const { values, positionals } = parseOptions(args, { 'attestations-dir': { type: 'string' } }, true);
    const dir = requireOption(values['attestations-dir'], 'attestations-dir');
    if (positionals.length !== 1) throw new UsageError('expected exactly one FILE');
    const file = positionals[0] ?? '';
    let archive;
    try {
      archive = parseEvidenceArchive(await readFile(file, 'utf8'));
    } catch (err) {
      if (err instanceof AttestationError) {
        io.stderr(`criguard attestations import: ${file}: ${err.message}\n`);
        return ExitCode.INVALID_INPUT;
      }
      io.stderr(`criguard attestations import: cannot read ${file}\n`);
      return ExitCode.DENIED_OR_FAILED;
    }
    for (const m of archive.manifests) await writeStoredManifest(dir, m.digest, m.bytes);
    for (const a of archive.attestations) await writeAttestationFile(dir, a.digest, a.record);
    io.stdout(
      `${dir}: ${archive.attestations.length} attestation(s) and ${archive.manifests.length} manifest(s) for ${archive.images.length} image(s)\n`,
    );
    return ExitCode.OK;
  },
};
