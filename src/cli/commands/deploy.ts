import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import { loadAgentCatalog } from '../../../lib/agents/agent-catalog.js';
import { offeredDomains } from '../../../lib/agents/domain-kinds.js';
import { loadConfig } from '../../../lib/config.js';
import { ExitCode } from '../../../lib/errors.js';
import { DEFAULT_PROMETHEUS_URL, kubernetesDomainFiles, kubernetesDomainOptions } from '../../deploy/kubernetes-domains.js';
import type { GlobalArgs } from '../cli-context.js';
import { cliOverrides } from '../cli-context.js';
import { COMMAND_HEADINGS } from '../command-headings.js';

interface DeployArgs extends GlobalArgs {
  target?: string;
  out: string;
  prometheusUrl: string;
  check: boolean;
}

/** The text of `file`, or undefined when there is none. */
function readIfThere(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

/**
 * `dan deploy k8s`: writes the per-domain Kubernetes manifests (a Deployment and a KEDA ScaledObject
 * per domain of the agent catalog) under deploy/kubernetes/domains/, so adding a domain folder and
 * running it is all a cluster needs. `--check` writes nothing and exits 1 when a file differs (CI).
 */
export const deployCommand: CommandModule<GlobalArgs, DeployArgs> = {
  ...COMMAND_HEADINGS.deploy,
  builder: (yargs: Argv<GlobalArgs>) =>
    yargs
      .positional('target', { type: 'string', choices: ['k8s'], describe: 'What to write for: k8s (Kubernetes with KEDA)' })
      .option('out', { type: 'string', default: path.join('deploy', 'kubernetes'), describe: 'The folder of the Kubernetes manifests; files go to its domains/' })
      .option('prometheus-url', { type: 'string', default: DEFAULT_PROMETHEUS_URL, describe: 'Where KEDA queries the Prometheus that scrapes the main orchestrator' })
      .option('check', { type: 'boolean', default: false, describe: 'Write nothing; exit 1 naming each file that differs from what would be written' }) as unknown as Argv<DeployArgs>,
  handler: (argv: ArgumentsCamelCase<DeployArgs>) => {
    const config = loadConfig(process.env, cliOverrides(argv));
    const domains = offeredDomains(loadAgentCatalog(config.agentsDir), { elfEnabled: config.elf.enabled });
    const files = kubernetesDomainFiles(domains, kubernetesDomainOptions(config, argv.prometheusUrl));
    if (argv.check) {
      const stale = files.filter((f) => readIfThere(path.join(argv.out, f.file)) !== f.text).map((f) => path.join(argv.out, f.file));
      if (stale.length > 0) {
        process.stderr.write(`out of date with the agent catalog: ${stale.join(', ')}; run 'dan deploy k8s --out ${argv.out}' and commit the result\n`);
        process.exit(ExitCode.failed);
      }
      process.stdout.write(`${files.length} domain manifests under ${argv.out} match the agent catalog\n`);
      return;
    }
    for (const f of files) {
      const target = path.join(argv.out, f.file);
      mkdirSync(path.dirname(target), { recursive: true });
      writeFileSync(target, f.text);
      process.stdout.write(`wrote ${target}\n`);
    }
  },
};
