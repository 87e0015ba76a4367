import { describe, expect, it } from '@jest/globals';
import { readParsedHeader, readRawHeader } from './response-headers.js';

describe('readRawHeader', () => {
  const raw = [
    Buffer.from('Location'),
    Buffer.from('/next'),
    Buffer.from('WWW-Authenticate'),
    Buffer.from('Bearer'),
    'www-authenticate',
    'DPoP error="use_dpop_nonce"',
    Buffer.from('Locations'),
    Buffer.from('/not-this'),
  ];

  it('finds a header whatever the case of its name, as a string', () => {
    expect(readRawHeader(raw, 'location')).toBe('/next');
  });

  it('returns every value of a repeated header, in order', () => {
    expect(readRawHeader(raw, 'www-authenticate')).toEqual(['Bearer', 'DPoP error="use_dpop_nonce"']);
  });

  it('returns undefined for a header that is absent', () => {
    expect(readRawHeader(raw, 'dpop-nonce')).toBeUndefined();
    expect(readRawHeader([], 'location')).toBeUndefined();
  });

  it('reads a repeated header that arrives as one entry of several values', () => {
    const joined = [Buffer.from('location'), [Buffer.from('/a'), Buffer.from('/b')], 'dpop-nonce', ['n1']];
    expect(readRawHeader(joined, 'location')).toEqual(['/a', '/b']);
    expect(readRawHeader(joined, 'dpop-nonce')).toBe('n1');
  });

  it('reads values as latin1, as undici parses them', () => {
    expect(readRawHeader([Buffer.from('location'), Buffer.from([0x2f, 0xe9])], 'location')).toBe('/\u00e9');
  });
});

describe('readParsedHeader', () => {
  it("reads undici's parsed object", () => {
    expect(readParsedHeader({ location: '/next', 'set-cookie': ['a', 'b'] }, 'set-cookie')).toEqual(['a', 'b']);
    expect(readParsedHeader({}, 'location')).toBeUndefined();
  });
});
