export { CameraLeases, type CameraLeasesOptions } from './leases.ts';
export { assignCameras } from './assign.ts';
export { LeaseBucketError } from './errors.ts';
