export * from './errors.ts';
export { Depacketizer, type AccessUnit, type AccessUnitSink, type DepacketizerCounters, type VideoCodec } from './rtsp/depacketizer.ts';
export { RtspSession, type RtspSessionOptions, type SessionState } from './rtsp/session.ts';
export { parseSdp, type SdpInfo, type SdpVideo } from './rtsp/sdp.ts';
export { CameraFarm, FARM_FAULTS, type FarmCamera, type FarmFault, type CameraFarmOptions, type CameraFarmStatus } from './sim/farm.ts';
export { startCameraFarm, farmCameraPath, type StartFarmOptions } from './sim/start.ts';
export { prepareClip, loadClip, DEFAULT_CLIP, DEFAULT_SOURCE, type ClipSpec, type Clip } from './sim/clip.ts';
