import { seededRandom } from '../core/index.ts';
import type { CityConfigT } from '../config/index.ts';

export interface GenerateOptions {
  cameras: number;
  terminals: number;
  /** Seed for the pseudo-random placement, so that a city can be made again exactly. */
  seed?: number;
  /** Where the simulated camera farm listens. */
  cameraFarmPort?: number;
  /** Run the simulators (camera farm, terminals, dispatch) inside the engine; off unless asked. */
  demo?: boolean;
  /** Top-left corner of the district. Defaults near Changchun's Nanguan district. */
  origin?: { lat: number; lon: number };
}


const CELL_M = 250;
const COLS = 12; // 12 × 10 = 120 cells
const ROWS = 10;
const SURNAMES = ['王', '李', '张', '刘', '陈', '杨', '赵', '黄', '周', '吴', '徐', '孙', '马', '朱', '胡', '郭'];
const GIVEN = ['伟', '芳', '娜', '敏', '静', '丽', '强', '磊', '军', '洋', '勇', '艳', '杰', '涛', '明', '超'];
const STREETS = [['南岭街道', 'Nanling Street'], ['自由大路街道', 'Ziyou Avenue Street'], ['永吉街道', 'Yongji Street'], ['曙光街道', 'Shuguang Street']] as const;

function pad(n: number, width: number): string {
  return String(n).padStart(width, '0');
}

type Feature = CityConfigT['areas']['features'][number];

/**
 * A demo district: 4 streets, 12 communities and 120 grid cells of about 250 m, with cameras
 * and terminals placed in cells, zones on every camera, departments, routing rules and SLAs.
 */
type GroundPoint = number[];
/**
 * One street-order zone per camera, in turn, on vtest.avi's plaza: people cross it, so crowds
 * and vendors can be seen; bicycles and spilled-out furniture only where a real camera shows them.
 */
const STREET_ORDER_ZONES: ((ground: GroundPoint) => Record<string, unknown>)[] = [
  (g) => ({ id: 'plaza', name: 'Plaza, no gatherings', type: 'crowd_gathering', polygon: [[0, 120], [640, 120], [640, 360], [0, 360], [0, 120]], min_people: 8, dwell_s: 60, ground_point: g }),
  (g) => ({ id: 'bikes', name: 'Pavement, no bicycles', type: 'non_motor_parking', polygon: [[0, 170], [640, 170], [640, 360], [0, 360], [0, 170]], dwell_s: 300, min_count: 1, ground_point: g }),
  (g) => ({ id: 'shops', name: 'Shop fronts', type: 'shopfront_spillover', polygon: [[0, 170], [640, 170], [640, 360], [0, 360], [0, 170]], shop_line: [[0, 190], [640, 190]], shop_side: 'left', dwell_s: 300, ground_point: g }),
  (g) => ({ id: 'vendors', name: 'Plaza, no mobile vendors', type: 'mobile_vendor', polygon: [[0, 170], [640, 170], [640, 360], [0, 360], [0, 170]], dwell_s: 60, ground_point: g }),
];

export function generateCity(options: GenerateOptions): Record<string, unknown> {
  const random = seededRandom(options.seed ?? 20161);
  const origin = options.origin ?? { lat: 43.876, lon: 125.3 };
  const dLat = CELL_M / 111_320;
  const dLon = CELL_M / (111_320 * Math.cos((origin.lat * Math.PI) / 180));
  const round = (v: number) => Math.round(v * 1e7) / 1e7;
  // Row 0 is the north edge; rows grow southwards.
  const rect = (c0: number, r0: number, c1: number, r1: number): number[][] => {
    const w = round(origin.lon + c0 * dLon), e = round(origin.lon + c1 * dLon);
    const n = round(origin.lat - r0 * dLat), s = round(origin.lat - r1 * dLat);
    return [[w, n], [e, n], [e, s], [w, s], [w, n]];
  };
  const feature = (id: string, name: string, name_en: string, level: Feature['properties']['level'], parent: string | undefined, ring: number[][]): Feature => ({
    type: 'Feature',
    properties: parent === undefined ? { id, name, name_en, level } : { id, name, name_en, level, parent },
    geometry: { type: 'Polygon', coordinates: [ring] },
  });

  const features: Feature[] = [feature('D01', '南关区', 'Nanguan District', 'district', undefined, rect(0, 0, COLS, ROWS))];
  const cells: { id: string; col: number; row: number }[] = [];
  STREETS.forEach(([zh, en], s) => {
    const sc = (s % 2) * 6, sr = Math.floor(s / 2) * 5;
    const streetId = `S${pad(s + 1, 2)}`;
    features.push(feature(streetId, zh, en, 'street', 'D01', rect(sc, sr, sc + 6, sr + 5)));
    for (let k = 0; k < 3; k++) {
      const communityId = `${streetId}C${k + 1}`;
      const cc = sc + k * 2;
      features.push(feature(communityId, `${zh.replace('街道', '')}第${k + 1}社区`, `${en.replace(' Street', '')} Community ${k + 1}`, 'community', streetId, rect(cc, sr, cc + 2, sr + 5)));
      for (let r = sr; r < sr + 5; r++) {
        for (let c = cc; c < cc + 2; c++) {
          const id = `G${pad(r + 1, 2)}${pad(c + 1, 2)}`;
          cells.push({ id, col: c, row: r });
          features.push(feature(id, `网格 ${id}`, `Grid cell ${id}`, 'cell', communityId, rect(c, r, c + 1, r + 1)));
        }
      }
    }
  });

  const pointIn = (cell: { col: number; row: number }) => ({
    lat: round(origin.lat - (cell.row + 0.15 + random() * 0.7) * dLat),
    lon: round(origin.lon + (cell.col + 0.15 + random() * 0.7) * dLon),
  });
  const secret = () => Array.from({ length: 16 }, () => 'abcdefghjkmnpqrstuvwxyz23456789'[Math.floor(random() * 31)]).join('');
  const port = options.cameraFarmPort ?? 8554;

  const cameras = Array.from({ length: options.cameras }, (_, i) => {
    const id = `cam-${pad(i + 1, 4)}`;
    const cell = cells[(i * 7) % cells.length]!;
    const { lat, lon } = pointIn(cell);
    const heading = Math.round(random() * 359);
    // Ground points a few tens of metres in front of the camera, along its heading.
    const ahead = (m: number) => [round(lat + (Math.cos((heading * Math.PI) / 180) * m) / 111_320), round(lon + (Math.sin((heading * Math.PI) / 180) * m) / (111_320 * Math.cos((lat * Math.PI) / 180)))];
    return {
      id,
      name: `${cell.id} 球机 ${i + 1}`,
      type: 'rtsp',
      url: `rtsp://127.0.0.1:${port}/${id}`,
      username: 'admin',
      password: secret(),
      lat,
      lon,
      heading_deg: heading,
      cell: cell.id,
      image_size: [640, 360],
      zones: [
        // vtest.avi's plaza: the parked van stands along the top edge, people cross below it.
        { id: 'kerb', name: 'No parking along the kerb', type: 'no_parking', polygon: [[0, 20], [640, 20], [640, 170], [0, 170], [0, 20]], dwell_s: 60, ground_point: ahead(25) },
        { id: 'walk', name: 'Pavement, no stalls', type: 'road_occupation', polygon: [[0, 170], [640, 170], [640, 360], [0, 360], [0, 170]], dwell_s: 120, ground_point: ahead(12) },
        STREET_ORDER_ZONES[i % STREET_ORDER_ZONES.length]!(ahead(12)),
      ],
    };
  });

  const terminals = Array.from({ length: options.terminals }, (_, i) => {
    const cell = cells[(i * 5) % cells.length]!;
    return {
      id: `T${pad(i + 1, 4)}`,
      worker: `${SURNAMES[Math.floor(random() * SURNAMES.length)]}${GIVEN[Math.floor(random() * GIVEN.length)]}${GIVEN[Math.floor(random() * GIVEN.length)]}`,
      role: i % 4 === 3 ? 'cleaner' : 'grid_worker',
      cell: cell.id,
      password: secret(),
    };
  });

  return {
    version: 1,
    city: { name: 'Nanguan demo district', timezone: 'Asia/Shanghai' },
    services: { data_dir: './data', http: { host: '127.0.0.1', port: 8080 }, mqtt: { port: 1883 } },
    demo: { camera_farm: options.demo ?? false, terminals: options.demo ?? false, dispatch: options.demo ?? false },
    areas: { type: 'FeatureCollection', features },
    cameras,
    terminals,
    categories: [
      // CJ/T 214's street-order classes (05 街面秩序) with a local list's numbers beside them.
      { code: 'mobile_vendor', name_zh: '无照经营游商', name_en: 'Unlicensed mobile vendor', standard_code: '0501', local_code: '602' },
      { code: 'shopfront_spillover', name_zh: '店外经营', name_en: 'Business spilling out of a shop', standard_code: '0504', local_code: '603' },
      { code: 'illegal_parking', name_zh: '机动车乱停放', name_en: 'Motor vehicle parked illegally', standard_code: '0505', local_code: '605' },
      { code: 'non_motor_parking', name_zh: '非机动车乱停放', name_en: 'Bicycle or motorcycle parked illegally', standard_code: '0506', local_code: '606' },
      // A fixed stall on the road has no minor class of its own among the four; the list's local number only.
      { code: 'road_vending', name_zh: '占道经营', name_en: 'Road-occupying vending (fixed stall)', local_code: '601' },
      { code: 'crowd_gathering', name_zh: '人群聚集', name_en: 'Crowd gathering', local_code: '401' },
      { code: 'sanitation', name_zh: '环境卫生', name_en: 'Sanitation' },
      { code: 'illegal_posting', name_zh: '乱张贴乱悬挂', name_en: 'Illegal posting or hanging' },
      { code: 'facility_damage', name_zh: '设施损坏', name_en: 'Damaged public facility' },
      { code: 'other', name_zh: '其他', name_en: 'Other' },
    ],
    departments: [
      { id: 'command', name_zh: '区网格化管理指挥中心', name_en: 'District grid command centre', command: true },
      { id: 'supervision', name_zh: '区监督考核部门', name_en: 'Supervision and assessment office', supervisory: true },
      { id: 'urban_mgmt', name_zh: '城市管理行政执法局', name_en: 'Urban management enforcement bureau' },
      { id: 'traffic_police', name_zh: '交警大队', name_en: 'Traffic police brigade' },
      { id: 'market_reg', name_zh: '市场监督管理局', name_en: 'Market regulation bureau' },
      { id: 'sanitation', name_zh: '环境卫生管理处', name_en: 'Sanitation department' },
      { id: 'public_works', name_zh: '市政设施管理处', name_en: 'Municipal facilities department' },
    ],
    routing: {
      default_department: 'command',
      merge_radius_m: 30,
      merge_window_s: 1800,
      rules: [
        { id: 'parking-daytime', categories: ['illegal_parking'], hours: ['07:00-21:00'], departments: ['traffic_police'] },
        { id: 'parking-night', categories: ['illegal_parking'], departments: ['urban_mgmt'] },
        // Road vending is handled jointly: enforcement clears the stall, market regulation checks the trader.
        { id: 'vending-enforcement', categories: ['road_vending'], departments: ['urban_mgmt'], continue: true },
        { id: 'vending-market', categories: ['road_vending'], areas: ['S01', 'S02'], departments: ['market_reg'] },
        { id: 'street-order', categories: ['non_motor_parking', 'shopfront_spillover', 'mobile_vendor'], departments: ['urban_mgmt'] },
        { id: 'sanitation', categories: ['sanitation'], departments: ['sanitation'] },
        { id: 'posting', categories: ['illegal_posting'], departments: ['urban_mgmt'] },
        { id: 'facilities', categories: ['facility_damage'], departments: ['public_works'] },
      ],
    },
    sla: [
      { id: 'parking', categories: ['illegal_parking'], sign_within_s: 300, resolve_within_s: 1800 },
      { id: 'vending', categories: ['road_vending'], sign_within_s: 600, resolve_within_s: 3600 },
      { id: 'default', sign_within_s: 3600, resolve_within_s: 86_400 },
    ],
  };
}
