import type { FrameSplitter, FrameView } from './frames.js';

/** Where forwarded frames are written: a socket, or anything with its cork/write/uncork. */
export interface FrameSink {
  cork(): void;
  write(bytes: Buffer): unknown;
  uncork(): void;
}

/** The socket side of backpressure: a readable that can stop and resume. */
export interface Pausable {
  isPaused(): boolean;
  pause(): unknown;
  resume(): unknown;
}

/**
 * Splits `chunk` into frames; consecutive frames `isRaw` accepts are written to `target` as one slice
 * of the read buffer (the bytes as they arrived), the others go to `special` in order. Writes are corked
 * so one read gives one writev. `isRaw` may act on the frame (it is called exactly once per frame).
 */
export function pumpFrames(
  splitter: FrameSplitter,
  chunk: Buffer,
  target: FrameSink,
  isRaw: (frame: FrameView) => boolean,
  special: (frame: FrameView) => void,
): void {
  let runBuffer: Buffer | undefined;
  let runStart = 0;
  let runEnd = 0;
  target.cork();
  try {
    splitter.push(chunk, (buffer, frame) => {
      if (isRaw(frame)) {
        if (runBuffer !== buffer || runEnd !== frame.start) {
          if (runBuffer) target.write(runBuffer.subarray(runStart, runEnd));
          runBuffer = buffer;
          runStart = frame.start;
        }
        runEnd = frame.end;
        return;
      }
      if (runBuffer) target.write(runBuffer.subarray(runStart, runEnd));
      runBuffer = undefined;
      special(frame);
    });
    if (runBuffer) target.write(runBuffer.subarray(runStart, runEnd));
  } finally {
    target.uncork();
  }
}

/** Pauses or resumes `socket` reading, doing nothing when it already is in that state. */
export function setPaused(socket: Pausable, paused: boolean): void {
  if (paused && !socket.isPaused()) socket.pause();
  else if (!paused && socket.isPaused()) socket.resume();
}
