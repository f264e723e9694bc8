/**
 * The files a worker's tools created and changed, for the `files_created` / `files_modified` lists
 * of the task output (the first version always reported them empty). Paths are workspace-relative
 * with `/` separators. A file created and then edited stays created; a file that existed before the
 * task and was written counts as modified. Only the file tools report here: what a Bash command
 * changes is not seen.
 */
export class FileTracker {
  private readonly createdFiles = new Set<string>();
  private readonly modifiedFiles = new Set<string>();
  private readonly readFiles = new Set<string>();

  /** Records that a tool read `relativePath` (the ELF memory's trails count reads too). */
  recordRead(relativePath: string): void {
    this.readFiles.add(normalise(relativePath));
  }

  /** Files read and neither created nor changed; sorted. */
  get read(): string[] {
    return [...this.readFiles].filter((f) => !this.createdFiles.has(f) && !this.modifiedFiles.has(f)).sort();
  }

  /** Records a write to `relativePath`; `existedBefore` is whether the file was there just before. */
  recordWrite(relativePath: string, existedBefore: boolean): void {
    const file = normalise(relativePath);
    if (this.createdFiles.has(file) || this.modifiedFiles.has(file)) return;
    (existedBefore ? this.modifiedFiles : this.createdFiles).add(file);
  }

  /** Files that did not exist before a tool wrote them; sorted. */
  get created(): string[] {
    return [...this.createdFiles].sort();
  }

  /** Files that existed and were changed; sorted. */
  get modified(): string[] {
    return [...this.modifiedFiles].sort();
  }
}

function normalise(file: string): string {
  const parts = file.replace(/\\/g, '/').split('/').filter((part) => part !== '' && part !== '.');
  return parts.join('/');
}
