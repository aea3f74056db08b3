import type { TerminalT } from '../config/index.ts';
import { terminalTopics, SERVICE_USER_DEFAULT } from './acl.ts';

/**
 * The Mosquitto `acl_file` that matches the embedded broker's rules: the service user reads every
 * terminal topic, each terminal writes only its own topics and reads nothing.
 */
export function mosquittoAcl(terminals: Iterable<TerminalT>, serviceUser = SERVICE_USER_DEFAULT): string {
  const lines = ['# gridwatch: generated from the city config', `user ${serviceUser}`, 'topic read gw/terminals/+/+', 'topic read owntracks/+/+', ''];
  for (const t of terminals) {
    lines.push(`user ${t.username ?? t.id}`);
    for (const topic of terminalTopics(t)) lines.push(`topic write ${topic}`);
    lines.push('');
  }
  return lines.join('\n');
}
