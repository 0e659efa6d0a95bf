import { readFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import { config as rxConfig } from 'rxjs';
import { pino, type Logger } from 'pino';
import { stringify } from 'yaml';
import { CollectorError, CollectorErrors, isConfigError, messageOf } from './errors.ts';
import { createLogger, type LogLevel } from './logger.ts';
import { dropInAgentConfig } from './dropin.ts';
import { configJsonSchema } from './schema.ts';
import { deriveCapabilities, loadConfigForCaps } from './caps/derive.ts';
import { capsReport, formatCapsReport, type CapsFormat } from './caps/report.ts';
import { parseKeepFlag, type KeepSetting } from './caps/runtime.ts';
import {
  buildAgent,
  checkLoad,
  checkSummary,
  effectiveConfig,
  loadAgentConfig,
  reloadAgent,
  startAgent,
  type AgentConfig,
} from './service.ts';
import type { Agent } from './pipeline/graph.ts';
import { Reloader } from './reloader.ts';
import { defaultSignals, takeOverSignals } from './signals.ts';

/**
 * The command line; the only module that exits the process.
 * Exit codes: 0 success, 1 runtime failure, 2 configuration error.
 */
const EXIT_RUNTIME = 1;
const EXIT_CONFIG = 2;

const version = (
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

function reportAndExit(err: unknown, debug: boolean): never {
  const errors =
    err instanceof CollectorErrors ? err.errors : err instanceof CollectorError ? [err] : undefined;
  if (errors) {
    for (const e of errors) process.stderr.write(`${e.formatLong()}\n`);
    if (debug && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
    process.exit(errors.some(isConfigError) ? EXIT_CONFIG : EXIT_RUNTIME);
  }
  process.stderr.write(`${debug && err instanceof Error ? (err.stack ?? err.message) : messageOf(err)}\n`);
  process.exit(EXIT_RUNTIME);
}

interface RunOptions {
  config?: string[];
  logLevel?: LogLevel;
  debug?: boolean;
  'config.dir'?: string;
  'config.names'?: string;
  'config.check'?: boolean;
  'config.strict'?: boolean;
  'web.listenAddress'?: string;
  'web.telemetryPath'?: string;
  'btf.path'?: string;
  'capabilities.keep'?: string;
  'web.config.file'?: string;
  'config.skipCacheSize'?: string;
  'log.noTimestamps'?: boolean;
}

/**
 * The config from --config files, or from ebpf_exporter's flags. `env` is the environment
 * the process started with (a reload reads the config as the start did).
 */
async function configOf(opts: RunOptions, env: NodeJS.ProcessEnv): Promise<AgentConfig> {
  if (opts['config.dir'] !== undefined || opts['config.names'] !== undefined) {
    if (opts.config) throw usage('give either --config or --config.dir/--config.names, not both');
    if (!opts['config.dir'] || !opts['config.names'])
      throw usage('--config.dir and --config.names go together');
    const listenAddress = opts['web.listenAddress'] ?? ':9435';
    const config = dropInAgentConfig(
      {
        dir: opts['config.dir'],
        names: opts['config.names'].split(','),
        listenAddress,
        telemetryPath: opts['web.telemetryPath'] ?? '/metrics',
        strict: opts['config.strict'] ?? false,
        btfPath: opts['btf.path'],
        skipCacheSize: opts['config.skipCacheSize'],
        debug: opts.debug,
        webConfigFile: opts['web.config.file'],
      },
      env,
    );
    // sd_listen_fds(3) with unset_environment: children (none today) must not take the sockets for theirs.
    if (listenAddress.startsWith('fd://'))
      for (const v of ['LISTEN_PID', 'LISTEN_FDS', 'LISTEN_FDNAMES']) delete process.env[v];
    return config;
  }
  if (!opts.config || opts.config.length === 0)
    throw usage("give --config FILE (or ebpf_exporter's --config.dir DIR --config.names a,b)");
  return loadAgentConfig(opts.config, env, { webConfigFile: opts['web.config.file'] });
}

function usage(message: string): CollectorError {
  return new CollectorError('ERR_CONFIG_USAGE', message);
}

async function run(opts: RunOptions): Promise<void> {
  const debug = opts.debug ?? false;
  // Signals first: a SIGTERM or SIGINT at any moment of start stops it (Agent.start checks
  // `starting` between components), releases what was loaded and exits 0.
  const starting = new AbortController();
  // Set as start goes on: the logger once the config is read, stop and reload once the agent runs.
  const live: {
    logger?: Logger;
    stop?: (signal: string) => void;
    reloader?: Reloader<AgentConfig>;
    hupDuringStart?: boolean;
  } = {};
  takeOverSignals((signal) => {
    if (signal === 'SIGHUP') {
      if (live.reloader) live.reloader.request(signal);
      else if (!live.stop && !live.hupDuringStart) {
        live.hupDuringStart = true;
        const msg = 'SIGHUP during start: the config is reloaded once the agent has started';
        if (live.logger) live.logger.info({ signal }, msg);
        else process.stderr.write(`${msg}\n`);
      }
    } else if (live.stop) live.stop(signal);
    else if (!starting.signal.aborted) {
      live.logger?.info({ signal }, 'signal during start: stopping, releasing what was loaded');
      starting.abort(new StartAborted(signal));
    }
  });
  const env = { ...process.env };
  let config: AgentConfig;
  let keep: KeepSetting;
  try {
    keep = parseKeepFlag(opts['capabilities.keep']);
    config = await configOf(opts, env);
  } catch (err) {
    reportAndExit(err, debug);
  }
  if (starting.signal.aborted) process.exit(0); // nothing loaded yet
  const log = createLogger(opts.logLevel ?? (debug ? 'debug' : config.logLevel), {
    timestamps: !opts['log.noTimestamps'],
    encoding: config.service.telemetry.logs.encoding,
  });
  live.logger = log;
  for (const w of config.warnings) log.warn(w.format());
  if (opts['config.check']) {
    let programs;
    try {
      programs = await checkLoad(config, log);
    } catch (err) {
      reportAndExit(err, debug);
    }
    const [head, ...missed] = checkSummary(programs);
    log.info(
      { attached: programs.filter((p) => p.attached).map((p) => p.program) },
      `config check passed: ${[head, ...missed.map((l) => l.trim())].join(' ')}`,
    );
    process.exit(0);
  }
  // After start nothing may take the agent down: count, log, go on.
  rxConfig.onUnhandledError = (err: unknown) =>
    log.error({ err: messageOf(err) }, 'unhandled error in a stream');
  process.on('uncaughtException', (err) =>
    log.error({ err: debug ? err.stack : err.message }, 'uncaught exception'),
  );
  process.on('unhandledRejection', (err) => log.error({ err: messageOf(err) }, 'unhandled rejection'));
  // SIGUSR1 would open an unauthenticated inspector in this privileged process.
  process.on('SIGUSR1', () => log.warn('SIGUSR1 ignored: the inspector stays closed in the agent'));

  let agent: Agent;
  try {
    agent = await startAgent(config, log, keep, starting.signal);
  } catch (err) {
    if (!starting.signal.aborted) reportAndExit(err, debug);
    log.info('stopped during start: every program released');
    process.exit(0);
  }
  let current = config;
  const reloader = new Reloader<AgentConfig>({
    logger: log,
    telemetry: agent.telemetry,
    load: () => configOf(opts, env),
    apply: async (next) => {
      for (const w of next.warnings) log.warn(w.format());
      const summary = await reloadAgent(agent, next, current, log);
      current = next;
      if (!opts.logLevel && !debug) log.level = next.logLevel;
      return summary;
    },
    files: () => [...current.files, ...agent.files()],
  });
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    const force = setTimeout(() => {
      log.error('shutdown took longer than 20s; exiting');
      process.exit(EXIT_RUNTIME);
    }, 20_000);
    force.unref();
    // A reload in progress ends first (the agent's shutdown waits for it to stop what it started).
    void reloader.stop();
    agent.shutdown().then(
      () => {
        log.info('stopped: every program detached');
        process.exit(0);
      },
      (err: unknown) => {
        log.error({ err: messageOf(err) }, 'shutdown failed');
        process.exit(EXIT_RUNTIME);
      },
    );
  };
  live.stop = stop;
  live.reloader = reloader;
  // A signal after the last component started but before startAgent returned.
  if (starting.signal.aborted) stop((starting.signal.reason as StartAborted).signal);
  else if (live.hupDuringStart) reloader.request('SIGHUP');
}

/** The reason a start was aborted: the signal that stopped it. */
class StartAborted extends Error {
  readonly signal: string;
  constructor(signal: string) {
    super(`start stopped by ${signal}`);
    this.signal = signal;
  }
}

const program = new Command('ebpf-collector')
  .description('Kernel observability pipelines built on eBPF')
  .version(version, '-v, --version')
  .showHelpAfterError()
  .exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : EXIT_CONFIG))
  // `run` takes the signals over; the short commands end as signals end any program.
  .hook('preAction', (_, action) => {
    if (action.name() !== 'run') defaultSignals();
  })
  .addHelpText(
    'after',
    `
Examples:
  $ ebpf-collector run --config pipelines/timers.yaml
  $ ebpf-collector validate --config pipelines/default.yaml --load
  $ ebpf-collector --config.dir=examples --config.names=timers,biolatency   # ebpf_exporter's command line`,
  );

const configOption = (): Option =>
  new Option('-c, --config <file...>', 'pipeline YAML (repeat to merge; later files win)');

const webConfigOption = (): Option =>
  new Option(
    '--web.config.file <file>',
    "Prometheus web config (TLS, basic auth; exporter-toolkit's format) for the prometheus exporters",
  );

program
  .command('run', { isDefault: true })
  .description(
    'load, attach and serve the pipelines until SIGTERM or SIGINT; SIGHUP or a change of a config file reloads (the default command)',
  )
  .addOption(configOption())
  .addOption(
    new Option('--log-level <level>', 'log level (overrides service.telemetry.logs.level)').choices([
      'debug',
      'info',
      'warn',
      'error',
    ]),
  )
  .option('--debug', 'debug logs and stack traces; with --config.dir also serve /maps (ebpf_exporter)')
  .option(
    '--log.no-timestamps',
    'log lines without the time field (ebpf_exporter; journald stamps lines itself)',
  )
  .option('--config.dir <dir>', 'ebpf_exporter: directory with <name>.yaml and <name>.bpf.o')
  .option('--config.names <names>', 'ebpf_exporter: comma-separated config names')
  .option('--config.check', 'ebpf_exporter: load and attach, then exit')
  .option('--config.strict', 'ebpf_exporter: fail when a program does not attach')
  .option(
    '--web.listen-address <addr>',
    'ebpf_exporter: listen address, or fd://N for the Nth socket systemd passed (socket activation)',
    ':9435',
  )
  .option('--web.telemetry-path <path>', 'ebpf_exporter: metrics path', '/metrics')
  .option('--btf.path <file>', 'ebpf_exporter: external BTF file')
  .option(
    '--capabilities.keep <caps>',
    'after attach keep only these capabilities: all, none, or a comma list like cap_syslog,cap_bpf (default: what the config still needs, see `caps`)',
  )
  .addOption(webConfigOption())
  .option(
    '--config.skip-cache-size <n>',
    'ebpf_exporter: remember this many map keys per metric whose label set a decoder dropped (regexp no-match), 0: off',
  )
  .action((opts: RunOptions) => run(opts));

program
  .command('caps')
  .description(
    'print the capabilities the configured programs need, why, and the matching Kubernetes securityContext',
  )
  .addOption(configOption().makeOptionMandatory())
  .addOption(
    new Option('-o, --output <format>', 'output format').choices(['json', 'yaml', 'text']).default('text'),
  )
  .action(async (opts: { config: string[]; output: CapsFormat }) => {
    try {
      const config = await loadConfigForCaps(opts.config);
      process.stdout.write(formatCapsReport(capsReport(deriveCapabilities(config)), opts.output));
    } catch (err) {
      reportAndExit(err, false);
    }
  });

program
  .command('validate')
  .description('check pipeline YAML and metric definitions; exit 2 on a problem')
  .addOption(configOption().makeOptionMandatory())
  .option('--load', 'also open, load and attach every referenced BPF object, then close it')
  .addOption(webConfigOption())
  .action(async (opts: { config: string[]; load?: boolean; 'web.config.file'?: string }) => {
    try {
      const config = await loadAgentConfig(opts.config, process.env, {
        webConfigFile: opts['web.config.file'],
      });
      for (const w of config.warnings) process.stderr.write(`warning: ${w.format()}\n`);
      const quiet = pino({ level: 'silent' });
      if (!opts.load) {
        await (await buildAgent(config, quiet)).shutdown();
        process.stdout.write(`${opts.config.join(', ')}: valid\n`);
        return;
      }
      const [head, ...missed] = checkSummary(await checkLoad(config, quiet));
      process.stdout.write(`${opts.config.join(', ')}: valid, ${head}\n`);
      for (const line of missed) process.stdout.write(`${line}\n`);
    } catch (err) {
      reportAndExit(err, false);
    }
  });

program
  .command('print-config')
  .description(
    'print the merged configuration with environment references expanded and defaults filled in (it validates again)',
  )
  .addOption(configOption().makeOptionMandatory())
  .option('--show-secrets', 'print passwords, keys and header values instead of <redacted>')
  .addOption(webConfigOption())
  .action(async (opts: { config: string[]; showSecrets?: boolean; 'web.config.file'?: string }) => {
    try {
      const config = await loadAgentConfig(opts.config, process.env, {
        webConfigFile: opts['web.config.file'],
      });
      process.stdout.write(stringify(effectiveConfig(config, { showSecrets: opts.showSecrets ?? false })));
    } catch (err) {
      reportAndExit(err, false);
    }
  });

program
  .command('schema')
  .description('print a JSON Schema of the configuration (for editors)')
  .action(() => {
    process.stdout.write(`${JSON.stringify(configJsonSchema(), null, 2)}\n`);
  });

await program.parseAsync(process.argv);
