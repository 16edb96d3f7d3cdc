/** The Host header values a bind answers to, before and after the port is known. */
import { describe, expect, it } from 'vitest';
import { HostPin } from '../src/safety.js';

describe('HostPin', () => {
  it('answers to no Host at all on a loopback bind until the chosen port is known', () => {
    const pin = new HostPin('127.0.0.1', true, 0);
    expect(pin.allowed()).toEqual(new Set());
    pin.listening(5173);
    expect(pin.allowed()).toEqual(new Set(['127.0.0.1:5173', 'localhost:5173']));
  });

  it('pins a loopback bind with a fixed port from the start', () => {
    expect(new HostPin('[::1]', true, 8080).allowed()).toEqual(new Set(['[::1]:8080', 'localhost:8080']));
  });

  it('leaves the Host of another bind to its password', () => {
    const pin = new HostPin('0.0.0.0', false, 0);
    pin.listening(8080);
    expect(pin.allowed()).toBeUndefined();
  });
});
