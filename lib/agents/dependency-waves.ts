/** The order in which a set of named units can run, given what each must run after. */
export interface DependencyWaves {
  /** Units grouped by level: everything in one wave may run together, after all earlier waves. */
  waves: string[][];
  /** The waves flattened: a valid run order, earlier input order first among equals. */
  order: string[];
  /** The edges kept for each unit (what it runs after), limited to the given units and free of cycles. */
  dependsOn: Record<string, string[]>;
  /** Edges dropped because they would have closed a cycle, as `[unit, runsAfter]` pairs. */
  ignored: [string, string][];
}

/**
 * Orders units (domains of a plan, workers of a domain) by their `after` lists. Names outside the set
 * are ignored, and an edge that would close a cycle is dropped instead of failing: a plan with a
 * slightly wrong ordering is more useful than no plan. Edges are considered in input order, so which
 * edge of a cycle is dropped is deterministic.
 */
export function dependencyWaves(units: readonly string[], after: (unit: string) => readonly string[]): DependencyWaves {
  const names = [...new Set(units)];
  const present = new Set(names);
  const dependsOn: Record<string, string[]> = {};
  const ignored: [string, string][] = [];
  for (const name of names) dependsOn[name] = [];

  const reaches = (from: string, target: string): boolean => {
    const stack = [from];
    const seen = new Set<string>();
    while (stack.length > 0) {
      const current = stack.pop() as string;
      if (current === target) return true;
      if (seen.has(current)) continue;
      seen.add(current);
      stack.push(...(dependsOn[current] ?? []));
    }
    return false;
  };

  for (const name of names) {
    for (const before of after(name)) {
      const edges = dependsOn[name] ?? [];
      if (!present.has(before) || edges.includes(before)) continue;
      // `name` runs after `before`: a cycle if `before` already (transitively) runs after `name`.
      if (before === name || reaches(before, name)) {
        ignored.push([name, before]);
        continue;
      }
      edges.push(before);
    }
  }

  const level = new Map<string, number>();
  const levelOf = (name: string): number => {
    const known = level.get(name);
    if (known !== undefined) return known;
    const deps = dependsOn[name] ?? [];
    const value = deps.length === 0 ? 0 : 1 + Math.max(...deps.map(levelOf));
    level.set(name, value);
    return value;
  };
  const waves: string[][] = [];
  for (const name of names) {
    const index = levelOf(name);
    while (waves.length <= index) waves.push([]);
    waves[index]?.push(name);
  }
  return { waves, order: waves.flat(), dependsOn, ignored };
}
