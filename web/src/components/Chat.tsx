import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import type { Model, Session } from '../lib/api';
import { ApiError, call } from '../lib/api';
import type { Conversation, ConversationFull, ConvSettings, Message, Thread } from '../lib/conv';
import { branchTo, buildTree, displayTitle, siblingLeaf, siblingsOf, statsLine, threadRuns } from '../lib/conv';
import { streamAnswer } from '../lib/stream';
import { listChanged } from '../lib/bus';
import { navigate } from '../lib/router';
import { convSettings, loadPrefs } from '../lib/settings';
import { copyText } from '../lib/clipboard';
import { CiteContext, Markdown } from './Markdown';
import type { Source } from '../lib/library';
import { markedTerms, snippetFromMarkers, sourcesOf } from '../lib/library';
import { CollectionsPicker, SourcesList } from './Collections';
import { PassageReader } from './Passage';
import { MarkContext } from './Markdown';
import type { ContextRecord, MemorySettings, Rating, SourceSwitches, Style } from '../lib/memory';
import { CONV_TYPES, DEFAULT_MEMORY, effectiveSources, flagQuotes, typeLabel } from '../lib/memory';
import { ContextInspector, EMPTY_RATING, RatingBar, StyleInfo, ThreadSummary, selectionIn } from './Memory';

interface Problem {
  message: string;
  retry?: () => void;
}

const small =
  'rounded px-2 py-0.5 text-xs text-zinc-700 hover:bg-zinc-200 focus-visible:outline-2 focus-visible:outline-amber-600 dark:text-zinc-300 dark:hover:bg-zinc-700';

/** What a thrown failure says to a person ("Failed to fetch" is not it). */
function describe(e: unknown): string {
  if (e instanceof ApiError) {
    if (e.code === 'context_length_exceeded')
      return `${e.message} Nothing was saved: shorten the message and send it again, or start a new chat.`;
    return e.message;
  }
  if (e instanceof TypeError) return 'Could not reach the server (network error).';
  return e instanceof Error ? e.message : String(e);
}

function MessageView(props: {
  m: Message;
  text: string;
  streaming: boolean;
  busy: boolean;
  versions: { ids: number[]; index: number };
  threads: Thread[];
  onVersion: (delta: number) => void;
  onEdit: (text: string) => void;
  onRegenerate: () => void;
  onContinue: () => void;
  onMove: (target: number | 'new') => void;
  onSource: (s: Source) => void;
  onRating: (r: Rating) => void;
  onContext: () => void;
  session: Session;
}) {
  const { m, text, streaming, busy, versions } = props;
  const [editing, setEditing] = useState(false);
  const [editText, setEditText] = useState(m.content);
  const [moving, setMoving] = useState(false);
  const [copied, setCopied] = useState(false);
  const editBox = useRef<HTMLTextAreaElement>(null);
  const body = useRef<HTMLDivElement>(null);
  const [selection, setSelection] = useState<{ text: string; hint: number } | null>(null);
  const rating = m.rating ?? EMPTY_RATING;
  const quotes = useMemo(() => flagQuotes(m.content, rating.flags), [m.content, rating.flags]);
  useEffect(() => {
    if (editing) editBox.current?.focus();
  }, [editing]);
  const user = m.type === 'user';
  const answer = m.type === 'assistant';
  const stats = answer && !streaming ? statsLine(m) : '';
  const sources = answer ? sourcesOf(m.settings) : [];
  const cites = useMemo(
    () => ({
      known: new Set(sources.map((s) => s.n)),
      prefix: `src-${m.id}`,
      go: (n: number) => {
        const el = document.getElementById(`src-${m.id}-${n}`);
        el?.scrollIntoView({ block: 'nearest' });
        el?.querySelector<HTMLElement>('button')?.focus();
      },
    }),
    [m.id, sources.map((s) => s.n).join(',')],
  );
  return (
    <article
      data-role={m.role}
      data-id={m.id}
      aria-busy={streaming}
      aria-label={user ? 'You said' : answer ? `Answer${m.model ? ` from ${m.model}` : ''}` : m.type}
      class={
        user
          ? 'ml-auto w-fit max-w-[85%] rounded-lg bg-amber-100 px-3 py-2 text-zinc-900 sm:max-w-[70%] dark:bg-amber-900/40 dark:text-zinc-100'
          : 'max-w-full rounded-lg bg-zinc-100 px-3 py-2 dark:bg-zinc-800'
      }
    >
      {editing ? (
        <form
          onSubmit={(e) => {
            e.preventDefault();
            if (!editText.trim()) return;
            setEditing(false);
            props.onEdit(editText.trim());
          }}
        >
          <textarea
            ref={editBox}
            aria-label="Edit message"
            rows={3}
            class="w-full min-w-[16rem] rounded border border-zinc-400 bg-white px-2 py-1 dark:bg-zinc-900"
            value={editText}
            onInput={(e) => setEditText(e.currentTarget.value)}
            onKeyDown={(e) => {
              if (e.key === 'Escape') {
                e.stopPropagation();
                setEditing(false);
              } else if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
                e.preventDefault();
                e.currentTarget.form?.requestSubmit();
              }
            }}
          />
          <div class="mt-1 flex gap-2">
            <button type="submit" class="rounded bg-amber-800 px-3 py-1 text-sm text-white">
              Save and send
            </button>
            <button type="button" class="rounded px-3 py-1 text-sm underline" onClick={() => setEditing(false)}>
              Cancel
            </button>
          </div>
        </form>
      ) : (
        <div
          ref={body}
          class="answer-body"
          onMouseUp={() => answer && setSelection(selectionIn(body.current))}
          onKeyUp={() => answer && setSelection(selectionIn(body.current))}
        >
          <CiteContext.Provider value={sources.length ? cites : null}>
            <MarkContext.Provider value={answer && !streaming ? quotes : null}>
              <Markdown text={text} />
            </MarkContext.Provider>
          </CiteContext.Provider>
        </div>
      )}
      {sources.length > 0 && <SourcesList mid={m.id} sources={sources} onOpen={props.onSource} />}
      {streaming && !text && <p class="text-sm text-zinc-600 dark:text-zinc-400">Thinking…</p>}
      {answer && !streaming && m.finish === 'length' && (
        <p class="incomplete mt-1 text-sm font-medium text-amber-900 dark:text-amber-200">
          Cut at the max tokens limit.{' '}
          <button type="button" class="underline" disabled={busy} onClick={props.onContinue}>
            Continue
          </button>
        </p>
      )}
      {answer && !streaming && m.incomplete && m.finish !== 'length' && (
        <p class="incomplete mt-1 text-sm font-medium text-amber-900 dark:text-amber-200">
          {m.finish === 'cancelled' ? 'Stopped: this answer is incomplete.' : m.finish === 'error' ? 'This answer failed part-way: it is incomplete.' : 'This answer is incomplete.'}
        </p>
      )}
      {stats && <p class="stats mt-1 text-xs text-zinc-700 dark:text-zinc-300">{stats}</p>}
      {!streaming && !editing && (
        <div class="mt-1 flex flex-wrap items-center gap-1" role="group" aria-label="Message actions">
          {versions.ids.length > 1 && (
            <span class="versions flex items-center text-xs">
              <button type="button" class={small} aria-label="Previous version" disabled={busy || versions.index <= 0} onClick={() => props.onVersion(-1)}>
                &lt;
              </button>
              <span class="tabular-nums">
                {versions.index + 1}/{versions.ids.length}
              </span>
              <button
                type="button"
                class={small}
                aria-label="Next version"
                disabled={busy || versions.index >= versions.ids.length - 1}
                onClick={() => props.onVersion(1)}
              >
                &gt;
              </button>
            </span>
          )}
          {user && (
            <button type="button" class={small} disabled={busy} onClick={() => { setEditText(m.content); setEditing(true); }}>
              Edit
            </button>
          )}
          {answer && (
            <button type="button" class={small} disabled={busy} onClick={props.onRegenerate}>
              Regenerate
            </button>
          )}
          {answer && (
            <button type="button" class={small} aria-haspopup="dialog" onClick={props.onContext}>
              Context
            </button>
          )}
          <button
            type="button"
            class={small}
            aria-label={copied ? 'Message copied' : 'Copy message'}
            onClick={() => void copyText(m.content).then((ok) => { setCopied(ok); setTimeout(() => setCopied(false), 1500); })}
          >
            {copied ? 'Copied' : 'Copy'}
          </button>
          <button type="button" class={small} aria-expanded={moving} disabled={busy} onClick={() => setMoving(!moving)}>
            Move
          </button>
          {moving && (
            <span class="flex flex-wrap gap-1" role="group" aria-label="Move to thread">
              {props.threads
                .filter((t) => t.id !== m.thread_id)
                .map((t) => (
                  <button key={t.id} type="button" class={small} onClick={() => { setMoving(false); props.onMove(t.id); }}>
                    To “{t.title}”
                  </button>
                ))}
              <button type="button" class={small} onClick={() => { setMoving(false); props.onMove('new'); }}>
                To a new thread
              </button>
            </span>
          )}
        </div>
      )}
      {answer && !streaming && !editing && <RatingBar session={props.session} m={m} rating={rating} selection={selection} onRating={props.onRating} />}
    </article>
  );
}

export function Chat({ session, id, models, onMenu }: { session: Session; id: number | null; models: Model[]; onMenu: () => void }) {
  const [conv, setConv] = useState<Conversation | null>(null);
  const [messages, setMessages] = useState<Message[]>([]);
  const [threads, setThreads] = useState<Thread[]>([]);
  const [leaf, setLeaf] = useState(0);
  const [live, setLive] = useState<{ id: number; content: string } | null>(null);
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<Problem | null>(null);
  const [loadError, setLoadError] = useState<Problem | null>(null);
  const [loading, setLoading] = useState(false);
  const [draft, setDraft] = useState('');
  const [newModel, setNewModel] = useState('');
  const [announce, setAnnounce] = useState('');
  const [newCols, setNewCols] = useState<number[]>([]); // a new chat's collections, until it exists
  const [reading, setReading] = useState<{ chunk: number; terms: string[] } | null>(null);
  const [styles, setStyles] = useState<Style[]>([]);
  const [newStyle, setNewStyle] = useState(''); // a new chat's style, until it exists
  const [msgStyle, setMsgStyle] = useState(''); // this message's style ('' = the conversation's)
  const [styleInfo, setStyleInfo] = useState(false);
  const [inspect, setInspect] = useState<{ kind: 'answer'; id: number } | { kind: 'preview'; content: string } | null>(null);
  const [shift, setShift] = useState<{ userId: number; distance: number } | null>(null);
  const [memory, setMemory] = useState<MemorySettings>(DEFAULT_MEMORY);
  const abort = useRef<AbortController | null>(null);
  const scroller = useRef<HTMLDivElement>(null);
  const box = useRef<HTMLTextAreaElement>(null);
  const stick = useRef(true);
  const autoTop = useRef(0); // where the view last scrolled itself to the bottom
  const own = useRef<number | null>(null); // a conversation this view just made: no reload
  const wanted = useRef<number | null>(id); // the conversation shown: late replies for another are dropped

  // summaries are messages of their thread but never part of a branch
  const tree = useMemo(() => buildTree(messages.filter((m) => m.type !== 'summary')), [messages]);
  const branch = useMemo(() => branchTo(tree, leaf), [tree, leaf]);
  const modelId = conv?.model || newModel || loadPrefs().model || models[0]?.id || '';

  const upsert = (m: Message | null) => {
    if (!m) return;
    setMessages((all) => {
      const i = all.findIndex((x) => x.id === m.id);
      if (i < 0) return [...all, m];
      const copy = all.slice();
      copy[i] = m;
      return copy;
    });
  };

  const load = async (cid: number) => {
    setLoading(true);
    try {
      const c = await call<ConversationFull>(session, 'GET', `/chat/conversations/${cid}?view=tree`);
      if (wanted.current !== cid) return;
      setConv(c);
      setMessages(c.messages);
      setThreads(c.threads);
      setLeaf(c.active_leaf);
      setLoadError(null);
    } catch (e) {
      if (wanted.current === cid) setLoadError({ message: describe(e), retry: () => void load(cid) });
    } finally {
      if (wanted.current === cid) setLoading(false);
    }
  };

  useEffect(() => {
    call<{ data: Style[] }>(session, 'GET', '/chat/styles').then(
      (r) => setStyles(r.data),
      () => setStyles([]),
    );
    call<MemorySettings>(session, 'GET', '/chat/memory').then(
      (r) => setMemory({ ...DEFAULT_MEMORY, ...r, sources: { ...DEFAULT_MEMORY.sources, ...r.sources } }),
      () => {},
    );
  }, []);

  useEffect(() => {
    wanted.current = id;
    setProblem(null);
    setShift(null);
    setMsgStyle('');
    if (id === null) {
      abort.current?.abort();
      own.current = null;
      setConv(null);
      setMessages([]);
      setThreads([]);
      setLeaf(0);
      setLoadError(null);
      setNewCols([]);
      setNewStyle('');
      box.current?.focus();
      return;
    }
    if (own.current === id) return;
    abort.current?.abort();
    own.current = null;
    stick.current = true;
    autoTop.current = 0;
    setConv(null);
    setMessages([]);
    void load(id);
  }, [id]);

  // follow the answer only while the reader is at the bottom; a reader who
  // moved up since the view last followed stays there, even when the scroll
  // event has not been handled yet (a token can arrive first)
  useEffect(() => {
    const el = scroller.current;
    if (!el) return;
    if (stick.current && el.scrollTop + 48 < autoTop.current) stick.current = false;
    if (stick.current) {
      el.scrollTop = el.scrollHeight;
      autoTop.current = el.scrollTop;
    }
  }, [live, messages, leaf]);

  // Esc stops a generation from anywhere on the page
  useEffect(() => {
    if (!busy) return;
    const onKey = (e: KeyboardEvent) => {
      if (e.key === 'Escape') abort.current?.abort();
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [busy]);

  const refreshTitle = (cid: number, delays: number[]) => {
    for (const d of delays)
      setTimeout(async () => {
        try {
          const c = await call<ConversationFull>(session, 'GET', `/chat/conversations/${cid}?view=branch`);
          setConv((cur) => (cur && cur.id === cid ? { ...cur, title: c.title, title_auto: c.title_auto } : cur));
          listChanged();
        } catch {
          /* the title can wait for the next visit */
        }
      }, d);
  };

  /** One answer: send, stream, keep what the server says it saved. */
  const run = async (path: string, body: Record<string, unknown>, restore?: string) => {
    setProblem(null);
    setBusy(true);
    stick.current = true;
    autoTop.current = 0;
    const ctl = new AbortController();
    abort.current = ctl;
    let aid = 0;
    let text = '';
    let ended = false;
    const cid = conv?.id ?? own.current;
    try {
      await streamAnswer(session, path, body, ctl.signal, (e) => {
        switch (e.kind) {
          case 'start':
            upsert(e.user);
            // continue: the same message goes on from its text so far
            text = e.assistant.content || (messages.find((x) => x.id === e.assistant.id)?.content ?? '');
            upsert({ ...e.assistant, content: text });
            aid = e.assistant.id;
            setLeaf(aid);
            if (e.newThread) {
              const nt = e.newThread;
              setThreads((all) => (all.some((t) => t.id === nt.id) ? all : [...all, nt]));
              setAnnounce(`A new topic: started the thread “${nt.title}”.`);
            }
            if (e.topicShift && e.user) setShift({ userId: e.user.id, distance: e.topicShift.distance });
            setLive({ id: aid, content: text });
            break;
          case 'delta':
            text += e.content;
            setLive({ id: aid, content: text });
            break;
          case 'end':
            ended = true;
            upsert(e.message);
            setLive(null);
            if (e.conversation) setConv((cur) => ({ ...(cur ?? (e.conversation as Conversation)), ...e.conversation }));
            setAnnounce(e.message.finish === 'length' ? 'Answer cut at the max tokens limit.' : 'Answer finished.');
            listChanged();
            if (e.titleJob !== null && cid) refreshTitle(cid, [1500, 4000, 9000]);
            break;
          case 'error':
            ended = true;
            if (e.saved) upsert(e.saved);
            setLive(null);
            setProblem({ message: e.message, retry: e.saved ? () => void regenerate(e.saved!.id) : undefined });
            setAnnounce(`Error: ${e.message}`);
            break;
        }
      });
      if (!ended && aid) {
        // the stream closed without its end: the server keeps what it had
        setMessages((all) => all.map((x) => (x.id === aid ? { ...x, content: text, incomplete: true, finish: x.finish || 'error' } : x)));
        setProblem({ message: 'The answer stopped before its end.', retry: () => void regenerate(aid) });
      }
    } catch (err) {
      if (ctl.signal.aborted) {
        if (aid) setMessages((all) => all.map((x) => (x.id === aid ? { ...x, content: text, incomplete: true, finish: 'cancelled' } : x)));
        setAnnounce('Stopped.');
      } else if (aid) {
        setMessages((all) => all.map((x) => (x.id === aid ? { ...x, content: text, incomplete: true, finish: 'error' } : x)));
        setProblem({ message: describe(err), retry: () => void regenerate(aid) });
      } else {
        // refused before anything was saved: the text goes back in the box
        if (restore !== undefined) setDraft((d) => d || restore);
        setProblem({ message: describe(err), retry: () => void run(path, body, restore) });
        setAnnounce(`Error: ${describe(err)}`);
      }
    } finally {
      if (abort.current === ctl) abort.current = null;
      setLive(null);
      setBusy(false);
      box.current?.focus();
    }
  };

  const sampling = () => {
    const p = loadPrefs();
    return { model: modelId || undefined, settings: conv ? undefined : convSettings(p) };
  };

  const send = async () => {
    const text = draft.trim();
    if (!text || busy) return;
    if (!modelId) {
      setProblem({ message: 'No model to talk to: add a .gguf file to the models directory.' });
      return;
    }
    setDraft('');
    let cid = conv?.id;
    if (!cid) {
      try {
        const p = loadPrefs();
        const settings: ConvSettings = newCols.length ? { ...convSettings(p), collections: newCols } : convSettings(p);
        if (newStyle) settings.style = newStyle;
        const c = await call<Conversation>(session, 'POST', '/chat/conversations', { model: modelId, settings });
        cid = c.id;
        own.current = c.id;
        setConv(c);
        setThreads([]);
        navigate(`/c/${c.id}`);
        listChanged();
      } catch (e) {
        setDraft(text);
        setProblem({ message: describe(e), retry: () => void send() });
        return;
      }
    }
    const body: Record<string, unknown> = { content: text, model: modelId };
    if (leaf) body.parent_id = leaf;
    if (msgStyle) body.settings = { style: msgStyle };
    setShift(null);
    await run(`/chat/conversations/${cid}/messages`, body, text);
    // threads may have been made with the conversation: learn them
    if (cid && threads.length === 0) void refreshThreads(cid);
  };

  const refreshThreads = async (cid: number) => {
    try {
      const c = await call<ConversationFull>(session, 'GET', `/chat/conversations/${cid}?view=branch`);
      setThreads(c.threads);
    } catch {
      /* later */
    }
  };

  const regenerate = (mid: number) => run(`/chat/messages/${mid}/regenerate`, { model: sampling().model });
  const edit = (mid: number, content: string) => run(`/chat/messages/${mid}/edit`, { content, model: sampling().model });
  const cont = (mid: number) => run(`/chat/messages/${mid}/continue`, {});

  const switchTo = async (to: number) => {
    if (!conv) return;
    setLeaf(to);
    try {
      const r = await call<{ active_leaf: number }>(session, 'POST', `/chat/conversations/${conv.id}/active`, { message_id: to });
      setLeaf(r.active_leaf);
    } catch (e) {
      setProblem({ message: describe(e), retry: () => void switchTo(to) });
    }
  };

  const move = async (mid: number, target: number | 'new') => {
    if (!conv) return;
    try {
      await call<Thread>(session, 'POST', `/chat/messages/${mid}/move`, target === 'new' ? { new_thread: {} } : { thread_id: target });
      await load(conv.id);
    } catch (e) {
      setProblem({ message: describe(e) });
    }
  };

  const setCollapsed = async (t: Thread, collapsed: boolean) => {
    setThreads((all) => all.map((x) => (x.id === t.id ? { ...x, collapsed } : x)));
    try {
      await call<Thread>(session, 'PATCH', `/chat/threads/${t.id}`, { collapsed });
    } catch (e) {
      setThreads((all) => all.map((x) => (x.id === t.id ? { ...x, collapsed: !collapsed } : x)));
      setProblem({ message: describe(e) });
    }
  };

  const changeModel = async (m: string) => {
    if (!conv) {
      setNewModel(m);
      return;
    }
    setConv({ ...conv, model: m });
    try {
      await call(session, 'PATCH', `/chat/conversations/${conv.id}`, { model: m });
    } catch (e) {
      setProblem({ message: describe(e) });
    }
  };

  const collections = conv ? (conv.settings?.collections ?? []) : newCols;
  const changeCollections = async (ids: number[]) => {
    if (!conv) {
      setNewCols(ids);
      return;
    }
    const before = conv.settings ?? {};
    const settings: ConvSettings = { ...before, collections: ids };
    if (ids.length === 0) delete settings.collections;
    setConv({ ...conv, settings });
    try {
      await call(session, 'PATCH', `/chat/conversations/${conv.id}`, { settings });
    } catch (e) {
      setConv((cur) => (cur && cur.id === conv.id ? { ...cur, settings: before } : cur));
      setProblem({ message: describe(e) });
    }
  };

  const convStyle = conv ? (conv.settings?.style ?? '') : newStyle;
  const changeStyle = async (sid: string) => {
    if (!conv) {
      setNewStyle(sid);
      return;
    }
    const before = conv.settings ?? {};
    const settings: ConvSettings = { ...before, style: sid };
    if (!sid) delete settings.style;
    setConv({ ...conv, settings });
    try {
      await call(session, 'PATCH', `/chat/conversations/${conv.id}`, { settings });
    } catch (e) {
      setConv((cur) => (cur && cur.id === conv.id ? { ...cur, settings: before } : cur));
      setProblem({ message: describe(e) });
    }
  };
  const changeSources = async (ch: SourceSwitches) => {
    if (!conv) return;
    const before = conv.settings ?? {};
    const settings: ConvSettings = { ...before, memory: { ...(before.memory ?? {}), ...ch } };
    await call(session, 'PATCH', `/chat/conversations/${conv.id}`, { settings });
    setConv((cur) => (cur && cur.id === conv.id ? { ...cur, settings } : cur));
  };
  const changeType = async (t: string) => {
    if (!conv) return;
    const before = { type: conv.type, type_auto: conv.type_auto };
    setConv({ ...conv, type: t as Conversation['type'], type_auto: t === '' });
    try {
      const c = await call<Conversation>(session, 'PATCH', `/chat/conversations/${conv.id}`, { type: t });
      if (c && typeof c.type === 'string') setConv((cur) => (cur && cur.id === conv.id ? { ...cur, type: c.type, type_auto: c.type_auto } : cur));
      listChanged();
    } catch (e) {
      setConv((cur) => (cur && cur.id === conv.id ? { ...cur, ...before } : cur));
      setProblem({ message: describe(e) });
    }
  };
  const moveToNewThread = async () => {
    if (!shift || !conv) return;
    const uid = shift.userId;
    setShift(null);
    await move(uid, 'new');
  };
  const shownStyle = styles.find((x) => x.id === (msgStyle || convStyle || 'plain'));
  const summaryOf = (t: Thread | undefined) => (t && t.summary_id ? (messages.find((x) => x.id === t.summary_id) ?? null) : null);
  const mainThread = conv ? (threads.find((t) => t.id === conv.main_thread) ?? threads[0]) : undefined;

  const threaded = threads.length > 1;
  const runs = threadRuns(branch);
  const title = conv ? displayTitle(conv) : 'New chat';

  return (
    <div class="flex h-full min-h-0 flex-col">
      <header class="flex flex-wrap items-center gap-2 border-b border-zinc-300 px-3 py-2 dark:border-zinc-700">
        <button type="button" class="rounded px-2 py-1 md:hidden" aria-label="Show conversations" aria-controls="sidebar" onClick={onMenu}>
          ☰
        </button>
        <h1 class="min-w-[10rem] flex-1 truncate font-semibold">
          {title}
          {conv?.type && (
            <span class="type-badge ml-2 rounded-full border border-zinc-500 px-2 py-0.5 align-middle text-xs font-normal" title={conv.type_auto ? 'classified from the conversation' : 'set by you'}>
              {typeLabel(conv.type)}
              {conv.type_auto ? ' (auto)' : ''}
            </span>
          )}
        </h1>
        {conv && (
          <label class="flex items-center gap-1 text-sm">
            <span class="sr-only">Conversation type</span>
            <select
              name="type"
              aria-label="Conversation type"
              class="max-w-[8rem] rounded-md border border-zinc-400 bg-white px-1 py-1 dark:border-zinc-600 dark:bg-zinc-800"
              value={conv.type_auto ? '' : (conv.type ?? '')}
              onChange={(e) => void changeType(e.currentTarget.value)}
            >
              <option value="">Type: automatic</option>
              {CONV_TYPES.map((t) => (
                <option key={t.id} value={t.id}>
                  {t.label}
                </option>
              ))}
            </select>
          </label>
        )}
        <label class="flex items-center gap-1 text-sm">
          <span class="sr-only sm:not-sr-only">Style</span>
          <select
            name="style"
            aria-label="Style"
            class="max-w-[9rem] rounded-md border border-zinc-400 bg-white px-2 py-1 dark:border-zinc-600 dark:bg-zinc-800"
            value={convStyle}
            onChange={(e) => void changeStyle(e.currentTarget.value)}
          >
            <option value="">Plain</option>
            {styles
              .filter((x) => x.id !== 'plain')
              .map((x) => (
                <option key={x.id} value={x.id}>
                  {x.name}
                </option>
              ))}
          </select>
        </label>
        <button type="button" class={small} aria-expanded={styleInfo} aria-controls="style-info" onClick={() => setStyleInfo(!styleInfo)}>
          About the style
        </button>
        <label class="flex items-center gap-1 text-sm">
          <span class="sr-only sm:not-sr-only">Model</span>
          <select
            name="model"
            aria-label="Model"
            class="max-w-[10rem] rounded-md border border-zinc-400 bg-white px-2 py-1 dark:border-zinc-600 dark:bg-zinc-800"
            value={modelId}
            onChange={(e) => void changeModel(e.currentTarget.value)}
          >
            {models.length === 0 && <option value="">no models</option>}
            {modelId && !models.some((m) => m.id === modelId) && <option value={modelId}>{modelId}</option>}
            {models.map((m) => (
              <option key={m.id} value={m.id}>
                {m.id}
              </option>
            ))}
          </select>
        </label>
      </header>
      <div
        ref={scroller}
        class="min-h-0 flex-1 overflow-y-auto px-3 py-4"
        onScroll={(e) => {
          const el = e.currentTarget;
          stick.current = el.scrollHeight - el.scrollTop - el.clientHeight < 48;
          if (stick.current) autoTop.current = el.scrollTop;
        }}
        onWheel={(e) => {
          if (e.deltaY < 0) stick.current = false; /* reading up: stop following at once */
        }}
      >
        <section aria-label="Messages" class="mx-auto max-w-3xl space-y-4">
          {loadError && (
            <p role="alert" class="rounded-md bg-red-100 px-3 py-2 text-sm text-red-900 dark:bg-red-950 dark:text-red-100">
              {loadError.message}{' '}
              {loadError.retry && (
                <button type="button" class="underline" onClick={loadError.retry}>
                  Retry
                </button>
              )}
            </p>
          )}
          {styleInfo && (
            <div id="style-info">
              {shownStyle ? <StyleInfo style={shownStyle} onClose={() => setStyleInfo(false)} /> : <p class="text-sm">Plain: no instructions.</p>}
            </div>
          )}
          {!threaded && conv && branch.length > 0 && <ThreadSummary session={session} thread={mainThread ?? null} summary={summaryOf(mainThread)} onDone={() => void load(conv.id)} />}
          {loading && branch.length === 0 && <p class="text-center text-zinc-700 dark:text-zinc-300">Loading…</p>}
          {!loadError && !loading && branch.length === 0 && (
            <p class="text-center text-zinc-700 dark:text-zinc-300">Ask anything. Enter sends, Shift+Enter starts a new line, Esc stops an answer.</p>
          )}
          {runs.map((r, ri) => {
            const t = threads.find((x) => x.id === r.thread);
            const body = r.messages.map((m) => (
              <MessageView
                key={m.id}
                m={m}
                text={live && live.id === m.id ? live.content : m.content}
                streaming={!!live && live.id === m.id}
                busy={busy}
                versions={siblingsOf(tree, m.id)}
                threads={threads}
                onVersion={(d) => {
                  const to = siblingLeaf(tree, m.id, d);
                  if (to !== null) void switchTo(to);
                }}
                onEdit={(c) => void edit(m.id, c)}
                onRegenerate={() => void regenerate(m.id)}
                onContinue={() => void cont(m.id)}
                onMove={(target) => void move(m.id, target)}
                onSource={(s) => setReading({ chunk: s.chunk_id, terms: markedTerms(snippetFromMarkers(s.snippet)) })}
                session={session}
                onRating={(rt) => setMessages((all) => all.map((x) => (x.id === m.id ? { ...x, rating: rt } : x)))}
                onContext={() => setInspect({ kind: 'answer', id: m.id })}
              />
            ));
            if (!threaded || !t) return <div key={`${r.thread}-${ri}`} class="space-y-4">{body}</div>;
            return (
              <section key={`${r.thread}-${ri}`} aria-label={`Thread ${t.title}`} class="thread rounded-lg border border-zinc-300 p-2 dark:border-zinc-700">
                <h2 class="text-sm font-semibold">
                  <button
                    type="button"
                    class="thread-toggle rounded px-1 focus-visible:outline-2 focus-visible:outline-amber-600"
                    aria-expanded={!t.collapsed}
                    onClick={() => void setCollapsed(t, !t.collapsed)}
                  >
                    {t.collapsed ? '▸' : '▾'} {t.title}
                  </button>
                  {t.collapsed && <span class="ml-2 font-normal text-zinc-700 dark:text-zinc-300">{r.messages.length} hidden</span>}
                </h2>
                {!t.collapsed && (
                  <div class="mt-2 space-y-4">
                    {runs.findIndex((x) => x.thread === r.thread) === ri && conv && <ThreadSummary session={session} thread={t} summary={summaryOf(t)} onDone={() => void load(conv.id)} />}
                    {body}
                  </div>
                )}
              </section>
            );
          })}
        </section>
      </div>
      <div class="sr-only" aria-live="polite" role="status">
        {announce}
      </div>
      {shift && (
        <div role="status" class="topic-shift mx-auto mb-2 flex w-full max-w-3xl flex-wrap items-center gap-2 rounded-md bg-sky-100 px-3 py-2 text-sm text-sky-950 dark:bg-sky-950 dark:text-sky-100">
          <span class="flex-1">This looks like a new topic (distance {shift.distance.toFixed(2)}).</span>
          <button type="button" class="rounded bg-sky-800 px-2 py-1 text-white" disabled={busy} onClick={() => void moveToNewThread()}>
            Move to a new thread
          </button>
          <button type="button" class="rounded px-2 py-1 underline" onClick={() => setShift(null)}>
            Keep it here
          </button>
        </div>
      )}
      {problem && (
        <div role="alert" class="mx-auto mb-2 flex w-full max-w-3xl flex-wrap items-center gap-2 rounded-md bg-red-100 px-3 py-2 text-sm text-red-900 dark:bg-red-950 dark:text-red-100">
          <span class="flex-1">{problem.message}</span>
          {problem.retry && (
            <button type="button" class="rounded bg-red-800 px-2 py-1 text-white" onClick={problem.retry}>
              Retry
            </button>
          )}
          <button
            type="button"
            class="rounded px-2 py-1 underline"
            onClick={() => {
              setProblem(null);
              setDraft('');
              navigate('/');
              box.current?.focus();
            }}
          >
            Start over
          </button>
          <button type="button" class="rounded px-2 py-1 underline" aria-label="Dismiss" onClick={() => setProblem(null)}>
            ✕
          </button>
        </div>
      )}
      <div class="mx-auto w-full max-w-3xl px-3 pb-1">
        <div class="flex flex-wrap items-center gap-2">
          <div class="min-w-[12rem] flex-1">
            <CollectionsPicker session={session} ids={collections} disabled={busy} onChange={(ids) => void changeCollections(ids)} />
          </div>
          <label class="flex items-center gap-1 text-xs">
            <span class="sr-only sm:not-sr-only">This message:</span>
            <select
              name="message_style"
              aria-label="Style for this message"
              class="rounded border border-zinc-400 bg-white px-1 py-0.5 dark:border-zinc-600 dark:bg-zinc-800"
              value={msgStyle}
              onChange={(e) => setMsgStyle(e.currentTarget.value)}
            >
              <option value="">the chat's style</option>
              {styles.map((x) => (
                <option key={x.id} value={x.id}>
                  {x.name}
                </option>
              ))}
            </select>
          </label>
          <button
            type="button"
            class={small}
            aria-haspopup="dialog"
            disabled={!conv || !draft.trim()}
            title={conv ? 'What the prompt of this message would hold' : 'Send a first message to start the chat'}
            onClick={() => setInspect({ kind: 'preview', content: draft.trim() })}
          >
            Preview context
          </button>
        </div>
      </div>
      <form
        class="mx-auto flex w-full max-w-3xl gap-2 px-3 pb-3"
        aria-label="Send a message"
        onSubmit={(e) => {
          e.preventDefault();
          void send();
        }}
      >
        <textarea
          ref={box}
          id="message-box"
          name="message"
          aria-label="Message"
          rows={2}
          class="flex-1 resize-none rounded-md border border-zinc-400 bg-white px-3 py-2 dark:border-zinc-600 dark:bg-zinc-800"
          placeholder="Message"
          value={draft}
          onInput={(e) => setDraft(e.currentTarget.value)}
          onKeyDown={(e) => {
            if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
              e.preventDefault();
              void send();
            }
          }}
        />
        {busy ? (
          <button type="button" class="rounded-md bg-zinc-800 px-4 text-white dark:bg-zinc-200 dark:text-zinc-900" onClick={() => abort.current?.abort()}>
            Stop
          </button>
        ) : (
          <button
            type="submit"
            class="rounded-md bg-amber-800 px-4 text-white disabled:bg-zinc-300 disabled:text-zinc-800 dark:disabled:bg-zinc-700 dark:disabled:text-zinc-100"
            disabled={!draft.trim()}
          >
            Send
          </button>
        )}
      </form>
      {inspect && conv && (
        <ContextInspector
          title={inspect.kind === 'answer' ? 'Context of this answer' : 'Context of the message before sending'}
          load={() =>
            inspect.kind === 'answer'
              ? call<ContextRecord>(session, 'GET', `/chat/messages/${inspect.id}/context`)
              : call<ContextRecord>(session, 'POST', `/chat/conversations/${conv.id}/context`, {
                  content: inspect.content,
                  ...(leaf ? { parent_id: leaf } : {}),
                  ...(msgStyle ? { settings: { style: msgStyle } } : {}),
                })
          }
          sources={effectiveSources(memory.sources, conv.settings?.memory)}
          onSources={changeSources}
          onClose={() => setInspect(null)}
        />
      )}
      {reading && <PassageReader session={session} chunkId={reading.chunk} terms={reading.terms} onClose={() => setReading(null)} />}
    </div>
  );
}
