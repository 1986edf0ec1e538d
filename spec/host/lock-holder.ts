// Another process holding a lock until it is killed (spec/host/file-lock.spec.ts):
// `node --import tsx lock-holder.ts <dir> <name>` prints "held" once it has the lock.
import { createFileLocks } from '../../src/host/file-lock';
import { silentLogger } from '../../src/log/logger';

const [dir = '', name = ''] = process.argv.slice(2);
void createFileLocks(dir, silentLogger).withLock(name, async () => {
  process.stdout.write('held\n');
  await new Promise(() => setInterval(() => undefined, 60_000));
});
