import { describe, expect, it } from 'vitest';
import { parseMarkdown, toHTML } from './markdown';

const html = (s: string) => toHTML(parseMarkdown(s));

describe('markdown', () => {
  it('renders the common constructs', () => {
    expect(html('# Title\n\nSome **bold** and *it* and `x<y`.')).toBe(
      '<h1>Title</h1><p>Some <strong>bold</strong> and <em>it</em> and <code>x&lt;y</code>.</p>',
    );
    expect(html('- a\n- b\n\n1. one\n2. two')).toBe('<ul><li>a</li><li>b</li></ul><ol start="1"><li>one</li><li>two</li></ol>');
    expect(html('```c\nint main() { return 1 < 2; }\n```\nafter')).toBe(
      '<pre><code>int main() { return 1 &lt; 2; }</code></pre><p>after</p>',
    );
    expect(html('> quoted')).toBe('<blockquote><p>quoted</p></blockquote>');
  });

  it('treats an unterminated fence as code to the end (streaming)', () => {
    expect(html('```\nlet x = "<b>"')).toBe('<pre><code>let x = &quot;&lt;b&gt;&quot;</code></pre>');
  });

  it('never lets markup through', () => {
    const evil = [
      '<script>alert(1)</script>',
      '<img src=x onerror=alert(1)>',
      '**<svg onload=alert(1)>**',
      '[click](javascript:alert(1))',
      '[x](data:text/html,<script>alert(1)</script>)',
      '`</code><script>alert(1)</script>`',
    ];
    for (const e of evil) {
      const out = html(e);
      expect(out).not.toMatch(/<script|<img|<svg|javascript:|href="data:/i);
    }
    expect(html('<img src=x onerror=alert(1)>')).toBe('<p>&lt;img src=x onerror=alert(1)&gt;</p>');
  });

  it('keeps safe links and drops unsafe targets but keeps their words', () => {
    expect(html('[docs](https://example.com/a)')).toBe('<p><a href="https://example.com/a">docs</a></p>');
    expect(html('[bad](javascript:alert(1))')).toBe('<p>bad</p>');
  });
});

describe('tables and headings', () => {
  it('turns GitHub pipe tables into tables', () => {
    const md = 'Sizes:\n\n| a | b |\n|:--|--:|\n| 1 | **2** |\n| x \\| y |\n';
    expect(toHTML(parseMarkdown(md))).toBe(
      '<p>Sizes:</p><table><thead><tr><th>a</th><th>b</th></tr></thead><tbody><tr><td>1</td><td><strong>2</strong></td></tr><tr><td>x | y</td><td></td></tr></tbody></table>',
    );
    const t = parseMarkdown('a|b\n-|-\n1|2')[0]!;
    expect(t).toMatchObject({ t: 'table', align: ['', ''] });
  });
  it('leaves a pipe without a separator line as text', () => {
    expect(toHTML(parseMarkdown('a | b\nc | d'))).toBe('<p>a | b<br>c | d</p>');
  });
  it('keeps heading levels', () => {
    expect(toHTML(parseMarkdown('# One\n### Three'))).toBe('<h1>One</h1><h3>Three</h3>');
  });
});
