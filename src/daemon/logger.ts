/**
 * The daemon's winston logger. Lines go to stdout, which systemd hands to the journal
 * (SyslogIdentifier=detbuildd); every line about a build carries `build=<id> caller=<qube>`
 * so that `journalctl -u detbuildd | grep build=b12` tells one build's story.
 */
import winston from 'winston';

export type Logger = winston.Logger;

const line = winston.format.printf((info) => {
  const { level, message, build, caller, ...rest } = info as winston.Logform.TransformableInfo & {
    build?: string;
    caller?: string;
  };
  const tags = [build ? `build=${build}` : null, caller ? `caller=${caller}` : null].filter(Boolean).join(' ');
  const extra = Object.entries(rest).filter(([k]) => typeof k === 'string' && k !== 'timestamp');
  const meta = extra.length ? ` ${JSON.stringify(Object.fromEntries(extra))}` : '';
  return `${level}: ${tags ? `${tags} ` : ''}${String(message)}${meta}`;
});

export function createLogger(level: string, stream: NodeJS.WritableStream = process.stdout): Logger {
  return winston.createLogger({
    level,
    format: line,
    transports: [new winston.transports.Stream({ stream })],
  });
}

/** A logger whose every line names the build and the calling qube. */
export function buildLogger(parent: Logger, build: string, caller: string): Logger {
  return parent.child({ build, caller });
}
