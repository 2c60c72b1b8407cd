#!/usr/bin/env node
// Docs that do not dangle. Checks, without dependencies:
//  1. every relative Markdown link `[text](path)` / `[text](path#anchor)` / `[text](#anchor)` in
//     README.md, CHANGELOG.md and docs/**/*.md names an existing file, and its anchor a heading of that
//     file (GitHub's slug rules);
//  2. every `docs/....md` path written in plain text in src/**/*.ts, systemd/*, deploy/** and docs/**
//     names an existing file, and every "ADR NNNN" written there names an ADR in docs/adr/.
// Prints each dangling reference as file:line and exits 1 if there is any.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** Every file under `dir` (relative to the repository root) whose name passes `keep`. */
function walk(dir, keep) {
  const abs = join(root, dir);
  if (!existsSync(abs)) return [];
  if (statSync(abs).isFile()) return keep(dir) ? [dir] : [];
  return readdirSync(abs, { withFileTypes: true }).flatMap((entry) => {
    if (entry.name === 'node_modules' || entry.name.startsWith('.')) return [];
    const path = join(dir, entry.name);
    return entry.isDirectory() ? walk(path, keep) : keep(path) ? [path] : [];
  });
}

/** GitHub's heading anchor: lower case, punctuation dropped, spaces to hyphens; repeats get -1, -2. */
function slugs(markdown) {
  const seen = new Map();
  const out = new Set();
  let fenced = false;
  for (const line of markdown.split('\n')) {
    if (/^\s*(```|~~~)/.test(line)) fenced = !fenced;
    if (fenced) continue;
    const m = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (!m) continue;
    const text = m[1]
      .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1') // links keep their text
      .replace(/<[^>]+>/g, '') // inline HTML
      .replace(/[*_`~]/g, (c) => (c === '_' ? '_' : ''));
    const base = text
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/ /g, '-');
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  }
  return out;
}

const slugCache = new Map();
function anchorsOf(file) {
  if (!slugCache.has(file)) slugCache.set(file, slugs(readFileSync(join(root, file), 'utf8')));
  return slugCache.get(file);
}

const problems = [];
const report = (file, index, text, message) => {
  const line = text.slice(0, index).split('\n').length;
  problems.push(`${file}:${line}: ${message}`);
};

// 1. Markdown links.
const markdown = ['README.md', 'CHANGELOG.md', ...walk('docs', (p) => p.endsWith('.md'))].filter((f) =>
  existsSync(join(root, f)),
);
for (const file of markdown) {
  const text = readFileSync(join(root, file), 'utf8');
  // Blank out fenced code blocks and inline code so examples are not taken for links.
  const prose = text
    .replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, (block) => block.replace(/[^\n]/g, ' '))
    .replace(/`[^`\n]*`/g, (code) => ' '.repeat(code.length));
  for (const m of prose.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) {
    const target = m[1];
    if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto:, ...
    const [pathPart, anchor] = target.split('#', 2);
    const path = decodeURIComponent(pathPart);
    const linked = path === '' ? file : relative(root, resolve(root, dirname(file), path));
    if (!existsSync(join(root, linked))) {
      report(file, m.index, text, `link to missing file ${target}`);
      continue;
    }
    if (anchor !== undefined && anchor !== '' && linked.endsWith('.md')) {
      if (!anchorsOf(linked).has(decodeURIComponent(anchor).toLowerCase())) {
        report(file, m.index, text, `link to missing heading ${target}`);
      }
    }
  }
}

// 2. docs/ paths and ADR numbers written in plain text (comments, units, manifests, prose).
const adrs = new Set(
  walk('docs/adr', (p) => /\/\d{4}-[^/]*\.md$/.test(p)).map((p) => /(\d{4})-[^/]*$/.exec(p)[1]),
);
const mentioning = [
  'README.md',
  'CHANGELOG.md',
  ...walk('src', (p) => p.endsWith('.ts')),
  ...walk('systemd', () => true),
  ...walk('deploy', () => true),
  ...walk('docs', () => true),
].filter((f) => existsSync(join(root, f)));
for (const file of mentioning) {
  const text = readFileSync(join(root, file), 'utf8');
  for (const m of text.matchAll(/(?<![\w./-])docs\/[\w./-]*?[\w-]+\.md\b/g)) {
    if (!existsSync(join(root, m[0]))) report(file, m.index, text, `mentions missing file ${m[0]}`);
  }
  for (const m of text.matchAll(/\bADR[\s-]+(\d{4})\b/g)) {
    if (!adrs.has(m[1])) report(file, m.index, text, `mentions missing ADR ${m[1]}`);
  }
}

if (problems.length > 0) {
  console.error(`check-links: ${problems.length} dangling reference(s):\n  ${problems.join('\n  ')}`);
  process.exit(1);
}
console.log(
  `check-links: ${markdown.length} Markdown files and ${mentioning.length} files checked, no dangling references`,
);
