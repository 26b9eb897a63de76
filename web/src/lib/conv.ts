/**
 * Kept conversations (docs/chat.md): their shapes, and the logic the view
 * needs that is worth testing on its own: the branch shown from the whole
 * tree, moving between the versions of a turn, the sidebar's date groups,
 * the events of an answer's stream, and the stats line under an answer.
 */
import type { ConvType, Rating, SourceSwitches, TopicShift } from './memory';
export interface ConvSettings {
  system?: string;
  temperature?: number;
  top_p?: number;
  top_k?: number;
  max_tokens?: number;
  seed?: number;
  /** library collections the answers search (docs/chat.md "Answers from the library") */
  collections?: number[];
  /** a thinking style's id (docs/memory.md "Styles") */
  style?: string;
  /** sources of the prompt turned on or off for this conversation */
  memory?: SourceSwitches;
}

export interface Conversation {
  id: number;
  title: string;
  title_auto: boolean;
  model: string;
  settings: ConvSettings;
  folder: string;
  tags: string[];
  archived: boolean;
  pinned: boolean;
  active_leaf: number;
  main_thread: number;
  n_messages: number;
  created_at: number;
  updated_at: number;
  match?: { message_id: number; snippet: string };
  type?: ConvType;
  type_auto?: boolean;
}

export type MsgType = 'user' | 'assistant' | 'system' | 'tool' | 'summary' | 'note';

export interface Message {
  id: number;
  conversation_id: number;
  thread_id: number;
  parent_id: number;
  type: MsgType;
  role: string;
  content: string;
  model: string;
  settings?: ConvSettings;
  finish: '' | 'stop' | 'length' | 'cancelled' | 'error';
  incomplete: boolean;
  prompt_tokens: number;
  completion_tokens: number;
  duration_ms: number;
  created_at: number;
  updated_at: number;
  n_children: number;
  siblings?: number[];
  sibling_index?: number;
  rating?: Rating | null;
}

export interface Thread {
  id: number;
  conversation_id: number;
  title: string;
  root_id: number;
  collapsed: boolean;
  summary_id: number;
  n_messages: number;
  created_at: number;
}

export interface ConversationFull extends Conversation {
  messages: Message[];
  branch: number[];
  threads: Thread[];
}

/** A tree of messages indexed for the view. */
export interface Tree {
  byId: Map<number, Message>;
  /** children of each parent (0: the roots), oldest first */
  children: Map<number, Message[]>;
}

export function buildTree(messages: Message[]): Tree {
  const byId = new Map<number, Message>();
  const children = new Map<number, Message[]>();
  for (const m of messages) byId.set(m.id, m);
  for (const m of messages) {
    const p = m.parent_id && byId.has(m.parent_id) ? m.parent_id : 0;
    let list = children.get(p);
    if (!list) children.set(p, (list = []));
    list.push(m);
  }
  for (const list of children.values()) list.sort((a, b) => a.created_at - b.created_at || a.id - b.id);
  return { byId, children };
}

/** The newest leaf under id, following the newest child each time (as the server does). */
export function descend(tree: Tree, id: number): number {
  let cur = id;
  for (let guard = 0; guard < 100000; guard++) {
    const kids = tree.children.get(cur);
    if (!kids || kids.length === 0) return cur;
    cur = kids[kids.length - 1]!.id;
  }
  return cur;
}

/** The path from a root to leaf, root first ([] when leaf is not in the tree). */
export function branchTo(tree: Tree, leaf: number): Message[] {
  const out: Message[] = [];
  const seen = new Set<number>();
  let cur = tree.byId.get(leaf);
  while (cur && !seen.has(cur.id)) {
    seen.add(cur.id);
    out.push(cur);
    cur = cur.parent_id ? tree.byId.get(cur.parent_id) : undefined;
  }
  return out.reverse();
}

/** The versions of a turn: the message's siblings (same parent), oldest first, and its place. */
export function siblingsOf(tree: Tree, id: number): { ids: number[]; index: number } {
  const m = tree.byId.get(id);
  if (!m) return { ids: [], index: -1 };
  const p = m.parent_id && tree.byId.has(m.parent_id) ? m.parent_id : 0;
  const ids = (tree.children.get(p) ?? []).map((s) => s.id);
  return { ids, index: ids.indexOf(id) };
}

/**
 * The leaf to show after moving from message id to its sibling delta steps
 * away (-1: the previous version, +1: the next); null at either end.
 */
export function siblingLeaf(tree: Tree, id: number, delta: number): number | null {
  const { ids, index } = siblingsOf(tree, id);
  const to = ids[index + delta];
  if (index < 0 || to === undefined) return null;
  return descend(tree, to);
}

/** Sidebar groups, as ChatGPT has them. */
export type DateGroup = 'Pinned' | 'Today' | 'Yesterday' | 'Previous 7 days' | 'Previous 30 days' | string;

function dayStart(t: number): number {
  const d = new Date(t);
  d.setHours(0, 0, 0, 0);
  return d.getTime();
}

/** The group of a conversation updated at t (ms), seen at now (local time). */
export function dateGroup(t: number, now: number): DateGroup {
  const today = dayStart(now);
  const day = dayStart(t);
  const days = Math.round((today - day) / 86400000); // DST days are 23 or 25 h
  if (days <= 0) return 'Today';
  if (days === 1) return 'Yesterday';
  if (days < 7) return 'Previous 7 days';
  if (days < 30) return 'Previous 30 days';
  const d = new Date(t);
  const month = d.toLocaleString('en', { month: 'long' });
  return d.getFullYear() === new Date(now).getFullYear() ? month : `${month} ${d.getFullYear()}`;
}

/** The list in groups, in the order given (the server's: pinned first, then newest). */
export function groupConversations(list: Conversation[], now: number): { group: DateGroup; items: Conversation[] }[] {
  const out: { group: DateGroup; items: Conversation[] }[] = [];
  for (const c of list) {
    const g = c.pinned ? 'Pinned' : dateGroup(c.updated_at, now);
    const last = out[out.length - 1];
    if (last && last.group === g) last.items.push(c);
    else out.push({ group: g, items: [c] });
  }
  return out;
}

/** One event of an answer's stream (/chat/... with stream true). */
export type ChatEvent =
  | { kind: 'start'; user: Message | null; assistant: Message; newThread: Thread | null; topicShift: TopicShift | null }
  | { kind: 'delta'; content: string }
  | { kind: 'end'; message: Message; conversation: Conversation | null; completionTokens: number | null; titleJob: number | null }
  | { kind: 'error'; message: string; saved: Message | null }
  | { kind: 'ignored' };

export function readChatEvent(event: string, data: string): ChatEvent {
  let o: Record<string, unknown>;
  try {
    const v: unknown = JSON.parse(data);
    if (!v || typeof v !== 'object') throw new Error('not an object');
    o = v as Record<string, unknown>;
  } catch {
    return { kind: 'error', message: 'malformed event from the server', saved: null };
  }
  const msg = (v: unknown): Message | null => (v && typeof v === 'object' && typeof (v as Message).id === 'number' ? (v as Message) : null);
  switch (event) {
    case 'start': {
      const a = msg(o.assistant_message);
      if (!a) return { kind: 'error', message: 'malformed start event from the server', saved: null };
      const nt = o.new_thread as Thread | undefined;
      const ts = o.topic_shift as TopicShift | undefined;
      return {
        kind: 'start',
        user: msg(o.user_message),
        assistant: a,
        newThread: nt && typeof nt === 'object' && typeof nt.id === 'number' ? nt : null,
        topicShift: ts && typeof ts === 'object' && typeof ts.distance === 'number' ? { distance: ts.distance, thread_id: typeof ts.thread_id === 'number' ? ts.thread_id : 0 } : null,
      };
    }
    case 'delta':
      return { kind: 'delta', content: typeof o.content === 'string' ? o.content : '' };
    case 'end': {
      const m = msg(o.message);
      if (!m) return { kind: 'error', message: 'malformed end event from the server', saved: null };
      const usage = o.usage as { completion_tokens?: unknown } | undefined;
      const conv = o.conversation && typeof o.conversation === 'object' ? (o.conversation as Conversation) : null;
      return {
        kind: 'end',
        message: m,
        conversation: conv,
        completionTokens: typeof usage?.completion_tokens === 'number' ? usage.completion_tokens : null,
        titleJob: typeof o.title_job === 'number' ? o.title_job : null,
      };
    }
    case 'error': {
      const e = o.error as { message?: unknown } | string | undefined;
      const text = typeof e === 'string' ? e : typeof e?.message === 'string' ? e.message : 'the answer failed';
      return { kind: 'error', message: text, saved: msg(o.message) };
    }
    default:
      return { kind: 'ignored' };
  }
}

/**
 * The line under an answer. A rate only when it means something: an answer
 * that came in one piece (or in under a tenth of a second) has no honest
 * tokens per second, so none is shown (not "50000.0 tok/s · 0.0 s").
 */
export function statsLine(m: Pick<Message, 'completion_tokens' | 'duration_ms' | 'model' | 'finish' | 'incomplete'>): string {
  const parts: string[] = [];
  if (m.model) parts.push(m.model);
  const n = m.completion_tokens;
  if (n > 0) parts.push(`${n} token${n === 1 ? '' : 's'}`);
  if (n > 1 && m.duration_ms >= 100) parts.push(`${(n / (m.duration_ms / 1000)).toFixed(1)} tok/s`);
  if (m.duration_ms >= 100) parts.push(`${(m.duration_ms / 1000).toFixed(1)} s`);
  if (m.finish === 'length') parts.push('cut at max tokens');
  else if (m.finish === 'cancelled') parts.push('stopped');
  else if (m.finish === 'error') parts.push('failed');
  else if (m.incomplete) parts.push('incomplete');
  return parts.join(' · ');
}

/** Messages of the branch grouped into runs of one thread, for the threaded view. */
export function threadRuns(branch: Message[]): { thread: number; messages: Message[] }[] {
  const out: { thread: number; messages: Message[] }[] = [];
  for (const m of branch) {
    const last = out[out.length - 1];
    if (last && last.thread === m.thread_id) last.messages.push(m);
    else out.push({ thread: m.thread_id, messages: [m] });
  }
  return out;
}

/** A title for the sidebar: the given one, or the start of the first message. */
export function displayTitle(c: Pick<Conversation, 'title'>): string {
  return c.title.trim() || 'New chat';
}
