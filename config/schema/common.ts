import { Type, type TSchema } from 'typebox';

/** Every config object rejects unknown keys. */
export function Strict<T extends Record<string, TSchema>>(properties: T, options: { description?: string; default?: object } = {}) {
  return Type.Object(properties, { additionalProperties: false, ...options });
}

/** A section whose every field has a default: absent means all defaults. */
export function Section<T extends Record<string, TSchema>>(properties: T, options: { description?: string } = {}) {
  return Strict(properties, { ...options, default: {} });
}

export const Id = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]*$', description: 'an id: letters, digits, _ . -' });
export const LatLon = Type.Tuple([Type.Number({ minimum: -90, maximum: 90 }), Type.Number({ minimum: -180, maximum: 180 })], { description: '[lat, lon]' });
export const Pixel = Type.Tuple([Type.Number({ minimum: 0 }), Type.Number({ minimum: 0 })], { description: '[x, y] in image pixels' });
export const Names = { name_zh: Type.String({ minLength: 1 }), name_en: Type.String({ minLength: 1 }) };
/** A local time window, `HH:MM-HH:MM`; it may wrap past midnight. */
export const HoursWindow = Type.String({ pattern: '^([01]\\d|2[0-3]):[0-5]\\d-([01]\\d|2[0-4]):[0-5]\\d$', description: 'HH:MM-HH:MM' });

