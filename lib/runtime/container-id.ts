import { readFileSync } from 'node:fs';

/**
 * The id of the Docker container this process runs in, or undefined outside one. Docker bind-mounts
 * /etc/hostname from `/var/lib/docker/containers/<id>/`, which /proc/self/mountinfo shows on both
 * cgroup versions; /proc/self/cgroup names the id under cgroup v1.
 */
export function ownContainerId(read: (file: string) => string = (file) => readFileSync(file, 'utf8')): string | undefined {
  for (const [file, pattern] of [
    ['/proc/self/mountinfo', /\/containers\/([0-9a-f]{64})\/hostname/],
    ['/proc/self/cgroup', /\/docker[/-]([0-9a-f]{64})/],
  ] as const) {
    try {
      const match = pattern.exec(read(file));
      if (match?.[1]) return match[1];
    } catch {
      // Not Linux, or not readable: try the next source.
    }
  }
  return undefined;
}
