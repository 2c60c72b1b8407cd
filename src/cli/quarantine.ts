import { parseDuration } from '../breakglass/duration.js';
import { parseRfc3339 } from '../documents/rfc3339.js';
import { DEFAULT_QUARANTINE_PATH } from '../quarantine/defaults.js';
import {
  compileQuarantineImage,
  parseQuarantineDocument,
  type QuarantineFileContent,
} from '../quarantine/document.js';
import {
  entryStatuses,
  loadQuarantine,
  type LoadedQuarantine,
  type QuarantineEntryStatus,
} from '../quarantine/state.js';
import { quarantineFileText, writeQuarantineFileAtomically } from '../quarantine/write-file.js';
import type { Command, CommandIo } from './command.js';
import { ExitCode, UsageError } from './exit-codes.js';
import { parseOptions, requireOption } from './parse-options.js';

type FileEntry = QuarantineFileContent['entries'][number];

/**
 * `criguard quarantine add`: adds (or rewrites) one entry, validated with the daemon's parser, written
 * atomically (root, 0600) and read back with the daemon's checks. Exit 0 when in the file; 1 when the file
 * could not be written or the current one is invalid; 64 usage.
 */
export const quarantineAddCommand: Command = {
  name: 'quarantine add',
  summary: 'refuse an image on this node (by digest or name pattern), whatever the policy says',
  usage: [
    'Usage: criguard quarantine add sha256:DIGEST|PATTERN --reason TEXT [--ticket ID]',
    '         [--expires RFC3339|DURATION] [--by WHO] [--file PATH]',
    '',
    `Adds an entry to ${DEFAULT_QUARANTINE_PATH} (or --file), written atomically, owned by root, mode 0600.`,
    'sha256:DIGEST matches the image under any name (manifest or index digest, or image id);',
    'PATTERN is an image name pattern as in the policy allowlist: registry/team/app, registry/team/*,',
    'registry/team/** or registry/team/app@sha256:DIGEST. Adding an image already listed rewrites its entry.',
    'A quarantined image is refused at pull and create, whatever its signatures, the allowlist, a dry run',
    'or a breakglass say. --expires: 2026-01-02T15:04:05Z or 72h; without it, until removed.',
    'Exit codes: 0 quarantined, 1 not written (or the current file is invalid), 64 usage.',
  ].join('\n'),
  async run(args, io) {
    const { values, positionals } = parseOptions(
      args,
      {
        reason: { type: 'string' },
        ticket: { type: 'string' },
        expires: { type: 'string' },
        by: { type: 'string' },
        file: { type: 'string' },
      },
      true,
    );
    const image = oneImage(positionals);
    const reason = requireOption(values.reason, 'reason');
    const now = Date.now();
    const expiresAt = values.expires === undefined ? undefined : toExpiry(values.expires, now);
    const path = values.file ?? DEFAULT_QUARANTINE_PATH;
    const current = loadTrusted(path, io, 'add');
    if (!current) return ExitCode.DENIED_OR_FAILED;
    const by = values.by ?? whoAmI(io);
    const entry: FileEntry = {
      image,
      reason,
      ...(values.ticket !== undefined && { ticket: values.ticket }),
      addedBy: by,
      addedAt: new Date(now).toISOString(),
      ...(expiresAt !== undefined && { expiresAt }),
    };
    const existing = current.filter((e) => e.image !== image);
    const replaced = existing.length !== current.length;
    const written = write(path, io, 'add', {
      entries: [...existing, entry],
      lastChange: {
        action: 'add',
        image,
        by,
        at: entry.addedAt,
        reason,
        ...(values.ticket !== undefined && { ticket: values.ticket }),
      },
    });
    if (!written) return ExitCode.DENIED_OR_FAILED;
    io.stdout(
      [
        `quarantined on this node${replaced ? ' (entry rewritten)' : ''}: ${image}`,
        `reason: ${reason}`,
        ...(values.ticket !== undefined ? [`ticket: ${values.ticket}`] : []),
        `until: ${expiresAt ?? 'removed (criguard quarantine remove)'}`,
        `file: ${path} (sha256 ${written})`,
        'New pulls and creates are refused within 2 seconds; running containers are reported, not stopped.',
        '',
      ].join('\n'),
    );
    return ExitCode.OK;
  },
};

/** `criguard quarantine remove`: removes one entry (exact text, as listed). Exit 0 removed, 1 not listed or not written. */
export const quarantineRemoveCommand: Command = {
  name: 'quarantine remove',
  summary: 'lift a quarantine on this node',
  usage: [
    'Usage: criguard quarantine remove sha256:DIGEST|PATTERN [--reason TEXT] [--ticket ID] [--by WHO]',
    '         [--file PATH]',
    '',
    `Removes the entry written exactly so from ${DEFAULT_QUARANTINE_PATH} (or --file), atomically.`,
    'The change is audited by the daemon with --reason, --ticket and who ran it.',
    'Exit codes: 0 removed, 1 not listed, not written or the current file is invalid, 64 usage.',
  ].join('\n'),
  async run(args, io) {
    const { values, positionals } = parseOptions(
      args,
      {
        reason: { type: 'string' },
        ticket: { type: 'string' },
        by: { type: 'string' },
        file: { type: 'string' },
      },
      true,
    );
    const image = oneImage(positionals);
    const path = values.file ?? DEFAULT_QUARANTINE_PATH;
    const current = loadTrusted(path, io, 'remove');
    if (!current) return ExitCode.DENIED_OR_FAILED;
    const remaining = current.filter((e) => e.image !== image);
    if (remaining.length === current.length) {
      io.stderr(`criguard quarantine remove: ${image} is not on the quarantine list ${path}\n`);
      return ExitCode.DENIED_OR_FAILED;
    }
    const written = write(path, io, 'remove', {
      entries: remaining,
      lastChange: {
        action: 'remove',
        image,
        by: values.by ?? whoAmI(io),
        at: new Date().toISOString(),
        ...(values.reason !== undefined && { reason: values.reason }),
        ...(values.ticket !== undefined && { ticket: values.ticket }),
      },
    });
    if (!written) return ExitCode.DENIED_OR_FAILED;
    io.stdout(`quarantine lifted on this node: ${image}\nfile: ${path} (sha256 ${written})\n`);
    return ExitCode.OK;
  },
};

/** `criguard quarantine list`: the file as the daemon reads it. Exit 0 absent or valid, 1 invalid. */
export const quarantineListCommand: Command = {
  name: 'quarantine list',
  summary: "show this node's quarantine list, or why the daemon does not trust the file",
  usage: [
    'Usage: criguard quarantine list [--file PATH] [--output text|json]',
    '',
    `Reads ${DEFAULT_QUARANTINE_PATH} (or --file) with the same safety checks as the daemon.`,
    'An invalid file is not trusted: the daemon keeps its last good list, or refuses every image',
    'when it has none (docs/quarantine.md).',
    'Exit codes: 0 absent or valid, 1 invalid or unsafe, 64 usage.',
  ].join('\n'),
  async run(args, io) {
    const { values } = parseOptions(args, { file: { type: 'string' }, output: { type: 'string' } }, false);
    const output = values.output ?? 'text';
    if (output !== 'text' && output !== 'json') throw new UsageError('--output must be text or json');
    const path = values.file ?? DEFAULT_QUARANTINE_PATH;
    const loaded = loadQuarantine(path);
    const entries = entryStatuses(loaded, Date.now());
    const report = {
      file: path,
      state: loaded.kind,
      entries,
      ...(loaded.kind === 'invalid' && { problem: loaded.problem }),
      ...(loaded.kind !== 'absent' && loaded.fileSha256 !== undefined && { fileSha256: loaded.fileSha256 }),
    };
    io.stdout(output === 'json' ? `${JSON.stringify(report, null, 2)}\n` : formatList(path, loaded, entries));
    return loaded.kind === 'invalid' ? ExitCode.DENIED_OR_FAILED : ExitCode.OK;
  },
};

function oneImage(positionals: readonly string[]): string {
  if (positionals.length !== 1) throw new UsageError('give exactly one sha256:DIGEST or image name pattern');
  const image = positionals[0]!;
  const checked = compileQuarantineImage(image);
  if (!checked.ok) throw new UsageError(`"${image}": ${checked.why}`);
  return image;
}

function toExpiry(text: string, now: number): string {
  const ms =
    parseRfc3339(text) ?? (parseDuration(text) === undefined ? undefined : now + parseDuration(text)!);
  if (ms === undefined)
    throw new UsageError(
      `--expires: "${text}" is neither an RFC 3339 time (with offset) nor a duration like 72h`,
    );
  if (ms <= now) throw new UsageError(`--expires: ${new Date(ms).toISOString()} is not in the future`);
  return new Date(ms).toISOString();
}

/** Who runs the command, for the audit: the sudo user or the login name, and the uid. */
function whoAmI(io: CommandIo): string {
  const name = io.env.SUDO_USER ?? io.env.USER ?? io.env.LOGNAME ?? 'unknown';
  const uid = process.getuid?.();
  return `${name}${uid === undefined ? '' : ` (uid ${uid})`}`.slice(0, 256);
}

/** The current entries as file content, or undefined (printed) when the file is invalid or unsafe. */
function loadTrusted(path: string, io: CommandIo, verb: string): FileEntry[] | undefined {
  const loaded = loadQuarantine(path);
  if (loaded.kind === 'absent') return [];
  if (loaded.kind === 'invalid') {
    io.stderr(
      `criguard quarantine ${verb}: the current file ${path} is not trusted (${loaded.problem.code}: ${loaded.problem.message}); fix or replace it first, nothing changed\n`,
    );
    return undefined;
  }
  return loaded.document.entries.map((e) => ({
    image: e.image,
    reason: e.reason,
    ...(e.ticket !== undefined && { ticket: e.ticket }),
    ...(e.addedBy !== undefined && { addedBy: e.addedBy }),
    ...(e.addedAt !== undefined && { addedAt: e.addedAt }),
    ...(e.expiresAt !== undefined && { expiresAt: e.expiresAt }),
  }));
}

/** Validates with the daemon's parser, writes atomically, reads back; the file's sha256 or undefined. */
function write(
  path: string,
  io: CommandIo,
  verb: string,
  content: Omit<QuarantineFileContent, 'end'>,
): string | undefined {
  const text = quarantineFileText(content);
  const checked = parseQuarantineDocument(Buffer.from(text, 'utf8'));
  if (!checked.ok) throw new UsageError(`${checked.problem.code}: ${checked.problem.message}`);
  try {
    writeQuarantineFileAtomically(path, text);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const hint = e.code === 'EPERM' ? ' (run as root: the file must be owned by root)' : '';
    io.stderr(`criguard quarantine ${verb}: cannot write ${path}: ${e.code ?? ''} ${e.message}${hint}\n`);
    return undefined;
  }
  const back = loadQuarantine(path);
  if (back.kind !== 'valid') {
    const why = back.kind === 'invalid' ? `${back.problem.code}: ${back.problem.message}` : 'it is gone';
    io.stderr(`criguard quarantine ${verb}: wrote ${path}, but the daemon would not trust it: ${why}\n`);
    return undefined;
  }
  return back.fileSha256;
}

function formatList(
  path: string,
  loaded: LoadedQuarantine,
  entries: readonly QuarantineEntryStatus[],
): string {
  const lines: string[] = [];
  if (loaded.kind === 'absent') lines.push(`quarantine: empty (no file at ${path})`);
  else if (loaded.kind === 'invalid') {
    lines.push(`quarantine: file INVALID, not trusted: ${loaded.problem.code}: ${loaded.problem.message}`);
    lines.push('the daemon keeps its last good list, or refuses every image when it has none');
  } else {
    const inForce = entries.filter((e) => e.inForce).length;
    lines.push(
      `quarantine: ${inForce} entr${inForce === 1 ? 'y' : 'ies'} in force (${path}, ${loaded.fileSha256})`,
    );
  }
  for (const e of entries) {
    const terms = [
      e.ticket && `ticket ${e.ticket}`,
      e.addedBy && `by ${e.addedBy}`,
      e.addedAt && `at ${e.addedAt}`,
      e.expiresAt ? `${e.inForce ? 'until' : 'EXPIRED'} ${e.expiresAt}` : 'until removed',
    ].filter(Boolean);
    lines.push(`  ${e.image}  ${e.reason}  (${terms.join(', ')})`);
  }
  return `${lines.join('\n')}\n`;
}
