import type { Block, Inline } from '../lib/markdown';
import { parseMarkdown } from '../lib/markdown';

/* Elements and text nodes only: model output is never handed to innerHTML. */
function Inl({ c }: { c: Inline[] }) {
  return (
    <>
      {c.map((n, i) => {
        switch (n.t) {
          case 'text':
            return n.v;
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
          case 'h':
            return (
              <p key={i} class="my-2 font-semibold" role="heading" aria-level={b.level}>
                <Inl c={b.c} />
              </p>
            );
          case 'pre':
            return (
              <pre key={i} class="my-2 rounded-md bg-zinc-900 p-3 text-sm text-zinc-100" data-lang={b.lang}>
                <code>{b.v}</code>
              </pre>
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
