/**
 * Simulators for demos, tests and benchmarks: a camera farm, walking terminals, departments'
 * dispatch systems, a console demo feed and a generated demo city. Production code does not
 * import this module; the CLI (`gridwatch sim …`, `gridwatch city generate`), tests and
 * benchmarks do.
 */
export { CameraFarm, FARM_FAULTS, type FarmCamera, type FarmFault, type FarmScene, type CameraFarmOptions, type CameraFarmStatus } from './camera-farm.ts';
export { startCameraFarm, farmCameraPath, farmCamerasFor, assignScenes, stillClipSpec, STILL_AT_S, type StartFarmOptions } from './start-camera-farm.ts';
export { prepareClip, loadClip, splitAnnexB, DEFAULT_CLIP, DEFAULT_SOURCE, type ClipSpec, type Clip, type ClipFrame } from './clip.ts';
export { packetizeFrame, stampFrame, type FrameTemplate } from './packetize.ts';
export { TerminalSimulator, TINY_JPEG_B64, type TerminalSimOptions } from './terminals.ts';
export { DispatchSimulator, type DispatchSimOptions, type DispatchSimStatus } from './dispatch.ts';
export { sceneJpeg, cameraAlert } from './scene.ts';
export { generateCity, type GenerateOptions } from './demo-city.ts';
export { demoSimulators } from './demo.ts';
export { MemoryCaseDesk } from './case-desk.ts';
