import { describe, expect, it } from '@jest/globals';
import axios, { type AxiosRequestConfig } from 'axios';
import { fullPathOf } from './full-path.js';

describe('fullPathOf', () => {
  it.each<AxiosRequestConfig>([
    { baseURL: 'https://api.example.com', url: '/me' },
    { baseURL: 'https://api.example.com/v1/', url: 'me' },
    { baseURL: 'https://api.example.com//', url: '//me' },
    { baseURL: 'https://api.example.com', url: 'https://other.example.com/me' },
    { baseURL: 'https://api.example.com', url: 'https://other.example.com/me', allowAbsoluteUrls: false },
    { baseURL: 'https://api.example.com', url: '//other.example.com/me' },
    { baseURL: 'https://api.example.com' },
    { url: 'https://other.example.com/me', params: { a: 1 } },
    { baseURL: 'https://api.example.com', url: 'HTTP://Other.example.com:80/me' },
  ])('joins %j as axios does, up to the query', (config) => {
    const byAxios = axios.getUri(config);
    const ours = fullPathOf(config);
    expect(ours).toBe(byAxios.split('?')[0]);
  });
});
