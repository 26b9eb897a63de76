import { describe, expect, it } from 'vitest';
import { highlight, langOf } from './highlight';

const kinds = (code: string, lang: string) => highlight(code, lang).filter((t) => t.k !== 'text').map((t) => `${t.k}:${t.v}`);

describe('highlight', () => {
  it('keeps every character, in order', () => {
    for (const [code, lang] of [
      ['int main(void) { return 0; /* done */ }', 'c'],
      ['def f(x):\n    """doc"""\n    return x  # same\n', 'python'],
      ['echo "$HOME" # home\nls -l', 'bash'],
      ['unterminated "string\nnext', 'js'],
      ['/* open comment', 'rust'],
      ['anything at all 12 "q"', 'nosuch'],
    ] as const)
      expect(highlight(code, lang).map((t) => t.v).join('')).toBe(code);
  });
  it('finds keywords, strings, comments and numbers', () => {
    expect(kinds('const x = "a\\"b"; // c\nlet y = 0x1F;', 'ts')).toEqual(['kw:const', 'str:"a\\"b"', 'com:// c', 'kw:let', 'num:0x1F']);
    expect(kinds("def f():\n    return 'x' # c", 'py')).toEqual(['kw:def', 'kw:return', "str:'x'", 'com:# c']);
    expect(kinds('fn main() { let v2 = 3.5; }', 'rust')).toEqual(['kw:fn', 'kw:let', 'num:3.5']);
    expect(kinds('SELECT id FROM t -- all', 'sql')).toEqual(['kw:SELECT', 'kw:FROM', 'com:-- all']);
  });
  it('does not take "#" inside a word or "$#" for a comment', () => {
    expect(kinds('echo $# a#b', 'sh')).toEqual(['kw:echo']);
  });
  it('knows the usual names', () => {
    expect(langOf('TypeScript')).toBe('js');
    expect(langOf('c++')).toBe('c');
    expect(langOf('brainfuck')).toBeNull();
  });
});
