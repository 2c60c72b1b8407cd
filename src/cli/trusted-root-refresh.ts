import type { Command } from './command.js';
import { ExitCode, UsageError } from './exit-codes.js';
import { parseOptions, requireOption } from './parse-options.js';

/**
 * `criguard trusted-root refresh`: updates the node's trusted root file through TUF from a mirror, for a
 * timer outside the daemon. Exit 0 written or already current; 1 refresh failed (nothing written);
 * 2 unreadable pinned TUF root or bad mirror URL; 64 usage.
 */
export const trustedRootRefreshCommand: Command = {
  name: 'trusted-root refresh',
  summary:
    "update the node's trusted_root.json through TUF from a mirror (run by a timer, never needed to decide)",
  usage: [
    'Usage: criguard trusted-root refresh --mirror URL --root ROOT_JSON --output FILE',
    '         [--cache-dir DIR] [--timeout SECONDS]',
    '',
    'Fetches the trusted_root.json target from the TUF repository at --mirror (metadata at its root, targets',
    'under targets/), verified by TUF from --root, the pinned TUF root.json of that mirror (for the Sigstore',
    'public-good instance: https://tuf-repo-cdn.sigstore.dev and its root.json). The target must parse as a',
    "Sigstore trusted root with criguard's own parser; it is written to --output (the serve setting",
    'trustedRoot) atomically, mode 0644, only if it differs. On any failure the file is left unchanged.',
    '--cache-dir keeps verified TUF metadata between runs (root rotations, rollback protection); its root',
    'is used instead of --root only if it descends from --root (each rotation kept in DIR/roots/ and',
    're-verified); otherwise the cache starts again from --root, with a warning. --timeout: per request (30).',
    'Exit codes: 0 written or already current, 1 refresh failed, 2 unreadable --root or bad --mirror, 64 usage.',
  ].join('\n'),
  async run(args, io) {
    const { values, positionals } = parseOptions(
      args,
      {
        mirror: { type: 'string' },
        root: { type: 'string' },
        output: { type: 'string' },
        'cache-dir': { type: 'string' },
        timeout: { type: 'string' },
      },
      true,
    );
    if (positionals.length > 0) throw new UsageError(`unexpected argument ${positionals[0] ?? ''}`);
    const mirror = requireOption(values.mirror, 'mirror');
    const rootPath = requireOption(values.root, 'root');
    const output = requireOption(values.output, 'output');
    let timeoutMs: number | undefined;
    if (values.timeout !== undefined) {
      const seconds = Number(values.timeout);
      if (!Number.isInteger(seconds) || seconds < 1 || seconds > 600) {
        throw new UsageError('--timeout must be a whole number of seconds from 1 to 600');
      }
      timeoutMs = seconds * 1000;
    }
    // Loaded here only: the TUF client and its fetch stack stay out of every other command (and the daemon).
    const { RefreshError, refreshTrustedRoot } = await import('../trusted-root-refresh/refresh.js');
    try {
      const result = await refreshTrustedRoot({
        mirror,
        rootPath,
        output,
        timeoutMs,
        ...(values['cache-dir'] === undefined ? {} : { cacheDir: values['cache-dir'] }),
      });
      if (result.cacheReset !== undefined) {
        io.stderr(
          `criguard trusted-root refresh: warning: the cached TUF root in --cache-dir was not used and the cache was started again from --root: ${result.cacheReset}\n`,
        );
      }
      io.stdout(
        result.changed
          ? `written ${output} (${result.digest})\n`
          : `unchanged ${output} (${result.digest})\n`,
      );
      return ExitCode.OK;
    } catch (err) {
      if (!(err instanceof RefreshError)) throw err;
      io.stderr(`criguard trusted-root refresh: ${err.message}\n`);
      return err.kind === 'input' ? ExitCode.INVALID_INPUT : ExitCode.DENIED_OR_FAILED;
    }
  },
};
