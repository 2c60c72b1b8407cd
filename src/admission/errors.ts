import { CriguardError } from '../errors/criguard-error.js';

/** Stable codes admission itself raises (the rest reach it from the registry, evidence and containerd). */
export type AdmissionErrorCode =
  /** Outside work did not answer within the decision's time budget. */
  | 'CG_ERR_TIMEOUT'
  /** The client went away before the decision was made. */
  | 'CG_ERR_CANCELLED'
  /** Every verification slot was taken and the queue full, or the budget ran out waiting for a slot. */
  | 'CG_ERR_VERIFY_BUSY'
  /** A container asked for more images than one decision judges. */
  | 'CG_ERR_TOO_MANY_IMAGES'
  /** CreateContainer named its image by something other than an image id. */
  | 'CG_ERR_IMAGE_NOT_CONTENT_ADDRESSED'
  /** containerd holds no such image. */
  | 'CG_ERR_IMAGE_NOT_PRESENT'
  /** containerd answered another image than the id asked for. */
  | 'CG_ERR_IMAGE_ID_MISMATCH'
  /** The image carries no registry digest to judge. */
  | 'CG_ERR_NO_REGISTRY_DIGEST'
  /** After PullImage, containerd does not hold the judged digest under the judged name. */
  | 'CG_ERR_PULLED_DIGEST_MISMATCH'
  /** After PullImage, containerd took another platform's image than the judged platform manifest. */
  | 'CG_ERR_PULLED_PLATFORM_MISMATCH'
  /** The resolved digest is on the node's quarantine list: not worth verifying, refused by admitPull. */
  | 'CG_ERR_QUARANTINED';

/** A failure admission names itself; `undecided.ts` settles it like any other coded error. */
export class AdmissionError extends CriguardError<AdmissionErrorCode> {
  constructor(code: AdmissionErrorCode, message: string) {
    super(code, message);
    this.name = 'AdmissionError';
  }
}
