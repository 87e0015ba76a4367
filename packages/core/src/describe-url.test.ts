import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { describeUrl } from './describe-url.js';

describe('describeUrl', () => {
  it.each([
    ['https://idp.example.com/oauth/token?p=B2C_1&secret=x#frag', 'https://idp.example.com/oauth/token'],
    ['https://user:pw@idp.example.com/token', 'https://idp.example.com/token'],
    ['https://user:pw@idp example.com/token?x=1', 'https://[credentials]@idp example.com/token'],
    ['not a url?token=abc', 'not a url'],
    ['mailto:someone@example.com', 'mailto:someone@example.com'],
  ])('shows %s as %s', (value, shown) => {
    expect(describeUrl(value)).toBe(shown);
  });

  it('never shows the password or the query of any URL, parsable or not', () => {
    fc.assert(
      fc.property(fc.webUrl({ withQueryParameters: true, withFragments: true }), fc.boolean(), (url, breakIt) => {
        const withSecrets =
          url.replace('://', '://admin:SENTINEL-pw@') + (url.includes('?') ? '&' : '?') + 'k=SENTINEL-q';
        const value = breakIt ? withSecrets.replace('://admin', '://ad min') : withSecrets;
        expect(describeUrl(value)).not.toContain('SENTINEL');
      }),
      { numRuns: 300 },
    );
  });
});
