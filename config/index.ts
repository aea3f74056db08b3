export { loadCity, validateCity } from './load.ts';
export { ConfigInvalidError, ConfigReadError, formatIssue, type ConfigIssue } from './errors.ts';
export { CityConfig } from './schema/city.ts';
export { AREA_LEVELS, type AreaLevel } from './schema/areas.ts';
export { Camera, CameraDetect, Zone, type CameraDetectT } from './schema/cameras.ts';
export {
  ZONE_TYPES, ZONE_RULES, CAMERA_RULES, ZONE_TYPE_DEFAULTS, VEHICLE_CLASSES, STALL_CLASSES, NON_MOTOR_CLASSES, SPILLOVER_CLASSES, MOBILE_STALL_CLASSES,
  applyZoneTypeDefaults, type ZoneType, type ZoneRule,
} from './schema/zone-types.ts';
export type { ServicesT } from './schema/services.ts';
export { Detectors } from './schema/pipeline.ts';
export type { IngestT, DetectorsT, ModelT } from './schema/pipeline.ts';
export type { DemoT } from './schema/demo.ts';
export type { BeaconsT } from './schema/beacons.ts';
export type { RouteRuleT, RoutingT, SlaPolicyT } from './schema/people.ts';
export type { City, CityConfigT, Area, CameraT, ZoneT, TerminalT, CategoryT, DepartmentT } from './city.ts';
export { CityGrid, type CellHit } from './grid.ts';
export { REQUIRED_CATEGORIES } from './semantics.ts';
export { haversineM, pointInRing, isClosed, findSelfIntersection, type Point, type Ring } from './geometry.ts';
export { loadZones } from './zones.ts';
