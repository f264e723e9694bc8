import { accessSync, appendFileSync, constants, existsSync, mkdirSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import path from 'node:path';
import { sleep } from '../clock.js';
import { DanError, oneLine } from '../errors.js';
import { linkDependencies } from '../farm/dependency-folders.js';
import { addWorktree, commitAll, git, headCommit, removeWorktree, repositoryRoot } from '../farm/farm-git.js';
import { FailureCode } from '../protocol/failure.js';
import type { Delivery } from '../protocol/task.js';
import { serialByKey } from '../serial-by-key.js';

/** Where the work of a task ended up, as its result's output says (`output.delivery`). */
export const DELIVERY_OUTCOMES = ['merged', 'branch', 'pushed', 'kept', 'unchanged'] as const;
export type DeliveryOutcome = (typeof DELIVERY_OUTCOMES)[number];

/** What a task's result says of its branch: fields added to `output`, so `dan diff` and people find the work. */
export interface BranchFields {
  repository: string;
  branch: string;
  base_commit: string;
  commit: string;
  delivery: DeliveryOutcome;
  merged_into?: string;
  remote?: string;
}

/** Why a completed task's work could not be delivered; its branch is kept either way. */
export interface DeliveryFailure {
  code: typeof FailureCode.mergeConflict | typeof FailureCode.deliveryFailed;
  message: string;
}

export interface Delivered {
  fields: BranchFields;
  failure?: DeliveryFailure;
  /** A line for the task's log: what happened to the work. */
  note: string;
}

/** What opening a task's branch gave: the branch, or why the task works in the folder itself (nothing when that is not a repository). */
export interface TaskBranchOpening {
  branch?: TaskBranch;
  note?: string;
}

export interface TaskBranchOptions {
  delivery: Delivery;
  /** The remote a `push` delivery pushes to. */
  remote: string;
  /** The folder tasks' worktrees are made in (DAN_TASK_DIR), outside the repository, so a worker sees no other task's. */
  dir: string;
}

// What marks the lines this network adds to a repository's info/exclude.
const EXCLUDE_MARK = '# dan: dependency folders linked into task worktrees';

/** The prefix of every task branch: `dan/<task-id>`. */
export const TASK_BRANCH_PREFIX = 'dan/';

// The network's own git steps run no repository hooks (they would run outside the sandbox, as the
// agent), and a push never waits for a password or a host key question nobody can answer.
const NO_PROMPTS = { GIT_SSH_COMMAND: process.env['GIT_SSH_COMMAND'] ?? 'ssh -o BatchMode=yes' };

// Commits of a task's branch name the network, whatever the machine's git configuration says.
const TASK_AUTHOR = {
  GIT_AUTHOR_NAME: 'dan', GIT_AUTHOR_EMAIL: 'tasks@dan.local',
  GIT_COMMITTER_NAME: 'dan', GIT_COMMITTER_EMAIL: 'tasks@dan.local',
};

/**
 * A task's own git worktree on branch `dan/<task-id>`, made from the commit the workspace's HEAD was
 * on when the task started, so concurrent tasks on one repository neither see nor overwrite each
 * other's files. The work is committed there when the task ends and delivered as configured; the
 * worktree is removed whatever the ending, the branch stays (`dan diff` reads it).
 */
export class TaskBranch {
  private constructor(
    readonly repository: string,
    /** The folder the task's workers work in. */
    readonly workspace: string,
    /** The repository's git folder: its commands may read it (git status, diff, log work) but not change it. */
    readonly gitDir: string,
    /** The repository's dependency folders linked into the worktree, read-only to commands. */
    readonly sharedFolders: readonly string[],
    readonly branch: string,
    readonly baseCommit: string,
    private readonly taskId: string,
    private readonly options: TaskBranchOptions,
  ) {}

  /**
   * Opens the branch of task `taskId` when `dir` is the top folder of a git repository with a commit.
   * A folder inside a repository (not its top), or a repository without commits, keeps today's
   * behaviour (the task works in the folder itself) and says why; uncommitted changes are left where
   * they are and the task starts from HEAD without them, which the note says.
   */
  static async open(dir: string, taskId: string, options: TaskBranchOptions): Promise<TaskBranchOpening> {
    const root = await repositoryRoot(dir);
    if (root === undefined) {
      // A .git git cannot read: git missing (the agent image has none), or a repository another user owns.
      if (!existsSync(path.join(dir, '.git'))) return {};
      const why = await git(dir, ['rev-parse', '--show-toplevel']).then(() => 'unknown', (error: unknown) => oneLine((error as Error).message));
      return { note: `the workspace ${dir} holds a .git, but git cannot use it (${why}): the task works in the folder itself; install git, or mark the repository safe (git config --global --add safe.directory ${dir})` };
    }
    if (realpathSync(root) !== realpathSync(dir)) {
      return { note: `the workspace ${dir} is inside the git repository ${root}, not its top folder: the task works in the folder itself, not on a branch of its own` };
    }
    const base = await headCommit(root);
    if (base === undefined) {
      return { note: `the git repository ${root} has no commits yet: the task works in the folder itself; make a first commit to give each task a branch of its own` };
    }
    const branch = `${TASK_BRANCH_PREFIX}${taskId}`;
    if (!(await git(root, ['check-ref-format', '--branch', branch]).then(() => true, () => false))) {
      return { note: `the task id ${taskId} cannot be part of a git branch name (it has '..' or ends in '.lock' or '.'): the task works in the folder itself` };
    }
    const gitDir = path.resolve(root, (await git(root, ['rev-parse', '--git-common-dir'])).trim());
    if (!writable(gitDir)) {
      return { note: `the git repository ${root} is not writable by this agent (uid ${process.getuid?.() ?? '?'}): the task works in the folder itself; make ${gitDir} writable by it to give each task a branch of its own` };
    }
    const worktree = path.join(options.dir, taskId);
    try {
      await serialized(root, () => withLockRetry(() => addWorktree(root, worktree, branch, base)));
    } catch (error) {
      throw new DanError(FailureCode.badConfig, `could not make the worktree of task ${taskId} at ${worktree}: ${oneLine((error as Error).message)}; set DAN_TASK_DIR to a folder this agent may write in`, { cause: error });
    }
    const shared = await serialized(root, () => shareDependencies(root, worktree, gitDir));
    const current = await currentBranch(root);
    const dirty = (await git(root, ['status', '--porcelain', '--untracked-files=no'])).trim() !== '';
    const from = `${base.slice(0, 12)}${current ? ` (${current})` : ' (detached HEAD)'}`;
    const note = `working on branch ${branch} from ${from}` + (dirty ? '; the workspace has uncommitted changes, which this task does not see (it starts from the last commit)' : '');
    const linked = shared.length > 0 ? `; ${shared.map((f) => path.relative(root, f)).join(', ')} linked from the checkout, read-only` : '';
    return { branch: new TaskBranch(root, worktree, gitDir, shared, branch, base, taskId, options), note: note + linked };
  }

  /** What the task's commands may read but not change: the git folder and the linked dependency folders. */
  get readOnly(): string[] {
    return [this.gitDir, ...this.sharedFolders];
  }

  /**
   * Commits what the task changed on its branch and, when it `completed`, delivers it. A failed task's
   * work is committed and kept on the branch, never delivered. Merges into the repository's current
   * branch one task at a time; a detached HEAD has no branch to merge into, so the work stays on its own.
   */
  async finish(completed: boolean, summary: string): Promise<Delivered> {
    const firstLine = oneLine(summary).slice(0, 72) || 'work';
    await commitAll(this.workspace, `dan ${this.taskId}: ${firstLine}`, TASK_AUTHOR);
    const commit = (await git(this.workspace, ['rev-parse', 'HEAD'])).trim();
    const fields = (delivery: DeliveryOutcome, extra: Partial<BranchFields> = {}): BranchFields => ({
      repository: this.repository, branch: this.branch, base_commit: this.baseCommit, commit, delivery, ...extra,
    });
    if (commit === this.baseCommit) return { fields: fields('unchanged'), note: `no changes to deliver: ${this.branch} is at its base commit` };
    if (!completed) return { fields: fields('kept'), note: `the task's work so far is kept on branch ${this.branch} (${commit.slice(0, 12)}), not delivered` };
    if (this.options.delivery === 'branch') return { fields: fields('branch'), note: `the work is on branch ${this.branch} (${commit.slice(0, 12)})` };
    if (this.options.delivery === 'push') return this.push(fields('pushed', { remote: this.options.remote }), fields('kept'));
    return serialized(this.repository, () => this.merge(fields));
  }

  /** Removes the worktree (the branch stays); safe to call more than once. */
  async close(): Promise<void> {
    await serialized(this.repository, () => removeWorktree(this.repository, this.workspace));
    rmSync(this.workspace, { recursive: true, force: true });
  }

  private async merge(fields: (delivery: DeliveryOutcome, extra?: Partial<BranchFields>) => BranchFields): Promise<Delivered> {
    const into = await currentBranch(this.repository);
    if (into === undefined) {
      return { fields: fields('branch'), note: `the workspace is at a detached HEAD, so there is no branch to merge into: the work is on branch ${this.branch}` };
    }
    try {
      await withLockRetry(() => git(this.repository, ['merge', '--no-ff', '--no-edit', '--no-verify', '-q', '-m', `dan: merge task ${this.taskId}`, this.branch], TASK_AUTHOR));
      return { fields: fields('merged', { merged_into: into }), note: `merged ${this.branch} into ${into}` };
    } catch (error) {
      const files = (await git(this.repository, ['diff', '--name-only', '--diff-filter=U']).catch(() => '')).split('\n').filter((l) => l !== '');
      // Only a merge that stopped at conflicts is ours to abort; one refused before it began left nothing.
      if (files.length > 0) await git(this.repository, ['merge', '--abort']).catch(() => undefined);
      const message = files.length > 0
        ? `merge conflict: ${this.branch} and ${into} both changed ${files.join(', ')}; the work is kept on branch ${this.branch}: merge it yourself in ${this.repository} (git merge ${this.branch}) and resolve the conflict`
        : `could not merge ${this.branch} into ${into}: ${oneLine((error as Error).message)}; the work is kept on branch ${this.branch}: commit or stash the changes in the way in ${this.repository}, then git merge ${this.branch}`;
      return { fields: fields('kept'), failure: { code: FailureCode.mergeConflict, message }, note: message };
    }
  }

  private async push(pushed: BranchFields, kept: BranchFields): Promise<Delivered> {
    const { remote } = this.options;
    try {
      await git(this.repository, ['push', '--quiet', '--no-verify', remote, `refs/heads/${this.branch}:refs/heads/${this.branch}`], NO_PROMPTS);
      return { fields: pushed, note: `pushed ${this.branch} to ${remote}` };
    } catch (error) {
      const message = `could not push ${this.branch} to the remote '${remote}': ${oneLine((error as Error).message)}; the work is kept on branch ${this.branch} in ${this.repository}: add the remote (git remote add ${remote} URL) or set DAN_TASK_REMOTE, then git push ${remote} ${this.branch}`;
      return { fields: { ...kept, remote }, failure: { code: FailureCode.deliveryFailed, message }, note: message };
    }
  }
}

/** The branch checked out in `root`, or undefined at a detached HEAD. */
async function currentBranch(root: string): Promise<string | undefined> {
  const name = (await git(root, ['symbolic-ref', '--quiet', '--short', 'HEAD']).catch(() => '')).trim();
  return name === '' ? undefined : name;
}

// Steps that change one repository's worktrees or checked-out branch run one at a time in this
// process: git does not add two worktrees, or merge twice, into one repository at once safely.
const serialized = serialByKey();

// Another process (another domain's agent on the same workspace) may hold the repository's index
// lock for a moment: 5 tries, waiting 200, 400, 600 and 800 ms between them (2 s in all), outlast a merge.
const LOCK_TRIES = 5;
const LOCK_WAIT_MS = 200;

async function withLockRetry<T>(step: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await step();
    } catch (error) {
      if (attempt >= LOCK_TRIES || !/\.lock'?: File exists/.test((error as Error).message)) throw error;
      await sleep(LOCK_WAIT_MS * attempt);
    }
  }
}

/** The branch fields of a result's output, when its task worked on a branch (`dan diff` reads them). */
export function readBranchFields(output: Record<string, unknown> | undefined): BranchFields | undefined {
  const text = (key: string) => (typeof output?.[key] === 'string' ? output[key] : undefined);
  const repository = text('repository');
  const branch = text('branch');
  const base = text('base_commit');
  const commit = text('commit');
  const delivery = DELIVERY_OUTCOMES.find((d) => d === text('delivery'));
  if (!repository || !branch || !base || !commit || !delivery) return undefined;
  return { repository, branch, base_commit: base, commit, delivery };
}

/**
 * A task's changes: `git diff` from the commit it started on to the commit of its work, in the
 * repository (another path to it, when this machine sees it elsewhere, than a container did).
 */
export async function taskDiff(fields: BranchFields, repository: string, options: { stat?: boolean } = {}): Promise<string> {
  return git(repository, ['diff', ...(options.stat ? ['--stat'] : []), fields.base_commit, fields.commit, '--']);
}

/**
 * Links the repository's ignored dependency folders (`node_modules`, `.venv`, ..., as the farm's result
 * worktree does) into a task's new worktree, so its checks and commands run as they do in the checkout,
 * and returns the folders linked. git does not take a link for the folder a `node_modules/` pattern
 * ignores, so each link is also listed in the repository's `info/exclude` (the checkout already ignores
 * those folders), once, under a line that says why: the links are never committed.
 */
async function shareDependencies(root: string, worktree: string, gitDir: string): Promise<string[]> {
  const linked = await linkDependencies(root, worktree);
  if (linked.length > 0) excludeLinks(gitDir, linked.map((folder) => `/${path.relative(root, folder).split(path.sep).join('/')}`));
  return linked;
}

function excludeLinks(gitDir: string, patterns: readonly string[]): void {
  const file = path.join(gitDir, 'info', 'exclude');
  const text = existsSync(file) ? readFileSync(file, 'utf8') : '';
  const lines = new Set(text.split('\n'));
  const missing = patterns.filter((p) => !lines.has(p));
  if (missing.length === 0) return;
  mkdirSync(path.dirname(file), { recursive: true });
  const mark = lines.has(EXCLUDE_MARK) ? [] : [EXCLUDE_MARK];
  appendFileSync(file, `${text === '' || text.endsWith('\n') ? '' : '\n'}${[...mark, ...missing].join('\n')}\n`);
}

function writable(dir: string): boolean {
  try {
    accessSync(dir, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}
