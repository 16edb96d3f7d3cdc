import { describe, expect, it } from 'vitest';
import { endedShardChannel } from '../src/sharded-fanout.js';

describe('endedShardChannel', () => {
  it("reads the channel of ioredis's report of a server-sent sunsubscribe, commas in the name included", () => {
    const report = (channel: string) => new Error(`Command queue state error. If you can reproduce this, please report it. Last reply: sunsubscribe,${channel},0`);
    expect(endedShardChannel(report('fm:/0.news'))).toBe('fm:/0.news');
    expect(endedShardChannel(report('a,b'))).toBe('a,b');
    expect(endedShardChannel(new Error('Command queue state error. Last reply: message,x,y'))).toBeUndefined();
    expect(endedShardChannel('sunsubscribe')).toBeUndefined();
  });
});
