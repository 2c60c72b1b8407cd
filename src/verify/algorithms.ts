/** Signature algorithms criguard verifies. The PKIX names are Binary Authorization's; ED25519 is ours. */
export const SIGNATURE_ALGORITHMS = [
  'RSA_PSS_2048_SHA256',
  'RSA_PSS_3072_SHA256',
  'RSA_PSS_4096_SHA256',
  'RSA_PSS_4096_SHA512',
  'RSA_SIGN_PKCS1_2048_SHA256',
  'RSA_SIGN_PKCS1_3072_SHA256',
  'RSA_SIGN_PKCS1_4096_SHA256',
  'RSA_SIGN_PKCS1_4096_SHA512',
  'ECDSA_P256_SHA256',
  'ECDSA_P384_SHA384',
  'ECDSA_P521_SHA512',
  'ED25519',
] as const;
export type SignatureAlgorithm = (typeof SIGNATURE_ALGORITHMS)[number];

/** Aliases Binary Authorization (and Cloud KMS) accept for the same algorithms. */
export const SIGNATURE_ALGORITHM_ALIASES: Readonly<Record<string, SignatureAlgorithm>> = Object.freeze({
  EC_SIGN_P256_SHA256: 'ECDSA_P256_SHA256',
  EC_SIGN_P384_SHA384: 'ECDSA_P384_SHA384',
  EC_SIGN_P521_SHA512: 'ECDSA_P521_SHA512',
  RSA_SIGN_PSS_2048_SHA256: 'RSA_PSS_2048_SHA256',
  RSA_SIGN_PSS_3072_SHA256: 'RSA_PSS_3072_SHA256',
  RSA_SIGN_PSS_4096_SHA256: 'RSA_PSS_4096_SHA256',
  RSA_SIGN_PSS_4096_SHA512: 'RSA_PSS_4096_SHA512',
});

/** What a key must look like for an algorithm, and how to verify with it. */
export type AlgorithmSpec =
  | { readonly family: 'rsa-pss' | 'rsa-pkcs1'; readonly hash: 'sha256' | 'sha512'; readonly bits: number }
  | { readonly family: 'ecdsa'; readonly hash: 'sha256' | 'sha384' | 'sha512'; readonly curve: string }
  | { readonly family: 'ed25519' };

const SPECS: Readonly<Record<SignatureAlgorithm, AlgorithmSpec>> = Object.freeze({
  RSA_PSS_2048_SHA256: { family: 'rsa-pss', hash: 'sha256', bits: 2048 },
  RSA_PSS_3072_SHA256: { family: 'rsa-pss', hash: 'sha256', bits: 3072 },
  RSA_PSS_4096_SHA256: { family: 'rsa-pss', hash: 'sha256', bits: 4096 },
  RSA_PSS_4096_SHA512: { family: 'rsa-pss', hash: 'sha512', bits: 4096 },
  RSA_SIGN_PKCS1_2048_SHA256: { family: 'rsa-pkcs1', hash: 'sha256', bits: 2048 },
  RSA_SIGN_PKCS1_3072_SHA256: { family: 'rsa-pkcs1', hash: 'sha256', bits: 3072 },
  RSA_SIGN_PKCS1_4096_SHA256: { family: 'rsa-pkcs1', hash: 'sha256', bits: 4096 },
  RSA_SIGN_PKCS1_4096_SHA512: { family: 'rsa-pkcs1', hash: 'sha512', bits: 4096 },
  ECDSA_P256_SHA256: { family: 'ecdsa', hash: 'sha256', curve: 'prime256v1' },
  ECDSA_P384_SHA384: { family: 'ecdsa', hash: 'sha384', curve: 'secp384r1' },
  ECDSA_P521_SHA512: { family: 'ecdsa', hash: 'sha512', curve: 'secp521r1' },
  ED25519: { family: 'ed25519' },
});

/** Canonical algorithm for a name or alias; undefined when unknown (callers fail closed). */
export function toSignatureAlgorithm(name: string): SignatureAlgorithm | undefined {
  if ((SIGNATURE_ALGORITHMS as readonly string[]).includes(name)) return name as SignatureAlgorithm;
  return Object.hasOwn(SIGNATURE_ALGORITHM_ALIASES, name) ? SIGNATURE_ALGORITHM_ALIASES[name] : undefined;
}

/** Key shape and hash for a canonical algorithm. */
export function algorithmSpec(algorithm: SignatureAlgorithm): AlgorithmSpec {
  return SPECS[algorithm];
}
