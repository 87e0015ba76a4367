import { createDefaultEsmPreset } from 'ts-jest';

/** @type {import('jest').Config} */
export default {
  ...createDefaultEsmPreset({ tsconfig: '<rootDir>/tsconfig.json' }),
  testEnvironment: 'node',
  roots: ['<rootDir>/packages', '<rootDir>/test', '<rootDir>/examples'],
  testMatch: ['**/*.test.ts'],
  moduleNameMapper: {
    '^@refreshkit/(core|express|koa|fastify|hono|redis|postgres|opentelemetry|undici|axios|got)$':
      '<rootDir>/packages/$1/src/index.ts',
    '^@refreshkit/core/(adapter|internal)$': '<rootDir>/packages/core/src/$1/index.ts',
    '^@refreshkit/example-(demo)$': '<rootDir>/examples/$1/src/run-demo.ts',
    '^@refreshkit/example-(express-app|koa-app|fastify-app)$': '<rootDir>/examples/$1/src/app.ts',
    '^@refreshkit/example-(worker)$': '<rootDir>/examples/$1/src/worker.ts',
    '^@refreshkit/example-(sandbox)$': '<rootDir>/examples/$1/src/index.ts',
    '^(\\.{1,2}/.*)\\.js$': '$1',
  },
  testTimeout: 30_000,
};
