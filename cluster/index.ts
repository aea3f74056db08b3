export { CameraLeases, type CameraLeasesOptions } from './leases.ts';
export { Leadership, type LeadershipOptions } from './leadership.ts';
export { assignCameras } from './assign.ts';
export { LeaseBucketError } from './errors.ts';
