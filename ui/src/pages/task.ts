import { followLog, get, post } from '../api.js';
import { confirmAction, duration, facts, fill, h, route, table } from '../dom.js';
import type { Child } from '../dom.js';
import type { PageContext } from '../page.js';
import { dataOr, failure, may, notAvailable } from '../page.js';
import type { Span } from '../timeline.js';
import { waterfall } from '../timeline.js';
import { approvalPanel } from './approval-panel.js';
import type { WorkflowStep } from '../workflow-graph.js';
import { workflowGraph } from '../workflow-graph.js';

interface SubTask { id: string; status: string | null; dan_status: string; error: string | null }
interface Tokens { input_tokens?: number; output_tokens?: number; [name: string]: unknown }
export interface Job {
  id: string; status: string; dan_status: string; domain: string | null; client: string; output: Record<string, unknown> | null;
  error: string | null; failure_code: string | null; retryable: boolean | null; attempts: number | null; sub_tasks: SubTask[];
  started_at: string | null; completed_at: string | null; retry_at: string | null; tokens: Tokens | null;
  checks: CheckRun[] | null; review: Review | null; reviews: Review[]; cost: JobCost | null;
}
/** GET /jobs/{id}'s `cost` (src/api/api-schemas.ts jobCostSchema): the job's model calls, its sub-tasks' included. */
interface CostFigures { usd: number; calls: number; unpriced_calls: number; input_tokens: number; output_tokens: number; cache_creation_input_tokens: number; cache_read_input_tokens: number }
interface JobCost extends CostFigures {
  by_model: Record<string, CostFigures>; by_worker: Record<string, CostFigures>;
  budget?: { budget_usd: number; spent_usd: number }; budget_exceeded?: { scope: string; budget_usd: number; spent_usd: number };
}
/** GET /jobs/{id}'s `checks` (src/api/job-view-schemas.ts checkRunSchema) and `review`/`reviews` (reviewSchema). */
interface CheckRun { command: string; exit_code: number | null; duration_ms: number; ok: boolean; output_tail: string; round: number; ended?: string }
interface Review { verdict: string; summary?: string; comments: Array<{ file: string; line?: number; text: string }>; round: number; reviewer: string }
interface BranchDiff { task_id: string; repository: string; branch: string; base_commit: string; commit: string; diff: string }
interface Injection { worker: string; domain: string; tokens: number; heuristicIds: number[]; createdAt: string; text: string }

const json = (value: unknown) => h('pre', {}, JSON.stringify(value, null, 2));

/** The files a unified diff touches, from its `diff --git a/X b/Y` headers. */
export function changedFiles(diff: string): string[] {
  const files: string[] = [];
  for (const line of diff.split('\n')) {
    const match = /^diff --git a\/(.*) b\/(.*)$/.exec(line);
    if (match) files.push(match[2] ?? match[1] ?? '');
  }
  return files;
}

function diffView(diff: string): HTMLElement {
  const pre = h('pre', { class: 'diff' });
  for (const line of diff.split('\n')) {
    const cls = line.startsWith('+') && !line.startsWith('+++') ? 'diff-add' : line.startsWith('-') && !line.startsWith('---') ? 'diff-del' : '';
    pre.append(h('span', cls ? { class: cls } : {}, `${line}\n`));
  }
  return pre;
}

/** The sub-task tree: each sub-task's own sub-tasks are read too, to a bounded depth and count. */
async function subTree(tasks: SubTask[], depth: number, budget: { left: number }): Promise<HTMLElement> {
  const list = h('ul', { class: 'tree' });
  for (const task of tasks) {
    const item = h('li', {}, h('a', { href: route('task', task.id) }, task.id), ' ', h('span', { class: `status-${task.status ?? ''}` }, task.status ?? task.dan_status),
      task.error ? h('span', { class: 'error' }, ` ${task.error}`) : null);
    budget.left -= 1;
    if (depth < 4 && budget.left > 0) {
      const child = await get<Job>(`/jobs/${encodeURIComponent(task.id)}`);
      if (child.kind === 'ok' && child.data.sub_tasks.length > 0) item.append(await subTree(child.data.sub_tasks, depth + 1, budget));
    }
    list.append(item);
  }
  return list;
}

function tokensText(tokens: Tokens | null): Child {
  if (tokens === null) return null;
  return Object.entries(tokens).map(([k, v]) => `${k.replace(/_/g, ' ')} ${String(v)}`).join(', ');
}

function figuresText(f: CostFigures): string {
  const unpriced = f.unpriced_calls > 0 ? ` (${f.unpriced_calls} to unpriced models: their cost is unknown and not included)` : '';
  return `$${f.usd.toFixed(6)} for ${f.calls} model call(s)${unpriced}; tokens: input ${f.input_tokens}, output ${f.output_tokens}, cache write ${f.cache_creation_input_tokens}, cache read ${f.cache_read_input_tokens}`;
}

/** What the job's model calls cost (its sub-tasks' included), per model and per worker, and its budget. */
function costView(cost: JobCost | null): Child {
  if (cost === null) return h('span', { class: 'muted' }, 'no model call was counted for it');
  const list = h('ul', {});
  for (const [group, entries] of [['model', cost.by_model], ['worker', cost.by_worker]] as const) {
    for (const [name, f] of Object.entries(entries)) list.append(h('li', {}, `${group} ${name}: ${figuresText(f)}`));
  }
  const budget = cost.budget ? `budget $${cost.budget.budget_usd} (spent $${cost.budget.spent_usd})` : null;
  const exceeded = cost.budget_exceeded ? h('span', { class: 'error' }, `stopped: its ${cost.budget_exceeded.scope} budget of $${cost.budget_exceeded.budget_usd} was spent ($${cost.budget_exceeded.spent_usd})`) : null;
  return h('div', {}, h('p', {}, figuresText(cost)), ...(budget ? [h('p', {}, budget)] : []), ...(exceeded ? [exceeded] : []), list);
}

/** The checks a verified task ran, every round; null: its output does not say (a routed job's sub-tasks ran theirs). */
function checksView(checks: CheckRun[] | null): HTMLElement {
  if (checks === null) return h('p', { class: 'muted' }, 'Its result does not record checks (a routed task: see its sub-tasks).');
  if (checks.length === 0) return h('p', { class: 'muted' }, 'No check ran.');
  return table(['round', 'command', 'result', 'exit code', 'took', 'output (end)'], checks.map((c) => [
    String(c.round), c.command, h('span', { class: c.ok ? 'ok' : 'error' }, c.ok ? 'passed' : `failed${c.ended ? ` (${c.ended.replace('_', ' ')})` : ''}`),
    c.exit_code === null ? '–' : String(c.exit_code), duration(c.duration_ms), h('pre', {}, c.output_tail),
  ]), { caption: 'Checks', numeric: [0, 3] });
}

function reviewsView(reviews: Review[]): HTMLElement {
  if (reviews.length === 0) return h('p', { class: 'muted' }, 'No reviewer ran.');
  return h('div', {}, ...reviews.map((r) => h('div', { class: 'card' },
    h('p', {}, `Round ${r.round}: ${r.reviewer} — ${r.verdict === 'approve' ? 'approved' : 'asked for changes'}`),
    r.summary ? h('p', {}, r.summary) : null,
    r.comments.length === 0 ? null : h('ul', {}, ...r.comments.map((c) => h('li', {}, `${c.file}${c.line === undefined ? '' : `:${c.line}`}: ${c.text}`))))));
}

/** A task: result, attempts, failure, sub-tasks, live log, diff, checks and review, tokens and cost, lessons, timeline; cancel and retry for roles that may. */
export async function taskPage(ctx: PageContext): Promise<void> {
  const id = ctx.parts[0] ?? '';
  const path = `/jobs/${encodeURIComponent(id)}`;
  const answer = await get<Job>(path);
  const got = dataOr(answer, 'Tasks');
  if (!('data' in got)) { fill(ctx.main, h('h1', {}, `Task ${id}`), got.shown, h('p', {}, h('a', { href: route('tasks') }, 'All tasks'))); return; }
  const job = got.data;
  const report = h('div');
  const ended = job.status === 'SUCCEEDED' || job.status === 'FAILED';
  const act = async (verb: 'cancel' | 'retry') => {
    const question = verb === 'cancel' ? `Cancel task ${id}?` : `Retry task ${id}?`;
    const detail = verb === 'cancel' ? 'It ends failed (cancelled); its running worker and its sub-tasks are stopped.'
      : 'Dead-lettered: its input goes back on its queue under this id. Failed on an agent: it is sent again as a new task with the same input.';
    if (!(await confirmAction(question, detail, verb === 'cancel' ? 'Cancel it' : 'Retry it'))) return;
    const done = await post<{ id?: string }>(`${path}/${verb}`, {});
    if (done.kind !== 'ok') { fill(report, done.kind === 'missing' ? notAvailable(verb) : failure(done)); return; }
    // A retry that became a new task (POST /jobs/{id}/retry answers the id that now runs): its page.
    if (verb === 'retry' && done.data.id !== undefined && done.data.id !== id) location.hash = route('task', done.data.id);
    else ctx.reload();
  };
  const actions = may(ctx.role, 'submit') ? h('div', { class: 'actions' },
    ended ? null : h('button', { type: 'button', class: 'danger', onclick: () => void act('cancel') }, 'Cancel task…'),
    job.status === 'FAILED' ? h('button', { type: 'button', onclick: () => void act('retry') }, 'Retry task…') : null) : null;

  // Focusable: it scrolls, and a keyboard must reach what is below its fold.
  const log = h('ol', { class: 'log', 'aria-live': 'polite', 'aria-label': 'Log lines', tabindex: 0 });
  const logState = h('p', { class: 'muted' }, 'Following the log…');
  const sections = {
    attempts: h('div'), timeline: h('div'), diff: h('div'), lessons: h('div'), tree: h('div'),
  };
  const approval = await approvalPanel(ctx, id, job.dan_status);
  fill(ctx.main,
    h('h1', {}, `Task ${id}`),
    actions, report, approval,
    facts([
      ['status', h('span', { class: `status-${job.status}` }, `${job.status} (${job.dan_status})`)],
      ['domain', job.domain], ['client', job.client],
      ['failure code', job.failure_code], ['retryable', job.retryable === null ? null : job.retryable ? 'yes' : 'no'],
      ['error', job.error ? h('span', { class: 'error' }, job.error) : null],
      ['attempts', job.attempts], ['started', job.started_at], ['completed', job.completed_at], ['retry at', job.retry_at],
      ['tokens', tokensText(job.tokens)], ['cost', costView(job.cost)],
    ]),
    h('h2', {}, 'Live log'), logState, log,
    h('h2', {}, 'Attempts'), sections.attempts,
    h('h2', {}, 'Sub-tasks'), sections.tree,
    h('h2', {}, 'Timeline'), sections.timeline,
    h('h2', {}, 'Result'), job.output === null ? h('p', { class: 'muted' }, 'No result yet.') : json(job.output),
    h('h2', {}, 'Checks and review'),
    checksView(job.checks), h('h3', {}, 'Review'), reviewsView(job.reviews),
    h('h2', {}, 'Files changed and diff'), sections.diff,
    h('h2', {}, 'ELF lessons given'), sections.lessons);

  // Lines are added once per frame, together: a replay of a long log lays the list out once per
  // frame rather than once per line (1,000 lines: about half the time to show them all).
  let waiting = document.createDocumentFragment();
  let frame = 0;
  const flush = () => {
    frame = 0;
    const stick = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
    log.append(waiting);
    waiting = document.createDocumentFragment();
    if (stick) log.scrollTop = log.scrollHeight;
  };
  // The live log first: it is what a person watches; the other views load beside it.
  void followLog(`${path}/logs`, ctx.signal, (event) => {
    if (event.event === 'log') {
      const data = JSON.parse(event.data) as { task_id: string | null; domain: string | null; line: string };
      const from = data.task_id && data.task_id !== id ? `[${data.domain ?? data.task_id}] ` : '';
      waiting.append(h('li', {}, from + data.line));
      if (frame === 0) frame = requestAnimationFrame(flush);
    } else if (event.event === 'end') {
      const end = JSON.parse(event.data) as { status: string };
      fill(logState, `The task ended (${end.status}); the log is complete.`);
    } else if (event.event === 'error') {
      fill(logState, h('span', { class: 'error' }, `The log stream failed: ${event.data}`));
    }
  }, (message) => fill(logState, h('span', { class: 'error' }, message)));

  const workflow = job.domain === 'workflow' ? await get<{ steps: WorkflowStep[] }>(`/workflows/${encodeURIComponent(id)}`) : undefined;
  if (workflow?.kind === 'ok') fill(sections.tree, workflowGraph(workflow.data.steps));
  else fill(sections.tree, job.sub_tasks.length === 0 ? h('p', { class: 'muted' }, 'No sub-tasks.') : await subTree(job.sub_tasks, 0, { left: 60 }));

  const [timeline, diff, lessons] = await Promise.all([
    get<{ spans: Span[] }>(`${path}/timeline`), get<BranchDiff[]>(`${path}/diff`), get<Injection[]>(`${path}/lessons`),
  ]);
  if (ctx.signal.aborted) return;
  const spans = dataOr(timeline, 'Timeline');
  if ('data' in spans) {
    // Its own attempts first, then its sub-tasks' (each ordered by start, as the timeline answers).
    const attempts = spans.data.spans.filter((s) => s.kind === 'attempt').sort((a, b) => Number(a.task_id !== id) - Number(b.task_id !== id));
    fill(sections.timeline, spans.data.spans.length === 0 ? h('p', { class: 'muted' }, 'No spans recorded yet.') : waterfall(spans.data.spans));
    fill(sections.attempts, attempts.length === 0 ? h('p', { class: 'muted' }, 'No attempt recorded yet.')
      : table(['task', 'attempt', 'agent', 'started', 'took', 'how it ended'], attempts.map((a) => [
        a.task_id === id ? 'this task' : h('a', { href: route('task', a.task_id) }, a.task_id), a.name, a.agent_id ?? '', a.start,
        a.end === null ? (a.status ? '–' : 'running') : duration(a.duration_ms), a.status ?? (a.end === null ? 'still running, or its end was not recorded' : 'not recorded'),
      ]), { caption: 'Attempts and why each ended' }));
  } else {
    fill(sections.timeline, spans.shown);
    fill(sections.attempts, h('p', {}, `${job.attempts ?? 0} attempt(s). `, notAvailable('How each attempt ended (the timeline)')));
  }
  const diffs = dataOr(diff, 'Files changed and diff');
  if ('data' in diffs) {
    fill(sections.diff, ...diffs.data.map((d) => h('div', { class: 'card' },
      h('p', {}, `${d.task_id}: branch ${d.branch} (${d.base_commit.slice(0, 10)}..${d.commit.slice(0, 10)})`),
      h('ul', { 'aria-label': 'Files changed' }, ...changedFiles(d.diff).map((f) => h('li', {}, f))),
      h('details', {}, h('summary', {}, 'Diff'), diffView(d.diff)))));
  } else if (diff.kind === 'error' && diff.code === 'not_found') {
    fill(sections.diff, h('p', { class: 'muted' }, diff.message));
  } else fill(sections.diff, diffs.shown);
  const given = dataOr(lessons, 'ELF lessons given');
  fill(sections.lessons, !('data' in given) ? given.shown : given.data.length === 0 ? h('p', { class: 'muted' }, 'No memory was given to its workers.')
    : h('div', {}, ...given.data.map((i) => h('div', { class: 'card' },
      h('p', {}, `${i.worker} (${i.domain}, ${i.tokens} tokens, heuristics ${i.heuristicIds.join(', ') || 'none'}) at ${i.createdAt}`),
      i.text === '' ? h('p', { class: 'muted' }, 'Nothing: the memory held nothing that matched its task.') : h('pre', {}, i.text)))));
}
