// Writes docs/event.schema.json from the TypeBox schema in bus/events.ts: `npx tsx scripts/event-schema.ts`.
import { writeFileSync } from 'node:fs';
import { eventJsonSchema } from '../domain/index.ts';

writeFileSync(new URL('../docs/event.schema.json', import.meta.url), JSON.stringify(eventJsonSchema(), null, 2) + '\n');
