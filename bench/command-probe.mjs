// Bench-only preload for the MongoDB cost pass (node --import bench/command-probe.mjs): subscribes to the
// store's command channel (src/store/mongo/commands.ts) before Tessera opens its store, which switches the
// driver's command monitoring on for that process, and appends one line per command to COMMAND_PROBE_FILE:
// `S <name> <collection>` when sent, `F <name>` when answered. The bench reads the lines around each
// operation (bench/cost.ts). One write(2) per line, O_APPEND: a reader never sees half a line it keeps.
import diagnostics from 'node:diagnostics_channel';
import fs from 'node:fs';

const CHANNEL = 'tessera:mongo:command'; // MONGO_COMMAND_CHANNEL
const file = process.env.COMMAND_PROBE_FILE;
if (file) {
  const fd = fs.openSync(file, 'a');
  diagnostics.subscribe(CHANNEL, (m) => {
    if (m.phase === 'started') {
      const target = m.command?.[m.name];
      fs.writeSync(fd, `S ${m.name} ${typeof target === 'string' ? target : '-'}\n`);
    } else {
      fs.writeSync(fd, `F ${m.name}\n`);
    }
  });
}
