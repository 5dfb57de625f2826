/**
 * Reads a Dockerfile for engine-less assembly: a base image plus files copied in and config set.
 * Only FROM (one stage), ARG, COPY, ENV, WORKDIR, USER, EXPOSE, LABEL, CMD and ENTRYPOINT are
 * assembled; anything else goes through the container engine, and the reason names the line.
 */

export interface CopyStep {
  kind: 'copy';
  /** Paths inside the build context ("/" separators, no leading "./"). */
  sources: string[];
  /** Absolute destination; ends with "/" when it is a folder. */
  dest: string;
  /** Numeric owner, default 0:0 (as COPY does). */
  uid: number;
  gid: number;
  /** --chmod, when given. */
  mode?: number;
  /** The instruction as written, for the image history. */
  text: string;
}

export interface ConfigStep {
  kind: 'env' | 'workdir' | 'user' | 'expose' | 'label' | 'cmd' | 'entrypoint';
  /** env/label: pairs; expose: ports ("8080/tcp"); cmd/entrypoint: argv; workdir/user: one value. */
  values: string[];
  pairs?: [string, string][];
  text: string;
}

export type Step = CopyStep | ConfigStep;

export interface AssemblyPlan {
  kind: 'assemble';
  /** The base image reference, build args applied. */
  base: string;
  steps: Step[];
}

export interface EnginePlan {
  kind: 'engine';
  /** One line saying why the engine builds this image. */
  reason: string;
}

export type DockerfilePlan = AssemblyPlan | EnginePlan;

const ASSEMBLED = 'FROM, ARG, COPY, ENV, WORKDIR, USER, EXPOSE, LABEL, CMD, ENTRYPOINT';

interface Line {
  /** 1-based line number where the instruction starts. */
  n: number;
  keyword: string;
  rest: string;
  text: string;
}

/** Joins continuation lines, drops comments and blank lines. */
export function instructions(dockerfile: string): Line[] {
  const out: Line[] = [];
  const lines = dockerfile.split(/\r?\n/);
  let buf = '';
  let start = 0;
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i];
    const trimmed = raw.trim();
    if (!buf && (trimmed === '' || trimmed.startsWith('#'))) continue;
    // A comment line inside a continued instruction is skipped, as Docker does.
    if (buf && trimmed.startsWith('#')) continue;
    if (!buf) start = i + 1;
    if (/\\\s*$/.test(raw)) {
      buf += raw.replace(/\\\s*$/, '') + ' ';
      continue;
    }
    buf += raw;
    const m = /^\s*([A-Za-z]+)(?:\s+([\s\S]*))?$/.exec(buf);
    const text = buf.trim().replace(/\s+/g, ' ');
    if (m) out.push({ n: start, keyword: m[1].toUpperCase(), rest: (m[2] ?? '').trim(), text });
    else out.push({ n: start, keyword: '', rest: buf.trim(), text });
    buf = '';
  }
  if (buf.trim()) {
    const m = /^\s*([A-Za-z]+)(?:\s+([\s\S]*))?$/.exec(buf);
    out.push({
      n: start,
      keyword: m ? m[1].toUpperCase() : '',
      rest: (m?.[2] ?? '').trim(),
      text: buf.trim(),
    });
  }
  return out;
}

/** `${A}`, `$A`, `${A:-default}`, `${A:+alt}` with the variables known at that point. */
export function substitute(text: string, vars: Record<string, string>): string {
  return text.replace(
    /\\\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::([-+])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g,
    (all, braced: string, op: string, word: string, bare: string) => {
      if (all === '\\$') return '$';
      const name = braced ?? bare;
      const value = vars[name];
      if (op === '-') return value ? value : word;
      if (op === '+') return value ? word : '';
      return value ?? '';
    },
  );
}

/** Splits words, honouring double and single quotes and backslash escapes. */
export function words(text: string): string[] {
  const out: string[] = [];
  let cur = '';
  let has = false;
  let quote: string | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quote) {
      if (c === quote) quote = undefined;
      else if (c === '\\' && quote === '"' && i + 1 < text.length) cur += text[++i];
      else cur += c;
    } else if (c === '"' || c === "'") {
      quote = c;
      has = true;
    } else if (c === '\\' && i + 1 < text.length) {
      cur += text[++i];
      has = true;
    } else if (/\s/.test(c)) {
      if (has || cur) out.push(cur);
      cur = '';
      has = false;
    } else {
      cur += c;
    }
  }
  if (has || cur) out.push(cur);
  return out;
}

/** `K=V K2="v 2"` or the older `K V...` form. */
function pairs(rest: string, legacy: boolean): [string, string][] | undefined {
  const ws = words(rest);
  if (ws.length === 0) return undefined;
  if (legacy && !ws[0].includes('=')) {
    const m = /^(\S+)\s+([\s\S]*)$/.exec(rest.trim());
    if (!m) return undefined;
    return [[m[1], words(m[2]).join(' ')]];
  }
  const out: [string, string][] = [];
  for (const w of ws) {
    const eq = w.indexOf('=');
    if (eq <= 0) return undefined;
    out.push([w.slice(0, eq), w.slice(eq + 1)]);
  }
  return out;
}

/** The JSON form (`["a", "b"]`), else undefined. */
function jsonArray(rest: string): string[] | undefined {
  if (!rest.startsWith('[')) return undefined;
  try {
    const v = JSON.parse(rest) as unknown;
    if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v;
  } catch {
    // not JSON: the shell form
  }
  return undefined;
}

function normalizeSource(src: string): string | undefined {
  if (/[*?[]/.test(src)) return undefined;
  const parts = src.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) return undefined;
  return parts.join('/');
}

function joinPath(dir: string, path: string): string {
  const abs = path.startsWith('/') ? path : `${dir.replace(/\/$/, '')}/${path}`;
  const trailing = /\/$|\/\.$|^\.$/.test(path) || path === '';
  const parts: string[] = [];
  for (const p of abs.split('/')) {
    if (p === '' || p === '.') continue;
    if (p === '..') parts.pop();
    else parts.push(p);
  }
  const joined = '/' + parts.join('/');
  return trailing && joined !== '/' ? joined + '/' : joined;
}

/**
 * Decides how an image is made from its Dockerfile and build args: assembled (the plan), or by the
 * engine (the reason, naming the line).
 */
export function planDockerfile(
  dockerfile: string,
  buildArgs: Record<string, string>,
): DockerfilePlan {
  const engine = (n: number, why: string): EnginePlan => ({
    kind: 'engine',
    reason: `line ${n}: ${why}`,
  });
  // Parser directives sit in the comment lines before the first instruction.
  for (const line of dockerfile.split(/\r?\n/)) {
    if (!/^\s*#/.test(line)) break;
    const escape = /^\s*#\s*escape\s*=\s*(\S)/i.exec(line);
    if (escape && escape[1] !== '\\') return engine(1, `"# escape=${escape[1]}" is not assembled`);
  }

  const globalArgs: Record<string, string> = {};
  const vars: Record<string, string> = {};
  let base: string | undefined;
  let workdir = '/';
  const steps: Step[] = [];
  for (const ins of instructions(dockerfile)) {
    const { n, keyword, rest, text } = ins;
    if (keyword === 'ARG') {
      const m = /^([A-Za-z_][A-Za-z0-9_]*)(?:=([\s\S]*))?$/.exec(rest);
      if (!m) return engine(n, `ARG "${rest}" is not one NAME[=default]`);
      const scope = base === undefined ? globalArgs : vars;
      const fallback =
        m[2] !== undefined ? words(substitute(m[2], scope)).join(' ') : globalArgs[m[1]];
      const value = buildArgs[m[1]] ?? fallback;
      if (value !== undefined) scope[m[1]] = value;
      continue;
    }
    if (keyword === 'FROM') {
      if (base !== undefined) return engine(n, 'a second FROM (a multi-stage build)');
      const ws = words(rest);
      if (ws.some((w) => w.startsWith('--')))
        return engine(n, `FROM with ${ws.find((w) => w.startsWith('--'))}`);
      if (ws.length !== 1 && !(ws.length === 3 && ws[1].toUpperCase() === 'AS'))
        return engine(n, `FROM "${rest}" is not one image`);
      base = substitute(ws[0], globalArgs);
      if (!base) return engine(n, `FROM ${ws[0]}: the build arg is empty`);
      if (base === 'scratch') return engine(n, 'FROM scratch');
      continue;
    }
    if (base === undefined) return engine(n, `${keyword || text} before FROM`);
    const sub = (s: string) => substitute(s, vars);
    switch (keyword) {
      case 'COPY': {
        const json = jsonArray(rest);
        const ws = json ?? words(rest);
        let uid = 0;
        let gid = 0;
        let mode: number | undefined;
        const args: string[] = [];
        for (const w of ws) {
          if (!json && w.startsWith('--') && args.length === 0) {
            const chown = /^--chown=(\d+)(?::(\d+))?$/.exec(sub(w));
            const chmod = /^--chmod=([0-7]{3,4})$/.exec(sub(w));
            if (chown) {
              uid = Number(chown[1]);
              gid = Number(chown[2] ?? chown[1]);
            } else if (chmod) mode = parseInt(chmod[1], 8);
            else
              return engine(
                n,
                `COPY ${w.split('=')[0]}${w.startsWith('--chown') ? ' with a user name (numeric ids are assembled)' : ''}`,
              );
          } else args.push(json ? w : sub(w));
        }
        if (args.length < 2) return engine(n, `COPY "${rest}" needs a source and a destination`);
        const dest = args[args.length - 1];
        const sources: string[] = [];
        for (const s of args.slice(0, -1)) {
          if (/^[a-z]+:\/\//i.test(s)) return engine(n, `COPY of a URL`);
          const src = normalizeSource(s);
          if (src === undefined) return engine(n, `COPY source "${s}" (wildcards, ..)`);
          sources.push(src);
        }
        const many = sources.length > 1;
        let to = joinPath(workdir, dest);
        if (many && !to.endsWith('/')) to += '/';
        steps.push({ kind: 'copy', sources, dest: to, uid, gid, mode, text });
        continue;
      }
      case 'ENV': {
        const ps = pairs(rest, true);
        if (!ps) return engine(n, `ENV "${rest}" is not KEY=value`);
        const resolved: [string, string][] = ps.map(([k, v]) => [k, sub(v)]);
        for (const [k, v] of resolved) vars[k] = v;
        steps.push({ kind: 'env', values: [], pairs: resolved, text });
        continue;
      }
      case 'LABEL': {
        const ps = pairs(rest, true);
        if (!ps) return engine(n, `LABEL "${rest}" is not key=value`);
        steps.push({
          kind: 'label',
          values: [],
          pairs: ps.map(([k, v]) => [sub(k), sub(v)]),
          text,
        });
        continue;
      }
      case 'WORKDIR': {
        const dir = sub(words(rest).join(' '));
        if (!dir) return engine(n, 'WORKDIR without a folder');
        workdir = joinPath(workdir, dir).replace(/(.)\/$/, '$1');
        steps.push({ kind: 'workdir', values: [workdir], text });
        continue;
      }
      case 'USER': {
        const user = sub(words(rest).join(' '));
        if (!user) return engine(n, 'USER without a user');
        steps.push({ kind: 'user', values: [user], text });
        continue;
      }
      case 'EXPOSE': {
        const ports: string[] = [];
        for (const w of words(sub(rest))) {
          const m = /^(\d+)(?:\/(tcp|udp|sctp))?$/i.exec(w);
          if (!m) return engine(n, `EXPOSE ${w} (a port range or not a port)`);
          ports.push(`${m[1]}/${(m[2] ?? 'tcp').toLowerCase()}`);
        }
        steps.push({ kind: 'expose', values: ports, text });
        continue;
      }
      case 'CMD':
      case 'ENTRYPOINT': {
        const argv = jsonArray(rest) ?? ['/bin/sh', '-c', rest];
        steps.push({
          kind: keyword === 'CMD' ? 'cmd' : 'entrypoint',
          values: argv,
          text,
        });
        continue;
      }
      case 'RUN':
        return engine(n, 'RUN needs a container');
      case 'ADD':
        return engine(n, 'ADD (a URL or an archive to unpack)');
      default:
        return engine(n, `${keyword || text} (assembled: ${ASSEMBLED})`);
    }
  }
  if (base === undefined) return { kind: 'engine', reason: 'no FROM' };
  return { kind: 'assemble', base, steps };
}
