import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../lib/config.js';
import { createModelAccess, modelEnv } from '../../lib/llm/create-llm-client.js';
import { silentLogger } from '../../lib/logger.js';

describe('createModelAccess', () => {
  it('refuses DAN_LLM=anthropic without a key, saying what to do', async () => {
    const config = loadConfig({ DAN_LLM: 'anthropic' });
    await expect(createModelAccess(config, silentLogger, {})).rejects.toThrow(/ANTHROPIC_API_KEY is not set: export it .* or set DAN_LLM=local/);
  });

  it('uses the real API when a key is set, honouring ANTHROPIC_BASE_URL', async () => {
    const config = loadConfig({ ANTHROPIC_API_KEY: 'sk-test', ANTHROPIC_BASE_URL: 'http://127.0.0.1:9' });
    const access = await createModelAccess(config, silentLogger, { ANTHROPIC_API_KEY: 'sk-test' });
    expect(access.description).toBe('Anthropic API at http://127.0.0.1:9');
    expect(modelEnv(access, config)).toEqual({ DAN_LLM: 'anthropic', ANTHROPIC_BASE_URL: 'http://127.0.0.1:9' });
    expect(JSON.stringify(modelEnv(access, config))).not.toContain('sk-test');
  });

  it('starts the local scripted server without a key, and tells spawned agents where it is', async () => {
    const access = await createModelAccess(loadConfig({}), silentLogger, {});
    try {
      expect(access.description).toMatch(/^local scripted model server at http:\/\/127\.0\.0\.1:\d+ \(no ANTHROPIC_API_KEY; answers are scripted/);
      expect(modelEnv(access, loadConfig({}))).toEqual({ DAN_LLM: 'local', DAN_LLM_URL: access.localUrl });
      const reply = await access.client.createMessage({ model: 'claude-sonnet-5-5', max_tokens: 64, messages: [{ role: 'user', content: 'hello' }] });
      expect(reply.role).toBe('assistant');
    } finally {
      await access.close();
    }
  });
});
