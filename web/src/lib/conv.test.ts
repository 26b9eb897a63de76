import { describe, expect, it } from 'vitest';
import type { Message } from './conv';
import { branchTo, buildTree, dateGroup, descend, groupConversations, readChatEvent, siblingLeaf, siblingsOf, statsLine, threadRuns } from './conv';

let clock = 1000;
function msg(id: number, parent: number, type: 'user' | 'assistant' = 'user', thread = 1): Message {
  return {
    id, conversation_id: 7, thread_id: thread, parent_id: parent, type, role: type, content: `m${id}`, model: '',
    finish: type === 'assistant' ? 'stop' : '', incomplete: false, prompt_tokens: 0, completion_tokens: 0,
    duration_ms: 0, created_at: clock++, updated_at: 0, n_children: 0,
  };
}

// 1 (user) -> 2 (answer) -> 3 (user) -> 4 (answer)
//                         \-> 5 (user, an edit of 3) -> 6 (answer) and 7 (regenerated)
// 8: a second root (the first message edited)
function sample() {
  clock = 1000;
  return [msg(1, 0), msg(2, 1, 'assistant'), msg(3, 2), msg(4, 3, 'assistant'), msg(5, 2), msg(6, 5, 'assistant'), msg(7, 5, 'assistant'), msg(8, 0)];
}

describe('the tree', () => {
  it('gives the branch from a root to a leaf', () => {
    const t = buildTree(sample());
    expect(branchTo(t, 4).map((m) => m.id)).toEqual([1, 2, 3, 4]);
    expect(branchTo(t, 7).map((m) => m.id)).toEqual([1, 2, 5, 7]);
    expect(branchTo(t, 8).map((m) => m.id)).toEqual([8]);
    expect(branchTo(t, 99)).toEqual([]);
  });

  it('builds the same from messages in any order', () => {
    const t = buildTree(sample().reverse());
    expect(branchTo(t, 6).map((m) => m.id)).toEqual([1, 2, 5, 6]);
    expect(siblingsOf(t, 5)).toEqual({ ids: [3, 5], index: 1 });
  });

  it('descends to the newest leaf', () => {
    const t = buildTree(sample());
    expect(descend(t, 2)).toBe(7);
    expect(descend(t, 3)).toBe(4);
    expect(descend(t, 8)).toBe(8);
  });

  it('numbers versions and moves between them', () => {
    const t = buildTree(sample());
    expect(siblingsOf(t, 3)).toEqual({ ids: [3, 5], index: 0 });
    expect(siblingsOf(t, 7)).toEqual({ ids: [6, 7], index: 1 });
    expect(siblingsOf(t, 1)).toEqual({ ids: [1, 8], index: 0 });
    expect(siblingsOf(t, 4)).toEqual({ ids: [4], index: 0 });
    expect(siblingLeaf(t, 3, 1)).toBe(7); // to the edit, then its newest answer
    expect(siblingLeaf(t, 5, -1)).toBe(4);
    expect(siblingLeaf(t, 6, 1)).toBe(7);
    expect(siblingLeaf(t, 3, -1)).toBeNull();
    expect(siblingLeaf(t, 7, 1)).toBeNull();
    expect(siblingLeaf(t, 1, 1)).toBe(8);
  });

  it('survives a cycle in bad data', () => {
    const a = msg(1, 2), b = msg(2, 1);
    const t = buildTree([a, b]);
    expect(branchTo(t, 1).length).toBeLessThanOrEqual(2);
  });

  it('groups the branch into runs of a thread', () => {
    const b = [msg(1, 0, 'user', 1), msg(2, 1, 'assistant', 1), msg(3, 2, 'user', 9), msg(4, 3, 'assistant', 9), msg(5, 4, 'user', 1)];
    expect(threadRuns(b).map((r) => [r.thread, r.messages.map((m) => m.id)])).toEqual([
      [1, [1, 2]],
      [9, [3, 4]],
      [1, [5]],
    ]);
  });
});

describe('date groups', () => {
  const now = new Date(2026, 11, 3, 15, 0).getTime();
  const at = (y: number, mo: number, d: number, h = 12) => new Date(y, mo, d, h).getTime();
  it('puts times in ChatGPT-like groups', () => {
    expect(dateGroup(at(2026, 11, 3, 0), now)).toBe('Today');
    expect(dateGroup(now + 60000, now)).toBe('Today'); // a clock a little ahead
    expect(dateGroup(at(2026, 11, 2, 23), now)).toBe('Yesterday');
    expect(dateGroup(at(2026, 10, 27), now)).toBe('Previous 7 days');
    expect(dateGroup(at(2026, 10, 26), now)).toBe('Previous 30 days');
    expect(dateGroup(at(2026, 10, 4), now)).toBe('Previous 30 days');
    expect(dateGroup(at(2026, 9, 1), now)).toBe('October');
    expect(dateGroup(at(2025, 5, 1), now)).toBe('June 2025');
  });
  it('keeps pinned first and the order given', () => {
    const c = (id: number, t: number, pinned = false) => ({ id, updated_at: t, pinned }) as never;
    const g = groupConversations([c(1, at(2026, 0, 1), true), c(2, now), c(3, now - 1000), c(4, at(2026, 11, 2))], now);
    expect(g.map((x) => [x.group, x.items.map((i: { id: number }) => i.id)])).toEqual([
      ['Pinned', [1]],
      ['Today', [2, 3]],
      ['Yesterday', [4]],
    ]);
  });
});

describe('stream events', () => {
  it('reads start, delta, end and error', () => {
    const a = msg(12, 11, 'assistant');
    const u = msg(11, 0);
    expect(readChatEvent('start', JSON.stringify({ user_message: u, assistant_message: a }))).toEqual({ kind: 'start', user: u, assistant: a, newThread: null, topicShift: null });
    expect(readChatEvent('start', JSON.stringify({ user_message: null, assistant_message: a }))).toEqual({ kind: 'start', user: null, assistant: a, newThread: null, topicShift: null });
    expect(readChatEvent('delta', '{"content":"Hel"}')).toEqual({ kind: 'delta', content: 'Hel' });
    const end = readChatEvent('end', JSON.stringify({ message: a, conversation: { id: 7, title: 'x' }, usage: { prompt_tokens: 3, completion_tokens: 2 }, title_job: 91 }));
    expect(end).toMatchObject({ kind: 'end', message: a, completionTokens: 2, titleJob: 91 });
    expect(readChatEvent('end', JSON.stringify({ message: a }))).toMatchObject({ kind: 'end', titleJob: null, completionTokens: null, conversation: null });
    expect(readChatEvent('error', JSON.stringify({ error: { message: 'boom' }, message: a }))).toEqual({ kind: 'error', message: 'boom', saved: a });
    expect(readChatEvent('error', '{"error":{}}')).toEqual({ kind: 'error', message: 'the answer failed', saved: null });
  });
  it('turns malformed data into an error, and ignores other events', () => {
    expect(readChatEvent('delta', 'not json')).toMatchObject({ kind: 'error' });
    expect(readChatEvent('start', '{"user_message":null}')).toMatchObject({ kind: 'error' });
    expect(readChatEvent('end', '[]')).toMatchObject({ kind: 'error' });
    expect(readChatEvent('ping', '{}')).toEqual({ kind: 'ignored' });
  });
});

describe('stats line', () => {
  const base = { model: 'stories260K', finish: 'stop' as const, incomplete: false };
  it('shows a rate only when it means something', () => {
    expect(statsLine({ ...base, completion_tokens: 80, duration_ms: 2000 })).toBe('stories260K · 80 tokens · 40.0 tok/s · 2.0 s');
    // one chunk, no time: no "50000.0 tok/s · 0.0 s"
    expect(statsLine({ ...base, completion_tokens: 50, duration_ms: 1 })).toBe('stories260K · 50 tokens');
    expect(statsLine({ ...base, completion_tokens: 1, duration_ms: 500 })).toBe('stories260K · 1 token · 0.5 s');
  });
  it('says how an answer ended', () => {
    expect(statsLine({ ...base, finish: 'length', completion_tokens: 4, duration_ms: 0 })).toBe('stories260K · 4 tokens · cut at max tokens');
    expect(statsLine({ ...base, finish: 'cancelled', incomplete: true, completion_tokens: 0, duration_ms: 0 })).toBe('stories260K · stopped');
    expect(statsLine({ ...base, model: '', finish: '', incomplete: true, completion_tokens: 0, duration_ms: 0 })).toBe('incomplete');
  });
});
