/** Placeholder until this adapter lands; see the issue tracker. */
export const PACKAGE_NAME = '@refreshkit/redis';
