import { describe, expect, it } from '@jest/globals';
import { originOf } from './origin-of.js';

const known = new Set(['http://127.0.0.1:4000', 'https://api.example.com', 'http://[::1]:8080']);

describe('originOf', () => {
  // Every one of these must come out exactly as the URL parser says, whether
  // or not it looks like a known origin at first sight.
  it.each([
    'http://127.0.0.1:4000/',
    'http://127.0.0.1:4000/me?x=1#y',
    'http://127.0.0.1:4000//evil.example/',
    'http://127.0.0.1:4000',
    'http://127.0.0.1:4000?q=/',
    'http://127.0.0.1:4000#/x',
    'http://127.0.0.1:40000/',
    'https://api.example.com.evil.example/',
    'https://api.example.com:4430/',
    'http://127.0.0.1:4000@evil.example/',
    'http://127.0.0.1:4000\\@evil.example/',
    'http://evil.example\\@127.0.0.1:4000/',
    'http://user:pass@127.0.0.1:4000/',
    ' http://127.0.0.1:4000/',
    '\thttp://127.0.0.1:4000/',
    'http://127.0.0.1:4\t000/',
    'HTTP://127.0.0.1:4000/',
    'https://API.example.com/v1',
    'https://api.example.com:443/v1',
    'https://api.example.com/v1',
    'https:api.example.com/v1',
    'http://[::1]:8080/',
    'http://[0:0::1]:8080/',
  ])('reads %j as the URL parser does', (target) => {
    expect(originOf(target, known)).toBe(new URL(target).origin);
  });

  it('reads a URL object without parsing again, and throws TypeError for what is not a URL', () => {
    expect(originOf(new URL('https://api.example.com/v1'), known)).toBe('https://api.example.com');
    // Jest runs tests in a realm of their own, so the class is checked by name.
    expect(() => originOf('/relative/path', known)).toThrow(expect.objectContaining({ name: 'TypeError' }));
    expect(() => originOf('http://127.0.0.1:4000.x/', known)).toThrow(expect.objectContaining({ name: 'TypeError' }));
  });
});
