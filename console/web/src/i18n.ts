export type Lang = 'zh' | 'en';

const DICT = {
  appName: ['网格化管理指挥中心', 'Grid management centre'],
  login: ['登录', 'Log in'], logout: ['退出', 'Log out'], username: ['用户名', 'User name'], password: ['密码', 'Password'],
  loginFailed: ['用户名或密码错误', 'Wrong user name or password'],
  changePassword: ['修改密码', 'Change password'], currentPassword: ['当前密码', 'Current password'], newPassword: ['新密码', 'New password'],
  repeatPassword: ['再次输入新密码', 'New password again'], passwordsDiffer: ['两次输入的新密码不一致', 'The new passwords differ'],
  mustChangePassword: ['这是一次性密码，请先设置新密码（至少 8 个字符）', 'This is a one-time password: set a new one first (at least 8 characters)'],
  loginThrottled: ['尝试次数过多，请稍后再试', 'Too many attempts; try again later'],
  alerts: ['告警', 'Alerts'], map: ['一张图', 'One map'], cameras: ['摄像头', 'Cameras'], cases: ['案件', 'Cases'],
  stats: ['统计', 'Statistics'], tuning: ['检测调优', 'Detector tuning'], users: ['用户', 'Users'],
  live: ['实时', 'Live'], offline: ['离线', 'Offline'], reconnecting: ['重连中', 'Reconnecting'],
  newAlerts: ['新告警', 'New alerts'], decided: ['已处理', 'Decided'], noAlerts: ['暂无新告警', 'No new alerts'],
  confirm: ['确认立案', 'Confirm'], dismiss: ['误报', 'Dismiss'], reason: ['原因', 'Reason'],
  dismissReason: ['误报原因', 'Why is it a false positive?'], confirmed: ['已确认', 'Confirmed'], dismissed: ['已排除', 'Dismissed'],
  camera: ['摄像头', 'Camera'], zone: ['区域', 'Zone'], cell: ['网格', 'Cell'], score: ['置信度', 'Score'], dwell: ['停留', 'Dwell'],
  category: ['类别', 'Category'], state: ['状态', 'State'], department: ['部门', 'Department'], all: ['全部', 'All'],
  time: ['时间', 'Time'], caseId: ['案件号', 'Case'], evidence: ['证据', 'Evidence'], timeline: ['流转记录', 'Timeline'],
  signDeadline: ['签收时限', 'Sign by'], resolveDeadline: ['处置时限', 'Resolve by'], overdue: ['已超时', 'overdue'],
  actions: ['操作', 'Actions'], detail: ['详情', 'Detail'], close: ['关闭', 'Close'],
  'action.dispatch': ['派遣', 'Dispatch'], 'action.return': ['退回', 'Return'], 'action.escalate': ['上报', 'Escalate'],
  'action.file': ['立案', 'File'], 'action.rework': ['返工', 'Send back (rework)'], 'state.filed': ['已立案', 'Filed'], 'role.command': ['指挥员', 'Command centre'],
  'action.close': ['核查结案', 'Verify & close'], 'action.transfer': ['移交', 'Transfer'], 'action.reopen': ['重新打开', 'Reopen'], 'action.invalidate': ['无效', 'Mark invalid'],
  'state.reported': ['已上报', 'Reported'], 'state.dispatched': ['已派遣', 'Dispatched'], 'state.signed': ['已签收', 'Signed'],
  'state.resolved': ['已处置', 'Resolved'], 'state.closed': ['已结案', 'Closed'], 'state.reopened': ['重新打开', 'Reopened'],
  'state.returned': ['已退回', 'Returned'], 'state.invalid': ['无效', 'Invalid'], 'state.transferred': ['已移交', 'Transferred'],
  'cam.up': ['在线', 'Up'], 'cam.degraded': ['降级', 'Degraded'], 'cam.down': ['离线', 'Down'], 'cam.unknown': ['未知', 'Unknown'],
  terminals: ['终端', 'Terminals'], worker: ['网格员', 'Worker'], openCases: ['未结案件', 'Open cases'], layers: ['图层', 'Layers'],
  zoneEditor: ['区域编辑', 'Zone editor'], zoneType: ['区域类型', 'Zone type'], dwellS: ['停留时长(秒)', 'Dwell (s)'], classes: ['目标类别', 'Classes'],
  'zone.no_parking': ['禁停区', 'No parking'], 'zone.road_occupation': ['占道经营区', 'Road occupation'],
  'zone.non_motor_parking': ['非机动车禁停区', 'No bicycle parking'], 'zone.shopfront_spillover': ['店外经营区', 'Shop fronts'],
  'zone.mobile_vendor': ['游商禁入区', 'No mobile vendors'], 'zone.crowd_gathering': ['人群聚集区', 'Crowd watch'],
  addZone: ['新建区域', 'New zone'], finishPolygon: ['闭合多边形', 'Close polygon'], clearPolygon: ['清除', 'Clear'], deleteZone: ['删除区域', 'Delete zone'],
  save: ['保存', 'Save'], saved: ['已保存，无需重启', 'Saved; applied without a restart'], drawHint: ['在画面上点击添加顶点', 'Click on the snapshot to add points'],
  noFrame: ['暂无画面', 'No frame yet'], refreshFrame: ['刷新画面', 'Refresh frame'], frameAt: ['画面时间', 'Frame of'], page: ['页', 'Page'], prev: ['上一页', 'Previous'], next: ['下一页', 'Next'], filter: ['筛选', 'Filter'],
  casesPerDay: ['每日案件', 'Cases per day'], opened: ['立案', 'Opened'], closedN: ['结案', 'Closed'], categoryShares: ['类别占比', 'Category shares'],
  closureRate: ['结案率', 'Closure rate'], onTimeSign: ['按时签收率', 'On-time sign rate'], onTimeClose: ['按时结案率', 'On-time close rate'],
  indicators: ['考核指标', 'Assessment indicators'], street: ['街道', 'Street'], reworkedN: ['返工次数', 'Sent back'],
  indOnTimeFiling: ['按时立案率', 'On-time filing rate'], indAccurateDispatch: ['准确派遣率', 'Accurate dispatch rate'],
  indOnTimeHandling: ['按期处置率', 'On-time handling rate'], indOnTimeClosure: ['按期结案率', 'On-time closure rate'],
  indRework: ['返工率', 'Rework rate'], indRepeat: ['重复案件率', 'Repeat-case rate'],
  departments: ['部门考核', 'Departments'], workerRanking: ['网格员排名', 'Worker ranking'], yellowLight: ['黄牌警告', 'Yellow-light list'],
  reports: ['上报数', 'Reports'], rank: ['名次', 'Rank'], casesN: ['案件数', 'Cases'],
  raised: ['告警数', 'Raised'], dismissedN: ['误报数', 'Dismissed'], confirmedN: ['确认数', 'Confirmed'], falseRate: ['误报率', 'False-positive share'],
  inferenceP50: ['推理耗时 p50 (ms)', 'Inference p50 (ms)'], inferenceP99: ['推理耗时 p99 (ms)', 'Inference p99 (ms)'], samples: ['采样数', 'Samples'],
  drops: ['丢弃采样', 'Dropped samples'], gating: ['变化门控跳过', 'Gated share'],
  role: ['角色', 'Role'], 'role.operator': ['值班员', 'Operator'], 'role.supervisor': ['监督员', 'Supervisor'], 'role.clerk': ['部门专员', 'Department clerk'], 'role.admin': ['管理员', 'Admin'],
  more: ['更多', 'more'], error: ['错误', 'Error'], forbidden: ['无权限', 'Not allowed'], loading: ['加载中…', 'Loading…'],
  groundPoint: ['地面位置 (纬度, 经度)', 'Ground point (lat, lon)'],
  deleteUser: ['删除', 'Remove'],
  liveView: ['实时画面', 'Live view'], liveUnavailable: ['无法打开实时画面', 'No live picture from this camera'],
  lang: ['English', '中文'], joinedCase: ['已并入案件', 'Joined case'], days: ['天', 'days'], reporter: ['上报人', 'Reporter'],
  'reason.shadow': ['阴影', 'Shadow'], 'reason.loading': ['临时装卸', 'Loading or unloading'], 'reason.parked_legally': ['合法停放', 'Parked legally'],
  'reason.wrong_class': ['类别识别错误', 'Wrong class'], 'reason.other': ['其他', 'Other'],
  zoneId: ['区域编号', 'Zone id'], classesHint: ['例如 car, truck', 'e.g. car, truck'], groundPointHint: ['纬度, 经度', 'lat, lon'],
} as const satisfies Record<string, readonly [string, string]>;

export type Key = keyof typeof DICT;

/** Every key with its Chinese and English label (the translation test reads it). */
export const LABELS: Readonly<Record<string, readonly [string, string]>> = DICT;

/**
 * The values a key built from a prefix (`state.`, `cam.`, `zone.`, `reason.`…) can take in the
 * views; console/i18n.test.ts checks that each has a label in both languages.
 */
export const DISMISS_REASONS = ['shadow', 'loading', 'parked_legally', 'wrong_class', 'other'] as const;
export const CAMERA_STATES = ['up', 'degraded', 'down', 'unknown'] as const;

/** A dismissal's reason as the operator picked it, in the UI's language; free text as it is. */
export function reasonLabel(reason: string): string {
  return (DISMISS_REASONS as readonly string[]).includes(reason) ? t(`reason.${reason}`) : reason;
}

const storage = typeof localStorage === 'undefined' ? null : localStorage;
let lang: Lang = (storage?.getItem('gw.lang') as Lang | null) ?? 'zh';

export function getLang(): Lang {
  return lang;
}

export function setLang(l: Lang): void {
  lang = l;
  storage?.setItem('gw.lang', l);
  document.documentElement.lang = l;
}

export function t(key: Key | string): string {
  const e = (DICT as Record<string, readonly [string, string]>)[key];
  return e ? e[lang === 'zh' ? 0 : 1] : key;
}

/** The name of a thing that has `name` (Chinese) and `name_en`. */
export function nameOf(x: { name?: string; name_en?: string; id?: string } | undefined, fallback = ''): string {
  if (!x) return fallback;
  return (lang === 'en' ? x.name_en ?? x.name : x.name ?? x.name_en) ?? x.id ?? fallback;
}
