import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { packageRoot } from '../../lib/config.js';

/** The folder `kubectl apply -k` is pointed at. */
export const KUBERNETES_DIR = path.join(packageRoot(), 'deploy', 'kubernetes');

/** One document of one manifest file, as a cluster would receive it. */
export interface ManifestDocument {
  file: string;
  index: number;
  object: Record<string, unknown>;
}

/** Every .yaml file under deploy/kubernetes, relative to it, sorted. */
export function manifestFiles(dir = KUBERNETES_DIR): string[] {
  return (readdirSync(dir, { recursive: true, encoding: 'utf8' }) as string[])
    .filter((file) => file.endsWith('.yaml'))
    .map((file) => file.split(path.sep).join('/'))
    .sort();
}

/** The documents of one file; a YAML error or warning throws, naming the file. */
export function readManifest(file: string, dir = KUBERNETES_DIR): ManifestDocument[] {
  const documents = parseAllDocuments(readFileSync(path.join(dir, file), 'utf8'));
  if (!Array.isArray(documents)) throw new Error(`${file}: not a YAML stream`);
  return documents.map((document, index) => {
    const problems = [...document.errors, ...document.warnings];
    if (problems.length > 0) throw new Error(`${file} (document ${index + 1}): ${problems.map((p) => p.message).join('; ')}`);
    return { file, index, object: document.toJS() as Record<string, unknown> };
  });
}

/** The PromQL query of the Prometheus trigger of `domain`'s ScaledObject, as committed. */
export function scaledObjectQuery(domain: string): string {
  const scaled = readManifest(`domains/${domain}.yaml`).find((d) => d.object['kind'] === 'ScaledObject');
  const triggers = (scaled?.object['spec'] as { triggers?: { type: string; metadata: Record<string, string> }[] } | undefined)?.triggers ?? [];
  const query = triggers.find((t) => t.type === 'prometheus')?.metadata['query'];
  if (query === undefined) throw new Error(`domains/${domain}.yaml has no ScaledObject with a prometheus trigger`);
  return query;
}
