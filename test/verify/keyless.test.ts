import test from 'ava';
import { bundleFromJSON } from '@sigstore/bundle';
import { compileIdentity } from '../../src/verify/keyless/identity.js';
import { parseTrustedRoot } from '../../src/verify/keyless/trusted-root.js';
import { verifyKeylessBundle } from '../../src/verify/keyless/verify-bundle.js';
import { createSigstoreDeployment } from '../helpers/sigstore-deployment.js';
import { digestOf } from './fixtures.js';

const D = digestOf('image');
const ID = {
  subject: 'https://github.com/org/repo/.github/workflows/release.yml@refs/heads/main',
  issuer: 'https://token.actions.githubusercontent.com',
};

test('smoke: a DSSE keyless bundle verifies against its own trusted root', async (t) => {
  const dep = await createSigstoreDeployment();
  const trust = parseTrustedRoot(dep.trustedRoot, 'test');
  const json = await dep.signDsse(D, ID);
  const check = verifyKeylessBundle(bundleFromJSON(json), undefined, trust);
  t.log(JSON.stringify(check.ok ? check.signer : check));
  t.true(check.ok);
  const msg = await dep.signMessage(Buffer.from('hello'), ID);
  const c2 = verifyKeylessBundle(bundleFromJSON(msg), Buffer.from('hello'), trust);
  t.log(JSON.stringify(c2.ok ? c2.signer : c2));
  t.true(c2.ok);
  t.truthy(compileIdentity);
});
