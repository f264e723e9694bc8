import type { AgentCatalog, DomainDefinition } from './agent-definitions.js';
import { InvalidInputError } from '../errors.js';

/** What a domain container may need mounted beyond the workspace: the ELF memory's databases. */
export type DomainMount = 'elfStore';

/** How the network treats one kind of domain; the kind is a domain's `handler` front-matter field. */
export interface DomainKind {
  /** Always running (started at once, restarted when it exits), rather than started when work waits. */
  resident: boolean;
  /** Planners send sub-tasks to it; otherwise it is asked by name only (`dan send elf ...`). */
  routed: boolean;
  /** Its folder must hold workers (`<domain>/workers/*.md`). */
  hasWorkers: boolean;
  mounts: readonly DomainMount[];
  /** The ELF memory learns from the tasks it finishes (not from its own answers). */
  learnedFrom: boolean;
  /** It is the network's memory: with DAN_ELF=off it is neither run nor offered. */
  isMemory: boolean;
}

/**
 * Every kind of domain, as data. A domain is a folder; its kind says how it runs (the program wires a
 * handler to each kind) and how the network treats it, so no code branches on a domain's name.
 */
export const DOMAIN_KINDS = {
  workers: { resident: false, routed: true, hasWorkers: true, mounts: [], learnedFrom: true, isMemory: false },
  farm: { resident: false, routed: true, hasWorkers: true, mounts: [], learnedFrom: true, isMemory: false },
  elf: { resident: true, routed: false, hasWorkers: false, mounts: ['elfStore'], learnedFrom: false, isMemory: true },
} as const satisfies Record<string, DomainKind>;

export type DomainKindName = keyof typeof DOMAIN_KINDS;
export const DOMAIN_KIND_NAMES = Object.keys(DOMAIN_KINDS) as [DomainKindName, ...DomainKindName[]];

/** The kind of a domain; a domain the catalog does not know is treated as a plain worker domain. */
export function kindOf(domain: Pick<DomainDefinition, 'handler'> | undefined): DomainKind {
  return DOMAIN_KINDS[domain?.handler ?? 'workers'];
}

/** The domains this network offers (publishes in its catalog, accepts tasks for): the memory only when ELF is on. */
export function offeredDomains(catalog: AgentCatalog, settings: { elfEnabled: boolean }): DomainDefinition[] {
  return (catalog.allDomains ?? catalog.domains).filter((domain) => settings.elfEnabled || !kindOf(domain).isMemory);
}

/** The offered domains that run whether or not work waits. */
export function residentDomains(catalog: AgentCatalog, settings: { elfEnabled: boolean }): string[] {
  return offeredDomains(catalog, settings).filter((domain) => kindOf(domain).resident).map((domain) => domain.name);
}

/** Whether the ELF memory learns from a task that ran in `domain`. */
export function learnsFrom(catalog: AgentCatalog, domain: string): boolean {
  return kindOf(catalog.domain(domain)).learnedFrom;
}

/**
 * The one domain of a kind that a command addresses without naming it (`dan farm start` sends to the
 * farm-kind domain, whatever its folder is called); errors name the fix when there is none or several.
 */
export function soleDomainOfKind(catalog: AgentCatalog, kind: DomainKindName): DomainDefinition {
  const found = (catalog.allDomains ?? catalog.domains).filter((domain) => (domain.handler ?? 'workers') === kind);
  if (found.length === 1) return found[0]!;
  const where = catalog.dir;
  if (found.length === 0) throw new InvalidInputError(`no domain in ${where} has 'handler: ${kind}': add a folder whose domain.md says so (agents/${kind} in this package is one)`);
  throw new InvalidInputError(`several domains in ${where} have 'handler: ${kind}' (${found.map((d) => d.name).join(', ')}): send to one by name with 'dan send <domain> ...'`);
}
