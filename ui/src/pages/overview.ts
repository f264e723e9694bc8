import { get } from '../api.js';
import { age, fill, h, route, table } from '../dom.js';
import type { PageContext } from '../page.js';
import { dataOr, every } from '../page.js';
import type { CostReport } from './history.js';

interface Waiting { incoming: number; high: number; normal: number; low: number; delayed: number }
interface DomainRow { domain: string; pending: number; waiting?: Waiting; running: number; dead: number; waiting_on_dependencies?: number }
interface Agent { agent_id: string; role: string; domain_type: string; status: string; last_heartbeat: string; alive: boolean; task_id?: string; unexplained: boolean }

/** Domains with work waiting and no live agent to take it: the first thing a person should see. */
export function stranded(domains: DomainRow[], agents: Agent[]): string[] {
  const served = new Set(agents.filter((a) => a.alive).map((a) => a.domain_type));
  return domains.filter((d) => d.pending > 0 && !served.has(d.domain)).map((d) => d.domain);
}

/** Overview: today's model-call cost; per domain what waits (by priority, delayed), runs and is dead-lettered; the live agents and their heartbeat age. */
export async function overviewPage(ctx: PageContext): Promise<void> {
  const body = h('div');
  fill(ctx.main, h('h1', {}, 'Overview'), body);
  const draw = async () => {
    const [domainsAnswer, agentsAnswer, costAnswer] = await Promise.all([get<{ domains: DomainRow[] }>('/domains'), get<{ agents: Agent[] }>('/agents'), get<CostReport>('/cost?by=domain')]);
    if (ctx.signal.aborted) return;
    const domains = dataOr(domainsAnswer, 'Queues per domain');
    const agents = dataOr(agentsAnswer, 'Agents');
    const agentList = 'data' in agents ? agents.data.agents : [];
    // Today's spend, from the model gateway's day counters (GET /cost; the caller's client, or every client's for an admin key).
    const cost = dataOr(costAnswer, 'Cost today');
    const warnings = 'data' in domains && 'data' in agents ? stranded(domains.data.domains, agentList) : [];
    const n = (value: number | undefined) => (value === undefined ? '–' : value);
    fill(body,
      ...warnings.map((d) => h('p', { class: 'warning', role: 'alert', 'data-stranded': d },
        `Domain ${d} has tasks waiting and no live agent: nothing will take them until one starts (is the main orchestrator running? 'dan up').`)),
      h('h2', {}, 'Cost today'),
      'data' in cost ? spentToday(cost.data.total) : cost.shown,
      h('h2', {}, 'Queues'),
      'data' in domains
        // 'after dependencies': tasks waiting on others, in no queue: not counted in pending, and no agent starts for them.
        ? table(['domain', 'incoming', 'ready high', 'ready normal', 'ready low', 'delayed', 'pending', 'running', 'dead-lettered', 'after dependencies'],
          domains.data.domains.map((d) => [
            h('a', { href: `${route('tasks')}?domain=${encodeURIComponent(d.domain)}` }, d.domain),
            n(d.waiting?.incoming), n(d.waiting?.high), n(d.waiting?.normal), n(d.waiting?.low), n(d.waiting?.delayed), d.pending, d.running,
            d.dead > 0 ? h('a', { href: `${route('dead-letters')}?domain=${encodeURIComponent(d.domain)}` }, String(d.dead)) : '0',
            n(d.waiting_on_dependencies),
          ]), { numeric: [1, 2, 3, 4, 5, 6, 7, 8, 9] })
        : domains.shown,
      h('h2', {}, 'Agents'),
      'data' in agents
        ? (agentList.length === 0 ? h('p', { class: 'muted' }, "No agent is registered: start the network with 'dan up'.")
          : table(['agent', 'role', 'domain', 'status', 'heartbeat age', 'alive', 'task'], agentList.map((a) => [
            a.agent_id, a.role, a.domain_type, a.status, age(a.last_heartbeat), a.alive ? 'yes' : h('span', { class: 'error' }, 'no'),
            a.task_id ? h('a', { href: route('task', a.task_id) }, a.task_id) : '',
          ])))
        : agents.shown,
      h('p', { class: 'muted' }, `Updated ${new Date().toLocaleTimeString()}; refreshes every 5 s.`));
  };
  await draw();
  every(ctx, 5000, draw);
}

/** One line of what today's model calls cost; calls to models without a price are named, never counted as $0. */
function spentToday(total: CostReport['total']): HTMLElement {
  const unpriced = total.unpriced_calls > 0 ? `, and ${total.unpriced_calls} call(s) to models without a price (cost unknown)` : '';
  return h('p', { 'data-cost-usd': String(total.usd) }, `$${total.usd.toFixed(6)} for ${total.calls} model call(s) today (UTC)${unpriced}; per domain and day on the History page.`);
}
