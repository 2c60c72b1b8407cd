import test from 'ava';
import { parseQuarantineDocument, MAX_QUARANTINE_ENTRIES } from '../../src/quarantine/document.js';
import { createQuarantineMatcher } from '../../src/quarantine/match.js';
import { BAD, GOOD, HOUR, NOW, entry, iso, quarantineYaml } from './helpers.js';

const parse = (text: string) => parseQuarantineDocument(Buffer.from(text, 'utf8'));

test('a valid file: digest and pattern entries, with reason, ticket and expiry', (t) => {
  const result = parse(
    quarantineYaml([
      ...entry(BAD, [`    expiresAt: ${iso(NOW + HOUR)}`]),
      ...entry('registry.example/team/*'),
      ...entry('nginx'),
    ]),
  );
  if (!result.ok) return t.fail(result.problem.message);
  const [digest, pattern, hub] = result.document.entries;
  t.is(digest?.kind, 'digest');
  t.is(digest?.expiresAt, iso(NOW + HOUR));
  t.is(pattern?.kind, 'pattern');
  t.is(hub?.compiled?.kind, 'exact');
  t.is(hub?.ticket, 'INC-42');
});

test('half_written_quarantine_fail: no strict prefix of a valid file parses (an entry is never dropped silently)', (t) => {
  for (const text of [
    quarantineYaml([...entry(BAD), ...entry('registry.example/team/**')]),
    `${JSON.stringify({
      entries: [
        { image: BAD, reason: 'r' },
        { image: GOOD, reason: 'r2' },
      ],
      end: true,
    })}\n`,
  ]) {
    t.true(parse(text).ok, 'the whole file parses');
    for (let cut = 0; cut < text.trimEnd().length; cut++) {
      const prefix = parse(text.slice(0, cut));
      t.false(prefix.ok, `a prefix of ${cut} bytes must not parse`);
      if (!prefix.ok && cut > 0 && !text.startsWith('{'))
        t.true(['CG_ERR_QUARANTINE_INCOMPLETE', 'CG_ERR_QUARANTINE_PARSE'].includes(prefix.problem.code));
    }
  }
  const noMarker = parse('entries:\n  - image: "sha256:' + 'b'.repeat(64) + '"\n    reason: r\n');
  t.is(noMarker.ok ? '' : noMarker.problem.code, 'CG_ERR_QUARANTINE_INCOMPLETE');
});

test('bad values are refused with field paths: digest, pattern with a tag, duplicate, unknown field, control characters', (t) => {
  const cases: [string, RegExp][] = [
    [quarantineYaml(entry('sha256:abc')), /entries\.0\.image: not a digest/],
    [quarantineYaml(entry('registry.example/app:v1')), /entries\.0\.image: tags are not supported/],
    [quarantineYaml([...entry(BAD), ...entry(BAD)]), /entries\.1\.image: .* listed twice/],
    [quarantineYaml(entry(BAD, ['    scope: all'])), /entries\.0: .*scope/],
    [quarantineYaml(entry(BAD, ['    expiresAt: tomorrow'])), /entries\.0\.expiresAt: not an RFC 3339/],
    [
      quarantineYaml(['  - image: "' + BAD + '"', '    reason: "a\\u001b[2Jb"']),
      /entries\.0\.reason: control/,
    ],
    [quarantineYaml(['  - image: "' + BAD + '"']), /entries\.0\.reason/],
    ['entries: []\nend: true\nmore: 1\n', /end: must be the last field/],
  ];
  for (const [text, pattern] of cases) {
    const result = parse(text);
    t.false(result.ok, text);
    if (!result.ok) t.regex(result.problem.message, pattern);
  }
});

test('bounds: too many entries and too many bytes are refused', (t) => {
  const many = Array.from({ length: MAX_QUARANTINE_ENTRIES + 1 }, (_, i) =>
    entry(`sha256:${i.toString(16).padStart(64, '0')}`),
  ).flat();
  const result = parse(quarantineYaml(many));
  t.false(result.ok);
  const huge = parse(Buffer.alloc(300 * 1024, 0x20).toString());
  t.is(huge.ok ? '' : huge.problem.code, 'CG_ERR_QUARANTINE_TOO_LARGE');
});

test('matching: a digest under any name, patterns as the allowlist, expiry at every call', (t) => {
  const result = parse(
    quarantineYaml([
      ...entry(BAD, [`    expiresAt: ${iso(NOW + HOUR)}`]),
      ...entry('registry.example/team/**'),
      ...entry(`mirror.example/app@${GOOD}`),
    ]),
  );
  if (!result.ok) return t.fail(result.problem.message);
  const matcher = createQuarantineMatcher(result.document.entries);
  const other = { names: [{ name: 'other.example/x', digest: BAD }], digests: [BAD] };
  t.is(matcher.match(other, NOW)?.entry.image, BAD);
  t.is(matcher.match(other, NOW)?.matched, `digest:${BAD}`);
  t.is(matcher.match(other, NOW + HOUR), undefined, 'expired at expiresAt');
  t.is(matcher.match(other, NOW)?.entry.image, BAD, 'a clock that goes back sees it again');
  t.is(matcher.inForce(NOW + HOUR).length, 2);
  const deep = { names: [{ name: 'registry.example/team/a/b', digest: undefined }], digests: [] };
  t.is(matcher.match(deep, NOW)?.entry.image, 'registry.example/team/**');
  const pinned = { names: [{ name: 'mirror.example/app', digest: GOOD }], digests: [] };
  t.is(matcher.match(pinned, NOW)?.entry.image, `mirror.example/app@${GOOD}`);
  t.is(
    matcher.match(
      { names: [{ name: 'mirror.example/app', digest: BAD.replace('b', 'c') }], digests: [] },
      NOW,
    ),
    undefined,
  );
  t.is(
    matcher.match({ names: [{ name: 'registry.example/teams/a', digest: undefined }], digests: [] }, NOW),
    undefined,
  );
});
