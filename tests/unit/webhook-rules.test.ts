import { describe, expect, it } from 'vitest';
import { approvalPlan, approvalWindowMs, requiresApproval } from '../../lib/protocol/approval.js';
import { parseTask } from '../../lib/protocol/task.js';
import { checkWebhookEvents, checkWebhookUrl, webhookEventOf, webhookRetryDelayMs } from '../../lib/webhooks/webhook-rules.js';
import { signWebhook, verifyWebhookSignature } from '../../lib/webhooks/webhook-signature.js';

function task(metadata: Record<string, unknown>, description = 'Add a health endpoint') {
  const parsed = parseTask(JSON.stringify({ task_id: 't-1', payload: { description, requirements: ['GET /health'] }, metadata }));
  if (parsed.kind !== 'ok') throw new Error(parsed.reason);
  return parsed.task;
}

describe('webhook rules', () => {
  it('takes http(s) URLs only, without credentials', () => {
    expect(checkWebhookUrl(' https://example.com/hooks/dan ')).toBe('https://example.com/hooks/dan');
    expect(() => checkWebhookUrl('ftp://example.com/x')).toThrow(/must be http:\/\/ or https:\/\//);
    expect(() => checkWebhookUrl('file:///etc/passwd')).toThrow(/must be http/);
    expect(() => checkWebhookUrl('https://user:pw@example.com/')).toThrow(/must not hold a user or password/);
    expect(() => checkWebhookUrl('not a url')).toThrow(/is not a URL/);
  });

  it('reads events: all by default, unknown ones refused with the list', () => {
    expect(checkWebhookEvents(undefined)).toEqual(['task.completed', 'task.failed', 'task.awaiting_approval']);
    expect(checkWebhookEvents(['task.failed', 'task.failed'])).toEqual(['task.failed']);
    expect(() => checkWebhookEvents(['task.started'])).toThrow(/unknown webhook event 'task.started'/);
  });

  it('maps stream events to webhook events and ignores the rest', () => {
    expect(webhookEventOf({ type: 'task.finished', status: 'completed' })).toBe('task.completed');
    expect(webhookEventOf({ type: 'task.finished', status: 'failed' })).toBe('task.failed');
    expect(webhookEventOf({ type: 'task.awaiting_approval' })).toBe('task.awaiting_approval');
    expect(webhookEventOf({ type: 'task.dead_lettered' })).toBeUndefined();
  });

  it('backs off exponentially with bounded jitter, capped at 5 minutes', () => {
    expect(webhookRetryDelayMs(1, () => 1)).toBe(1_000);
    expect(webhookRetryDelayMs(3, () => 1)).toBe(4_000);
    expect(webhookRetryDelayMs(3, () => 0)).toBe(3_000);
    expect(webhookRetryDelayMs(30, () => 1)).toBe(300_000);
  });

  it('verifies its own signature, and refuses another secret, a changed body and an old timestamp', () => {
    const body = '{"event":"task.completed"}';
    const signature = signWebhook('s3cret', 1_000, body);
    expect(verifyWebhookSignature('s3cret', body, { signature, timestamp: '1000' }, { nowS: 1_100 })).toBe(true);
    expect(verifyWebhookSignature('other', body, { signature, timestamp: '1000' }, { nowS: 1_100 })).toBe(false);
    expect(verifyWebhookSignature('s3cret', `${body} `, { signature, timestamp: '1000' }, { nowS: 1_100 })).toBe(false);
    expect(verifyWebhookSignature('s3cret', body, { signature, timestamp: '1000' }, { nowS: 2_000 })).toBe(false);
    expect(verifyWebhookSignature('s3cret', body, { signature: undefined, timestamp: '1000' }, { nowS: 1_000 })).toBe(false);
  });
});

describe('approval decisions', () => {
  it('gates a task that asks, or whose domain asks; a task cannot opt out of its domain', () => {
    expect(requiresApproval(task({}), false)).toBe(false);
    expect(requiresApproval(task({ approval: true }), false)).toBe(true);
    expect(requiresApproval(task({ approval: false }), true)).toBe(true);
  });

  it("takes the task's own window, else the network's", () => {
    expect(approvalWindowMs(task({ approval_timeout_seconds: 2.5 }), 60_000)).toBe(2_500);
    expect(approvalWindowMs(task({}), 60_000)).toBe(60_000);
    expect(parseTask(JSON.stringify({ payload: { description: 'x' }, metadata: { approval: 'yes' } })).kind).not.toBe('ok');
  });

  it('shows a bounded plan of the task as it will run', () => {
    const plan = approvalPlan(task({ verify: ['npm test'] }, 'x'.repeat(10_000)), 'backend');
    expect(plan).toMatchObject({ domain: 'backend', requirements: ['GET /health'], verify: ['npm test'], priority: 'normal' });
    expect(plan.description.length).toBeLessThanOrEqual(4_003);
  });
});
