/** Finds and checks a container engine. */
import { Engine, ENGINES, EngineError, probeCommand, parseEngine } from '../core/image/engine';
import { TOOL_ENV } from '../core/config/names';
import { run } from './run';

export async function resolveEngine(
  option: string | undefined,
  env: NodeJS.ProcessEnv,
): Promise<Engine> {
  const chosen =
    parseEngine(option, '--engine') ?? parseEngine(env[TOOL_ENV.engine], TOOL_ENV.engine);
  if (chosen) {
    const r = await run(probeCommand(chosen), { stream: false });
    if (r.code !== 0) {
      const tail = r.output.trim().split('\n').slice(-3).join('\n');
      throw new EngineError(
        r.code === 127
          ? `Container engine "${chosen}" is not installed (not on PATH).`
          : `Container engine "${chosen}" is not running or not reachable:\n${tail}`,
      );
    }
    return chosen;
  }
  for (const engine of ENGINES) {
    if ((await run(probeCommand(engine), { stream: false })).code === 0) return engine;
  }
  throw new EngineError(
    `No container engine answers: install and start Docker or Podman, or set ${TOOL_ENV.engine}=docker|podman.`,
  );
}
