import { describe, expect, it } from 'vitest';
import { pascalCase, placeholderNames, renderDeep, renderTemplate, slugify } from '../../lib/llm/local-server/template.js';

describe('reply templates', () => {
  it('makes slugs from the first three meaningful words of a task', () => {
    expect(slugify('add a health endpoint')).toBe('health-endpoint');
    expect(slugify('Create the USER profile page, with avatars!')).toBe('user-profile-page');
    expect(slugify('Implement OAuth2 login')).toBe('oauth2-login');
    expect(slugify('add a new')).toBe('task');
    expect(slugify('')).toBe('task');
  });

  it('makes PascalCase names that are valid identifiers', () => {
    expect(pascalCase('add a health endpoint')).toBe('HealthEndpoint');
    expect(pascalCase('build 404 page')).toBe('T404Page');
    expect(pascalCase('')).toBe('Task');
  });

  it('replaces known placeholders and blanks unknown ones', () => {
    expect(renderTemplate('{{ a }}-{{b}}-{{missing}}', { a: 'x', b: 'y' })).toBe('x-y-');
    expect(renderTemplate('no placeholders {here}', {})).toBe('no placeholders {here}');
  });

  it('renders every string inside a tool input and leaves other values alone', () => {
    expect(renderDeep({ path: '{{p}}', list: ['{{p}}', 2, true, null], nested: { deep: 'at {{p}}' } }, { p: 'x' })).toEqual({
      path: 'x', list: ['x', 2, true, null], nested: { deep: 'at x' },
    });
  });

  it('finds the placeholders a reply uses', () => {
    expect(placeholderNames(['{{a}} {{ b }}', { c: '{{c}}', n: 1 }])).toEqual(['a', 'b', 'c']);
  });
});
