import { h, route, s } from './dom.js';

/** GET /workflows/{id} (src/api/workflow-routes.ts): each step after the steps it needs, with its depth. */
export interface WorkflowStep { name: string; task_id: string; status: string; needs: string[]; depth: number; error?: string }

const NODE_W = 160;
const NODE_H = 40;
const COL_GAP = 56;
const ROW_GAP = 14;
const PAD = 8;
const MAX_NAME = 20;

interface Box { x: number; y: number }

/** Where each step's node sits: one column per depth (a step is right of every step it needs), rows in the API's order. */
function layout(steps: WorkflowStep[]): { boxes: Map<string, Box>; width: number; height: number } {
  const rows: number[] = [];
  const boxes = new Map<string, Box>();
  for (const step of steps) {
    const row = rows[step.depth] ?? 0;
    rows[step.depth] = row + 1;
    boxes.set(step.name, { x: PAD + step.depth * (NODE_W + COL_GAP), y: PAD + row * (NODE_H + ROW_GAP) });
  }
  const columns = rows.length;
  const tallest = Math.max(1, ...rows.map((n) => n ?? 0));
  return { boxes, width: 2 * PAD + columns * NODE_W + Math.max(0, columns - 1) * COL_GAP, height: 2 * PAD + tallest * NODE_H + (tallest - 1) * ROW_GAP };
}

/** An edge from the right side of the step needed to the left side of the step that needs it. */
function edge(from: Box, to: Box, label: string): SVGElement {
  const x1 = from.x + NODE_W;
  const y1 = from.y + NODE_H / 2;
  const x2 = to.x - 2;
  const y2 = to.y + NODE_H / 2;
  const bend = (x2 - x1) / 2;
  return s('path', { class: 'wf-edge', d: `M${x1},${y1} C${x1 + bend},${y1} ${x2 - bend},${y2} ${x2},${y2}`, 'marker-end': 'url(#wf-arrow)', 'data-edge': label });
}

/**
 * A workflow drawn as a graph: each step a node (its name and state, coloured by state, a link to its
 * task), an arrow from each step it needs. Plain SVG; the list below it says the same in text (with each
 * failed step's error), for readers and for copying.
 */
export function workflowGraph(steps: WorkflowStep[]): HTMLElement {
  const { boxes, width, height } = layout(steps);
  const title = `Workflow of ${steps.length} steps: ${steps.filter((st) => st.status === 'completed').length} completed`;
  const svg = s('svg', { class: 'workflow-graph', viewBox: `0 0 ${width} ${height}`, width, height, role: 'group', 'aria-label': title }, s('title', {}, title),
    s('defs', {}, s('marker', { id: 'wf-arrow', viewBox: '0 0 8 8', refX: 7, refY: 4, markerWidth: 7, markerHeight: 7, orient: 'auto' },
      s('path', { d: 'M0,0 L8,4 L0,8 z', class: 'wf-arrow' }))));
  for (const step of steps) {
    const to = boxes.get(step.name);
    for (const need of step.needs) {
      const from = boxes.get(need);
      if (from && to) svg.append(edge(from, to, `${need}->${step.name}`));
    }
  }
  for (const step of steps) {
    const box = boxes.get(step.name);
    if (!box) continue;
    const name = step.name.length > MAX_NAME ? `${step.name.slice(0, MAX_NAME - 1)}…` : step.name;
    svg.append(s('a', { href: route('task', step.task_id), class: 'wf-node', 'data-step': step.name, 'data-status': step.status },
      s('title', {}, `${step.name}: ${step.status}${step.error ? ` - ${step.error}` : ''}`),
      s('rect', { x: box.x, y: box.y, width: NODE_W, height: NODE_H, rx: 6, class: `wf-state-${step.status}` }),
      s('text', { x: box.x + 8, y: box.y + 16, class: 'wf-name' }, name),
      s('text', { x: box.x + 8, y: box.y + 32, class: 'wf-status' }, step.status)));
  }
  const list = h('ul', { class: 'tree workflow' });
  for (const step of steps) {
    // A class per depth (style.css), not an inline style: the dashboard's CSP allows only its own stylesheet.
    list.append(h('li', { class: `wf-depth-${Math.min(step.depth, 8)}` },
      h('a', { href: route('task', step.task_id) }, step.name), ' ', h('span', { class: `status-${step.status}` }, step.status),
      step.needs.length > 0 ? h('span', { class: 'muted' }, ` needs ${step.needs.join(', ')}`) : null,
      step.error ? h('span', { class: 'error' }, ` ${step.error}`) : null));
  }
  return h('div', { class: 'workflow-view' }, h('div', { class: 'scroll' }, svg), list);
}
