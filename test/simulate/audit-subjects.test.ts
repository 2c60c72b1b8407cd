import test from 'ava';
import type { AuditedDecision } from '../../src/audit/audit-reader.js';
import { createAuditSubjects } from '../../src/simulate/audit-subjects.js';

const D1 = `sha256:${'1'.repeat(64)}`;
const ID = `sha256:${'a'.repeat(64)}`;

function record(over: Partial<AuditedDecision>): AuditedDecision {
  return {
    schema: 1,
    time: '2026-01-01T00:00:00.000Z',
    method: 'PullImage',
    image: 'r.example/app:1',
    imageName: 'r.example/app',
    digests: [D1],
    pod: { namespace: 'ns', name: 'p', uid: 'u' },
    outcome: 'allow',
    reason: 'ATTESTATIONS_SATISFIED',
    ...over,
  };
}

test('a pull that named its digest is replayed by digest; one decided by name alone by its reference', (t) => {
  const s = createAuditSubjects();
  s.add(record({}));
  s.add(
    record({
      image: 'r.example/legacy:2',
      imageName: 'r.example/legacy',
      digests: [],
      reason: 'ALLOWLISTED',
    }),
  );
  s.add(
    record({
      image: 'not a reference!',
      imageName: undefined,
      digests: [],
      outcome: 'deny',
      reason: 'INVALID_REFERENCE',
    }),
  );
  t.deepEqual(
    s.subjects.map((x) => x.replay),
    [
      { kind: 'pull', image: `r.example/app@${D1}` },
      { kind: 'pull', image: 'r.example/legacy:2' },
      { kind: 'pull', image: 'not a reference!' },
    ],
  );
});

test('container records: each image of the container, by image id, with the pull to fall back on', (t) => {
  const s = createAuditSubjects();
  const vol = `sha256:${'b'.repeat(64)}`;
  s.add(
    record({
      method: 'CreateContainer',
      image: ID,
      images: [
        {
          image: ID,
          imageName: 'r.example/app',
          digests: [D1],
          outcome: 'allow',
          reason: 'ATTESTATIONS_SATISFIED',
        },
        { image: vol, imageName: 'r.example/local', digests: [vol], outcome: 'deny', reason: 'UNDECIDED' },
      ],
    }),
  );
  t.deepEqual(
    s.subjects.map((x) => [x.replay, x.display, x.recordedOutcome]),
    [
      [
        { kind: 'container', imageId: ID, fallbackPull: `r.example/app@${D1}` },
        `r.example/app@${D1}`,
        'allow',
      ],
      [{ kind: 'container', imageId: vol, fallbackPull: undefined }, vol, 'deny'],
    ],
    'an image whose only digest is its id has no registry name to pull by',
  );
});

test('repeats fold into one subject per namespace and image, keeping the latest recorded outcome', (t) => {
  const s = createAuditSubjects();
  s.add(record({ time: '2026-01-01T00:00:02.000Z', outcome: 'deny', reason: 'ATTESTOR_MISSING' }));
  s.add(record({ time: '2026-01-01T00:00:01.000Z' }));
  s.add(record({ pod: { namespace: 'other', name: 'p', uid: '' } }));
  s.add(record({ method: 'Revalidation', image: ID, images: undefined }));
  s.add(record({ method: 'CreateContainer', image: ID, images: undefined }));
  t.is(s.subjects.length, 3);
  t.like(s.subjects[0], {
    namespace: 'ns',
    count: 2,
    lastSeen: '2026-01-01T00:00:02.000Z',
    recordedOutcome: 'deny',
  });
  t.like(s.subjects[2], { method: 'Revalidation', count: 2 });
});

test('distinct subjects past the cap are counted, not kept', (t) => {
  const s = createAuditSubjects(2);
  for (let i = 0; i < 5; i++) s.add(record({ pod: { namespace: `ns${i}`, name: '', uid: '' } }));
  s.add(record({ pod: { namespace: 'ns0', name: '', uid: '' } }));
  t.is(s.subjects.length, 2);
  t.is(s.dropped, 3);
  t.is(s.subjects[0]?.count, 2, 'a known subject is still counted after the cap');
});
