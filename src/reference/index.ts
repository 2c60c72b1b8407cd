export { parseDigest, isDigest } from './digest.js';
export type { Digest } from './digest.js';
export { InvalidReferenceError } from './errors.js';
export type { ReferenceErrorCode, ReferenceRejection } from './errors.js';
export {
  parseImageReference,
  parseImageIdentity,
  normaliseRepositoryName,
  MAX_NAME_LENGTH,
  MAX_REFERENCE_LENGTH,
} from './image-reference.js';
export type { ImageIdentity, ImageReference } from './image-reference.js';
