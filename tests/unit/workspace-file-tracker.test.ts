import { describe, expect, it } from 'vitest';
import { FileTracker } from '../../lib/workspace/file-tracker.js';

describe('FileTracker', () => {
  it('lists created and modified files sorted and once each', () => {
    const tracker = new FileTracker();
    tracker.recordWrite('src/b.ts', false);
    tracker.recordWrite('src/a.ts', false);
    tracker.recordWrite('src/a.ts', false);
    tracker.recordWrite('README.md', true);
    tracker.recordWrite('README.md', true);
    expect(tracker.created).toEqual(['src/a.ts', 'src/b.ts']);
    expect(tracker.modified).toEqual(['README.md']);
  });

  it('keeps a file created and then edited as created', () => {
    const tracker = new FileTracker();
    tracker.recordWrite('app.js', false);
    tracker.recordWrite('app.js', true);
    expect(tracker.created).toEqual(['app.js']);
    expect(tracker.modified).toEqual([]);
  });

  it('counts a file that existed before as modified', () => {
    const tracker = new FileTracker();
    tracker.recordWrite('package.json', true);
    expect(tracker.created).toEqual([]);
    expect(tracker.modified).toEqual(['package.json']);
  });

  it('treats ./a and a as the same file', () => {
    const tracker = new FileTracker();
    tracker.recordWrite('./src//a.ts', false);
    tracker.recordWrite('src/a.ts', true);
    expect(tracker.created).toEqual(['src/a.ts']);
  });
});
