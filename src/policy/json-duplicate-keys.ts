/**
 * The offset of the first object key that repeats an earlier key of the same object in `text`, which must
 * be valid JSON (JSON.parse accepted it, keeping the last of duplicates silently); undefined when every
 * key is unique. Keys are compared after unescaping (`"a"` and `"\u0061"` are the same key). One pass,
 * linear in the text's length.
 */
export function firstDuplicateJsonKey(text: string): number | undefined {
  /** Per open container: the keys seen, or null for an array. */
  const stack: Array<Set<string> | null> = [];
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x7b /* { */) stack.push(new Set());
    else if (c === 0x5b /* [ */) stack.push(null);
    else if (c === 0x7d /* } */ || c === 0x5d /* ] */) stack.pop();
    else if (c === 0x22 /* " */) {
      const start = i;
      for (i++; i < text.length; i++) {
        const d = text.charCodeAt(i);
        if (d === 0x5c /* \ */) i++;
        else if (d === 0x22) break;
      }
      const keys = stack[stack.length - 1];
      if (keys === undefined || keys === null) continue;
      let j = i + 1;
      while (j < text.length && isSpace(text.charCodeAt(j))) j++;
      if (text.charCodeAt(j) !== 0x3a /* : */) continue;
      const raw = text.slice(start + 1, i);
      const key = raw.includes('\\') ? (JSON.parse(`"${raw}"`) as string) : raw;
      if (keys.has(key)) return start;
      keys.add(key);
    }
  }
  return undefined;
}

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
}
