import { createContext } from 'preact';
import { useContext, useState } from 'preact/hooks';
import type { Block, Inline } from '../lib/markdown';
import { splitCitations } from '../lib/library';
import { splitMarks } from '../lib/memory';
import { parseMarkdown } from '../lib/markdown';
import { highlight } from '../lib/highlight';
import { copyText } from '../lib/clipboard';

const HEAD = ['text-2xl', 'text-xl', 'text-lg', 'text-base', 'text-base', 'text-sm'];
const TOK: Record<string, string> = {
  kw: 'tok-kw',
  str: 'tok-str',
  com: 'tok-com',
  num: 'tok-num',
};

/** A fenced block: highlighted, focusable (it scrolls), with a Copy button. */
function Code({ lang, code }: { lang: string; code: string }) {
  const [copied, setCopied] = useState(false);
  return (
    <div class="code relative my-2">
      <div class="flex items-center justify-between rounded-t-md bg-zinc-700 px-3 py-1 text-xs text-zinc-100">
        <span>{lang || 'code'}</span>
        <button
          type="button"
          class="rounded px-2 py-0.5 hover:bg-zinc-600 focus-visible:outline-2 focus-visible:outline-amber-400"
          aria-label={copied ? 'Code copied' : 'Copy code'}
          onClick={() => void copyText(code).then((ok) => { setCopied(ok); setTimeout(() => setCopied(false), 1500); })}
        >
          {copied ? 'Copied' : 'Copy'}
        </button>
      </div>
      <pre tabIndex={0} class="overflow-x-auto rounded-b-md bg-zinc-900 p-3 text-sm text-zinc-100 focus-visible:outline-2 focus-visible:outline-amber-400" data-lang={lang} aria-label={`${lang || 'code'} code`}>
        <code>
          {highlight(code, lang).map((t, i) => (t.k === 'text' ? t.v : <span key={i} class={TOK[t.k]}>{t.v}</span>))}
        </code>
      </pre>
    </div>
  );
}

/**
 * An answer's citations: [n] in its text, for n among its sources, becomes a
 * link to source n (the list under the answer, ids `${prefix}-${n}`).
 */
export interface Cites {
  known: Set<number>;
  prefix: string;
  go: (n: number) => void;
}
export const CiteContext = createContext<Cites | null>(null);

/** Flagged quotes of an answer, marked where they show (docs/memory.md "Ratings and assumption flags"). */
export const MarkContext = createContext<{ text: string; note: string; id: number }[] | null>(null);

function Text({ v }: { v: string }) {
  const marks = useContext(MarkContext);
  if (!marks || marks.length === 0) return <Cited v={v} />;
  return (
    <>
      {splitMarks(v, marks).map((p, i) =>
        p.t === 'text' ? (
          <Cited key={i} v={p.v} />
        ) : (
          <mark key={i} class="flag rounded bg-amber-200 px-0.5 text-zinc-900 dark:bg-amber-700 dark:text-white" data-flag={p.id} title={p.note ? `Assumption: ${p.note}` : 'Assumption'}>
            <Cited v={p.v} />
          </mark>
        ),
      )}
    </>
  );
}

function Cited({ v }: { v: string }) {
  const cites = useContext(CiteContext);
  if (!cites || cites.known.size === 0 || !v.includes('[')) return <>{v}</>;
  return (
    <>
      {splitCitations(v, cites.known).map((p, i) =>
        p.t === 'text' ? (
          p.v
        ) : (
          <a
            key={i}
            href={`#${cites.prefix}-${p.n}`}
            class="cite rounded px-0.5 font-mono text-[0.85em] text-amber-900 underline dark:text-amber-200"
            title={`Source ${p.n}`}
            onClick={(e) => {
              e.preventDefault();
              cites.go(p.n);
            }}
          >
            [{p.n}]
          </a>
        ),
      )}
    </>
  );
}

/* Elements and text nodes only: model output is never handed to innerHTML. */
function Inl({ c }: { c: Inline[] }) {
  return (
    <>
      {c.map((n, i) => {
        switch (n.t) {
          case 'text':
            return <Text key={i} v={n.v} />;
          case 'code':
            return (
              <code key={i} class="rounded bg-black/10 px-1 font-mono text-[0.9em] dark:bg-white/10">
                {n.v}
              </code>
            );
          case 'b':
            return (
              <strong key={i}>
                <Inl c={n.c} />
              </strong>
            );
          case 'i':
            return (
              <em key={i}>
                <Inl c={n.c} />
              </em>
            );
          case 'a':
            return (
              <a key={i} href={n.href} target="_blank" rel="noopener noreferrer" class="underline">
                <Inl c={n.c} />
              </a>
            );
          case 'br':
            return <br key={i} />;
        }
      })}
    </>
  );
}

function Blocks({ blocks }: { blocks: Block[] }) {
  return (
    <>
      {blocks.map((b, i) => {
        switch (b.t) {
          case 'p':
            return (
              <p key={i} class="my-2">
                <Inl c={b.c} />
              </p>
            );
          case 'h': {
            const H = `h${b.level}` as 'h1';
            return (
              <H key={i} class={`mt-3 mb-2 font-semibold ${HEAD[b.level - 1]}`}>
                <Inl c={b.c} />
              </H>
            );
          }
          case 'pre':
            return <Code key={i} lang={b.lang} code={b.v} />;
          case 'table':
            return (
              <div key={i} class="my-2 overflow-x-auto" tabIndex={0} role="region" aria-label="Table">
                <table class="border-collapse text-sm">
                  <thead>
                    <tr>
                      {b.head.map((c, j) => (
                        <th key={j} class="border border-zinc-400 px-2 py-1 font-semibold dark:border-zinc-600" style={b.align[j] ? { textAlign: b.align[j] } : undefined}>
                          <Inl c={c} />
                        </th>
                      ))}
                    </tr>
                  </thead>
                  <tbody>
                    {b.rows.map((r, k) => (
                      <tr key={k}>
                        {r.map((c, j) => (
                          <td key={j} class="border border-zinc-400 px-2 py-1 dark:border-zinc-600" style={b.align[j] ? { textAlign: b.align[j] } : undefined}>
                            <Inl c={c} />
                          </td>
                        ))}
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            );
          case 'ul':
            return (
              <ul key={i} class="my-2 list-disc pl-6">
                {b.items.map((it, j) => (
                  <li key={j}>
                    <Inl c={it} />
                  </li>
                ))}
              </ul>
            );
          case 'ol':
            return (
              <ol key={i} start={b.start} class="my-2 list-decimal pl-6">
                {b.items.map((it, j) => (
                  <li key={j}>
                    <Inl c={it} />
                  </li>
                ))}
              </ol>
            );
          case 'quote':
            return (
              <blockquote key={i} class="my-2 border-l-4 border-zinc-400 pl-3 opacity-80">
                <Blocks blocks={b.c} />
              </blockquote>
            );
        }
      })}
    </>
  );
}

export function Markdown({ text }: { text: string }) {
  return (
    <div class="md break-words">
      <Blocks blocks={parseMarkdown(text)} />
    </div>
  );
}
