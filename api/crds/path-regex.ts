// ServiceProfile route path regexes: how the proxy compiles them and what
// the webhook refuses. The proxy matches every request's path against these
// with JavaScript's RegExp, a backtracking engine, and the path is chosen by
// whoever sends the request. A regex that repeats something which itself
// repeats, like (a+)+ or (.*x)*, can take exponential time on a path that
// almost matches: one request could pin a proxy's CPU. So such regexes are
// refused at admission, as are backreferences (Linkerd's engine, RE2-like,
// has none either, so no Linkerd profile loses anything), and the length is
// bounded. What remains is at worst polynomial in the path length.
import { messageOf } from '../errors.ts';

export const MAX_PATH_REGEX_LENGTH = 1024;

/** The pattern as the proxy runs it: anchored, the whole path must match (as Linkerd does). */
export function compilePathRegex(source: string): RegExp {
  return new RegExp(`^(?:${source})$`);
}

interface Atom { text: string; group?: Frame }
interface Frame {
  start: number;
  first: Atom | undefined;
  /** Single-character atoms repeated inside this group. */
  repeated: Atom[];
  /** A nested group that repeats something: never provably safe. */
  nestedRepetition: boolean;
}

const newFrame = (start: number): Frame => ({ start, first: undefined, repeated: [], nestedRepetition: false });
const QUANTIFIER = /^(?:[*+?]|\{(\d+)(?:(,)(\d*))?\})/;

/** The one character an atom stands for, if it is a literal (`/`, `a`, `\.`). */
function literalChar(text: string): string | undefined {
  if (text.length === 1 && !'.^$|'.includes(text)) return text;
  if (text.length === 2 && text.startsWith('\\') && !/[0-9A-Za-z]/.test(text[1] ?? 'x')) return text[1];
  return undefined;
}

/**
 * A repeated group is unambiguous, hence linear, when it starts with a
 * literal character that none of the atoms it repeats inside can match:
 * `(/[^/]+)*` splits a path one way only. Anything else that repeats a
 * repetition is refused.
 */
function repetitionIsSafe(frame: Frame): boolean {
  if (frame.nestedRepetition || !frame.first) return false;
  const lead = literalChar(frame.first.text);
  if (lead === undefined) return false;
  return frame.repeated.every((atom) => {
    try {
      return !new RegExp(`^(?:${atom.text})$`).test(lead);
    } catch {
      return false;
    }
  });
}

/** The end of a character class starting at `i` (the index after its `]`). */
function classEnd(source: string, i: number): number {
  let j = i + 1;
  if (source[j] === '^') j++;
  if (source[j] === ']') j++;
  while (j < source.length && source[j] !== ']') j += source[j] === '\\' ? 2 : 1;
  return j + 1;
}

/** Length of a group opener: `(`, `(?:`, `(?=`, `(?<name>`, `(?i:`. */
function groupOpenerLength(source: string, i: number): number {
  if (source[i + 1] !== '?') return 1;
  const rest = source.slice(i);
  const m = /^\(\?(?:[:=!]|<[=!]|<[^>]*>|[-ims]+:)/.exec(rest);
  return m ? m[0].length : 2;
}

/** Why a regex that compiles is still unsafe to run on every request, if it is. */
function backtrackingProblem(source: string): string | undefined {
  if (/\\[1-9]|\\k</.test(source.replace(/\\\\/g, ''))) {
    return 'it uses a backreference, which makes matching exponential (and Linkerd\'s regex engine has none); write the alternatives out instead';
  }
  const stack: Frame[] = [newFrame(0)];
  let last: Atom | undefined;
  let i = 0;
  while (i < source.length) {
    const c = source[i] ?? '';
    const top = stack[stack.length - 1] ?? newFrame(0);
    const q = QUANTIFIER.exec(source.slice(i));
    if (q && last) {
      const [whole, min, comma, max] = q;
      const repeats = whole === '*' || whole === '+' || (min !== undefined && (comma !== undefined ? max === '' || Number(max) > 1 : Number(min) > 1));
      if (repeats && last.group && (last.group.nestedRepetition || last.group.repeated.length > 0) && !repetitionIsSafe(last.group)) {
        const snippet = source.slice(last.group.start, i + whole.length);
        return `"${snippet}" repeats a group that itself repeats: on a path that almost matches, the proxy's backtracking RegExp engine takes exponential time. Repeat only single characters or classes inside the group, or start the group with a character they cannot match, e.g. (/[^/]+)*`;
      }
      if (repeats && last.group) top.nestedRepetition = true;
      else if (repeats) top.repeated.push(last);
      i += whole.length + (source[i + whole.length] === '?' ? 1 : 0);
      last = undefined;
      continue;
    }
    let atom: Atom | undefined;
    if (c === '\\') {
      atom = { text: source.slice(i, i + 2) };
      i += 2;
    } else if (c === '[') {
      const end = classEnd(source, i);
      atom = { text: source.slice(i, end) };
      i = end;
    } else if (c === '(') {
      stack.push(newFrame(i));
      i += groupOpenerLength(source, i);
      last = undefined;
      continue;
    } else if (c === ')') {
      const closed = stack.pop() ?? newFrame(i);
      const parent = stack[stack.length - 1] ?? newFrame(0);
      atom = { text: source.slice(closed.start, i + 1), group: closed };
      // A group's unquantified repetitions still repeat inside any group around it.
      parent.repeated.push(...closed.repeated);
      if (closed.nestedRepetition) parent.nestedRepetition = true;
      i += 1;
      if (parent.first === undefined) parent.first = atom;
      last = atom;
      continue;
    } else if (c === '|') {
      i += 1;
      last = undefined;
      // An alternative may start with anything: the group no longer has one leading character.
      top.first = { text: '|' };
      continue;
    } else {
      atom = { text: c };
      i += 1;
    }
    if (top.first === undefined) top.first = atom;
    last = atom;
  }
  return undefined;
}

/** What is wrong with a route's pathRegex, in words a user can act on; undefined when it is fine. */
export function pathRegexProblem(source: string): string | undefined {
  if (source.length > MAX_PATH_REGEX_LENGTH) {
    return `it is ${source.length} characters long; the proxy runs it on every request, so keep it under ${MAX_PATH_REGEX_LENGTH}`;
  }
  try {
    compilePathRegex(source);
  } catch (err) {
    const why = messageOf(err);
    return `it does not compile as a JavaScript RegExp, the engine the Skein proxy matches request paths with (anchored as ^(?:...)$ so the whole path must match): ${why}`;
  }
  return backtrackingProblem(source);
}
