// The packed packages from plain ESM.
import * as core from '@refreshkit/core';
import * as express from '@refreshkit/express';
import * as fastify from '@refreshkit/fastify';
import * as hono from '@refreshkit/hono';
import * as koa from '@refreshkit/koa';
import * as opentelemetry from '@refreshkit/opentelemetry';
import * as postgres from '@refreshkit/postgres';
import * as redis from '@refreshkit/redis';
import * as refreshkitAxios from '@refreshkit/axios';
import * as refreshkitGot from '@refreshkit/got';
import * as refreshkitUndici from '@refreshkit/undici';
import axios from 'axios';
import * as undici from 'undici';
import runner from './run-js-scenario.cjs';

const clients = { undici, axios, refreshkitUndici, refreshkitAxios, refreshkitGot };
runner.runJsScenario({ core, express, koa, fastify, hono, redis, postgres, opentelemetry, clients }).catch((error) => {
  console.error(error);
  process.exit(1);
});
