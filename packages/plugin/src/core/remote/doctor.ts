/**
 * doctor: is a host ready for the app? One small POSIX shell script runs every check on the host
 * in one SSH round trip and prints one tab-separated line per check; the parser and the report
 * (one line per check: ok, or FIX with what to do) are pure.
 */
import type { Command } from '../image/engine';
import type { SshSettings } from './ansible';
import { onHost, shellQuote } from './host';
import { appPath, registryHost } from '../config/names';
import { environmentName, projectPrefix, type Profile } from '../config/profile';
import { edgePorts } from '../edge/edge';

export const DOCTOR_MARK = 'CONVEYOR-DOCTOR';

export const DOCTOR_CHECKS = [
  'engine',
  'engine-access',
  'compose',
  'disk',
  'ports',
  'edge',
  'registry',
  'clock',
  'python3',
  'abandoned',
] as const;
export type DoctorCheckName = (typeof DOCTOR_CHECKS)[number];

/** warn: worth knowing before a deploy, never a reason to refuse one. */
export type DoctorStatus = 'ok' | 'fail' | 'skip' | 'warn';

export interface DoctorCheck {
  check: DoctorCheckName;
  status: DoctorStatus;
  /** What the host said (a version, the free space, the port and who holds it, ...). */
  detail: string;
}

export interface DoctorInput {
  app: string;
  /** The profile (environment) name: the way out of an abandoned release names it. */
  env: string;
  /** The app's folder on the host (<deploy_path>/<app>): the disk check measures its filesystem. */
  appPath: string;
  composeCommand: string;
  /** The registry as the profile names it (a scheme is kept when given). */
  registry: string;
  /** The app's own compose projects: a port they publish counts as the app's. */
  projects: string[];
  /** Ports the app publishes on the host. */
  ports: number[];
  /** The public ports, which the app's proxy holds on the host network (no port mapping to see). */
  publicPorts: number[];
  minFreeGiB: number;
  /** The edge's ports on the host (80/443) when the profile gives the app a domain; else none. */
  edgePorts: number[];
  /** The app's domain ('' without one): a warning when it does not resolve to the host. */
  domain: string;
  /** The edge's container (the profile's edge_name). */
  edgeName: string;
}

/**
 * The compose projects of an app on a host: <prefix> (recreate) and <prefix>-{proxy,blue,green},
 * and the same under the app's own name, which an older Conveyor used (a host keeps its names).
 */
export function appProjects(prefix: string, app?: string): string[] {
  const names = (p: string) => [p, `${p}-proxy`, `${p}-blue`, `${p}-green`];
  return app && app !== prefix ? [...names(prefix), ...names(app)] : names(prefix);
}

export function doctorInput(
  profile: Profile,
  app: string,
  ports: number[],
  opts: { minFreeGiB?: number; projectPrefix?: string; publicPorts?: number[] } = {},
): DoctorInput {
  return {
    edgePorts: edgePorts(profile),
    domain: edgePorts(profile).length ? (profile.domain ?? '') : '',
    edgeName: profile.edge_name,
    publicPorts: opts.publicPorts ?? [],
    app,
    env: environmentName(profile),
    appPath: appPath(profile, app),
    composeCommand: profile.compose_command,
    registry: profile.registry,
    projects: appProjects(projectPrefix(app, profile, opts.projectPrefix), app),
    ports: [...new Set(ports)].sort((a, b) => a - b),
    minFreeGiB: opts.minFreeGiB ?? 2,
  };
}

/** URLs whose answer (200 or 401) shows the registry's API is reachable: https first, then http. */
export function registryUrls(registry: string): string[] {
  const host = registryHost(registry);
  const scheme = /^(https?):\/\//i.exec(registry.trim())?.[1]?.toLowerCase();
  const [name] = host.split('/');
  if (scheme) return [`${scheme}://${name}/v2/`];
  return [`https://${name}/v2/`, `http://${name}/v2/`];
}

/**
 * Shell that finds the app's compose projects whose containers run from a folder that no longer
 * exists on the host (an abandoned release: its deploy_path was deleted, say by a reboot that
 * emptied /tmp) and prints one doctor line `abandoned warn|ok`. Needs ENGINE and PROJECTS.
 */
const ABANDONED_SCAN = `gone=''
if [ -n "$ENGINE" ]; then
  for pr in $PROJECTS; do
    for d in $("$ENGINE" ps -a --filter "label=com.docker.compose.project=$pr" --format '{{.Label "com.docker.compose.project.working_dir"}}' 2>/dev/null | sort -u); do
      [ -d "$d" ] || gone="$gone $pr=$d"
    done
  done
  if [ -n "$gone" ]; then say abandoned warn "\${gone# }"; else say abandoned ok "no release of the app runs from a deleted folder"; fi
else
  say abandoned skip "no engine"
fi`;

/** What to do about releases of the app that run from a deleted folder. */
export function abandonedAdvice(
  found: { project: string; folder: string }[],
  app: string,
  env: string,
): string {
  const list = found.map((f) => `${f.project} (from ${f.folder})`).join(', ');
  return `${list}: its folder is gone, an abandoned release of ${app} (${env}). A deploy refuses to run beside it until it is retired: nx run ${app}:deploy --configuration=${env} --replaceAbandoned`;
}

/** Only the abandoned-release scan (the status target lists them), with the engine found first. */
export function abandonedScript(projects: string[]): string {
  return `PROJECTS=${shellQuote(projects.join(' '))}
M=${DOCTOR_MARK}
say() { printf '%s\\t%s\\t%s\\t%s\\n' "$M" "$1" "$2" "$3"; }
ENGINE=''
for e in docker podman; do
  if command -v "$e" >/dev/null 2>&1 && "$e" version >/dev/null 2>&1; then ENGINE=$e; break; fi
done
${ABANDONED_SCAN}
exit 0
`;
}

/** The abandoned releases a scan found: compose project and the folder it ran from. */
export function abandonedReleases(checks: DoctorCheck[]): { project: string; folder: string }[] {
  const c = checks.find((x) => x.check === 'abandoned');
  if (c?.status !== 'warn') return [];
  return c.detail
    .split(/\s+/)
    .filter((w) => w.includes('='))
    .map((w) => ({ project: w.slice(0, w.indexOf('=')), folder: w.slice(w.indexOf('=') + 1) }));
}

/**
 * The script (run with `sh -s`, sent on stdin). Every value from the profile reaches it quoted,
 * as a variable assignment at the top; the body is fixed text. It always exits 0: the lines say
 * what passed.
 */
export function doctorScript(input: DoctorInput): string {
  return `${checksScript(input)}
exit 0
`;
}

/** Exit code of gatedScript when a check failed (the command after it did not run). */
export const GATE_FAILED = 3;

/**
 * The checks, then the command given as the script's arguments only when none failed: a deploy
 * checks the host and releases over one SSH connection (run with `sh -c SCRIPT gate CMD...`; the
 * checks read nothing of stdin, which is the command's). Exits GATE_FAILED when a check failed.
 */
export function gatedScript(input: DoctorInput): string {
  return `{
${checksScript(input)}
} </dev/null
[ -z "$FAILED" ] || exit ${GATE_FAILED}
exec "$@"
`;
}

function checksScript(input: DoctorInput): string {
  const minKb = Math.round(input.minFreeGiB * 1024 * 1024);
  const vars = [
    `COMPOSE=${shellQuote(input.composeCommand)}`,
    `APP_PATH=${shellQuote(input.appPath)}`,
    `MIN_KB=${minKb}`,
    `PORTS=${shellQuote(input.ports.join(' '))}`,
    `PROJECTS=${shellQuote(input.projects.join(' '))}`,
    `PUBLIC=${shellQuote(input.publicPorts.join(' '))}`,
    `URLS=${shellQuote(registryUrls(input.registry).join(' '))}`,
    `EDGE_PORTS=${shellQuote(input.edgePorts.join(' '))}`,
    `DOMAIN=${shellQuote(input.domain)}`,
    `EDGE_NAME=${shellQuote(input.edgeName)}`,
  ];
  return `${vars.join('\n')}
M=${DOCTOR_MARK}
FAILED=''
# shellcheck disable=SC2034 # FAILED is read by the gate (gatedScript)
say() { [ "$2" != fail ] || FAILED=1; printf '%s\\t%s\\t%s\\t%s\\n' "$M" "$1" "$2" "$(printf '%s' "$3" | tr '\\t\\n' '  ' | cut -c1-300)"; }

ENGINE='' ENGINE_OUT='' ENGINE_SEEN='' last='' code='' reg='' busy='' mine=''
for e in docker podman; do
  if command -v "$e" >/dev/null 2>&1; then
    if out=$("$e" version 2>&1); then ENGINE=$e; break; fi
    [ -z "$ENGINE_OUT" ] && ENGINE_OUT="$e: $out" && ENGINE_SEEN=$e
  fi
done
if [ -n "$ENGINE" ]; then
  v=$("$ENGINE" version --format '{{.Server.Version}}' 2>/dev/null || true)
  say engine ok "$ENGINE \${v:-answers}"
  say engine-access ok "$(id -un) uses $ENGINE without sudo"
elif [ -z "$ENGINE_SEEN" ]; then
  say engine fail "neither docker nor podman is installed"
  say engine-access skip "no engine"
elif printf '%s' "$ENGINE_OUT" | grep -qi 'permission denied'; then
  say engine ok "$ENGINE_SEEN installed"
  say engine-access fail "$(id -un): $ENGINE_OUT"
else
  say engine fail "$ENGINE_OUT"
  say engine-access skip "the engine does not answer"
fi

if out=$($COMPOSE version 2>&1); then
  say compose ok "$(printf '%s' "$out" | head -n1)"
else
  say compose fail "$COMPOSE: $out"
fi

p=$APP_PATH
while [ ! -d "$p" ] && [ "$p" != / ] && [ -n "$p" ]; do p=$(dirname "$p"); done
kb=$(df -Pk "$p" 2>/dev/null | awk 'NR==2 {print $4}')
if [ -z "$kb" ]; then say disk fail "df could not measure $p"
elif [ "$kb" -ge "$MIN_KB" ]; then say disk ok "$kb KiB free on $p"
else say disk fail "$kb KiB free on $p"
fi

listening() {
  hex=$(printf '%04X' "$1")
  cat /proc/net/tcp /proc/net/tcp6 2>/dev/null | awk -v h="$hex" '$4 == "0A" { n = split($2, a, ":"); if (a[n] == h) f = 1 } END { exit !f }'
}
# The engine's answer about a project's containers, asked up to three times: an engine busy with
# another release can fail a ps, and an empty answer would make the app's own ports look taken by
# something else. The caller keeps the projects it never answered about in NOT_LISTED (the
# function runs in a subshell).
containers_of() {
  for try in 1 2 3; do
    if ids=$("$ENGINE" ps -a -q --filter "label=com.docker.compose.project=$1" 2>/dev/null); then
      printf '%s' "$ids"
      return 0
    fi
    [ "$try" = 3 ] || sleep 1
  done
  return 1
}
# The public ports of the app's containers that may hold them, as words ":port->" in $mine: every
# state but those that hold no port (a container stopping, or still starting, holds its ports
# while the engine's ps of running containers leaves it out).
look() {
  mine=''
  NOT_LISTED=''
  [ -n "$ENGINE" ] || return 0
  for pr in $PROJECTS; do
    ids=$(containers_of "$pr") || NOT_LISTED="$NOT_LISTED $pr"
    [ -n "$ids" ] || continue
    # The published host ports of each container (Podman's ps shows a 0.0.0.0 binding without its
    # port), one container at a time: one that went away since the ps takes no other's ports along.
    for id in $ids; do
      # shellcheck disable=SC2016 # a Go template, not shell
      held=$("$ENGINE" inspect --format '{{.State.Status}} {{range $p, $b := .NetworkSettings.Ports}}{{range $b}}:{{.HostPort}}-> {{end}}{{end}}' "$id" 2>/dev/null | tr '\\n' ' ')
      case "$held" in
        '' | exited* | stopped* | configured* | dead*) ;;
        *) mine="$mine $held" ;;
      esac
    done
    # The proxy runs on the host network: its public ports show in no port mapping.
    case "$pr" in
      *-proxy) for p in $PUBLIC; do mine="$mine :$p->"; done ;;
    esac
  done
}
# A port is a stranger's only if four looks a second apart find it so: a release running beside
# this check (the one a second deploy waits for, say) starts and stops the app's own containers
# between the engine's answer and /proc's, while a stranger stays.
busy=$PORTS
for round in 1 2 3 4; do
  look
  kept=''
  for port in $busy; do
    if listening "$port"; then
      case " $mine " in
        *":$port->"*) ;;
        *) kept="$kept $port" ;;
      esac
    fi
  done
  busy=$kept
  if [ -z "$busy" ] || [ "$round" = 4 ]; then break; fi
  sleep 1
done
# Ports in the kernel's ephemeral range can be the local port of any outgoing connection on the
# host (to the registry, to a database), so a release can fail to bind one though the doctor saw
# it free: worth a warning, never a refusal.
range=$(tr -s ' \\t' '  ' 2>/dev/null </proc/sys/net/ipv4/ip_local_port_range)
lo=\${range%% *} hi=\${range##* } eph=''
case "$lo$hi" in
  '' | *[!0-9]*) ;;
  *) for port in $PORTS; do [ "$port" -lt "$lo" ] || [ "$port" -gt "$hi" ] || eph="$eph $port"; done ;;
esac
if [ -z "$PORTS" ]; then say ports skip "no ports given"
elif [ -z "$busy" ] && [ -n "$eph" ]; then say ports warn "\${eph# } (the ephemeral range is $lo-$hi)"
elif [ -z "$busy" ]; then say ports ok "$PORTS free or the app's own"
elif [ -n "$NOT_LISTED" ]; then say ports fail "\${busy# } (the engine did not list the containers of\${NOT_LISTED}, so these may be the app's own; run the doctor again)"
else say ports fail "\${busy# }"
fi

# The edge (one per host, container $EDGE_NAME, host network) owns 80/443 for every app with a domain.
if [ -z "$EDGE_PORTS" ]; then
  say edge skip "no domain in the profile: the app answers on its own ports"
else
  edge_up=''
  [ -n "$ENGINE" ] && edge_up=$("$ENGINE" inspect --format '{{.State.Running}}' "$EDGE_NAME" 2>/dev/null)
  ebusy=''
  for port in $EDGE_PORTS; do
    if listening "$port" && [ "$edge_up" != true ]; then ebusy="$ebusy $port"; fi
  done
  addrs=$(getent ahosts "$DOMAIN" 2>/dev/null | awk '{print $1}' | sort -u | tr '\n' ' ')
  here=" $(hostname -I 2>/dev/null) 127.0.0.1 ::1 "
  seen=''
  for a in $addrs; do case "$here" in *" $a "*) seen=$a ;; esac; done
  if [ -n "$ebusy" ]; then say edge fail "\${ebusy# }"
  elif [ -z "$addrs" ]; then say edge warn "$DOMAIN does not resolve"
  elif [ -z "$seen" ]; then say edge warn "$DOMAIN resolves to \${addrs% }, not to this host (\${here# })"
  else say edge ok "$EDGE_PORTS free or the edge's; $DOMAIN resolves to $seen"
  fi
fi

for url in $URLS; do
  if command -v curl >/dev/null 2>&1; then
    code=$(curl -s -o /dev/null -w '%{http_code}' --connect-timeout 5 --max-time 10 "$url" 2>/dev/null)
  elif command -v python3 >/dev/null 2>&1; then
    code=$(python3 - "$url" <<'PY' 2>/dev/null
import sys, urllib.request, urllib.error
try:
    print(urllib.request.urlopen(sys.argv[1], timeout=10).status)
except urllib.error.HTTPError as e:
    print(e.code)
except Exception:
    print("000")
PY
)
  else
    code=none
  fi
  case "$code" in
    200|401) reg="$url answered $code"; break ;;
  esac
  last="$url: \${code:-000}"
done
if [ -n "$reg" ]; then say registry ok "$reg"
elif [ "$code" = none ]; then say registry fail "neither curl nor python3 is installed to try $URLS"
else say registry fail "$last"
fi

if command -v timedatectl >/dev/null 2>&1 && s=$(timedatectl show -p NTPSynchronized --value 2>/dev/null); then
  if [ "$s" = yes ]; then say clock ok "NTP synchronized"; else say clock fail "NTPSynchronized=$s"; fi
else
  say clock skip "timedatectl cannot tell here (no systemd): not checked"
fi

if v=$(python3 -c 'import sys; print(sys.version.split()[0])' 2>/dev/null); then
  say python3 ok "python3 $v"
else
  say python3 fail "python3 is not installed"
fi

${ABANDONED_SCAN}`;
}

/** The command that runs the script on the profile's host. */
export function doctorCommand(profile: Profile, ssh: SshSettings, input: DoctorInput): Command {
  return onHost(profile, ssh, ['sh', '-s'], doctorScript(input));
}

/** The script's lines, in check order; other output (login banners, shell start-up) is ignored. */
export function parseDoctorOutput(text: string): DoctorCheck[] {
  const found = new Map<DoctorCheckName, DoctorCheck>();
  for (const line of text.split('\n')) {
    const [mark, check, status, ...rest] = line.replace(/\r$/, '').split('\t');
    if (mark !== DOCTOR_MARK) continue;
    if (!(DOCTOR_CHECKS as readonly string[]).includes(check)) continue;
    if (status !== 'ok' && status !== 'fail' && status !== 'skip' && status !== 'warn') continue;
    found.set(check as DoctorCheckName, {
      check: check as DoctorCheckName,
      status,
      detail: rest.join('\t').trim(),
    });
  }
  return DOCTOR_CHECKS.map(
    (check) =>
      found.get(check) ?? {
        check,
        status: 'fail',
        detail: 'the check printed nothing (did the script stop?)',
      },
  );
}

const LABEL: Record<DoctorCheckName, string> = {
  engine: 'container engine',
  'engine-access': 'engine access',
  compose: 'compose',
  disk: 'free disk',
  ports: 'public ports',
  edge: 'edge (80/443)',
  registry: 'registry',
  clock: 'clock',
  python3: 'python3',
  abandoned: 'abandoned releases',
};

/** What to do about a failed check. */
export function doctorFix(c: DoctorCheck, input: DoctorInput, user: string): string {
  switch (c.check) {
    case 'engine':
      return `no container engine answers (${c.detail}): install docker.io or podman from the distribution's packages and start it (or run the bootstrap target).`;
    case 'engine-access':
      return `${user} cannot use the engine without sudo (${c.detail}): add ${user} to the docker group (or give it the Podman socket), then log in again.`;
    case 'compose':
      return `the compose command "${input.composeCommand}" does not answer (${c.detail}): install it (docker-compose-plugin / docker-compose / podman-compose) or set compose_command in the profile.`;
    case 'disk':
      return `less than ${input.minFreeGiB} GiB free for ${input.appPath} (${c.detail}): free space (e.g. prune old images) or grow the disk.`;
    case 'ports':
      if (c.status === 'warn')
        return `port(s) ${c.detail} are free or ${input.app}'s own, but lie in the host's ephemeral port range, where the kernel picks the local port of outgoing connections: a release can then fail to bind one. Choose public ports below the range's start minus 20000 (blue-green runs releases on public + 10000 and + 20000), or reserve them on the host (sysctl net.ipv4.ip_local_reserved_ports).`;
      return `port(s) ${c.detail} are in use by something other than ${input.app}'s containers (projects ${input.projects.join(', ')}): stop it, or choose other ports (see \`ss -ltnp\` as root on the host).`;
    case 'edge':
      return c.status === 'warn'
        ? `${c.detail}: point the domain's DNS (A/AAAA) at this host, or the ACME CA cannot reach the edge for the HTTP-01 challenge (behind NAT or a load balancer this can be expected).`
        : `port(s) ${c.detail} are held by something other than the host's edge (${input.edgeName}), which serves every app with a domain there: stop it (see \`ss -ltnp\` as root on the host), or set edge_http_port / edge_https_port.`;
    case 'registry':
      return `the registry ${registryHost(input.registry)} is not reachable from the host (${c.detail}; /v2/ must answer 200 or 401): check its address, DNS, the firewall and TLS.`;
    case 'clock':
      return `the clock is not synchronized (${c.detail}): enable NTP (timedatectl set-ntp true, or install systemd-timesyncd / chrony).`;
    case 'python3':
      return `python3 is missing (the host helper needs it): install python3.`;
    case 'abandoned':
      return abandonedAdvice(abandonedReleases([c]), input.app, input.env);
  }
}

/** One line per check: `ok   <check>: <detail>`, `FIX  <check>: <what to do>`, `skip <check>: <why>`. */
export function doctorReport(checks: DoctorCheck[], input: DoctorInput, user: string): string[] {
  return checks.map((c) => {
    const label = LABEL[c.check];
    if (c.status === 'ok') return `ok   ${label}: ${c.detail}`;
    if (c.status === 'skip') return `skip ${label}: ${c.detail}`;
    if (c.status === 'warn') return `WARN ${label}: ${doctorFix(c, input, user)}`;
    return `FIX  ${label}: ${doctorFix(c, input, user)}`;
  });
}

export function doctorPassed(checks: DoctorCheck[]): boolean {
  return checks.every((c) => c.status !== 'fail');
}
