/** src/client: the calling qube's end of qubes.DetBuild (`detbuild remote`). */
export { runRemote, SERVICE, type RemoteMode, type RemoteOptions, type RemoteProgress, type RemoteResult } from './remote.js';
export { writeRequest } from './request.js';
export { readResponse, type ResponseHandlers, type ResponseResult } from './response.js';
export { packSources } from './sources.js';
export { ClientError } from './errors.js';
