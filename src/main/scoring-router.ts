import type { AgentCatalog, DomainDefinition } from '../../lib/agents/agent-definitions.js';
import { dependencyWaves } from '../../lib/agents/dependency-waves.js';
import { compileProfile, scoreText, type KeywordProfile, type TextScore } from '../../lib/agents/keyword-score.js';
import { joinClauses, splitTaskClauses, type TaskClause } from '../../lib/agents/task-clauses.js';
import type { Plan, PlanStep, RoutableTask } from './plan.js';

/**
 * The least score that counts as a match: one keyword, or two words of a domain's description.
 * Below it a clause is treated as saying nothing about any domain.
 */
export const MIN_MATCH_SCORE = 0.5;

interface DomainMatch {
  domain: string;
  score: TextScore;
}

/** Scores texts against every domain of a catalog; profiles are built once per catalog. */
class DomainScorer {
  private static readonly cache = new WeakMap<AgentCatalog, DomainScorer>();

  /** The scorer of a catalog (a catalog does not change once loaded, so its profiles are kept). */
  static of(catalog: AgentCatalog): DomainScorer {
    let scorer = DomainScorer.cache.get(catalog);
    if (!scorer) DomainScorer.cache.set(catalog, (scorer = new DomainScorer(catalog)));
    return scorer;
  }

  private readonly profiles: { domain: DomainDefinition; profile: KeywordProfile }[];

  private constructor(private readonly catalog: AgentCatalog) {
    this.profiles = catalog.domains.map((domain) => ({ domain, profile: compileProfile(domain.keywords, domain.description) }));
  }

  all(text: string): DomainMatch[] {
    return this.profiles.map(({ domain, profile }) => ({ domain: domain.name, score: scoreText(text, profile) }));
  }

  /**
   * The best domain for a text, among `among` when given. Ties go to the fallback domain, then to the
   * first by name, so the same text always routes the same way.
   */
  best(text: string, among?: ReadonlySet<string>): DomainMatch | undefined {
    let best: DomainMatch | undefined;
    for (const match of this.all(text)) {
      if (among !== undefined && !among.has(match.domain)) continue;
      if (match.score.score < MIN_MATCH_SCORE) continue;
      const better =
        best === undefined ||
        match.score.score > best.score.score ||
        (match.score.score === best.score.score && match.domain === this.catalog.fallback.name);
      if (better) best = match;
    }
    return best;
  }
}

/**
 * Splits a task into one step per domain it touches, by keywords, without calling a model: the
 * default router, and the safety net of the model router. Each clause of the description goes to its
 * best domain; requirements follow the domain they match (or go to every step when they match none);
 * steps are ordered by the domains' `after` lists. When nothing matches, the whole task goes to the
 * catalog's fallback domain.
 */
export function planTask(task: RoutableTask, catalog: AgentCatalog): Plan {
  const scorer = DomainScorer.of(catalog);
  const description = task.description.trim();
  const requirements = (task.requirements ?? []).map((r) => r.trim()).filter((r) => r !== '');
  const scores = Object.fromEntries(scorer.all([description, ...requirements].join('\n')).map((m) => [m.domain, m.score.score]));

  const sentences = splitTaskClauses(description);
  const clauses = sentences.flatMap((sentence) => sentence.clauses);
  const clauseDomain = assignClauses(clauses, scorer);
  const matched = new Map<string, Set<string>>();
  const note = (match: DomainMatch) => {
    const words = matched.get(match.domain) ?? new Set<string>();
    match.score.matched.forEach((word) => words.add(word));
    matched.set(match.domain, words);
  };
  clauseDomain.matches.forEach(note);

  const requirementDomain = new Map<string, string>();
  for (const requirement of requirements) {
    const best = scorer.best(requirement);
    if (best === undefined) continue;
    requirementDomain.set(requirement, best.domain);
    note(best);
  }

  const domains = [...new Set([...clauseDomain.byClause.values(), ...requirementDomain.values()])];
  if (domains.length === 0) {
    const fallback = catalog.fallback.name;
    return {
      steps: [{ domain: fallback, description, dependsOn: [], requirements }],
      strategy: 'fallback',
      reason: `no domain keyword matched the task; sent whole to the fallback domain '${fallback}'`,
      scores,
    };
  }

  const ordered = dependencyWaves(domains, (name) => catalog.domain(name)?.after ?? []);
  const steps: PlanStep[] = ordered.order.map((domain) => {
    const chosen = new Set(clauses.filter((clause) => clauseDomain.byClause.get(clause) === domain));
    const own = requirements.filter((r) => requirementDomain.get(r) === domain);
    const text = chosen.size === clauses.length ? description : chosen.size > 0 ? joinClauses(sentences, chosen) : `${own.join('; ')} (part of: ${description})`;
    const mine = requirements.filter((r) => requirementDomain.get(r) === domain || !requirementDomain.has(r));
    return { domain, description: text, dependsOn: ordered.dependsOn[domain] ?? [], requirements: mine };
  });

  const because = ordered.order.map((domain) => `${domain} (${[...(matched.get(domain) ?? [])].join(', ') || 'description words'})`);
  const cycles = ordered.ignored.map(([unit, before]) => `${unit} after ${before}`);
  return {
    steps,
    strategy: 'score',
    reason: `keyword routing: ${because.join(', ')}${cycles.length > 0 ? `; ignored cyclic ordering ${cycles.join(', ')}` : ''}`,
    scores,
  };
}

/**
 * Assigns each clause to its best domain. A clause that matches nothing ("make it fast") joins the
 * domain of the clause before it, or after it when it comes first. When no clause matches on its own,
 * the description is scored whole (its heads included) and every clause goes to that domain.
 */
function assignClauses(clauses: readonly TaskClause[], scorer: DomainScorer): { byClause: Map<TaskClause, string>; matches: DomainMatch[] } {
  const byClause = new Map<TaskClause, string>();
  const matches: DomainMatch[] = [];
  const own = clauses.map((clause) => scorer.best(clause.text));
  own.forEach((match) => match && matches.push(match));
  if (matches.length === 0) {
    const whole = scorer.best(clauses.map((clause) => clause.text).join(' '));
    if (whole !== undefined) {
      clauses.forEach((clause) => byClause.set(clause, whole.domain));
      matches.push(whole);
    }
    return { byClause, matches };
  }
  let previous: string | undefined;
  clauses.forEach((clause, index) => {
    const domain = own[index]?.domain ?? previous ?? own.slice(index).find((match) => match !== undefined)?.domain;
    if (domain !== undefined) byClause.set(clause, domain);
    previous = domain;
  });
  return { byClause, matches };
}

/**
 * Gives each requirement to the planned domain it matches best; a requirement that matches none of
 * them is a general constraint and goes to every step. Used when the model chose the domains.
 */
export function spreadRequirements(requirements: readonly string[], domains: readonly string[], catalog: AgentCatalog): Record<string, string[]> {
  const scorer = DomainScorer.of(catalog);
  const planned = new Set(domains);
  const spread: Record<string, string[]> = Object.fromEntries(domains.map((domain) => [domain, []]));
  for (const requirement of requirements) {
    const best = scorer.best(requirement, planned);
    for (const domain of best === undefined ? domains : [best.domain]) spread[domain]?.push(requirement);
  }
  return spread;
}
