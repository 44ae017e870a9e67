/** A small, valid lock (no archive behind it): for the tests of the lock itself and of what dom0 does with one. */
import { LOCK_FORMAT, type TemplateLock } from '../../src/recipes/template/index.js';

export const SAMPLE_LOCK: TemplateLock = {
  format: LOCK_FORMAT,
  suite: 'bookworm',
  architecture: 'amd64',
  archives: [{ uri: 'http://archive.invalid/debian/20250520T000000Z', suite: 'bookworm', components: ['main'] }],
  epoch: 1_747_699_200,
  packages: [
    { name: 'libc6', version: '2.36-9+deb12u14', arch: 'amd64' },
    { name: 'bsdutils', version: '1:2.38.1-5+deb12u3', arch: 'amd64' },
    { name: 'debconf', version: '1.5.82', arch: 'all' },
  ],
};
