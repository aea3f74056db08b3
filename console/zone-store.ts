import { readFileSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { parseDocument } from 'yaml';
import { writeFileAtomicSync } from '../core/index.ts';
import { ConfigInvalidError, formatIssue, validateCity, type City } from '../config/index.ts';
import { ConsoleNotFoundError, ConsoleZoneInvalidError } from './errors.ts';
import type { ZoneStore } from './types.ts';

/**
 * Saves a camera's zones into the city's YAML file (comments kept), after validating the whole
 * config with the config validator; then hands the new City to `onSaved` so the running engine
 * picks the zones up without a restart. Writes go through a temp file and a rename.
 */
export class CityFileZoneStore implements ZoneStore {
  readonly file: string;
  readonly #onSaved: (city: City) => void;
  #chain: Promise<unknown> = Promise.resolve();

  constructor(file: string, onSaved: (city: City) => void = () => {}) {
    this.file = file;
    this.#onSaved = onSaved;
  }

  saveZones(cameraId: string, zones: readonly unknown[]): Promise<readonly unknown[]> {
    // One save at a time, so two editors never interleave read-modify-write.
    const next = this.#chain.then(() => this.#save(cameraId, zones));
    this.#chain = next.catch(() => {});
    return next;
  }

  async #save(cameraId: string, zones: readonly unknown[]): Promise<readonly unknown[]> {
    const doc = parseDocument(readFileSync(this.file, 'utf8'));
    const raw = doc.toJS() as { cameras?: { id: string }[] };
    const index = (raw.cameras ?? []).findIndex((c) => c.id === cameraId);
    if (index < 0) throw new ConsoleNotFoundError('camera', cameraId);
    (raw.cameras![index] as { zones?: unknown }).zones = zones;
    let city: City;
    try {
      city = validateCity(raw, this.file, dirname(this.file));
    } catch (err) {
      if (err instanceof ConfigInvalidError) throw new ConsoleZoneInvalidError(cameraId, err.issues.map(formatIssue));
      throw err;
    }
    doc.setIn(['cameras', index, 'zones'], doc.createNode(zones));
    // The city file holds passwords: the new one keeps the old one's mode from its first byte
    // (not the umask's 0644 until the rename).
    writeFileAtomicSync(this.file, doc.toString(), { mode: statSync(this.file).mode & 0o777 });
    this.#onSaved(city);
    return city.cameras.get(cameraId)!.zones;
  }
}

/** For a city built in code (no file): validates and keeps the zones in memory. */
export class MemoryZoneStore implements ZoneStore {
  #raw: Record<string, unknown>;
  readonly #onSaved: (city: City) => void;

  constructor(city: City, onSaved: (city: City) => void = () => {}) {
    this.#raw = structuredClone(city.config) as unknown as Record<string, unknown>;
    this.#onSaved = onSaved;
  }

  async saveZones(cameraId: string, zones: readonly unknown[]): Promise<readonly unknown[]> {
    const raw = structuredClone(this.#raw) as { cameras: { id: string; zones: unknown }[] };
    const cam = raw.cameras.find((c) => c.id === cameraId);
    if (!cam) throw new ConsoleNotFoundError('camera', cameraId);
    cam.zones = zones;
    let city: City;
    try {
      city = validateCity(raw);
    } catch (err) {
      if (err instanceof ConfigInvalidError) throw new ConsoleZoneInvalidError(cameraId, err.issues.map(formatIssue));
      throw err;
    }
    this.#raw = raw;
    this.#onSaved(city);
    return city.cameras.get(cameraId)!.zones;
  }
}
