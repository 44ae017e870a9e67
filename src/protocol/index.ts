/** src/protocol: the versioned wire format of qubes.DetBuild, shared by service, daemon and client. */
export * from './constants.js';
export * from './errors.js';
export * from './messages.js';
export * from './paths.js';
export * from './reader.js';
export * from './status.js';
export * from './writer.js';
export * from './read-ahead.js';
