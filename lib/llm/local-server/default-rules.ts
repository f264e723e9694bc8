import path from 'node:path';
import { listedCandidates, rankByOverlap } from './keyword-score.js';
import type { ReplySpec, Rule, RuleMatch } from './rules.js';
import { skeletonForTask, skeletonForWorker, type SkeletonContext } from './skeletons.js';

/**
 * The behaviour of the offline demo: answers that make the network do real file work without a
 * model. The request shapes are a contract with the rest of the network:
 *   - router: the system prompt contains `dan-router` and lists domains as `- <name>: <description>`;
 *     the first user message starts with `Task: <description>`. Answer: `{"steps": [...]}`.
 *   - worker selector: the system prompt contains `dan-worker-selector` and lists workers the same
 *     way. Answer: `{"workers": [...]}`.
 *   - postmortem: the system prompt contains `dan-postmortem`; the user message has `Task:`, `Domain:`
 *     and `Error:` lines. Answer: `{"analysis", "rules": [one lesson naming the error]}`.
 *   - reviewer: the system prompt contains `dan-reviewer`; the user message has `Task:` and `Round: <n>`
 *     lines and the changes (a diff with `+++ b/<path>` lines, or `--- <path>` blocks). Answer: in
 *     round 1 `request_changes` with one comment on the first changed file, later `approve`, so
 *     the demo shows a round of review.
 *   - memory question: the system prompt contains `dan-elf-answer`; the user message has the
 *     question and a `Memory:` list. Answer: a short text built from that list.
 *   - worker: the system prompt has `Worker: <name>` and `Domain: <domain>` lines, the first user
 *     message starts with `Task: <description>`, and the tools Read, Write, Edit, Glob, Grep and
 *     Bash take Claude Code's inputs. First turn: a Write of a small file chosen by the worker's
 *     name (see skeletons.ts). After the tool_result: the final JSON
 *     `{"summary", "files_created"?, "files_modified"?, "notes"?}`.
 *   - the Claude Code CLI (no `Worker:` line, a Write tool, the task in the prompt): a Write of an
 *     absolute path under its working directory, then a short text answer.
 * Anything else gets the engine's fallback text.
 */
export function defaultRules(): Rule[] {
  return [
    { name: 'router', when: { system: 'dan-router' }, reply: routerReply },
    { name: 'worker-selector', when: { system: 'dan-worker-selector' }, reply: workerSelectorReply },
    { name: 'postmortem', when: { system: 'dan-postmortem' }, reply: postmortemReply },
    { name: 'elf-answer', when: { system: 'dan-elf-answer' }, reply: elfAnswerReply },
    { name: 'reviewer', when: { system: 'dan-reviewer' }, reply: reviewerReply },
    { name: 'worker-write', when: { system: '^\\s*Worker:\\s*\\S', hasToolResult: false, tool: 'Write' }, reply: workerWrite },
    { name: 'worker-summary', when: { system: '^\\s*Worker:\\s*\\S' }, reply: workerSummary },
    { name: 'cli-write', when: { anyText: '\\S', hasToolResult: false, tool: 'Write' }, reply: cliWrite },
    { name: 'cli-answer', when: { anyText: '\\S', hasToolResult: true, tool: 'Write' }, reply: cliAnswer },
  ];
}

/** Marks every scripted answer, so nobody mistakes demo output for a model's work. */
const NOTE = 'scripted answer from the local model server (dan mock-llm)';
const CLI_NOTE = 'This answer was scripted by the local model server (dan mock-llm).';

function routerReply({ facts }: RuleMatch): ReplySpec {
  const domains = listedCandidates(facts.system);
  const chosen = rankByOverlap(facts.task, domains);
  const steps = chosen.map((domain) => ({
    domain: domain.name,
    description: chosen.length > 1 ? `${facts.task} (${domain.name} part)` : facts.task,
    depends_on: [] as string[],
  }));
  return { text: JSON.stringify({ steps }) };
}

function postmortemReply({ facts }: RuleMatch): ReplySpec {
  const line = (name: string) => new RegExp(`^${name}:\\s*(.*)$`, 'm').exec(facts.lastUser)?.[1]?.trim() ?? '';
  const error = line('Error').slice(0, 200);
  const domain = line('Domain');
  return {
    text: JSON.stringify({
      analysis: `The ${domain || 'domain'} task failed with: ${error || 'an unknown error'} (${NOTE}).`,
      rules: error ? [`In ${domain || 'this domain'}, check for the cause of "${error}" before starting similar work`] : [],
    }),
  };
}

function elfAnswerReply({ facts }: RuleMatch): ReplySpec {
  const memory = facts.lastUser.split(/^Memory:\s*$/m)[1]?.trim() ?? '';
  const items = memory.split('\n').map((l) => l.replace(/^-\s*/, '').trim()).filter((l) => l !== '');
  const text = items.length > 0
    ? `Memory holds ${items.length} relevant item(s). The strongest: ${items[0]}${items.length > 1 ? `. Also: ${items.slice(1, 3).join('; ')}` : ''}. (${NOTE})`
    : `Memory holds nothing on this. (${NOTE})`;
  return { text };
}

function reviewerReply({ facts }: RuleMatch): ReplySpec {
  const round = Number(/^Round:\s*(\d+)/m.exec(facts.lastUser)?.[1] ?? '1');
  if (round > 1) return { text: JSON.stringify({ verdict: 'approve', summary: `The requested change is in (${NOTE}).`, comments: [] }) };
  const file = /^\+\+\+ b\/(.+)$/m.exec(facts.lastUser)?.[1] ?? /^--- (\S+)/m.exec(facts.lastUser)?.[1] ?? 'README.md';
  return {
    text: JSON.stringify({
      verdict: 'request_changes',
      summary: `One change before this is done (${NOTE}).`,
      comments: [{ file, line: 1, text: 'Say in the first line which task this file is for.' }],
    }),
  };
}

function workerSelectorReply({ facts }: RuleMatch): ReplySpec {
  const workers = rankByOverlap(facts.task, listedCandidates(facts.system));
  return { text: JSON.stringify({ workers: workers.map((w) => w.name) }) };
}

function context({ vars }: RuleMatch): SkeletonContext {
  return {
    task: vars['task'] ?? '',
    slug: vars['slug'] ?? 'task',
    Pascal: vars['Pascal'] ?? 'Task',
    camel: vars['camel'] ?? 'task',
    snake: vars['snake'] ?? 'task',
    worker: vars['worker'] ?? '',
    domain: vars['domain'] ?? '',
  };
}

/** A later turn without a tool_result (a caller's "answer in JSON only" repair request) gets the summary, not a second Write. */
function workerWrite(match: RuleMatch): ReplySpec {
  if (match.facts.priorToolUses > 0) return workerSummary(match);
  const file = skeletonForWorker(context(match));
  const filePath = match.facts.cwd ? path.posix.join(match.facts.cwd, file.path) : file.path;
  return {
    text: `I'll create ${file.path} for this task.`,
    tool_use: [{ name: 'Write', input: { file_path: filePath, content: file.content } }],
  };
}

function workerSummary(match: RuleMatch): ReplySpec {
  const { facts } = match;
  const written = facts.lastFile ? relativeTo(facts.cwd, facts.lastFile) : '';
  const failed = facts.lastToolResult?.isError === true;
  const result: Record<string, unknown> = {};
  if (!written) {
    result['summary'] = `${facts.worker || 'worker'} looked at the task and changed no files: ${facts.task}`;
  } else if (failed) {
    result['summary'] = `${facts.worker || 'worker'} could not write ${written}: ${firstLine(facts.lastToolResult?.text ?? '')}`;
  } else {
    result['summary'] = `${facts.worker || 'worker'} created ${written} for: ${facts.task}`;
    result['files_created'] = [written];
  }
  result['notes'] = NOTE;
  return { text: JSON.stringify(result) };
}

function cliWrite(match: RuleMatch): ReplySpec {
  if (match.facts.priorToolUses > 0) return cliAnswer(match);
  const file = skeletonForTask(context(match));
  const filePath = path.posix.join(match.facts.cwd || '.', file.path);
  return {
    text: `I'll create ${file.path} for this task.`,
    tool_use: [{ name: 'Write', input: { file_path: filePath, content: file.content } }],
  };
}

function cliAnswer({ facts }: RuleMatch): ReplySpec {
  const written = relativeTo(facts.cwd, facts.lastFile);
  if (facts.lastToolResult?.isError) {
    return { text: `Could not write ${written || 'the file'}: ${firstLine(facts.lastToolResult.text)}. ${CLI_NOTE}` };
  }
  return { text: `Created ${written || 'the file'} for: ${facts.task}. ${CLI_NOTE}` };
}

function relativeTo(cwd: string, file: string): string {
  if (!cwd || !file.startsWith('/')) return file;
  const relative = path.posix.relative(cwd, file);
  return relative.startsWith('..') ? file : relative;
}

function firstLine(text: string): string {
  return text.trim().split('\n')[0] ?? '';
}
