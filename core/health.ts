/** Health as `/healthz` reports it: each component is up, degraded or down, with a reason. */
export type HealthState = 'up' | 'degraded' | 'down';

export interface ComponentHealth {
  readonly state: HealthState;
  readonly reason?: string;
  readonly [detail: string]: unknown;
}

export interface HealthSource {
  health(): ComponentHealth;
}

/** Collects named components' health; the overall state is the worst of them. */
export class HealthRegistry {
  readonly #sources = new Map<string, HealthSource>();

  register(name: string, source: HealthSource): void {
    this.#sources.set(name, source);
  }

  unregister(name: string): void {
    this.#sources.delete(name);
  }

  report(): { status: HealthState; components: Record<string, ComponentHealth> } {
    const components: Record<string, ComponentHealth> = {};
    let status: HealthState = 'up';
    for (const [name, source] of this.#sources) {
      let h: ComponentHealth;
      try {
        h = source.health();
      } catch (err) {
        h = { state: 'down', reason: `health check failed: ${(err as Error).message}` };
      }
      components[name] = h;
      if (h.state === 'down') status = 'down';
      else if (h.state === 'degraded' && status === 'up') status = 'degraded';
    }
    return { status, components };
  }
}
