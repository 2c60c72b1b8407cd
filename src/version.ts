/** criguard's version, injected at bundle time by scripts/build.mjs; "dev" when run from source. */
declare const __CRIGUARD_VERSION__: string | undefined;
export const criguardVersion: string =
  typeof __CRIGUARD_VERSION__ === 'string' ? __CRIGUARD_VERSION__ : 'dev';
