/**
 * A small code highlighter for fenced blocks: keywords, strings, comments
 * and numbers for the languages chat answers use most. It splits the text
 * into tokens; the view makes spans with text nodes, so code is never HTML.
 * Unknown languages get strings, numbers and the comments of the C family
 * and of the shell when the text looks like one of them.
 */
export type TokKind = 'kw' | 'str' | 'com' | 'num' | 'text';
export interface Tok {
  k: TokKind;
  v: string;
}

interface Lang {
  kw: Set<string>;
  line: string[]; // line comment starts
  block: [string, string] | null;
  quotes: string;
  triple: boolean; // python's """ and '''
}

const words = (s: string) => new Set(s.split(' '));
const C_KW =
  'auto break case char const continue default do double else enum extern float for goto if inline int long register return short signed sizeof static struct switch typedef union unsigned void volatile while bool true false NULL nullptr class namespace template typename public private protected virtual override new delete this using include define';
const JS_KW =
  'async await break case catch class const continue debugger default delete do else export extends false finally for from function if import in instanceof let new null of return static super switch this throw true try typeof undefined var void while yield interface type enum implements readonly as';
const PY_KW =
  'False None True and as assert async await break class continue def del elif else except finally for from global if import in is lambda nonlocal not or pass raise return try while with yield self print';
const RS_KW =
  'as async await break const continue crate dyn else enum extern false fn for if impl in let loop match mod move mut pub ref return self Self static struct super trait true type unsafe use where while Some None Ok Err';
const GO_KW =
  'break case chan const continue default defer else fallthrough for func go goto if import interface map package range return select struct switch type var nil true false';
const JAVA_KW =
  'abstract boolean break byte case catch char class const continue default do double else enum extends final finally float for if implements import instanceof int interface long new null package private protected public return short static super switch this throw throws try void while true false';
const SH_KW = 'if then else elif fi for while do done case esac in function return export local echo exit';
const SQL_KW =
  'select from where and or not insert into values update set delete create table index drop alter join left right inner outer on group by order having limit offset as null is primary key references default begin commit';

const LANGS: Record<string, Lang> = {
  c: { kw: words(C_KW), line: ['//'], block: ['/*', '*/'], quotes: `"'`, triple: false },
  js: { kw: words(JS_KW), line: ['//'], block: ['/*', '*/'], quotes: `"'\``, triple: false },
  py: { kw: words(PY_KW), line: ['#'], block: null, quotes: `"'`, triple: true },
  rs: { kw: words(RS_KW), line: ['//'], block: ['/*', '*/'], quotes: `"`, triple: false },
  go: { kw: words(GO_KW), line: ['//'], block: ['/*', '*/'], quotes: `"'\``, triple: false },
  java: { kw: words(JAVA_KW), line: ['//'], block: ['/*', '*/'], quotes: `"'`, triple: false },
  sh: { kw: words(SH_KW), line: ['#'], block: null, quotes: `"'`, triple: false },
  sql: { kw: words(SQL_KW), line: ['--'], block: ['/*', '*/'], quotes: `'"`, triple: false },
  json: { kw: words('true false null'), line: [], block: null, quotes: `"`, triple: false },
};

const ALIASES: Record<string, string> = {
  c: 'c', h: 'c', cpp: 'c', 'c++': 'c', cc: 'c', cxx: 'c', hpp: 'c', cs: 'java', csharp: 'java',
  js: 'js', javascript: 'js', jsx: 'js', ts: 'js', typescript: 'js', tsx: 'js', mjs: 'js',
  py: 'py', python: 'py', python3: 'py',
  rs: 'rs', rust: 'rs',
  go: 'go', golang: 'go',
  java: 'java', kotlin: 'java', kt: 'java', swift: 'java',
  sh: 'sh', bash: 'sh', shell: 'sh', zsh: 'sh', console: 'sh',
  sql: 'sql', json: 'json',
};

/** The language table for a fence's info word, or null when we do not know it. */
export function langOf(name: string): string | null {
  return ALIASES[name.toLowerCase()] ?? null;
}

export function highlight(code: string, lang: string): Tok[] {
  const key = langOf(lang);
  const L = key ? LANGS[key]! : null;
  const line = L ? L.line : ['//', '#'];
  const block = L ? L.block : (['/*', '*/'] as [string, string]);
  const quotes = L ? L.quotes : `"'`;
  const out: Tok[] = [];
  const push = (k: TokKind, v: string) => {
    const last = out[out.length - 1];
    if (last && last.k === k && k === 'text') last.v += v;
    else out.push({ k, v });
  };
  let i = 0;
  const n = code.length;
  while (i < n) {
    const ch = code[i]!;
    // comments
    if (block && code.startsWith(block[0], i)) {
      const end = code.indexOf(block[1], i + block[0].length);
      const stop = end < 0 ? n : end + block[1].length;
      push('com', code.slice(i, stop));
      i = stop;
      continue;
    }
    const lc = line.find((s) => code.startsWith(s, i));
    // '#' starts a comment only at a line start or after a space (not "$#" or "a#b")
    if (lc && (lc !== '#' || i === 0 || /\s/.test(code[i - 1]!))) {
      const end = code.indexOf('\n', i);
      const stop = end < 0 ? n : end;
      push('com', code.slice(i, stop));
      i = stop;
      continue;
    }
    // strings
    if (quotes.includes(ch)) {
      if (L?.triple && code.startsWith(ch.repeat(3), i)) {
        const end = code.indexOf(ch.repeat(3), i + 3);
        const stop = end < 0 ? n : end + 3;
        push('str', code.slice(i, stop));
        i = stop;
        continue;
      }
      let j = i + 1;
      while (j < n && code[j] !== ch) {
        if (code[j] === '\\') j++;
        else if (code[j] === '\n' && ch !== '`') break; // an unclosed quote ends at the line
        j++;
      }
      const stop = Math.min(n, j + 1);
      push('str', code.slice(i, stop));
      i = stop;
      continue;
    }
    // numbers (not inside a word)
    if (/[0-9]/.test(ch) && (i === 0 || !/[\w$]/.test(code[i - 1]!))) {
      const m = /^(0[xX][0-9a-fA-F_]+|0[bB][01_]+|\d[\d_]*(\.\d+)?([eE][+-]?\d+)?)[a-zA-Z]*/.exec(code.slice(i, i + 64))!;
      push('num', m[0]);
      i += m[0].length;
      continue;
    }
    // words
    if (/[A-Za-z_$]/.test(ch)) {
      let j = i + 1;
      while (j < n && /[\w$]/.test(code[j]!)) j++;
      const w = code.slice(i, j);
      const isKw = L ? L.kw.has(key === 'sql' ? w.toLowerCase() : w) : false;
      push(isKw ? 'kw' : 'text', w);
      i = j;
      continue;
    }
    push('text', ch);
    i++;
  }
  return out;
}
